//! Server health, shared by every worker: consecutive failures, ejection and
//! the time of the next connection attempt. Atomics only, so the hot path
//! (a success on a healthy server) is one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::master_state::MasterState;
use super::replica_state::ReplicaState;
use super::version_state::VersionState;
use crate::pool::counters::{ServerCounters, Sharded};

// Still reachable here, where it was public before it moved below the
// state records.
pub use super::clock::now_ms;

#[derive(Debug, Default)]
pub struct ServerHealth {
    /// Consecutive failures since the last success.
    failures: AtomicU32,
    /// `now_ms()` before which no new connection is attempted (0: any time).
    retry_at: AtomicU64,
    /// The current backoff step in ms (0: none), doubled per failure.
    backoff_ms: AtomicU64,
    /// `now_ms()` of the last failure counted (0: none since the last success).
    last_failure_ms: AtomicU64,
    /// Ejected from the ring until this `now_ms()` (0: not ejected).
    ejected_until: AtomicU64,
    /// Wall-clock µs of the last ejection, for the stats (server_ejected_at).
    ejected_at_us: AtomicU64,
    /// The server answered HELLO 3 with an error (Redis before 6): clients
    /// cannot have RESP3 through this pool.
    refuses_resp3: AtomicBool,
    /// Why the server last failed, for the errors clients get while it is down.
    last_error: Mutex<String>,
    /// Dedicated connections open to it, all workers together.
    dedicated: AtomicUsize,
    /// For a server named by its Sentinel master name: what is known of it.
    pub master: MasterState,
    /// For a replica: what the replica prober last found.
    pub replica: ReplicaState,
    /// The Redis version it runs, once learned.
    pub version: VersionState,
    /// This server's counters, one shard per worker.
    pub stats: Sharded<ServerCounters>,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; the server stays in the ring.
    Counted,
    /// This failure reached the limit: the server is now ejected.
    Ejected,
}

/// A pool's rule for failed servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// `server_retry_timeout`: how long an ejected server stays out, and the
    /// longest backoff between connection attempts.
    pub retry_timeout: Duration,
    /// `server_failure_limit` when `auto_eject_hosts` is on.
    pub eject_after: Option<u32>,
}

/// The first backoff step after a failure; each further failure doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Failures this close to the last one counted are the same event seen by
/// several connections (each worker's, each of `server_connections`): a Redis
/// restart under load is one failure, not one per connection.
const SAME_EVENT_MS: u64 = 10;

impl ServerHealth {
    /// Takes one of `max` dedicated connections to this server; false when
    /// all are taken.
    pub fn take_dedicated(&self, max: usize) -> bool {
        self.dedicated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// A dedicated connection closed.
    pub fn give_back_dedicated(&self) {
        self.dedicated.fetch_sub(1, Ordering::AcqRel);
    }

    /// Dedicated connections open now.
    pub fn dedicated(&self) -> usize {
        self.dedicated.load(Ordering::Relaxed)
    }

    /// A reply arrived: the failure count and the backoff start over.
    #[inline]
    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0
            || self.backoff_ms.load(Ordering::Relaxed) != 0
        {
            self.failures.store(0, Ordering::Relaxed);
            self.backoff_ms.store(0, Ordering::Relaxed);
            self.last_failure_ms.store(0, Ordering::Relaxed);
            self.retry_at.store(0, Ordering::Release);
        }
    }

    /// A refused or timed-out connect, a request timeout, or a connection
    /// lost with requests in flight (an idle connection closed by the server
    /// is not a failure).
    ///
    /// With ejection (`auto_eject_hosts`), nutcracker's rule: the failure
    /// that brings the consecutive count to the limit or past it (`>=`, so a
    /// reload that lowers the limit still ejects) takes the server out of the
    /// ring for `retry_timeout`; connections are attempted freely until then.
    /// Without ejection, new connections wait an exponential backoff from
    /// [`FIRST_BACKOFF`] up to `retry_timeout`, so a restarted server is
    /// found again within one short step, not one `retry_timeout`.
    ///
    /// Failures within [`SAME_EVENT_MS`] of the last one counted are one
    /// event: neither counted again nor doubling the backoff.
    pub fn failure(&self, why: &str, policy: FailurePolicy) -> FailureOutcome {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = why.to_string();
        let now = now_ms();
        let last = self.last_failure_ms.load(Ordering::Acquire);
        let same_event = last != 0 && now < last + SAME_EVENT_MS;
        if same_event
            || self
                .last_failure_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return FailureOutcome::Counted;
        }
        let count = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        match policy.eject_after {
            Some(limit) if count >= limit.max(1) => {
                let until = now + policy.retry_timeout.as_millis() as u64;
                // One failure ejects (the one that wins the exchange), so the
                // ring is rebuilt once however many workers see failures.
                if self
                    .ejected_until
                    .compare_exchange(0, until, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return FailureOutcome::Counted;
                }
                let wall = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.ejected_at_us
                    .store(wall.as_micros() as u64, Ordering::Relaxed);
                FailureOutcome::Ejected
            }
            Some(_) => FailureOutcome::Counted,
            None => {
                let cap = (policy.retry_timeout.as_millis() as u64).max(1);
                let first = FIRST_BACKOFF.as_millis() as u64;
                let prev = self.backoff_ms.load(Ordering::Acquire);
                let step = if prev == 0 {
                    first.min(cap)
                } else {
                    (prev * 2).min(cap)
                };
                self.backoff_ms.store(step, Ordering::Release);
                self.retry_at.store(now + step, Ordering::Release);
                FailureOutcome::Counted
            }
        }
    }

    /// Whether a new connection may be attempted now; else the time left.
    pub fn may_connect(&self) -> Result<(), Duration> {
        let at = self.retry_at.load(Ordering::Acquire);
        let now = now_ms();
        if at == 0 || now >= at {
            Ok(())
        } else {
            Err(Duration::from_millis(at - now))
        }
    }

    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Ejected now?
    pub fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Acquire) != 0
    }

    /// Ejected, and its retry time has come: time to probe it.
    pub fn due_for_retry(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Acquire);
        until != 0 && now_ms() >= until
    }

    /// The server answered a probe: back in the ring with a clean slate.
    pub fn rejoin(&self) {
        self.failures.store(0, Ordering::Release);
        self.backoff_ms.store(0, Ordering::Release);
        self.last_failure_ms.store(0, Ordering::Release);
        self.retry_at.store(0, Ordering::Release);
        self.ejected_until.store(0, Ordering::Release);
    }

    /// The probe failed: stay out for another retry period.
    pub fn extend_ejection(&self, retry_after: Duration, why: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = why.to_string();
        let until = now_ms() + retry_after.as_millis() as u64;
        self.ejected_until.store(until, Ordering::Release);
        self.retry_at.store(until, Ordering::Release);
    }

    /// What the server said to HELLO 3 on the last RESP3 connection.
    pub fn set_speaks_resp3(&self, speaks: bool) {
        self.refuses_resp3.store(!speaks, Ordering::Relaxed);
    }

    /// The server refused HELLO 3.
    pub fn refuses_resp3(&self) -> bool {
        self.refuses_resp3.load(Ordering::Relaxed)
    }

    /// Wall-clock µs of the last ejection (0: never).
    pub fn ejected_at_us(&self) -> u64 {
        self.ejected_at_us.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure as a separate event (past the same-event window).
    fn fail(h: &ServerHealth, p: FailurePolicy) -> FailureOutcome {
        std::thread::sleep(Duration::from_millis(SAME_EVENT_MS + 2));
        h.failure("x", p)
    }

    fn policy(eject_after: Option<u32>, retry_ms: u64) -> FailurePolicy {
        FailurePolicy {
            retry_timeout: Duration::from_millis(retry_ms),
            eject_after,
        }
    }

    #[test]
    fn ejects_once_at_the_limit_and_rejoins() {
        let h = ServerHealth::default();
        let p = policy(Some(3), 50);
        assert_eq!(fail(&h, p), FailureOutcome::Counted);
        assert_eq!(fail(&h, p), FailureOutcome::Counted);
        assert!(
            h.may_connect().is_ok(),
            "with ejection, connects are not held back"
        );
        assert_eq!(fail(&h, p), FailureOutcome::Ejected);
        assert_eq!(fail(&h, p), FailureOutcome::Counted);
        assert!(h.is_ejected() && !h.due_for_retry());
        std::thread::sleep(Duration::from_millis(120));
        assert!(h.due_for_retry());
        h.rejoin();
        assert!(!h.is_ejected() && h.may_connect().is_ok() && h.failures() == 0);
    }

    #[test]
    fn a_lowered_limit_still_ejects() {
        let h = ServerHealth::default();
        for _ in 0..3 {
            assert_eq!(fail(&h, policy(Some(5), 1000)), FailureOutcome::Counted);
        }
        // A reload lowered the limit below the count already reached.
        assert_eq!(fail(&h, policy(Some(2), 1000)), FailureOutcome::Ejected);
    }

    #[test]
    fn backoff_doubles_up_to_the_retry_timeout_and_success_resets_it() {
        let h = ServerHealth::default();
        let p = policy(None, 35);
        let mut steps = Vec::new();
        for _ in 0..4 {
            fail(&h, p);
            steps.push(h.backoff_ms.load(Ordering::Relaxed));
            assert!(h.may_connect().is_err(), "held back during the backoff");
        }
        assert_eq!(steps, vec![10, 20, 35, 35]);
        std::thread::sleep(Duration::from_millis(45));
        assert!(
            h.may_connect().is_ok(),
            "free again once the step has passed"
        );
        h.success();
        assert_eq!(h.failures(), 0);
        fail(&h, p);
        assert_eq!(
            h.backoff_ms.load(Ordering::Relaxed),
            10,
            "starts over after a success"
        );
    }

    #[test]
    fn one_event_seen_by_many_connections_is_one_failure() {
        let h = ServerHealth::default();
        let p = policy(Some(2), 1000);
        // Every worker's connection loses the server at once.
        for _ in 0..8 {
            assert_eq!(h.failure("reset", p), FailureOutcome::Counted);
        }
        assert_eq!(h.failures(), 1);
        assert!(!h.is_ejected());
        let b = ServerHealth::default();
        for _ in 0..8 {
            b.failure("reset", policy(None, 30_000));
        }
        assert_eq!(
            b.backoff_ms.load(Ordering::Relaxed),
            10,
            "one step, not eight"
        );
    }
}
