//! A real Redis Cluster for the tests: redis-server processes with
//! `cluster-enabled yes` on free loopback ports, joined by
//! `redis-cli --cluster create`, each stopped (by its own PID) on drop;
//! and what the tests do to it: look up slots, kill a master and wait for
//! its replica's promotion.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::servers::{temp_dir, Conn, RedisServer, Reply};

pub struct Cluster {
    /// Masters first (the first `masters`), then their replicas.
    pub nodes: Vec<RedisServer>,
    pub masters: usize,
    /// Nodes killed by the test (`kill`), left out of every later look.
    dead: Vec<bool>,
    dirs: Vec<PathBuf>,
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
        let count = masters * (1 + replicas);
        let mut dirs = Vec::with_capacity(count);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| {
                let dir = temp_dir("cluster-node");
                let mut args = vec![
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
                ];
                args.extend_from_slice(extra);
                let node = RedisServer::start_with(&args);
                dirs.push(dir);
                node
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
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
        self.live().next().expect("a live node").1.conn()
    }

    /// Waits until every live node reports `cluster_state:ok` and knows
    /// every other node (a killed one stays known, flagged failed), and
    /// every replica has its master's data: a replica that never synced
    /// refuses to take over ("disconnected from master for too long").
    pub fn wait_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self.live().all(|(_, n)| {
                let info = text(n.conn().cmd(&["CLUSTER", "INFO"]));
                let synced = text(n.conn().cmd(&["INFO", "replication"]));
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
        let Reply::Array(ranges) = self.nodes[seen_by].conn().cmd(&["CLUSTER", "SLOTS"]) else {
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
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .unwrap_or_else(|| panic!("port {port} is not a node of this cluster"))
    }

    /// The node's cluster id (`CLUSTER MYID`).
    pub fn id(&self, node: usize) -> String {
        text(self.nodes[node].conn().cmd(&["CLUSTER", "MYID"]))
    }

    /// The indices of the nodes that are masters now (`ROLE`), live only.
    pub fn current_masters(&self) -> Vec<usize> {
        self.live()
            .filter(|(_, n)| role(n).0 == "master")
            .map(|(i, _)| i)
            .collect()
    }

    /// The live replica of master `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let port = self.nodes[master].port;
        self.live()
            .find(|(_, n)| role(n) == ("slave".to_string(), Some(port)))
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
            if role(&self.nodes[replica]).0 == "master" {
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
            let agreed = self.live().all(|(i, n)| {
                let info = text(n.conn().cmd(&["CLUSTER", "INFO"]));
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
            .map(|(i, n)| {
                let nodes = text(n.conn().cmd(&["CLUSTER", "NODES"]));
                format!("node {i} (port {}) sees:\n{nodes}", n.port)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Keys stored on node `node` (`DBSIZE`).
    pub fn dbsize(&self, node: usize) -> i64 {
        match self.nodes[node].conn().cmd(&["DBSIZE"]) {
            Reply::Int(n) => n,
            other => panic!("DBSIZE: {other:?}"),
        }
    }

    /// `host:port` lines for a pool's `servers:` (the seeds).
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .take(self.masters)
            .map(|n| format!("   - 127.0.0.1:{}:1\n", n.port))
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

/// A node's role and, for a replica, its master's port (`ROLE`).
fn role(node: &RedisServer) -> (String, Option<u16>) {
    let Reply::Array(parts) = node.conn().cmd(&["ROLE"]) else {
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
