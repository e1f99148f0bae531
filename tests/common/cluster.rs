//! A real Redis Cluster for the tests: redis-server processes with
//! `cluster-enabled yes` on free loopback ports, joined by
//! `redis-cli --cluster create`, each stopped (by its own PID) on drop.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::servers::{temp_dir, RedisServer, Reply};

pub struct Cluster {
    /// Masters first (the first `masters`), then their replicas.
    pub nodes: Vec<RedisServer>,
    pub masters: usize,
    dirs: Vec<PathBuf>,
}

impl Cluster {
    /// `masters` masters with `replicas` replicas each, every slot served,
    /// every node agreeing (`cluster_state:ok` everywhere).
    pub fn start(masters: usize, replicas: usize) -> Cluster {
        let count = masters * (1 + replicas);
        let mut dirs = Vec::with_capacity(count);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| {
                let dir = temp_dir("cluster-node");
                let node = RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "1000",
                    "--dir",
                    dir.to_str().unwrap(),
                ]);
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
            nodes,
            masters,
            dirs,
        };
        cluster.wait_ok(Duration::from_secs(20));
        cluster
    }

    /// Waits until every live node reports `cluster_state:ok` and knows
    /// every other node.
    pub fn wait_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self.nodes.iter().all(|n| {
                let info = text(n.conn().cmd(&["CLUSTER", "INFO"]));
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
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
        match self.nodes[0].conn().cmd(&["CLUSTER", "KEYSLOT", key]) {
            Reply::Int(n) => n as u16,
            other => panic!("CLUSTER KEYSLOT: {other:?}"),
        }
    }

    /// The node (index in `nodes`) that serves `slot` as master now.
    pub fn master_of(&self, slot: u16) -> usize {
        let Reply::Array(ranges) = self.nodes[0].conn().cmd(&["CLUSTER", "SLOTS"]) else {
            panic!("CLUSTER SLOTS")
        };
        for range in ranges {
            let Reply::Array(r) = range else { continue };
            let (Reply::Int(start), Reply::Int(end), Reply::Array(master)) = (&r[0], &r[1], &r[2])
            else {
                continue;
            };
            if (*start..=*end).contains(&(slot as i64)) {
                let Reply::Int(port) = master[1] else {
                    panic!("a port")
                };
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port as i64 == port)
                    .expect("a node of this cluster");
            }
        }
        panic!("slot {slot} unassigned")
    }

    /// `host:port` lines for a pool's `servers:` (the seeds).
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .take(self.masters)
            .map(|n| format!("   - 127.0.0.1:{}:1\n", n.port))
            .collect()
    }
}

fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
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
