//! A pool as the workers share it: its snapshot behind an ArcSwap, so an
//! ejection or a reload can swap it while requests read it, the pool-wide
//! counters the client limit needs, the clients waiting for its locks, and
//! its clients as CLIENT LIST shows them. What changes a snapshot lives
//! above: a failover in `master`, replicas in `replica`, a slot map in
//! `cluster`, a reload in `carry`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::client_list::ClientList;
use super::cluster_maps::ClusterMaps;
use super::snapshot::PoolSnapshot;
use crate::config::PoolConfig;
use crate::hosted::LockWaiters;
use crate::pool::counters::{PoolCounters, Sharded};

/// A client counted against `client_connections` for as long as this
/// lives: its session drops it however it ends, by unwinding from a panic
/// too, so no count is lost.
#[derive(Debug)]
pub struct Admission {
    id: u64,
    runtime: Arc<PoolRuntime>,
}

impl Admission {
    /// The client's id, unique in the pool.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.runtime.client_list.remove(self.id);
        self.runtime.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub struct PoolRuntime {
    pub name: String,
    pub(super) snapshot: ArcSwap<PoolSnapshot>,
    /// Client connections open now, across all workers.
    clients: AtomicUsize,
    next_client_id: AtomicU64,
    /// The pool's counters, one shard per worker.
    pub stats: Sharded<PoolCounters>,
    /// Clients in LOCK.ACQUIRE ... WAIT, on any worker, by lock: a release
    /// through any worker wakes one of them.
    pub lock_waiters: Arc<LockWaiters>,
    /// The version of each new snapshot, for sessions that must look again
    /// at where their channels live (subscribers) as soon as it changes.
    changes: tokio::sync::watch::Sender<u64>,
    /// Its clients as CLIENT LIST shows them; a client's line goes when
    /// its [`Admission`] does.
    pub client_list: ClientList,
    /// A server of this pool doubted it is still a master (`-READONLY`):
    /// the pool's sentinel watcher asks again at once.
    pub master_doubts: tokio::sync::Notify,
    /// A cluster pool's slot map is wanted now (a `MOVED`, a slot no
    /// master serves), and what its watcher did: see [`ClusterMaps`].
    pub cluster_maps: ClusterMaps,
}

impl PoolRuntime {
    pub fn new(config: PoolConfig) -> Arc<PoolRuntime> {
        Arc::new(PoolRuntime {
            name: config.name.clone(),
            snapshot: ArcSwap::from_pointee(PoolSnapshot::new(config)),
            clients: AtomicUsize::new(0),
            next_client_id: AtomicU64::new(1),
            stats: Sharded::default(),
            lock_waiters: Arc::default(),
            changes: tokio::sync::watch::Sender::new(0),
            client_list: ClientList::default(),
            master_doubts: tokio::sync::Notify::new(),
            cluster_maps: ClusterMaps::default(),
        })
    }

    /// Changes as they come: each new snapshot's version.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(super) fn announce(&self) {
        self.changes.send_replace(self.snapshot.load().version);
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
                current.whereabouts(),
                (current.generation, current.moves, current.version + 1),
            )
        });
        self.announce();
    }

    /// Admits one more client unless `limit` (0: none) is reached.
    pub fn admit_client(self: &Arc<Self>, limit: u32) -> Option<Admission> {
        let before = self.clients.fetch_add(1, Ordering::AcqRel);
        if limit > 0 && before >= limit as usize {
            self.clients.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admission {
            id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
            runtime: Arc::clone(self),
        })
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }
}
