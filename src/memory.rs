//! The proxy-wide memory bound (`--max-memory`).
//!
//! Each client is bounded on its own (request size, output limit), but many
//! clients within their own limits can still take the process as a whole
//! past what the machine can give. So the bytes the proxy holds on behalf of
//! others are added up here: client input buffers (requests still arriving),
//! client output (replies not yet read), and backend write queues and read
//! buffers. Above the bound the client holding the most is closed first (as
//! Redis's `maxmemory-clients` does), one at a time, and a client whose
//! partial request has grown large is refused rather than read further.
//!
//! Cheap on the hot path: an account reports to the shared total only when
//! it has moved by [`GRANULARITY`] bytes since its last report (or dropped to
//! nothing), so a client exchanging small requests and replies touches no
//! shared state; the total is off by at most that much per account.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// An account reports its size when it has moved by this much.
pub const GRANULARITY: usize = 16 * 1024;

/// A partial request past this size is refused while the proxy is over its
/// bound: growing it further is what the bound is there to stop.
pub const LARGE_REQUEST: usize = 1 << 20;

/// The least `--max-memory` accepted: below this the proxy could not hold
/// one default-sized request.
pub const MIN_LIMIT: usize = 16 << 20;

/// The process-wide account.
pub struct Budget {
    limit: AtomicUsize,
    total: AtomicUsize,
    /// The clients chosen to be closed that still hold bytes: while what
    /// they will let go of brings the total under the bound, nobody else
    /// is closed, so one burst does not close every client at once.
    victims: Mutex<Vec<Arc<ClientShare>>>,
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<ClientShare>>>,
    evictions: AtomicU64,
}

/// The process's budget.
pub fn budget() -> &'static Budget {
    static BUDGET: std::sync::OnceLock<Budget> = std::sync::OnceLock::new();
    BUDGET.get_or_init(|| Budget {
        limit: AtomicUsize::new(default_limit()),
        total: AtomicUsize::new(0),
        victims: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(1),
        clients: Mutex::new(HashMap::new()),
        evictions: AtomicU64::new(0),
    })
}

/// A quarter of the memory this process may use (the cgroup's limit where
/// one is set, else the machine's), at least [`MIN_LIMIT`]: room for the
/// Redis servers and the system beside the proxy, and far above what
/// well-behaved clients hold.
pub fn default_limit() -> usize {
    let machine = meminfo_total().unwrap_or(4 << 30);
    let cgroup = cgroup_limit().unwrap_or(usize::MAX);
    (machine.min(cgroup) / 4).max(MIN_LIMIT)
}

fn meminfo_total() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cgroup_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .ok()?;
    text.trim().parse().ok()
}

impl Budget {
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes.max(MIN_LIMIT), Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held now, as last reported.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Clients closed to keep the bound.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    pub fn over(&self) -> bool {
        self.total() > self.limit()
    }

    fn add(&self, grew: usize) {
        self.total.fetch_add(grew, Ordering::Relaxed);
    }

    fn sub(&self, shrank: usize) {
        self.total.fetch_sub(shrank, Ordering::Relaxed);
    }

    /// A new client's account, registered so it can be chosen for eviction.
    pub fn client(&'static self) -> ClientAccount {
        let share = Arc::new(ClientShare {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            held: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        lock(&self.clients).insert(share.id, share.clone());
        ClientAccount {
            input: Cell::new(0),
            output: Cell::new(0),
            held: Held::new(self),
            share,
        }
    }

    /// Over the bound: closes the client holding the most, unless those
    /// chosen before, once they have let go of what they hold, bring the
    /// total under it. Returns the bytes the client closed held.
    pub fn enforce(&self) -> Option<usize> {
        if !self.over() {
            return None;
        }
        let mut victims = match self.victims.try_lock() {
            Ok(guard) => guard,
            // Another thread is choosing now.
            Err(_) => return None,
        };
        victims.retain(|v| v.held.load(Ordering::Relaxed) > 0);
        let releasing: usize = victims.iter().map(|v| v.held.load(Ordering::Relaxed)).sum();
        if self.total().saturating_sub(releasing) <= self.limit() {
            return None;
        }
        let victim = lock(&self.clients)
            .values()
            .filter(|c| !c.evicted.load(Ordering::Relaxed))
            .max_by_key(|c| c.held.load(Ordering::Relaxed))
            .filter(|c| c.held.load(Ordering::Relaxed) > 0)
            .cloned();
        // Where nothing is any client's to give back (backend queues),
        // there is nobody to close.
        let victim = victim?;
        self.evictions.fetch_add(1, Ordering::Relaxed);
        let held = victim.held.load(Ordering::Relaxed);
        tracing::warn!(
            "the proxy holds {} MiB of buffers, over --max-memory ({} MiB): closing the client that holds the most ({} MiB)",
            self.total() >> 20,
            self.limit() >> 20,
            held >> 20
        );
        victim.evicted.store(true, Ordering::Release);
        victim.wake.notify_one();
        victims.push(victim);
        Some(held)
    }

    fn leave(&self, share: &ClientShare) {
        lock(&self.clients).remove(&share.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bytes one holder has reported to the budget; given back when dropped.
pub struct Held {
    budget: &'static Budget,
    reported: Cell<usize>,
}

impl Held {
    pub fn new(budget: &'static Budget) -> Held {
        Held {
            budget,
            reported: Cell::new(0),
        }
    }

    /// The holder now holds `now` bytes. True when it reported growth (so
    /// the caller may check the bound).
    #[inline]
    pub fn set(&self, now: usize) -> bool {
        let was = self.reported.get();
        if now == was || (now != 0 && now.abs_diff(was) < GRANULARITY) {
            return false;
        }
        self.reported.set(now);
        if now > was {
            self.budget.add(now - was);
            true
        } else {
            self.budget.sub(was - now);
            false
        }
    }

    pub fn reported(&self) -> usize {
        self.reported.get()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("reported", &self.reported.get())
            .finish()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.sub(self.reported.get());
    }
}

/// What the budget knows of one client.
struct ClientShare {
    id: u64,
    held: AtomicUsize,
    evicted: AtomicBool,
    wake: Notify,
}

/// A client's account: the input side (partial requests, replies taken by
/// the writer) kept by its session, the output side (replies queued) kept
/// where replies land, so a burst of replies is counted as it arrives.
pub struct ClientAccount {
    input: Cell<usize>,
    output: Cell<usize>,
    held: Held,
    share: Arc<ClientShare>,
}

impl ClientAccount {
    /// The session now holds `now` bytes of input (and output taken).
    #[inline]
    pub fn set_input(&self, now: usize) {
        self.input.set(now);
        self.update();
    }

    /// The reply queue now holds `now` bytes.
    #[inline]
    pub fn set_output(&self, now: usize) {
        self.output.set(now);
        self.update();
    }

    /// Reports the new total; over the bound, someone is closed.
    fn update(&self) {
        let grew = self.held.set(self.input.get() + self.output.get());
        self.share
            .held
            .store(self.held.reported(), Ordering::Relaxed);
        if grew {
            self.held.budget.enforce();
        }
    }

    /// Chosen to be closed to keep the bound.
    pub fn evicted(&self) -> bool {
        self.share.evicted.load(Ordering::Acquire)
    }

    /// Resolves once this client is chosen to be closed.
    pub async fn until_evicted(&self) {
        while !self.evicted() {
            self.share.wake.notified().await;
        }
    }

    /// Whether a partial request of `pending` bytes may grow: not a large
    /// one while the proxy is over its bound.
    pub fn may_grow(&self, pending: usize) -> bool {
        pending < LARGE_REQUEST || !self.held.budget.over()
    }
}

impl std::fmt::Debug for ClientAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAccount")
            .field("input", &self.input.get())
            .field("output", &self.output.get())
            .finish()
    }
}

impl Drop for ClientAccount {
    fn drop(&mut self) {
        self.held.budget.leave(&self.share);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> &'static Budget {
        Box::leak(Box::new(Budget {
            limit: AtomicUsize::new(MIN_LIMIT),
            total: AtomicUsize::new(0),
            victims: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(HashMap::new()),
            evictions: AtomicU64::new(0),
        }))
    }

    #[test]
    fn small_moves_are_not_reported_and_drops_give_back() {
        let b = fresh();
        let h = Held::new(b);
        assert!(!h.set(100));
        assert_eq!(b.total(), 0);
        assert!(h.set(GRANULARITY + 100));
        assert_eq!(b.total(), GRANULARITY + 100);
        assert!(!h.set(0));
        assert_eq!(b.total(), 0);
        h.set(5 * GRANULARITY);
        drop(h);
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn the_largest_client_is_evicted_one_at_a_time() {
        let b = fresh();
        let small = b.client();
        let big = b.client();
        let other = b.client();
        small.set_input(2 << 20);
        big.set_output(10 << 20);
        assert!(!big.evicted(), "under the bound");
        other.set_input(6 << 20);
        assert!(b.over());
        assert!(big.evicted() && !small.evicted() && !other.evicted());
        // Still over, but closing the first brings the total under.
        other.set_input(8 << 20);
        assert!(!other.evicted());
        // It has let go of its bytes (its replies dropped) before it left.
        big.set_output(0);
        assert!(!b.over());
        drop(big);
        assert!(!b.over());
        other.set_output(12 << 20);
        assert!(other.evicted());
        assert_eq!(b.evictions(), 2);
        drop(other);
        drop(small);
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn large_partial_requests_wait_for_room() {
        let b = fresh();
        let c = b.client();
        assert!(c.may_grow(LARGE_REQUEST * 4));
        let backend = Held::new(b);
        backend.set(MIN_LIMIT + 1);
        assert!(c.may_grow(LARGE_REQUEST - 1));
        assert!(!c.may_grow(LARGE_REQUEST));
    }
}
