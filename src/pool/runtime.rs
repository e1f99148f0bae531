//! A pool as the workers share it: an immutable snapshot (config + placement)
//! behind an ArcSwap, so a reload can swap it while requests read it, and the
//! pool-wide counters the client limit needs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Placement;
use crate::config::PoolConfig;

/// Everything a request needs to route, fixed for the life of the snapshot.
#[derive(Debug)]
pub struct PoolSnapshot {
    pub config: PoolConfig,
    pub placement: Placement,
    /// Bumped by every swap, so workers see when to rebuild their connections.
    pub generation: u64,
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
        Arc::new(PoolRuntime {
            name: config.name.clone(),
            snapshot: ArcSwap::from_pointee(PoolSnapshot {
                placement: Placement::new(&config),
                config,
                generation: 0,
            }),
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
