//! A real Redis Cluster for the tests: redis-server processes with
//! `cluster-enabled yes` on free loopback ports (plain, or TLS only),
//! joined by `redis-cli --cluster create`, each stopped (by its own PID) on
//! drop; and what the tests do to it: look up slots, kill a master and wait
//! for its replica's promotion.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::certs::{tls_conn, tls_server_args, Pki};
use super::servers::{free_port, temp_dir, Conn, RedisServer, Reply};

pub struct Cluster {
    /// Masters first (the first `masters`), then their replicas.
    pub nodes: Vec<RedisServer>,
    pub masters: usize,
    /// Where each node is reached: its port, or its TLS port.
    ports: Vec<u16>,
    /// A TLS cluster's files; the tests' own connections use them.
    tls: Option<NodeTls>,
    /// Nodes killed by the test (`kill`), left out of every later look.
    dead: Vec<bool>,
    dirs: Vec<PathBuf>,
}

/// A cluster serving TLS only (`--port 0`), its bus and replication too
/// (`tls-cluster`, `tls-replication`); every node asks for a client
/// certificate (Redis's default).
#[derive(Clone)]
pub struct NodeTls {
    /// The CA(s) every node trusts, for clients and its peers; the tests'
    /// own connections trust it too.
    pub ca: PathBuf,
    /// Node i's certificate and key: `certs[i % certs.len()]`.
    pub certs: Vec<(PathBuf, PathBuf)>,
    /// The certificate the tests' own connections show.
    pub client: (PathBuf, PathBuf),
}

impl NodeTls {
    /// Every node with `pki`'s server certificate (for 127.0.0.1).
    pub fn of(pki: &Pki) -> NodeTls {
        NodeTls {
            ca: pki.ca.clone(),
            certs: vec![(pki.server_cert.clone(), pki.server_key.clone())],
            client: (pki.client_cert.clone(), pki.client_key.clone()),
        }
    }

    /// redis-cli's options to reach the nodes.
    pub fn cli_args(&self) -> Vec<String> {
        let path = |p: &PathBuf| p.to_str().unwrap().to_string();
        vec![
            "--tls".into(),
            "--cacert".into(),
            path(&self.ca),
            "--cert".into(),
            path(&self.client.0),
            "--key".into(),
            path(&self.client.1),
        ]
    }
}

impl Cluster {
    /// `masters` masters with `replicas` replicas each, every slot served,
    /// every node agreeing (`cluster_state:ok` everywhere).
    pub fn start(masters: usize, replicas: usize) -> Cluster {
        Self::start_with(masters, replicas, &[])
    }

    /// As `start`, every node started with `extra` redis-server arguments
    /// too (e.g. `cluster-require-full-coverage no`).
    pub fn start_with(masters: usize, replicas: usize, extra: &[&str]) -> Cluster {
        Self::start_nodes(masters, replicas, extra, None)
    }

    /// As `start`, every node serving TLS only, with `tls`'s files.
    pub fn start_tls(masters: usize, replicas: usize, tls: NodeTls) -> Cluster {
        Self::start_nodes(masters, replicas, &[], Some(tls))
    }

    fn start_nodes(
        masters: usize,
        replicas: usize,
        extra: &[&str],
        tls: Option<NodeTls>,
    ) -> Cluster {
        let count = masters * (1 + replicas);
        let mut dirs = Vec::with_capacity(count);
        let mut ports = Vec::with_capacity(count);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|i| {
                let dir = temp_dir("cluster-node");
                let mut args: Vec<String> = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "1000",
                    // A replica's first sync at once, not after the default
                    // 5 s wait for more replicas.
                    "--repl-diskless-sync-delay",
                    "0",
                    "--dir",
                    dir.to_str().unwrap(),
                ]
                .map(String::from)
                .into();
                args.extend(extra.iter().map(|a| a.to_string()));
                let tls_port = tls.as_ref().map(|tls| {
                    let port = free_port();
                    let (cert, key) = &tls.certs[i % tls.certs.len()];
                    args.extend(tls_server_args(port, (cert, key), &tls.ca));
                    // The bus port named, not the TLS port + 10000, which
                    // may be past 65535.
                    args.extend(
                        ["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from),
                    );
                    args.extend(["--cluster-port".into(), free_port().to_string()]);
                    port
                });
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let node = RedisServer::start_with(&args);
                ports.push(tls_port.unwrap_or(node.port));
                dirs.push(dir);
                node
            })
            .collect();
        let mut create = Command::new("redis-cli");
        if let Some(tls) = &tls {
            create.args(tls.cli_args());
        }
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let out = create.output().expect("redis-cli must be installed");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster {
            dead: vec![false; nodes.len()],
            nodes,
            masters,
            ports,
            tls,
            dirs,
        };
        cluster.wait_ok(Duration::from_secs(20));
        cluster
    }

    /// The nodes not killed, with their index in `nodes`.
    pub fn live(&self) -> impl Iterator<Item = (usize, &RedisServer)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.dead[*i])
    }

    /// A connection to some live node.
    fn any(&self) -> Conn {
        self.conn(self.live().next().expect("a live node").0)
    }

    /// A connection straight to node `node`, TLS in a TLS cluster.
    pub fn conn(&self, node: usize) -> Conn {
        let port = self.ports[node];
        match &self.tls {
            None => Conn::tcp(port),
            Some(tls) => {
                let (cert, key) = &tls.client;
                tls_conn(port, &tls.ca, Some((cert, key)))
                    .unwrap_or_else(|e| panic!("TLS to node {node}: {e}"))
                    .0
            }
        }
    }

    /// The port node `node` is reached at (its TLS port in a TLS cluster).
    pub fn port(&self, node: usize) -> u16 {
        self.ports[node]
    }

    /// redis-cli's options to reach the nodes (none for a plain cluster).
    pub fn cli_args(&self) -> Vec<String> {
        self.tls.as_ref().map(NodeTls::cli_args).unwrap_or_default()
    }

    /// Waits until every live node reports `cluster_state:ok` and knows
    /// every other node (a killed one stays known, flagged failed), and
    /// every replica has its master's data: a replica that never synced
    /// refuses to take over ("disconnected from master for too long").
    pub fn wait_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self.live().all(|(i, _)| {
                let info = text(self.conn(i).cmd(&["CLUSTER", "INFO"]));
                let synced = text(self.conn(i).cmd(&["INFO", "replication"]));
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
                    && (synced.contains("role:master") || synced.contains("master_link_status:up"))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster never settled");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The slot of `key`, as the cluster computes it.
    pub fn keyslot(&self, key: &str) -> u16 {
        self.keyslots(&[key])[0]
    }

    /// The slots of `keys` (`CLUSTER KEYSLOT`, pipelined), in order.
    pub fn keyslots<K: AsRef<[u8]>>(&self, keys: &[K]) -> Vec<u16> {
        let mut c = self.any();
        let mut slots = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            for k in chunk {
                c.send(&[b"CLUSTER", b"KEYSLOT", k.as_ref()]);
            }
            for _ in chunk {
                match c.read() {
                    Reply::Int(n) => slots.push(n as u16),
                    other => panic!("CLUSTER KEYSLOT: {other:?}"),
                }
            }
        }
        slots
    }

    /// Who serves which slots, as node `seen_by` sees it (`CLUSTER SLOTS`):
    /// (first slot, last slot, master's node index).
    pub fn slot_ranges(&self, seen_by: usize) -> Vec<(u16, u16, usize)> {
        let Reply::Array(ranges) = self.conn(seen_by).cmd(&["CLUSTER", "SLOTS"]) else {
            panic!("CLUSTER SLOTS")
        };
        let mut out = Vec::with_capacity(ranges.len());
        for range in ranges {
            let Reply::Array(r) = range else { continue };
            let (Reply::Int(start), Reply::Int(end), Reply::Array(master)) = (&r[0], &r[1], &r[2])
            else {
                continue;
            };
            let Reply::Int(port) = master[1] else {
                panic!("a port")
            };
            out.push((*start as u16, *end as u16, self.index_of_port(port as u16)));
        }
        out.sort_unstable();
        out
    }

    /// The master (node index) of every slot, as node `seen_by` sees it.
    pub fn owner_table(&self, seen_by: usize) -> Vec<usize> {
        let mut owner = vec![usize::MAX; 16384];
        for (start, end, node) in self.slot_ranges(seen_by) {
            owner[start as usize..=end as usize].fill(node);
        }
        assert!(owner.iter().all(|&o| o != usize::MAX), "unserved slots");
        owner
    }

    /// The node (index in `nodes`) that serves `slot` as master now, as
    /// the first live node sees it.
    pub fn master_of(&self, slot: u16) -> usize {
        let seen_by = self.live().next().expect("a live node").0;
        self.slot_ranges(seen_by)
            .into_iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .unwrap_or_else(|| panic!("slot {slot} unassigned"))
            .2
    }

    /// The slots node `node` serves as master, in order.
    pub fn slots_of(&self, node: usize) -> Vec<u16> {
        let seen_by = self.live().next().expect("a live node").0;
        self.slot_ranges(seen_by)
            .into_iter()
            .filter(|r| r.2 == node)
            .flat_map(|(start, end, _)| start..=end)
            .collect()
    }

    pub fn index_of_port(&self, port: u16) -> usize {
        self.ports
            .iter()
            .position(|&p| p == port)
            .unwrap_or_else(|| panic!("port {port} is not a node of this cluster"))
    }

    /// The node's cluster id (`CLUSTER MYID`).
    pub fn id(&self, node: usize) -> String {
        text(self.conn(node).cmd(&["CLUSTER", "MYID"]))
    }

    /// The indices of the nodes that are masters now (`ROLE`), live only.
    pub fn current_masters(&self) -> Vec<usize> {
        self.live()
            .filter(|(i, _)| role(self.conn(*i)).0 == "master")
            .map(|(i, _)| i)
            .collect()
    }

    /// The live replica of master `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let port = self.ports[master];
        self.live()
            .find(|(i, _)| role(self.conn(*i)) == ("slave".to_string(), Some(port)))
            .unwrap_or_else(|| panic!("no replica of node {master}"))
            .0
    }

    /// `kill -9` of node `node` (by its PID), left out of every later look.
    pub fn kill(&mut self, node: usize) {
        self.nodes[node].kill();
        self.dead[node] = true;
    }

    /// Waits until `replica` has been promoted: it says it is a master, and
    /// every live node names it for `slot` and reports `cluster_state:ok`.
    /// The time from `since` to the promotion (`ROLE` says master, polled
    /// every 10 ms) and to the whole cluster's agreement.
    pub fn wait_promoted(
        &self,
        replica: usize,
        slot: u16,
        since: Instant,
        timeout: Duration,
    ) -> (Duration, Duration) {
        let deadline = since + timeout;
        let promoted = loop {
            if role(self.conn(replica)).0 == "master" {
                break since.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "node {replica} not promoted within {timeout:?}: {}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        loop {
            let agreed = self.live().all(|(i, _)| {
                let info = text(self.conn(i).cmd(&["CLUSTER", "INFO"]));
                info.contains("cluster_state:ok")
                    && self
                        .slot_ranges(i)
                        .iter()
                        .any(|r| (r.0..=r.1).contains(&slot) && r.2 == replica)
            });
            if agreed {
                return (promoted, since.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not agree on node {replica} within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every live node's view (`CLUSTER NODES`), for a failure message.
    pub fn describe(&self) -> String {
        self.live()
            .map(|(i, _)| {
                let nodes = text(self.conn(i).cmd(&["CLUSTER", "NODES"]));
                format!("node {i} (port {}) sees:\n{nodes}", self.ports[i])
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Keys stored on node `node` (`DBSIZE`).
    pub fn dbsize(&self, node: usize) -> i64 {
        match self.conn(node).cmd(&["DBSIZE"]) {
            Reply::Int(n) => n,
            other => panic!("DBSIZE: {other:?}"),
        }
    }

    /// `host:port` lines for a pool's `servers:` (the seeds).
    pub fn seeds(&self) -> String {
        self.ports
            .iter()
            .take(self.masters)
            .map(|p| format!("   - 127.0.0.1:{p}:1\n"))
            .collect()
    }

    /// A cluster pool `alpha` over this cluster's masters as seeds,
    /// listening on `{port}`, with `extra` pool keys.
    pub fn pool_config(&self, extra: &str) -> String {
        format!(
            "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  cluster: true\n{extra}  servers:\n{}",
            self.seeds()
        )
    }
}

/// The keys among `keys` (their slots: `slots`) that node `node` serves by
/// `owner` (an [`Cluster::owner_table`]).
pub fn keys_served_by<'k>(
    node: usize,
    keys: &'k [String],
    slots: &[u16],
    owner: &[usize],
) -> Vec<&'k String> {
    keys.iter()
        .zip(slots)
        .filter(|(_, &s)| owner[s as usize] == node)
        .map(|(k, _)| k)
        .collect()
}

/// A node's role and, for a replica, its master's port (`ROLE`, asked on
/// `conn`).
fn role(mut conn: Conn) -> (String, Option<u16>) {
    let Reply::Array(parts) = conn.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    let name = match &parts[0] {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("ROLE: {other:?}"),
    };
    let master = match parts.get(2) {
        Some(Reply::Int(port)) if name == "slave" => Some(*port as u16),
        _ => None,
    };
    (name, master)
}

pub fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Status(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes stop on their own drop; their nodes.conf go with them.
        self.nodes.clear();
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
