//! The `redshard` command line: every nutcracker flag, plus the operator tools.

// One exception, in `tune_allocator`, with its measured reason.
#![deny(unsafe_code)]

use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use redshard::config::Config;
use redshard::logging::{Format, Logging};
use redshard::reload::{self, ConfigFile};
use redshard::tools::{self, dist, route};

const DEFAULT_CONF: &str = "conf/nutcracker.yml";

/// Where the stats port listens without `-a`: nutcracker's default.
const DEFAULT_STATS_ADDR: &str = "0.0.0.0";

#[derive(Parser, Debug)]
#[command(
    name = "redshard",
    about = "A Redis sharding proxy, drop-in for twemproxy (nutcracker)",
    disable_version_flag = true
)]
struct Cli {
    /// Show version and exit.
    #[arg(short = 'V', long = "version")]
    version: bool,

    /// Test the configuration for syntax errors and exit (0 ok, 1 invalid).
    #[arg(short = 't', long = "test-conf")]
    test_conf: bool,

    /// Run as a daemon (detach from the terminal; log to -o).
    #[arg(short = 'd', long = "daemonize")]
    daemonize: bool,

    /// Print the statistics' description and exit.
    #[arg(short = 'D', long = "describe-stats")]
    describe_stats: bool,

    /// Logging level, nutcracker's scale: 0..11, default 5 (notice). RUST_LOG overrides.
    #[arg(short = 'v', long = "verbose", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=11))]
    verbose: u8,

    /// Log file (default: stderr). Reopened on SIGHUP, for logrotate.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,

    /// Log line format.
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Configuration file (nutcracker's YAML).
    #[arg(short = 'c', long = "conf-file", global = true, default_value = DEFAULT_CONF)]
    conf_file: PathBuf,

    /// Stats monitoring port.
    #[arg(short = 's', long = "stats-port", default_value_t = 22222)]
    stats_port: u16,

    /// Stats monitoring address [default: 0.0.0.0, nutcracker's; said in the
    /// log at warn level, as other hosts can then read the stats].
    #[arg(short = 'a', long = "stats-addr")]
    stats_addr: Option<String>,

    /// Stats aggregation interval in ms.
    #[arg(short = 'i', long = "stats-interval", default_value_t = 30_000)]
    stats_interval: u64,

    /// Write the process id to this file (removed on exit).
    #[arg(short = 'p', long = "pid-file")]
    pid_file: Option<PathBuf>,

    /// Size of the read buffers in bytes (nutcracker's mbuf size), 512 .. 16 MiB.
    #[arg(short = 'm', long = "mbuf-size", default_value_t = 16384, value_parser = clap::value_parser!(u32).range(512..=16 * 1024 * 1024))]
    mbuf_size: u32,

    /// Worker threads, each with its own listeners and server connections
    /// (default: the number of cores), 1 .. 1024.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,

    /// Serve Prometheus metrics (GET /metrics) and GET /healthz on HOST:PORT,
    /// or on PORT of the stats address (-a), as -s does.
    #[arg(long = "metrics", value_name = "[HOST:]PORT", value_parser = metrics_addr)]
    metrics: Option<MetricsAddr>,

    /// Bound on the bytes the proxy holds in client and server buffers, all
    /// pools together (e.g. 256mb, 2gb). Above it the client holding the most
    /// is closed and large partial requests are refused. Default: a quarter of
    /// the memory available to the process (its cgroup limit or the machine's).
    #[arg(long = "max-memory", value_name = "SIZE", value_parser = parse_max_memory)]
    max_memory: Option<usize>,

    /// Do not reload when the config file changes (SIGHUP and SIGUSR1 still reload).
    #[arg(long = "no-watch")]
    no_watch: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Where `--metrics` serves.
#[derive(Debug, Clone)]
enum MetricsAddr {
    /// A bare port, on the stats address.
    Port(u16),
    HostPort(String),
}

fn metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(port) if port != 0 => Ok(MetricsAddr::Port(port)),
            _ => Err("expected a port from 1 to 65535, or HOST:PORT".into()),
        };
    }
    match text.parse::<redshard::config::ListenAddr>() {
        Ok(redshard::config::ListenAddr::Tcp { .. }) => Ok(MetricsAddr::HostPort(text.into())),
        Ok(redshard::config::ListenAddr::Unix { .. }) => {
            Err("expected HOST:PORT or a port; metrics are served on TCP only".into())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
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

/// `--max-memory`: a size as in the config (`256mb`), at least 16 MiB.
fn parse_max_memory(text: &str) -> Result<usize, String> {
    let bytes = redshard::config::parse_size(text)?;
    let min = redshard::memory::MIN_LIMIT as u64;
    if bytes < min {
        return Err(format!("{text} is below the least allowed, 16mb"));
    }
    usize::try_from(bytes).map_err(|_| format!("{text} is too large"))
}

/// Makes glibc's malloc give large buffers back to the system when they are
/// freed. By default glibc raises its mmap threshold to the size of the
/// largest block freed (up to 32 MiB), after which 1 MiB replies are carved
/// from the heap and their memory stays with the process after they are
/// written: RSS then overshoots `--max-memory` by whatever the heap keeps.
/// Measured in tests/memory_bound.rs (4 clients pipelining GETs of a 1 MiB
/// value, never reading, --max-memory 64mb): peak RSS 77-141 MiB over 22
/// runs, 4 of them above 120 MiB, with glibc's default; 78-86 MiB over 12
/// runs with the threshold fixed at 128 KiB. Blocks of that size and more
/// then cost an mmap/munmap each, which is small beside copying them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: mallopt only changes malloc's parameters; it is called before
    // any other thread exists, and a refusal (0) leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
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
    if cli.version {
        println!("This is redshard-{}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    if cli.describe_stats {
        print!("{}", redshard::stats::describe());
        return Ok(ExitCode::SUCCESS);
    }
    if cli.test_conf {
        return Ok(test_conf(&cli.conf_file));
    }
    // Read once: the proxy serves these bytes and watches for others.
    let loaded = ConfigFile::load(&cli.conf_file)?;
    let config = &loaded.config;
    match cli.command {
        Some(Command::Route {
            pool,
            escaped,
            eject,
        }) => {
            let pool = tools::select_pool(config, pool.as_deref())?;
            let stdout = BufWriter::new(io::stdout().lock());
            if pool.cluster.is_some() {
                let snapshot = ask_cluster(pool)?;
                route::run_cluster(&snapshot, escaped, io::stdin().lock(), stdout)?;
                return Ok(ExitCode::SUCCESS);
            }
            let options = route::RouteOptions { escaped, eject };
            route::run(pool, &options, io::stdin().lock(), stdout)?;
        }
        Some(Command::Dist {
            pool,
            keys,
            remove,
            add,
        }) => {
            let pool = tools::select_pool(config, pool.as_deref())?;
            let options = dist::DistOptions { keys, remove, add };
            let report = dist::measure(pool, &options)?;
            dist::render(pool, &options, &report, io::stdout().lock())?;
        }
        None => return serve(cli, loaded),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the proxy until SIGINT or SIGTERM.
fn serve(cli: Cli, loaded: ConfigFile) -> anyhow::Result<ExitCode> {
    if cli.daemonize {
        // Before any thread exists: fork, setsid, stdio to /dev/null. The
        // working directory stays, so relative paths keep their meaning.
        nix::unistd::daemon(true, false).map_err(|e| anyhow::anyhow!("cannot daemonize: {e}"))?;
    }
    let format = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    let logging = Logging::init(cli.verbose, cli.output.as_deref(), format)
        .map_err(|e| anyhow::anyhow!("cannot open log file: {e}"))?;
    redshard::logging::log_panics(redshard::logging::PANIC_LOG_WINDOW);
    let _pid_file = match &cli.pid_file {
        Some(path) => Some(PidFile::create(path)?),
        None => None,
    };
    redshard::net::set_read_chunk(cli.mbuf_size as usize);
    let memory = redshard::memory::budget();
    if let Some(bytes) = cli.max_memory {
        memory.set_limit(bytes);
    }
    tracing::info!("max memory for buffers: {} MiB", memory.limit() >> 20);
    raise_fd_limit();
    let workers = cli.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = runtime.block_on(async { Signals::register() })?;
    let found = runtime.block_on(redshard::sentinel::discover(&loaded.config));
    let versions = runtime.block_on(redshard::version_watch::discover(&loaded.config, &found));
    let proxy = redshard::proxy::start(&loaded.config, workers, |pool| {
        found.apply(pool);
        versions.apply(pool);
    })?;
    tracing::info!(
        workers,
        pools = loaded.config.pools.len(),
        "redshard {} serving {}",
        env!("CARGO_PKG_VERSION"),
        loaded.config.file.display()
    );
    let pools = proxy.pools();
    let reloader = reload::Reloader::new(proxy, &cli.conf_file, loaded);
    // `-a` with a port: an IPv6 address (`-a ::1`) needs its brackets.
    let stats_host = cli.stats_addr.as_deref().unwrap_or(DEFAULT_STATS_ADDR);
    if cli.stats_addr.is_none() {
        tracing::warn!(
            "stats on {DEFAULT_STATS_ADDR} (every interface), nutcracker's default as no -a was given: other hosts can read them; -a 127.0.0.1 keeps them local"
        );
    }
    let on_stats_host = |port: u16| match stats_host.contains(':') {
        true => format!("[{stats_host}]:{port}"),
        false => format!("{stats_host}:{port}"),
    };
    let stats_addr = on_stats_host(cli.stats_port);
    let metrics_addr = cli.metrics.as_ref().map(|m| match m {
        MetricsAddr::Port(port) => on_stats_host(*port),
        MetricsAddr::HostPort(addr) => addr.clone(),
    });
    let signal = runtime.block_on(async {
        // Stats first: they show a cluster pool waiting for its first slot
        // map (a slow seed holds that up to its timeout).
        start_observability(&stats_addr, metrics_addr.as_deref(), pools.clone()).await;
        let cluster_pools = pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        redshard::cluster_watch::discover(&cluster_pools).await;
        let reloads = reloader.spawn(!cli.no_watch);
        tokio::spawn(redshard::proxy::supervisor::run(pools.clone()));
        tokio::spawn(redshard::sentinel::run(pools.clone()));
        tokio::spawn(redshard::cluster_watch::run(pools.clone()));
        tokio::spawn(redshard::replicas::run(pools.clone()));
        tokio::spawn(redshard::version_watch::run(pools.clone()));
        wait_for_exit(signals, &logging, &reloads).await
    })?;
    // nutcracker's words ("signal 15 (SIGTERM) received, exiting"), which
    // its users' scripts grep for.
    tracing::info!("signal {signal} received, exiting: shutting down");
    for pool in pools.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if let redshard::config::ListenAddr::Unix { path, .. } = &pool.snapshot().config.listen {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The stats port and the metrics endpoint. A port that cannot be bound is
/// reported and the proxy serves on without it.
async fn start_observability(
    stats_addr: &str,
    metrics_addr: Option<&str>,
    pools: redshard::stats::server::Pools,
) {
    use redshard::stats::server;
    if let Some(l) = bind_observed(stats_addr, "stats", "the stats port").await {
        tracing::info!("stats on {stats_addr}");
        tokio::spawn(server::serve_stats(l, pools.clone()));
    }
    if let Some(addr) = metrics_addr {
        if let Some(l) = bind_observed(addr, "metrics", "metrics").await {
            tracing::info!("metrics on http://{addr}/metrics");
            tokio::spawn(server::serve_metrics(l, pools));
        }
    }
}

/// Binds `addr` for the stats or metrics port, warning when other hosts can
/// reach it; `None` (logged) when it cannot be bound.
async fn bind_observed(addr: &str, what: &str, without: &str) -> Option<tokio::net::TcpListener> {
    match redshard::stats::server::bind(addr).await {
        Ok(l) => {
            let ip = l.local_addr().map(|a| a.ip());
            if !ip.as_ref().is_ok_and(|ip| ip.is_loopback()) {
                tracing::warn!("{what} port {addr} is reachable from other hosts; use a loopback address (-a 127.0.0.1) to keep it local");
            }
            Some(l)
        }
        Err(e) => {
            tracing::error!("cannot serve {what} on {addr}: {e}; serving without {without}");
            None
        }
    }
}

/// The signals the proxy handles, registered before it accepts a client so
/// that none of them can take the default action (SIGHUP would end it).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    ttin: tokio::signal::unix::Signal,
    ttou: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must run inside the runtime that will receive them.
    fn register() -> io::Result<Signals> {
        use nix::sys::signal::Signal as S;
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            ttin: signal(SignalKind::from_raw(S::SIGTTIN as i32))?,
            ttou: signal(SignalKind::from_raw(S::SIGTTOU as i32))?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }
}

/// Handles signals until one asks to exit; returns its name. (The config
/// file is watched by the reloader's own task.)
async fn wait_for_exit(
    signals: Signals,
    logging: &Logging,
    reloads: &reload::Handle,
) -> io::Result<&'static str> {
    let Signals {
        mut term,
        mut int,
        mut hup,
        mut ttin,
        mut ttou,
        mut usr1,
        mut usr2,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok("SIGTERM"),
            _ = int.recv() => return Ok("SIGINT"),
            _ = hup.recv() => {
                match logging.reopen() {
                    Ok(()) => tracing::info!("SIGHUP: log file reopened"),
                    Err(e) => tracing::error!("SIGHUP: cannot reopen the log file: {e}"),
                }
                reloads.request("SIGHUP");
            }
            _ = usr1.recv() => {
                // twemproxy's later versions reload on SIGUSR1; so does redshard.
                tracing::info!("SIGUSR1: reloading the config");
                reloads.request("SIGUSR1");
            }
            _ = usr2.recv() => {
                tracing::info!("SIGUSR2 received (no action)");
            }
            _ = ttin.recv() => {
                let level = logging.step(true);
                tracing::warn!("SIGTTIN: log level raised to {level}");
            }
            _ = ttou.recv() => {
                let level = logging.step(false);
                tracing::warn!("SIGTTOU: log level lowered to {level}");
            }
        }
    }
}

/// Thousands of clients need thousands of descriptors: raise the soft limit
/// to the hard one, as a proxy is expected to.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                Ok(()) => tracing::debug!("file descriptor limit raised from {soft} to {hard}"),
                Err(e) => tracing::warn!("cannot raise the file descriptor limit from {soft}: {e}"),
            }
        }
    }
}

/// The pid file, removed when the proxy exits.
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: &Path) -> anyhow::Result<PidFile> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| anyhow::anyhow!("cannot write pid file {}: {e}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A cluster pool's snapshot with the slot map its nodes give now, for
/// `redshard route`.
fn ask_cluster(
    pool: &redshard::config::PoolConfig,
) -> anyhow::Result<std::sync::Arc<redshard::pool::PoolSnapshot>> {
    let runtime = redshard::pool::PoolRuntime::new(pool.clone());
    let asked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(redshard::cluster_watch::discover_one(&runtime));
    if let Err(why) = asked {
        anyhow::bail!(
            "no node of pool '{}' gave the cluster's slot map: {why}",
            pool.name
        );
    }
    Ok(runtime.snapshot_arc())
}

/// `-t`: nutcracker's wording, so scripts that grep for it keep working.
fn test_conf(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            for pool in &config.pools {
                let ignored = pool.cluster.iter().flat_map(|c| &c.ignored);
                for key in ignored {
                    eprintln!(
                        "redshard: warning: pool '{}' is a cluster pool: '{key}' does not apply (keys go by the cluster's hash slots)",
                        pool.name
                    );
                }
            }
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
