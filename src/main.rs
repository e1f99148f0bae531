//! The `redshard` command line: nutcracker's flags, plus the operator tools.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use redshard::config::Config;
use redshard::tools::{self, dist, route};

const DEFAULT_CONF: &str = "conf/nutcracker.yml";

#[derive(Parser, Debug)]
#[command(
    name = "redshard",
    version,
    about = "A Redis sharding proxy, drop-in for twemproxy (nutcracker)"
)]
struct Cli {
    /// Configuration file (nutcracker's YAML).
    #[arg(short = 'c', long = "conf-file", global = true, default_value = DEFAULT_CONF)]
    conf_file: PathBuf,

    /// Test the configuration for syntax errors and exit (0 ok, 1 invalid).
    #[arg(short = 't', long = "test-conf")]
    test_conf: bool,

    /// Worker threads, each with its own listeners and backend connections
    /// (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print which server holds each key read from standard input, one per line:
    /// INDEX<TAB>SERVER<TAB>KEY.
    Route {
        /// Pool to route in (default: the first pool in the file).
        #[arg(long)]
        pool: Option<String>,
        /// Keys are escaped as in the placement files (`\xNN` for bytes outside 0x21..0x7e and `\`).
        #[arg(long)]
        escaped: bool,
        /// Leave this server out of the ring, as after an auto-eject (name, address or index; repeatable).
        #[arg(long, value_name = "SERVER")]
        eject: Vec<String>,
    },
    /// The distribution test bench: spread of N synthetic keys over the servers,
    /// and how many keys move when servers are removed or added.
    Dist {
        #[arg(long)]
        pool: Option<String>,
        /// How many keys to hash (key:0 .. key:N-1).
        #[arg(long, default_value_t = 1_000_000)]
        keys: u64,
        /// Remove this server (name, address or index; repeatable).
        #[arg(long, value_name = "SERVER")]
        remove: Vec<String>,
        /// Add a server, written as in the config: "host:port:weight [name]" (repeatable).
        #[arg(long, value_name = "SPEC")]
        add: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redshard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.test_conf {
        return Ok(test_conf(&cli.conf_file));
    }
    let config = Config::load(&cli.conf_file)?;
    match cli.command {
        Some(Command::Route {
            pool,
            escaped,
            eject,
        }) => {
            let pool = tools::select_pool(&config, pool.as_deref())?;
            let options = route::RouteOptions { escaped, eject };
            let stdout = BufWriter::new(io::stdout().lock());
            route::run(pool, &options, io::stdin().lock(), stdout)?;
        }
        Some(Command::Dist {
            pool,
            keys,
            remove,
            add,
        }) => {
            let pool = tools::select_pool(&config, pool.as_deref())?;
            let options = dist::DistOptions { keys, remove, add };
            let report = dist::measure(pool, &options)?;
            dist::render(pool, &options, &report, io::stdout().lock())?;
        }
        None => return serve(config, cli.workers),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the proxy until SIGINT or SIGTERM.
fn serve(config: Config, workers: Option<usize>) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(io::stderr)
        .init();
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let _proxy = redshard::proxy::start(&config, workers)?;
    tracing::info!(
        workers,
        pools = config.pools.len(),
        "redshard {} serving {}",
        env!("CARGO_PKG_VERSION"),
        config.file.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signal = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok::<_, io::Error>(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    })?;
    tracing::info!("{signal}: shutting down");
    for pool in &config.pools {
        if let redshard::config::ListenAddr::Unix { path, .. } = &pool.listen {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `-t`: nutcracker's wording, so scripts that grep for it keep working.
fn test_conf(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            for pool in config.pools.iter().filter(|p| !p.redis) {
                eprintln!(
                    "redshard: warning: pool '{}' has no 'redis: true'; nutcracker would speak memcached \
                     there, redshard speaks only Redis",
                    pool.name
                );
            }
            println!(
                "redshard: configuration file '{}' syntax is ok",
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redshard: {e}");
            println!(
                "redshard: configuration file '{}' syntax is invalid",
                file.display()
            );
            ExitCode::FAILURE
        }
    }
}
