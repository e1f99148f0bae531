//! What is known of a Sentinel master besides its address and health: why
//! its address is unknown, writes held while Sentinel promotes a replica,
//! the failovers followed, a doubt a server raised. A record of its own so
//! that [`super::health::ServerHealth`] can hold it without knowing pools.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::clock::now_ms;

/// What is known of a Sentinel master besides its address, shared by every
/// worker and carried over by a reload like the server's health.
#[derive(Debug, Default)]
pub struct MasterState {
    /// Times its address changed from one known address to another.
    failovers: AtomicU64,
    /// Why no address is known yet, for the clients whose keys live here.
    unresolved: Mutex<Option<String>>,
    /// `now_ms()` until which nothing more is written to it (0: not held):
    /// Sentinel is promoting one of its replicas, and a write the old master
    /// took now would be lost when it becomes a replica.
    held_until: AtomicU64,
    /// A connection to it got `-READONLY`: it may have been demoted.
    doubted: AtomicBool,
}

impl MasterState {
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// Its address changed from one known address to another.
    pub(super) fn count_failover(&self) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
    }

    /// Why its address is unknown (`None`: it is known, or not asked yet).
    pub fn unresolved(&self) -> Option<String> {
        lock(&self.unresolved).clone()
    }

    pub fn set_unresolved(&self, why: Option<String>) {
        *lock(&self.unresolved) = why;
    }

    /// Holds writes for at most `bound`: released by [`Self::release`] (the
    /// switch, or the failover aborted) or when the bound passes.
    pub fn hold(&self, bound: Duration) {
        let until = now_ms() + bound.as_millis() as u64;
        self.held_until.store(until, Ordering::Release);
    }

    pub fn release(&self) {
        self.held_until.store(0, Ordering::Release);
    }

    /// Writes are held now.
    #[inline]
    pub fn held(&self) -> bool {
        let until = self.held_until.load(Ordering::Acquire);
        until != 0 && now_ms() < until
    }

    /// Notes a doubt; true when it is new (not yet taken by the watcher).
    pub fn doubt(&self) -> bool {
        !self.doubted.swap(true, Ordering::AcqRel)
    }

    /// Takes the doubt raised since the last call.
    pub fn take_doubt(&self) -> bool {
        self.doubted.swap(false, Ordering::AcqRel)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
