//! A Sentinel topology of real processes: shards of a master and its
//! replicas (`replicaof`), watched by redis-sentinel processes (quorum 2),
//! all on free loopback ports, every process stopped by its own PID when
//! the topology is dropped. Failure detection is set tight
//! (`down-after-milliseconds` 600, `failover-timeout` 3000) so a failover
//! takes about two seconds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::{free_port, temp_dir, Conn, RedisServer, Reply};

/// How long a master may not answer before a sentinel calls it down.
pub const DOWN_AFTER_MS: u64 = 600;
const FAILOVER_TIMEOUT_MS: u64 = 3000;

/// One redis-sentinel process.
pub struct Sentinel {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    password: Option<String>,
}

impl Sentinel {
    /// Starts a sentinel monitoring `masters` (name, port) with quorum 2,
    /// with `password` on itself and on the masters.
    fn start(masters: &[(String, u16)], password: Option<&str>) -> Sentinel {
        for _ in 0..5 {
            let port = free_port();
            let dir = temp_dir("sentinel");
            let mut conf = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n",
                dir.display(),
                dir.join("sentinel.log").display()
            );
            if let Some(pw) = password {
                conf.push_str(&format!("requirepass {pw}\n"));
            }
            for (name, master) in masters {
                conf.push_str(&format!(
                    "sentinel monitor {name} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}\n\
                     sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}\n\
                     sentinel parallel-syncs {name} 2\n"
                ));
                if let Some(pw) = password {
                    conf.push_str(&format!("sentinel auth-pass {name} {pw}\n"));
                }
            }
            let path = dir.join("sentinel.conf");
            std::fs::write(&path, conf).unwrap();
            let child = Command::new(sentinel_program())
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-sentinel must be installed (scripts/test.sh installs it)");
            let password = password.map(str::to_string);
            let mut s = Sentinel {
                port,
                child,
                dir,
                password,
            };
            if s.wait_ready() {
                return s;
            }
        }
        panic!("could not start redis-sentinel");
    }

    /// Waits until it says it listens on its port; false when it exited.
    fn wait_ready(&mut self) -> bool {
        let log = self.dir.join("sentinel.log");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Sentinel ID is") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// An authenticated connection to it.
    pub fn conn(&self) -> Conn {
        self.try_conn().expect("sentinel not listening")
    }

    /// `None` when it does not accept connections (killed).
    pub fn try_conn(&self) -> Option<Conn> {
        open(self.port, self.password.as_deref())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// redis-sentinel from Debian's package; redis-server in sentinel mode
/// otherwise (the same binary).
fn sentinel_program() -> &'static str {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| d.join("redis-sentinel").exists())
    });
    if found {
        "redis-sentinel"
    } else {
        panic!("redis-sentinel is missing: run scripts/test.sh, which installs it")
    }
}

/// A master and its replicas, by the name Sentinel monitors them by.
pub struct Shard {
    pub name: String,
    /// `servers[0]` is the master at start.
    pub servers: Vec<RedisServer>,
}

impl Shard {
    /// The server on `port`.
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers.iter().find(|s| s.port == port).unwrap()
    }

    pub fn server_mut(&mut self, port: u16) -> &mut RedisServer {
        self.servers.iter_mut().find(|s| s.port == port).unwrap()
    }
}

pub struct Topology {
    pub shards: Vec<Shard>,
    pub sentinels: Vec<Sentinel>,
    password: Option<String>,
}

/// What a topology is made of.
pub struct Layout {
    pub shards: usize,
    pub replicas: usize,
    pub sentinels: usize,
    /// Extra redis-server arguments for masters and replicas.
    pub redis_args: Vec<String>,
    /// A password on every server and sentinel (`requirepass`, and what
    /// replicas and sentinels need to use it).
    pub password: Option<String>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            shards: 2,
            replicas: 2,
            sentinels: 3,
            redis_args: Vec::new(),
            password: None,
        }
    }
}

impl Topology {
    /// Starts the shards (`shard1`, `shard2`, ...), waits until every
    /// replica is in sync, starts the sentinels and waits until each knows
    /// every replica and every other sentinel (so a failover can be
    /// authorized at once).
    pub fn start(layout: Layout) -> Topology {
        let mut args: Vec<&str> = layout.redis_args.iter().map(String::as_str).collect();
        if let Some(pw) = &layout.password {
            args.extend(["--requirepass", pw, "--masterauth", pw]);
        }
        let shards: Vec<Shard> = (1..=layout.shards)
            .map(|n| {
                let master = RedisServer::start_with(&args);
                let port = master.port.to_string();
                let mut servers = vec![master];
                for _ in 0..layout.replicas {
                    let mut replica_args = vec!["--replicaof", "127.0.0.1", &port];
                    replica_args.extend(&args);
                    servers.push(RedisServer::start_with(&replica_args));
                }
                Shard {
                    name: format!("shard{n}"),
                    servers,
                }
            })
            .collect();
        let topology = Topology {
            sentinels: Vec::new(),
            shards,
            password: layout.password.clone(),
        };
        for shard in &topology.shards {
            topology.wait_replicas_online(&shard.name, shard.servers[0].port, layout.replicas);
        }
        let masters: Vec<(String, u16)> = topology
            .shards
            .iter()
            .map(|s| (s.name.clone(), s.servers[0].port))
            .collect();
        let mut topology = topology;
        topology.sentinels = (0..layout.sentinels)
            .map(|_| Sentinel::start(&masters, layout.password.as_deref()))
            .collect();
        topology.wait_sentinels_agree(layout.replicas);
        topology
    }

    /// `"- host:port"` lines for a pool's `sentinels:`.
    pub fn sentinels_yaml(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("   - {}\n", s.addr()))
            .collect()
    }

    /// A pool `alpha` following every shard through the sentinels.
    pub fn pool_config(&self, extra: &str) -> String {
        let mut s = format!(
            "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n{extra}  sentinels:\n{}  servers:\n",
            self.sentinels_yaml()
        );
        for shard in &self.shards {
            s.push_str(&format!("   - {}:1\n", shard.name));
        }
        s
    }

    pub fn shard(&self, name: &str) -> &Shard {
        self.shards.iter().find(|s| s.name == name).unwrap()
    }

    pub fn shard_mut(&mut self, name: &str) -> &mut Shard {
        self.shards.iter_mut().find(|s| s.name == name).unwrap()
    }

    /// The port a live sentinel gives for `master`.
    pub fn master_port(&self, master: &str) -> Option<u16> {
        self.sentinels
            .iter()
            .find_map(|s| sentinel_says(&mut s.try_conn()?, master))
    }

    /// Waits (bounded) until `master_port` says `master` is no longer on
    /// `old` in every live sentinel; returns the new port.
    pub fn wait_new_master(&self, master: &str, old: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            let ports: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .filter_map(|s| Some(sentinel_says(&mut s.try_conn()?, master)))
                .collect();
            if let Some(Some(p)) = ports.first() {
                if *p != old && ports.iter().all(|q| *q == Some(*p)) {
                    return *p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no sentinel moved {master} off {old} within {within:?}: {ports:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_replicas_online(&self, name: &str, master: u16, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut c = open(master, self.password.as_deref()).unwrap();
            let info = info(&mut c, "replication");
            let online = info.matches("state=online").count();
            if online == replicas {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: replicas not in sync after 10 s:\n{info}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_sentinels_agree(&self, replicas: usize) {
        let others = self.sentinels.len() - 1;
        let deadline = Instant::now() + Duration::from_secs(20);
        for s in &self.sentinels {
            for shard in &self.shards {
                loop {
                    let mut c = s.conn();
                    let known = |what: &[u8], c: &mut Conn| match c.call(&[
                        b"SENTINEL",
                        what,
                        shard.name.as_bytes(),
                    ]) {
                        Reply::Array(a) => a.len(),
                        _ => 0,
                    };
                    let (r, o) = (known(b"REPLICAS", &mut c), known(b"SENTINELS", &mut c));
                    if r == replicas && o == others {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "sentinel {} knows {r} replicas and {o} sentinels of {} after 20 s",
                        s.port,
                        shard.name
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// A connection to `port`, authenticated with `password` if given; `None`
/// when nothing accepts there.
pub fn open(port: u16, password: Option<&str>) -> Option<Conn> {
    let mut c = Conn::try_tcp(port)?;
    if let Some(pw) = password {
        assert_eq!(c.try_call(&[b"AUTH", pw.as_bytes()]).ok()?, Reply::ok());
    }
    Some(c)
}

/// `INFO section` of a server, as text.
pub fn info(c: &mut Conn, section: &str) -> String {
    match c.cmd(&["INFO", section]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO {section}: {other:?}"),
    }
}

/// `ROLE`'s first word from the server on `port` (`None`: unreachable).
pub fn role(port: u16) -> Option<String> {
    let mut c = Conn::try_tcp(port)?;
    match c.try_call(&[b"ROLE"]).ok()? {
        Reply::Array(a) => match a.first()? {
            Reply::Bulk(r) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        },
        _ => None,
    }
}

fn sentinel_says(c: &mut Conn, master: &str) -> Option<u16> {
    let reply = c
        .try_call(&[b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", master.as_bytes()])
        .ok()?;
    let Reply::Array(a) = reply else { return None };
    let Reply::Bulk(port) = a.get(1)? else {
        return None;
    };
    String::from_utf8_lossy(port).parse().ok()
}

/// A sentinel the test scripts: it answers `GET-MASTER-ADDR-BY-NAME` with
/// the port it is given (any master name), confirms `SUBSCRIBE` and
/// publishes nothing. So the proxy learns of a change only by asking.
pub struct ScriptedSentinel {
    pub port: u16,
    master: std::sync::Arc<std::sync::atomic::AtomicU16>,
    _server: super::scripted::Scripted,
}

impl ScriptedSentinel {
    pub fn start(master_port: u16) -> ScriptedSentinel {
        use std::sync::atomic::AtomicU16;
        use std::sync::Arc;
        let master = Arc::new(AtomicU16::new(master_port));
        let m = master.clone();
        let server = super::scripted::Scripted::start(Arc::new(move |args| {
            sentinel_answer(args, &m).into_bytes()
        }));
        ScriptedSentinel {
            port: server.port,
            master,
            _server: server,
        }
    }

    /// From now on, masters are said to be on `port`.
    pub fn set_master(&self, port: u16) {
        self.master
            .store(port, std::sync::atomic::Ordering::Relaxed);
    }
}

fn sentinel_answer(args: &[Reply], master: &std::sync::atomic::AtomicU16) -> String {
    match super::scripted::command_name(args).as_str() {
        "SENTINEL" => {
            let port = master
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string();
            format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.len())
        }
        "SUBSCRIBE" => (1..args.len())
            .map(|i| {
                let ch = match &args[i] {
                    Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => String::new(),
                };
                format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{ch}\r\n:{i}\r\n", ch.len())
            })
            .collect(),
        _ => "+OK\r\n".to_string(),
    }
}
