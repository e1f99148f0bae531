//! A cluster pool's requests for its slot map (a `MOVED`, a slot no master
//! serves) and what its watcher made of them: a field of the pool's
//! runtime, apart from the slot map's handling so the runtime needs none.

use std::sync::atomic::{AtomicU64, Ordering};

/// A cluster pool's requests for its slot map, and what came of them.
#[derive(Debug)]
pub struct ClusterMaps {
    /// Wakes the pool's watcher to ask for the slot map now.
    pub wanted: tokio::sync::Notify,
    /// Slot maps read (at start, periodically, on request).
    refreshes: AtomicU64,
    /// Attempts that got no map from any node.
    failures: AtomicU64,
    /// Attempts over, either way: what a request waiting for a map waits on.
    attempts: tokio::sync::watch::Sender<u64>,
}

impl Default for ClusterMaps {
    fn default() -> ClusterMaps {
        ClusterMaps {
            wanted: tokio::sync::Notify::new(),
            refreshes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            attempts: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl ClusterMaps {
    /// Asks the watcher for the slot map now (coalesced with other asks).
    pub fn want(&self) {
        self.wanted.notify_one();
    }

    /// Asks for the slot map now; the receiver changes once the watcher's
    /// next attempt is over (the map applied, or none read).
    pub fn ask(&self) -> tokio::sync::watch::Receiver<u64> {
        let done = self.attempts.subscribe();
        self.want();
        done
    }

    /// The watcher applied a slot map (`true`) or no node gave one.
    pub fn attempted(&self, read: bool) {
        let count = if read {
            &self.refreshes
        } else {
            &self.failures
        };
        count.fetch_add(1, Ordering::Relaxed);
        self.attempts.send_modify(|n| *n += 1);
    }

    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
