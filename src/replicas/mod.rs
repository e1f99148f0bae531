//! The replica prober: for every pool that reads from replicas (`read_from`),
//! each server's master and replicas are looked at every 100 ms (`INFO
//! replication`, `INFO persistence`), and each replica's state is recorded
//! for the workers to choose by: how far behind its master (`lag`), loading,
//! its link to the master, answering at all. It reaches them as the pool's
//! connections do (TLS when the pool has `tls: true`). It knows no client;
//! the choice itself is [`crate::pool::PoolSnapshot::replica_for`].

mod lag;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{ReadFrom, ServerAddr};
use crate::link::{Link, ServerLogin, Value};
use crate::pool::{PoolRuntime, Replica, ReplicaProbe};
use lag::{field, MasterOffsets, ReplicaInfo};

/// How often each master and replica is looked at.
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// How long one look may take: a replica slower than this to say how it is
/// serves no reads until it answers in time again.
const LOOK_LIMIT: Duration = Duration::from_millis(250);
/// How often the pools are compared with the probes running.
const TICK: Duration = Duration::from_millis(50);

/// What a server's probe looks at, and how: a change restarts it.
#[derive(Debug, Clone, PartialEq)]
struct ProbeKey {
    master: Option<ServerAddr>,
    replicas: Vec<ServerAddr>,
    login: ServerLogin,
}

/// A server's probe, stopped when dropped.
struct Probing {
    pool: Arc<PoolRuntime>,
    key: ProbeKey,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Probing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs a probe for every server with replicas of every pool that reads
/// from them, until the process exits; restarted when the server moves or
/// its replicas change, stopped when the pool stops reading from them.
pub async fn run(pools: Arc<Mutex<Vec<Arc<PoolRuntime>>>>) {
    let mut probing: HashMap<(String, usize), Probing> = HashMap::new();
    loop {
        let now: Vec<Arc<PoolRuntime>> = pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut wanted = HashMap::new();
        for pool in &now {
            let snapshot = pool.snapshot_arc();
            if snapshot.config.read_from == ReadFrom::Master {
                continue;
            }
            for (i, replicas) in snapshot.replicas.iter().enumerate() {
                if replicas.is_empty() {
                    continue;
                }
                let key = ProbeKey {
                    master: snapshot.addrs[i].clone(),
                    replicas: replicas.iter().map(|r| r.addr.clone()).collect(),
                    login: ServerLogin::of(&snapshot.config),
                };
                wanted.insert(
                    (pool.name.clone(), i),
                    (pool.clone(), key, replicas.clone()),
                );
            }
        }
        probing.retain(|id, p| {
            wanted
                .get(id)
                .is_some_and(|(pool, key, _)| Arc::ptr_eq(pool, &p.pool) && *key == p.key)
        });
        for (id, (pool, key, replicas)) in wanted {
            if probing.contains_key(&id) {
                continue;
            }
            let task = tokio::spawn(probe(key.clone(), replicas));
            probing.insert(id, Probing { pool, key, task });
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Looks at a master and its replicas until stopped.
async fn probe(key: ProbeKey, replicas: Vec<Replica>) {
    let mut offsets = MasterOffsets::default();
    let mut master = Looking::default();
    let mut links: Vec<Looking> = replicas.iter().map(|_| Looking::default()).collect();
    loop {
        if let Some(addr) = &key.master {
            if let Some(replication) = master.info(addr, &key, "replication").await {
                let offset = field(&replication, "master_repl_offset").and_then(|v| v.parse().ok());
                if let Some(offset) = offset {
                    offsets.record(Instant::now(), offset);
                }
            }
        }
        for (replica, link) in replicas.iter().zip(links.iter_mut()) {
            let look = look_at(link, &replica.addr, &key, &offsets).await;
            replica.health.replica.record(look);
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// One look at a replica.
async fn look_at(
    link: &mut Looking,
    addr: &ServerAddr,
    key: &ProbeKey,
    offsets: &MasterOffsets,
) -> ReplicaProbe {
    let replication = link.info(addr, key, "replication").await;
    let persistence = match replication {
        Some(_) => link.info(addr, key, "persistence").await,
        None => None,
    };
    let (Some(replication), Some(persistence)) = (replication, persistence) else {
        return ReplicaProbe {
            lag_ms: None,
            loading: false,
            link_up: false,
        };
    };
    let seen = ReplicaInfo::read(&replication, &persistence);
    // No sample of the master yet (it does not answer): lag unknown, taken
    // as none, so its replicas serve while it is down.
    let lag = offsets.lag(seen.offset, Instant::now()).unwrap_or_default();
    ReplicaProbe {
        lag_ms: Some(lag.as_millis() as u64),
        loading: seen.loading,
        link_up: seen.link_up,
    }
}

/// The connection to one server looked at, and the last failure logged
/// for it (each new reason is logged once, not every look).
#[derive(Default)]
struct Looking {
    link: Option<Link>,
    said: Option<String>,
}

impl Looking {
    /// `INFO section` from the server at `addr`, on the connection (opened
    /// if need be, as `key` says, dropped after a failure); `None` when it
    /// does not answer in time, or refuses (a server user without `+info`).
    async fn info(&mut self, addr: &ServerAddr, key: &ProbeKey, section: &str) -> Option<String> {
        match self.ask(addr, key, section).await {
            Ok(text) => {
                self.said = None;
                Some(text)
            }
            Err(why) => {
                self.link = None;
                if self.said.as_ref() != Some(&why) {
                    tracing::warn!(server = %addr, "reads from replicas: cannot look at {addr}: {why}");
                    self.said = Some(why);
                }
                None
            }
        }
    }

    async fn ask(
        &mut self,
        addr: &ServerAddr,
        key: &ProbeKey,
        section: &str,
    ) -> Result<String, String> {
        let link = match &mut self.link {
            Some(link) => link,
            None => self
                .link
                .insert(Link::open(addr, &key.login, LOOK_LIMIT).await?),
        };
        match link.call(&[b"INFO", section.as_bytes()]).await? {
            Value::Bulk(Some(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
            Value::Error(e) => Err(format!("INFO refused: {e}")),
            other => Err(format!("INFO answered {other:?}")),
        }
    }
}
