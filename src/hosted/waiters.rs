//! Who waits for which lock, across the workers of one pool, so that a
//! release through the proxy wakes a waiter at once instead of leaving it to
//! find the lock free on its next back-off attempt.
//!
//! One `Notify` per lock key, kept only while someone waits for it: a waiter
//! holds a [`WaitTicket`], and the entry goes when the last ticket does. A
//! release wakes one waiter (`notify_one`), not all: the lock can go to one
//! of them only, and waking the rest would turn each release into one
//! attempt per waiter at the server. The others keep their back-off and are
//! woken by the releases after. `notify_one` stores a permit when no waiter
//! is listening at that moment (its attempt in flight), and a woken waiter
//! that drops its `Notified` unconsumed passes the wake-up on, so none is
//! lost. A std mutex guards the map: it is held only to look up, insert or
//! remove, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The waiters of one pool's locks, by lock key.
#[derive(Debug, Default)]
pub struct LockWaiters {
    map: Mutex<HashMap<Box<[u8]>, Entry>>,
}

#[derive(Debug)]
struct Entry {
    wake: Arc<Notify>,
    tickets: usize,
}

impl LockWaiters {
    /// Registers a waiter for the lock `key` until the ticket is dropped.
    pub fn wait_for(self: &Arc<Self>, key: &[u8]) -> WaitTicket {
        let mut map = self.lock();
        let entry = map.entry(key.into()).or_insert_with(|| Entry {
            wake: Arc::new(Notify::new()),
            tickets: 0,
        });
        entry.tickets += 1;
        WaitTicket {
            waiters: Arc::clone(self),
            key: key.into(),
            wake: Arc::clone(&entry.wake),
        }
    }

    /// The lock `key` was released: one of its waiters tries at once.
    pub fn released(&self, key: &[u8]) {
        if let Some(entry) = self.lock().get(key) {
            entry.wake.notify_one();
        }
    }

    /// Locks with someone waiting for them.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Entry>> {
        // Nothing panics while holding it; were it to, the map is still whole.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One waiter's place: wakes when the lock is released through the proxy.
#[derive(Debug)]
pub struct WaitTicket {
    waiters: Arc<LockWaiters>,
    key: Box<[u8]>,
    wake: Arc<Notify>,
}

impl WaitTicket {
    /// What wakes this waiter; await `notified()` on it.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        if let Some(entry) = map.get_mut(&self.key) {
            entry.tickets -= 1;
            if entry.tickets == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_live_only_while_someone_waits() {
        let waiters = Arc::new(LockWaiters::default());
        let a = waiters.wait_for(b"rs:lock:{a}");
        let b = waiters.wait_for(b"rs:lock:{a}");
        let c = waiters.wait_for(b"rs:lock:{c}");
        assert_eq!(waiters.len(), 2);
        drop(a);
        assert_eq!(waiters.len(), 2);
        drop(b);
        drop(c);
        assert!(waiters.is_empty());
        // A release with nobody waiting leaves nothing behind.
        waiters.released(b"rs:lock:{a}");
        assert!(waiters.is_empty());
    }

    #[tokio::test]
    async fn a_release_while_nobody_listens_is_kept_for_the_next_to_listen() {
        let waiters = Arc::new(LockWaiters::default());
        let ticket = waiters.wait_for(b"k");
        // The waiter's attempt is in flight: it is not listening yet.
        waiters.released(b"k");
        let woken = tokio::time::timeout(Duration::from_secs(1), ticket.wake().notified_owned());
        assert!(woken.await.is_ok(), "the release was lost");
    }

    #[tokio::test]
    async fn a_release_wakes_one_waiter_of_that_lock_only() {
        let waiters = Arc::new(LockWaiters::default());
        let (a, b, other) = (
            waiters.wait_for(b"k"),
            waiters.wait_for(b"k"),
            waiters.wait_for(b"other"),
        );
        let mut fa = std::pin::pin!(a.wake().notified_owned());
        let mut fb = std::pin::pin!(b.wake().notified_owned());
        let mut fo = std::pin::pin!(other.wake().notified_owned());
        fa.as_mut().enable();
        fb.as_mut().enable();
        fo.as_mut().enable();
        waiters.released(b"k");
        let short = Duration::from_millis(20);
        assert!(tokio::time::timeout(short, &mut fa).await.is_ok());
        assert!(tokio::time::timeout(short, &mut fb).await.is_err());
        assert!(tokio::time::timeout(short, &mut fo).await.is_err());
    }
}
