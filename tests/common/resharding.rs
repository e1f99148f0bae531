//! Moving slots of a real cluster while the tests watch: one slot by a
//! scripted loop, step by step (so a test can act between the keys, to
//! see `ASK` for certain), or many slots by `redis-cli --cluster reshard`
//! running beside the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::{text, Cluster};
use super::servers::{command_stat_on, temp_dir, Reply};

/// One slot on its way from one master to another, as `redis-cli` moves
/// it: `IMPORTING` on the target, `MIGRATING` on the source, the keys one
/// `MIGRATE` at a time, then `SETSLOT NODE` everywhere.
pub struct SlotMigration<'a> {
    cluster: &'a Cluster,
    pub slot: u16,
    pub from: usize,
    pub to: usize,
    to_id: String,
}

impl<'a> SlotMigration<'a> {
    /// Opens the slot on both sides: from now on the source answers `ASK`
    /// for the slot's keys it no longer holds.
    pub fn begin(cluster: &'a Cluster, slot: u16, from: usize, to: usize) -> SlotMigration<'a> {
        let (from_id, to_id) = (cluster.id(from), cluster.id(to));
        let s = slot.to_string();
        let importing = cluster
            .conn(to)
            .cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]);
        assert_eq!(importing, Reply::ok(), "SETSLOT IMPORTING");
        let migrating = cluster
            .conn(from)
            .cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]);
        assert_eq!(migrating, Reply::ok(), "SETSLOT MIGRATING");
        SlotMigration {
            cluster,
            slot,
            from,
            to,
            to_id,
        }
    }

    /// Keys of the slot still on the source.
    pub fn keys_left(&self) -> i64 {
        let s = self.slot.to_string();
        match self
            .cluster
            .conn(self.from)
            .cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s])
        {
            Reply::Int(n) => n,
            other => panic!("COUNTKEYSINSLOT: {other:?}"),
        }
    }

    /// Moves at most `n` of the slot's keys, one `MIGRATE` each (over TLS
    /// in a TLS cluster: `tls-cluster`); the keys it moved.
    pub fn move_keys(&self, n: usize) -> Vec<Vec<u8>> {
        let target_port = self.cluster.port(self.to).to_string();
        let mut c = self.cluster.conn(self.from);
        let Reply::Array(keys) = c.cmd(&[
            "CLUSTER",
            "GETKEYSINSLOT",
            &self.slot.to_string(),
            &n.to_string(),
        ]) else {
            panic!("GETKEYSINSLOT")
        };
        let keys: Vec<Vec<u8>> = keys
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(k) => k,
                other => panic!("a key: {other:?}"),
            })
            .collect();
        for key in &keys {
            let reply = c.call(&[
                b"MIGRATE",
                b"127.0.0.1",
                target_port.as_bytes(),
                key,
                b"0",
                b"5000",
            ]);
            assert_eq!(
                reply,
                Reply::ok(),
                "MIGRATE {}",
                String::from_utf8_lossy(key)
            );
        }
        keys
    }

    /// Gives the slot to the target, on the target first, then the source,
    /// then every other live master (as `redis-cli` does), and waits until
    /// every live node names the target for it.
    pub fn finish(self) {
        assert_eq!(self.keys_left(), 0, "keys left on the source");
        let s = self.slot.to_string();
        let mut order = vec![self.to, self.from];
        order.extend(
            self.cluster
                .current_masters()
                .into_iter()
                .filter(|m| *m != self.to && *m != self.from),
        );
        for node in order {
            let reply =
                self.cluster
                    .conn(node)
                    .cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &self.to_id]);
            assert_eq!(reply, Reply::ok(), "SETSLOT NODE on node {node}");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.cluster.live().all(|(i, _)| {
            self.cluster
                .slot_ranges(i)
                .iter()
                .any(|r| (r.0..=r.1).contains(&self.slot) && r.2 == self.to)
        }) {
            assert!(
                Instant::now() < deadline,
                "slot {} not known everywhere as moved",
                self.slot
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `redis-cli --cluster reshard` running beside the test; killed (by its
/// PID) if the test ends first.
pub struct Reshard {
    child: Child,
    log: PathBuf,
}

impl Reshard {
    /// Starts moving `slots` slots from master `from` to master `to`.
    pub fn start(cluster: &Cluster, from: usize, to: usize, slots: usize) -> Reshard {
        let dir = temp_dir("reshard");
        let log = dir.join("reshard.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("redis-cli")
            .args(cluster.cli_args())
            .arg("--cluster")
            .arg("reshard")
            .arg(format!("127.0.0.1:{}", cluster.port(from)))
            .args(["--cluster-from", &cluster.id(from)])
            .args(["--cluster-to", &cluster.id(to)])
            .args(["--cluster-slots", &slots.to_string()])
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("redis-cli must be installed");
        Reshard { child, log }
    }

    /// Whether it has ended (it must have ended well).
    pub fn finished(&mut self) -> bool {
        match self.child.try_wait().unwrap() {
            None => false,
            Some(status) => {
                assert!(
                    status.success(),
                    "reshard failed ({status}):\n{}",
                    self.tail()
                );
                true
            }
        }
    }

    /// Waits (bounded) until it has ended well.
    pub fn wait(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.finished() {
            assert!(
                Instant::now() < deadline,
                "reshard not done within {timeout:?}:\n{}",
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of its output, for a failure message.
    fn tail(&self) -> String {
        let out = std::fs::read(&self.log).unwrap_or_default();
        let start = out.len().saturating_sub(3000);
        String::from_utf8_lossy(&out[start..]).into_owned()
    }
}

impl Drop for Reshard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `cmdstat_asking` calls summed over the live nodes: how many `ASK`
/// redirects some client (the proxy) followed.
pub fn asking_calls(cluster: &Cluster) -> u64 {
    cluster
        .live()
        .map(|(i, _)| command_stat_on(&mut cluster.conn(i), "asking", "calls"))
        .sum()
}

/// `CLUSTER INFO` of node `node`, a field of it.
pub fn cluster_info(cluster: &Cluster, node: usize, field: &str) -> Option<String> {
    let info = text(cluster.conn(node).cmd(&["CLUSTER", "INFO"]));
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}
