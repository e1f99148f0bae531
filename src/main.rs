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
        None => anyhow::bail!(
            "this build can check a config (-t), route keys (route) and measure a ring (dist); \
             it does not serve clients yet"
        ),
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
