//! redshard in front of a test cluster: started with a cluster pool once
//! it has the slot map; what it says of the redirections it followed
//! (INFO's `# Cluster`, `/metrics`); `redshard route` for a cluster pool;
//! and a seed that is slow to answer, to hold back the first slot map.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::kv_load::{KvLoad, Pace};
use super::servers::{encode, eventually, free_port, Conn, Redshard, Reply};

/// A proxy with one cluster pool, `alpha`, over `cluster`, once it has
/// the slot map (every slot served: INFO's `# Cluster`). What a request
/// sent before that gets is a test of its own.
pub fn proxy_for(cluster: &Cluster, extra: &str) -> Redshard {
    proxy_with_args(cluster, extra, &[])
}

/// `proxy_for` with more redshard arguments (e.g. `--metrics`).
pub fn proxy_with_args(cluster: &Cluster, extra: &str, args: &[&str]) -> Redshard {
    let stats = free_port().to_string();
    let mut all = vec!["--workers", "2", "-s", &stats, "-a", "127.0.0.1"];
    all.extend_from_slice(args);
    let proxy = Redshard::start_args(&cluster.pool_config(extra), &all);
    eventually(Duration::from_secs(10), "the first slot map", || {
        let info = proxy_cluster_info(&proxy);
        (info.get("cluster_slots_served").map(String::as_str) == Some("16384")).then_some(())
    });
    proxy
}

/// The fields of the proxy's `INFO` `# Cluster` section.
pub fn proxy_cluster_info(proxy: &Redshard) -> HashMap<String, String> {
    let Reply::Bulk(info) = proxy.conn().cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8(info).unwrap();
    let section = info
        .split("# Cluster")
        .nth(1)
        .unwrap_or_else(|| panic!("no # Cluster section in INFO:\n{info}"));
    section
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// `redshard_cluster_redirections_total` of pool `alpha` by kind, from
/// the proxy's `/metrics`.
pub fn metrics_redirections(port: u16) -> BTreeMap<String, u64> {
    metrics_by(port, "redshard_cluster_redirections_total", "kind")
}

/// A counter of pool `alpha` by its second label (`label`), from the
/// proxy's `/metrics`.
pub fn metrics_by(port: u16, metric: &str, label: &str) -> BTreeMap<String, u64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    let prefix = format!("{metric}{{pool=\"alpha\",{label}=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(kind, n)| {
            let n = n
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{metric} {kind}: {n:?}: {e}"));
            (kind.to_string(), n)
        })
        .collect()
}

/// Redirections the proxy followed, by kind, and slot maps it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirections {
    pub moved: u64,
    pub ask: u64,
    pub retry: u64,
    pub refreshes: u64,
}

impl std::ops::Sub for Redirections {
    type Output = Redirections;
    fn sub(self, before: Redirections) -> Redirections {
        Redirections {
            moved: self.moved - before.moved,
            ask: self.ask - before.ask,
            retry: self.retry - before.retry,
            refreshes: self.refreshes - before.refreshes,
        }
    }
}

impl std::fmt::Display for Redirections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proxy followed {} MOVED and {} ASK, {} retries, {} slot maps read",
            self.moved, self.ask, self.retry, self.refreshes
        )
    }
}

/// Pipelined SET/GET through the proxy (16 a batch, one batch per client
/// every `every`), once every client has written each of its keys and
/// 2,000 more requests were answered.
pub fn steady_load(proxy: &Redshard, keys: Vec<Vec<String>>, every: Duration) -> KvLoad {
    let pace = Pace { depth: 16, every };
    let load = KvLoad::start(proxy.port, keys, pace);
    load.wait_prefilled(Duration::from_secs(10));
    load.wait_more(2000, Duration::from_secs(10));
    load
}

pub fn redirections(proxy: &Redshard) -> Redirections {
    let info = proxy_cluster_info(proxy);
    let n = |k: &str| -> u64 {
        info.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in INFO's # Cluster: {info:?}"))
    };
    Redirections {
        moved: n("cluster_redirections_moved"),
        ask: n("cluster_redirections_ask"),
        retry: n("cluster_redirections_retry"),
        refreshes: n("cluster_slot_map_refreshes"),
    }
}

/// `redshard route -c FILE --pool alpha` for `keys`: (slot, node port)
/// per key, in order.
pub fn route(proxy: &Redshard, keys: &[String]) -> Vec<(u16, u16)> {
    let out = run_route(&proxy.config, keys);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "route failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(u16, u16)> = stdout
        .lines()
        .zip(keys)
        .map(|(line, key)| {
            let mut cols = line.splitn(3, '\t');
            let (slot, node, k) = (cols.next(), cols.next(), cols.next());
            assert_eq!(k, Some(key.as_str()), "route line {line:?}");
            let slot = slot.and_then(|s| s.parse().ok()).expect("a slot");
            let port = node
                .and_then(|n| n.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("a node in {line:?}"));
            (slot, port)
        })
        .collect();
    assert_eq!(rows.len(), keys.len(), "one line per key");
    rows
}

/// `redshard route -c config --pool alpha` with `keys` on its input, as
/// it ended.
pub fn run_route(config: &Path, keys: &[String]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redshard"))
        .arg("route")
        .arg("-c")
        .arg(config)
        .args(["--pool", "alpha"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redshard route");
    // Fed from a thread: the output would otherwise fill its pipe while
    // the input fills the other. (A route that fails at once closes it.)
    let mut pipe = child.stdin.take().unwrap();
    let input: String = keys.iter().map(|k| format!("{k}\n")).collect();
    let feeder = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    let _ = feeder.join().unwrap();
    out
}

/// Pipelined commands on one connection, their replies in order.
pub fn pipeline(c: &mut Conn, commands: &[Vec<&[u8]>]) -> Vec<Reply> {
    let mut bytes = Vec::new();
    for args in commands {
        bytes.extend(encode(args));
    }
    c.send_raw(&bytes);
    commands.iter().map(|_| c.read()).collect()
}

/// A seed that takes each connection and holds it, unanswered, for a
/// while before closing it: the slot map comes from the next seed after
/// that. Stops on drop.
pub struct SlowSeed {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowSeed {
    pub fn start(hold: Duration) -> SlowSeed {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Ok((conn, _)) = listener.accept() {
                    held.push((conn, Instant::now()));
                }
                held.retain(|(_, since)| since.elapsed() < hold);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        SlowSeed {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SlowSeed {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
