//! A cluster pool's watcher: asks a node for the slot map (CLUSTER SHARDS,
//! or CLUSTER SLOTS before Redis 7) at start, every `cluster_refresh_ms`,
//! and as soon as a request needs it (a `MOVED`, a slot no master serves:
//! [`crate::pool::ClusterMaps::want`]), at most once per [`MIN_GAP`]. It
//! hands each map to the pool, which swaps in a new snapshot when the map
//! changed something; it knows no worker and no client. It reaches the
//! nodes as the pool's connections do: over TLS when the pool has `tls:
//! true`, the same certificate checks, by their TLS ports.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::{SlotMap, SlotMapError};
use crate::config::{PoolConfig, ServerAddr};
use crate::link::{Link, ServerLogin};
use crate::pool::PoolRuntime;

/// The least time between two slot maps asked for by requests: a
/// resharding answers MOVED to many requests at once.
pub const MIN_GAP: Duration = Duration::from_millis(50);
/// Bound on reaching a node and on each of its replies.
const LIMIT: Duration = Duration::from_secs(1);

/// The settings a watcher runs with: a change (a reload) restarts it.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    seeds: Vec<ServerAddr>,
    refresh: Duration,
    /// Reaches the nodes as the pool's connections do.
    login: ServerLogin,
}

impl Key {
    fn of(config: &PoolConfig) -> Option<Key> {
        let cluster = config.cluster.as_ref()?;
        Some(Key {
            seeds: cluster.seeds.clone(),
            refresh: Duration::from_millis(cluster.refresh_ms),
            login: ServerLogin::of(config),
        })
    }
}

/// Asks every cluster pool's nodes for its slot map once, before clients
/// are served (a request that comes first waits for it). A pool no node
/// answers is logged, and its watcher keeps asking.
pub async fn discover(pools: &[Arc<PoolRuntime>]) {
    for pool in pools {
        let _ = discover_one(pool).await;
    }
}

/// Asks a cluster pool's nodes for its slot map once (`redshard route`):
/// what each node said when none gave it.
pub async fn discover_one(pool: &Arc<PoolRuntime>) -> Result<(), String> {
    match Key::of(&pool.snapshot().config) {
        Some(key) => Watch::new(pool.clone(), key).refresh().await,
        None => Ok(()),
    }
}

/// Runs a watcher for every cluster pool until the process exits: started
/// for a new pool, restarted when a reload changes its seeds, refresh or
/// login, stopped when the pool goes.
pub async fn run(pools: Arc<Mutex<Vec<Arc<PoolRuntime>>>>) {
    crate::pool::watchers::per_pool(pools, Key::of, |pool, key| {
        Watch::new(pool, key.clone()).run()
    })
    .await
}

struct Watch {
    pool: Arc<PoolRuntime>,
    key: Key,
    /// The last failure logged, so a lasting one is said once.
    complaint: Option<String>,
}

impl Watch {
    fn new(pool: Arc<PoolRuntime>, key: Key) -> Watch {
        Watch {
            pool,
            key,
            complaint: None,
        }
    }

    async fn run(mut self) {
        let mut last = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.key.refresh) => {}
                _ = self.pool.cluster_maps.wanted.notified() => {
                    tokio::time::sleep_until((last + MIN_GAP).into()).await;
                }
            }
            last = Instant::now();
            let _ = self.refresh().await;
        }
    }

    /// Asks the masters the pool knows, then the seeds, until one gives
    /// the slot map; hands it to the pool. Else what each said.
    async fn refresh(&mut self) -> Result<(), String> {
        let maps = &self.pool.cluster_maps;
        let mut why = Vec::new();
        for addr in self.candidates() {
            match ask(&addr, &self.key.login).await {
                Ok(map) => {
                    let change = self.pool.apply_slot_map(&map);
                    // Once applied: a request waiting for this map routes
                    // as soon as it hears.
                    maps.attempted(true);
                    if change.any() {
                        tracing::info!(
                            pool = %self.pool.name,
                            masters = map.nodes.len(),
                            unserved = map.unassigned(),
                            "slot map from {addr}: {} slots moved, new masters [{}], {} masters' replicas changed",
                            change.slots_moved,
                            change.new_nodes.join(", "),
                            change.replicas_changed
                        );
                    }
                    if self.complaint.take().is_some() {
                        tracing::info!(pool = %self.pool.name, "slot map read again from {addr}");
                    }
                    return Ok(());
                }
                Err(e) => why.push(format!("{addr}: {e}")),
            }
        }
        maps.attempted(false);
        let text = why.join("; ");
        if self.complaint.as_deref() != Some(&text) {
            tracing::warn!(pool = %self.pool.name, "no node gave the slot map ({text}); routing with the last one");
            self.complaint = Some(text.clone());
        }
        Err(text)
    }

    /// The masters serving slots now, then every other known node, then
    /// the seeds: each once.
    fn candidates(&self) -> Vec<ServerAddr> {
        let snapshot = self.pool.snapshot();
        let mut out: Vec<ServerAddr> = Vec::new();
        let serving = (0..snapshot.addrs.len()).filter(|&i| snapshot.placement.is_live(i));
        let others = (0..snapshot.addrs.len()).filter(|&i| !snapshot.placement.is_live(i));
        for i in serving.chain(others) {
            if let Some(a) = &snapshot.addrs[i] {
                out.push(a.clone());
            }
        }
        for seed in &self.key.seeds {
            if !out.contains(seed) {
                out.push(seed.clone());
            }
        }
        out
    }
}

/// The slot map as the node at `addr` sees it.
async fn ask(addr: &ServerAddr, login: &ServerLogin) -> Result<SlotMap, String> {
    let mut link = Link::open(addr, login, LIMIT).await?;
    let shards = link.call_tree(&[b"CLUSTER", b"SHARDS"]).await?;
    let map = match SlotMap::from_shards(&shards, login.tls.is_some()) {
        // Before Redis 7.0; its ports are of the link's kind.
        Err(SlotMapError::Refused(e)) if e.contains("nknown subcommand") => {
            SlotMap::from_slots(&link.call_tree(&[b"CLUSTER", b"SLOTS"]).await?)
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    if map.nodes.is_empty() {
        return Err("no master serves any slot (a node not in a cluster yet?)".into());
    }
    Ok(map)
}
