//! A pool as the workers share it: an immutable snapshot (config, placement,
//! server health) behind an ArcSwap, so an ejection or a reload can swap it
//! while requests read it, and the pool-wide counters the client limit needs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::health::ServerHealth;
use super::Placement;
use crate::config::PoolConfig;

/// Everything a request needs to route, fixed for the life of the snapshot.
#[derive(Debug)]
pub struct PoolSnapshot {
    pub config: PoolConfig,
    pub placement: Placement,
    /// Health of each server, by config index; shared with later snapshots.
    pub health: Vec<Arc<ServerHealth>>,
    /// Bumped when the servers or their settings change (a reload), so the
    /// workers know to rebuild their connections. Ejections keep it.
    pub generation: u64,
}

impl PoolSnapshot {
    fn build(config: PoolConfig, health: Vec<Arc<ServerHealth>>, generation: u64) -> PoolSnapshot {
        let placement = if config.auto_eject_hosts {
            Placement::with_live(&config, |i| !health[i].is_ejected())
        } else {
            Placement::new(&config)
        };
        PoolSnapshot {
            config,
            placement,
            health,
            generation,
        }
    }
}

#[derive(Debug)]
pub struct PoolRuntime {
    pub name: String,
    snapshot: ArcSwap<PoolSnapshot>,
    /// Client connections open now, across all workers.
    clients: AtomicUsize,
    next_client_id: AtomicU64,
}

impl PoolRuntime {
    pub fn new(config: PoolConfig) -> Arc<PoolRuntime> {
        let health = config.servers.iter().map(|_| Arc::default()).collect();
        Arc::new(PoolRuntime {
            name: config.name.clone(),
            snapshot: ArcSwap::from_pointee(PoolSnapshot::build(config, health, 0)),
            clients: AtomicUsize::new(0),
            next_client_id: AtomicU64::new(1),
        })
    }

    /// The current snapshot. Cheap; do not hold it across an `.await`.
    #[inline]
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<PoolSnapshot>> {
        self.snapshot.load()
    }

    pub fn snapshot_arc(&self) -> Arc<PoolSnapshot> {
        self.snapshot.load_full()
    }

    /// Rebuilds the ring from the servers' health (after an ejection or a
    /// rejoin). Concurrent calls converge: each reads the health atomics.
    pub fn rebuild_placement(&self) {
        self.snapshot.rcu(|current| {
            PoolSnapshot::build(
                current.config.clone(),
                current.health.clone(),
                current.generation,
            )
        });
    }

    /// Admits one more client unless `limit` (0: none) is reached; returns its id.
    pub fn admit_client(&self, limit: u32) -> Option<u64> {
        let before = self.clients.fetch_add(1, Ordering::AcqRel);
        if limit > 0 && before >= limit as usize {
            self.clients.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(self.next_client_id.fetch_add(1, Ordering::Relaxed))
    }

    pub fn release_client(&self) {
        self.clients.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }
}
