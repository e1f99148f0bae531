//! Server health, shared by every worker: consecutive failures, ejection and
//! the time of the next connection attempt. Atomics only, so the hot path
//! (a success on a healthy server) is one relaxed load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::stats::counters::{ServerCounters, Sharded};

/// Milliseconds on a monotonic clock shared by all threads.
pub fn now_ms() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

#[derive(Debug, Default)]
pub struct ServerHealth {
    /// Consecutive failures (connect error, EOF, timeout) since the last success.
    failures: AtomicU32,
    /// `now_ms()` before which no new connection is attempted (0: any time).
    retry_at: AtomicU64,
    /// Ejected from the ring until this `now_ms()` (0: not ejected).
    ejected_until: AtomicU64,
    /// Wall-clock µs of the last ejection, for the stats (server_ejected_at).
    ejected_at_us: AtomicU64,
    /// Why the server last failed, for the errors clients get while it is down.
    last_error: Mutex<String>,
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

impl ServerHealth {
    /// A reply arrived: the failure count starts over.
    #[inline]
    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            self.retry_at.store(0, Ordering::Relaxed);
        }
    }

    /// A connect error, EOF or timeout. When the server could not be
    /// reached at all (`unreachable`), no new connection is attempted for
    /// `retry_after`; a timeout or EOF reconnects at once (a slow command is
    /// no proof the server is down). With `eject_after` (the failure limit,
    /// when auto_eject_hosts is on) the server leaves the ring once the limit
    /// is reached.
    pub fn failure(
        &self,
        why: &str,
        retry_after: Duration,
        eject_after: Option<u32>,
        unreachable: bool,
    ) -> FailureOutcome {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = why.to_string();
        let count = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let retry = now_ms() + retry_after.as_millis() as u64;
        if unreachable {
            self.retry_at.store(retry, Ordering::Release);
        }
        match eject_after {
            // Exactly one failure (the one that reaches the limit) ejects, so
            // the ring is rebuilt once however many workers see failures.
            Some(limit) if count == limit.max(1) => {
                self.ejected_until.store(retry, Ordering::Release);
                let wall = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.ejected_at_us
                    .store(wall.as_micros() as u64, Ordering::Relaxed);
                FailureOutcome::Ejected
            }
            _ => FailureOutcome::Counted,
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

    #[test]
    fn ejects_once_at_the_limit_and_rejoins() {
        let h = ServerHealth::default();
        let retry = Duration::from_millis(50);
        assert_eq!(
            h.failure("x", retry, Some(3), true),
            FailureOutcome::Counted
        );
        assert_eq!(
            h.failure("x", retry, Some(3), true),
            FailureOutcome::Counted
        );
        assert_eq!(
            h.failure("x", retry, Some(3), true),
            FailureOutcome::Ejected
        );
        assert_eq!(
            h.failure("x", retry, Some(3), true),
            FailureOutcome::Counted
        );
        assert!(h.is_ejected() && !h.due_for_retry());
        assert!(h.may_connect().is_err());
        std::thread::sleep(Duration::from_millis(120));
        assert!(h.due_for_retry());
        h.rejoin();
        assert!(!h.is_ejected() && h.may_connect().is_ok() && h.failures() == 0);
    }

    #[test]
    fn success_resets_the_count() {
        let h = ServerHealth::default();
        h.failure("timed out", Duration::from_secs(10), None, false);
        assert!(
            h.may_connect().is_ok(),
            "a timeout does not block reconnecting"
        );
        h.failure("refused", Duration::from_secs(10), None, true);
        assert!(h.may_connect().is_err());
        h.success();
        assert_eq!(h.failures(), 0);
        assert!(h.may_connect().is_ok());
    }
}
