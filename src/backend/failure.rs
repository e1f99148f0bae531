//! What can go wrong with a server connection, what counts against the
//! server's health, and handing every request in flight its failure.
//!
//! A failure is a refused or timed-out connect, a request timeout, or a
//! connection lost with requests in flight. An idle connection the server
//! closed (Redis's own `timeout`) is no failure: the next request reconnects.

use super::error::BackendError;
use super::queue::Owner;
use super::{BackendConn, Unsent};
use crate::pool::counters::add;
use crate::pool::FailureOutcome;

impl BackendConn {
    /// Counts a lost connection, updates the server's health (ejecting it when
    /// the pool says so) and fails every request the connection held.
    pub(super) fn fail(&self, error: BackendError) {
        let c = self.counters();
        let counter = match error {
            BackendError::TimedOut { .. } => &c.server_timedout,
            BackendError::Closed { .. } => &c.server_eof,
            _ => &c.server_err,
        };
        add(counter, 1);
        let pool = &self.spec.pool.name;
        tracing::warn!(pool = %pool, server = %self.spec.label, "backend connection failed: {error}");
        // A connection to the address a Sentinel master left says nothing
        // of the server now at its new address, which shares its health.
        if error.counts_against_server() && !self.moved_away() {
            let outcome = self
                .spec
                .health
                .failure(&error.to_string(), self.spec.policy);
            if outcome == FailureOutcome::Ejected {
                tracing::warn!(
                    pool = %pool,
                    server = %self.spec.label,
                    retry_ms = self.spec.policy.retry_timeout.as_millis() as u64,
                    "server ejected after {} consecutive failures",
                    self.spec.health.failures()
                );
                add(&self.pool_counters().server_ejects, 1);
                self.spec.pool.rebuild_placement();
            }
        }
        self.fail_all(&error);
    }

    /// Fails what a dedicated connection held when its owner let go: not
    /// the server's doing, so nothing is counted or logged.
    pub(super) fn fail_quietly(&self, error: &BackendError) {
        let drained = self.state.borrow_mut().queue.drain();
        for p in drained.waiting {
            if let Owner::Client(w) = p.owner {
                w.sink.failed(w.tag, error, None);
            }
        }
    }

    /// Hands every queued request its failure. Requests none of whose bytes
    /// were written come back with their bytes (the worker may route them
    /// again); a request that may have reached the server is never replayed.
    fn fail_all(&self, error: &BackendError) {
        let drained = self.state.borrow_mut().queue.drain();
        // A replica's reads, even written ones, may go to another replica.
        let readdressed = self.spec.replica || self.moved_away();
        let mut offset = 0;
        let mut failed = 0u64;
        for (i, p) in drained.waiting.into_iter().enumerate() {
            let unsent = if i >= drained.first_unsent {
                let bytes = &drained.unsent[offset..offset + p.len];
                offset += p.len;
                Some(Unsent {
                    bytes,
                    server: self.spec.index,
                    readdressed,
                })
            } else if self.spec.replica {
                // (A cluster node's copy is for redirections only: a
                // written request to a master may have run.)
                p.copy.as_deref().map(|bytes| Unsent {
                    bytes,
                    server: self.spec.index,
                    readdressed: true,
                })
            } else {
                None
            };
            if let Owner::Client(w) = p.owner {
                if unsent.is_none() {
                    failed += 1;
                }
                w.sink.failed(w.tag, error, unsent);
            }
        }
        add(&self.pool_counters().forward_error, failed);
    }
}
