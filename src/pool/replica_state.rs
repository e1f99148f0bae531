//! What the replica prober last found of a replica (how far behind its
//! master, loading, its link to the master), a record of its own so that
//! [`super::health::ServerHealth`] can hold it without knowing pools.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the replica prober last found. Until its first look a replica is
/// taken as able to serve (a read it fails on goes to another).
#[derive(Debug)]
pub struct ReplicaState {
    /// How far behind its master, in ms; `u64::MAX`: not known (the probe
    /// did not reach it).
    lag_ms: AtomicU64,
    loading: AtomicBool,
    /// Its link to the master is up (`master_link_status:up`).
    link_up: AtomicBool,
}

impl Default for ReplicaState {
    fn default() -> Self {
        ReplicaState {
            lag_ms: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            link_up: AtomicBool::new(true),
        }
    }
}

/// One look at a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProbe {
    /// `None`: it did not answer.
    pub lag_ms: Option<u64>,
    pub loading: bool,
    pub link_up: bool,
}

impl ReplicaState {
    pub fn record(&self, probe: ReplicaProbe) {
        self.lag_ms
            .store(probe.lag_ms.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.loading.store(probe.loading, Ordering::Relaxed);
        self.link_up.store(probe.link_up, Ordering::Relaxed);
    }

    /// Why it serves no reads now (`None`: it does).
    pub fn unfit(&self, max_lag_ms: u64) -> Option<&'static str> {
        let lag = self.lag_ms.load(Ordering::Relaxed);
        if lag == u64::MAX {
            Some("not answering")
        } else if self.loading.load(Ordering::Relaxed) {
            Some("loading")
        } else if !self.link_up.load(Ordering::Relaxed) {
            Some("link to its master down")
        } else if lag > max_lag_ms {
            Some("lagging")
        } else {
            None
        }
    }

    /// How far behind its master it was last seen, in ms.
    pub fn lag_ms(&self) -> Option<u64> {
        Some(self.lag_ms.load(Ordering::Relaxed)).filter(|&l| l != u64::MAX)
    }
}
