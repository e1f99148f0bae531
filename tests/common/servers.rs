//! Real processes for the integration tests: redis-server on free loopback
//! ports and the redshard binary, each stopped (by its own PID) on drop.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::resp::{encode, parse, Conn, Reply};

/// A free loopback port (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on port {port} after {timeout:?}");
}

/// Polls `f` until it gives a value, for at most `within`.
pub fn eventually<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub struct RedisServer {
    pub port: u16,
    child: Child,
    /// The extra redis-server arguments it was started with (for `restart`).
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// The redis-server command for `port`, without persistence.
    /// Its working directory is its own (`redis_dir`): a master that
    /// serves a replica writes an RDB there, which a later server started
    /// in a shared directory would load.
    pub fn command(port: u16) -> Command {
        let dir = redis_dir(port);
        let _ = std::fs::create_dir_all(&dir);
        let mut cmd = Command::new("redis-server");
        cmd.arg("--dir").arg(&dir);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        cmd
    }

    /// With extra redis-server arguments, e.g. `["--requirepass", "pw"]`.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = Self::spawn_ready(port, extra) {
                let extra = extra.iter().map(|a| a.to_string()).collect();
                return RedisServer { port, child, extra };
            }
        }
        panic!("could not start redis-server");
    }

    /// Starts redis-server on `port` and waits until it says it listens
    /// there. (A connect alone could reach another test's process that took
    /// the port first, while this one fails to bind and exits.) `None`: it
    /// exited, the port was taken.
    fn spawn_ready<S: AsRef<std::ffi::OsStr>>(port: u16, extra: &[S]) -> Option<Child> {
        let log = temp_dir("redis").join("redis.log");
        let mut child = Self::command(port)
            .args(extra)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = std::fs::remove_dir_all(log.parent().unwrap());
                return None;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Ready to accept connections") {
                let _ = std::fs::remove_dir_all(log.parent().unwrap());
                return Some(child);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(log.parent().unwrap());
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaped: the port refuses connections afterwards.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it if still running, then starts a fresh (empty) redis-server on
    /// the same port with the same arguments, and returns once a direct PING
    /// is answered (within 5 s).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // The port can stay busy for a moment after the kill.
            if let Some(child) = Self::spawn_ready(self.port, &self.extra) {
                self.child = child;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} not listening after a restart",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A plain connection straight to this server.
    pub fn conn(&self) -> Conn {
        Conn::tcp(self.port)
    }

    /// Every key on this server (SCAN).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut c = self.conn();
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let reply = c.call(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let Reply::Array(parts) = reply else {
                panic!("SCAN: {reply:?}")
            };
            let (Reply::Bulk(next), Reply::Array(batch)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            for k in batch {
                if let Reply::Bulk(k) = k {
                    keys.push(k.clone());
                }
            }
            cursor = next.clone();
            if cursor == b"0" {
                return keys;
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(redis_dir(self.port));
    }
}

/// The working directory of the test redis-server on `port`.
pub fn redis_dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("redshard-test-redis-{}-{port}", std::process::id()))
}

/// A running redshard with a config written to a temporary file.
pub struct Redshard {
    pub port: u16,
    pub config: PathBuf,
    child: Child,
    pub log: PathBuf,
}

impl Redshard {
    /// Starts redshard with `config`, in which `{port}` is replaced by a free
    /// port for its listener.
    pub fn start(config: &str) -> Redshard {
        // A stats port of its own: proxies of tests running side by side
        // would otherwise all try nutcracker's default, 22222.
        let stats = free_port().to_string();
        Self::start_args(config, &["--workers", "2", "-s", &stats, "-a", "127.0.0.1"])
    }

    pub fn start_args(config: &str, args: &[&str]) -> Redshard {
        Self::wait_started(Self::spawn_args(config, args))
    }

    /// `start_args` with at most `nofile` file descriptors (soft and hard
    /// RLIMIT_NOFILE, so the proxy cannot raise it), set by `ulimit -n` in
    /// a shell that then becomes redshard (its PID is the proxy's).
    pub fn start_fd_limited(config: &str, nofile: u32, args: &[&str]) -> Redshard {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_redshard"));
        Self::wait_started(Self::spawn_with(command, config, args))
    }

    fn wait_started(mut proxy: Redshard) -> Redshard {
        // Waits for the listener; a proxy that exits (a config it refuses)
        // fails at once, with its log.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", proxy.port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("redshard exited ({status}) at start:\n{}", proxy.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "redshard not listening on port {} after 10 s:\n{}",
                proxy.port,
                proxy.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// Starts redshard without waiting for its listener (see `start_args`),
    /// for tests that act while it is still starting.
    pub fn spawn_args(config: &str, args: &[&str]) -> Redshard {
        Self::spawn_with(Command::new(env!("CARGO_BIN_EXE_redshard")), config, args)
    }

    /// Runs `command` (redshard, or what execs it) with `-c CONFIG` and `args`.
    fn spawn_with(mut command: Command, config: &str, args: &[&str]) -> Redshard {
        let dir = temp_dir("proxy");
        let port = free_port();
        let path = dir.join("redshard.yml");
        std::fs::write(&path, config.replace("{port}", &port.to_string())).unwrap();
        let log = dir.join("redshard.log");
        let child = command
            .arg("-c")
            .arg(&path)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start redshard");
        // Returned before any wait, so a failed wait still stops the process.
        Redshard {
            port,
            config: path,
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn conn(&self) -> Conn {
        Conn::tcp(self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Writes `config` (with `{port}` filled in as at start) over the file
    /// it was started with; a reload is up to the caller (SIGHUP).
    pub fn write_config(&self, config: &str) {
        std::fs::write(
            &self.config,
            config.replace("{port}", &self.port.to_string()),
        )
        .unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (5 s at most) until the log contains `want`.
    pub fn wait_logged(&self, want: &str) {
        let started = Instant::now();
        while !self.log_text().contains(want) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "not logged: {want}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Redshard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its config and log lived in a directory of their own.
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A pool config for `servers`, listening on `{port}`.
pub fn pool_config(name: &str, servers: &[&RedisServer], extra: &str) -> String {
    let mut s =
        format!("{name}:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n{extra}  servers:\n");
    for srv in servers {
        s.push_str(&format!("   - 127.0.0.1:{}:1\n", srv.port));
    }
    s
}

/// A fresh directory in the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("redshard-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Keys that live on `server` and keys that do not, under the proxy's
/// config (its first pool), `n` of each.
pub fn keys_on(proxy: &Redshard, server: usize, n: usize) -> (Vec<String>, Vec<String>) {
    let config = redshard::config::Config::load(&proxy.config).unwrap();
    let placement = redshard::pool::Placement::new(&config.pools[0]);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0.. {
        let k = format!("key:{i}:x");
        if placement.server_for(k.as_bytes()) == Some(server) {
            if on.len() < n {
                on.push(k);
            }
        } else if off.len() < n {
            off.push(k);
        }
        if on.len() == n && off.len() == n {
            break;
        }
    }
    (on, off)
}

/// The server (config index) the proxy's first pool places `key` on.
pub fn server_of(proxy: &Redshard, key: &str) -> usize {
    let config = redshard::config::Config::load(&proxy.config).unwrap();
    let placement = redshard::pool::Placement::new(&config.pools[0]);
    placement.server_for(key.as_bytes()).unwrap()
}

/// Waits (up to 5 s) until `n` clients are blocked on `server` (`INFO
/// clients`: whatever the version, a blocked call is counted there while it
/// waits, whereas its commandstats may count it only once it returns).
pub fn wait_blocked(server: &RedisServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Reply::Bulk(info) = server.conn().cmd(&["INFO", "clients"]) else {
            panic!("INFO clients")
        };
        let blocked = String::from_utf8_lossy(&info)
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if blocked >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{blocked} clients blocked on server {}, not {n}",
            server.port
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A counter of a server's `INFO commandstats` (e.g. `cmdstat_multi`
/// `calls`), 0 when the command never ran.
/// A field of a server's `INFO <section>`, asked directly.
pub fn info_field(server: &RedisServer, section: &str, field: &str) -> Option<String> {
    let Reply::Bulk(text) = server.conn().cmd(&["INFO", section]) else {
        panic!("INFO {section}")
    };
    let text = String::from_utf8(text).unwrap();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

/// A numeric field of a server's `INFO <section>`.
pub fn info_number(server: &RedisServer, section: &str, field: &str) -> u64 {
    info_field(server, section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {field} in INFO {section}"))
}

pub fn command_calls(server: &RedisServer, command: &str) -> u64 {
    command_stat(server, command, "calls")
}

/// A field of a command's `INFO commandstats` line (`calls`, or
/// `rejected_calls`: refused before running, e.g. with a cluster's
/// MOVED), 0 when the command never ran.
pub fn command_stat(server: &RedisServer, command: &str, field: &str) -> u64 {
    command_stat_on(&mut server.conn(), command, field)
}

/// [`command_stat`] of the server at the other end of `conn`.
pub fn command_stat_on(conn: &mut Conn, command: &str, field: &str) -> u64 {
    let Reply::Bulk(info) = conn.cmd(&["INFO", "commandstats"]) else {
        panic!("INFO commandstats")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find_map(|l| l.strip_prefix(&prefix)) else {
        return 0;
    };
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `n` redis-servers started with `extra` arguments.
pub fn start_servers(n: usize, extra: &[&str]) -> Vec<RedisServer> {
    (0..n).map(|_| RedisServer::start_with(extra)).collect()
}

/// A proxy with one pool, `alpha`, over `servers`, with `extra` pool keys.
pub fn alpha_proxy(servers: &[RedisServer], extra: &str) -> Redshard {
    Redshard::start(&pool_config(
        "alpha",
        &servers.iter().collect::<Vec<_>>(),
        extra,
    ))
}

/// The server user the README gives the proxy (no `@dangerous`, no
/// `@admin`), as redis-server arguments.
pub const README_USER: [&str; 9] = [
    "--user",
    "redshard",
    "on",
    ">proxy-pw",
    "~*",
    "&*",
    "+@all",
    "-@dangerous",
    "-@admin",
];
