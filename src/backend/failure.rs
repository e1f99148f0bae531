//! What can go wrong with a server connection, what counts against the
//! server's health, and handing every request in flight its failure.
//!
//! A failure is a refused or timed-out connect, a request timeout, or a
//! connection lost with requests in flight. An idle connection the server
//! closed (Redis's own `timeout`) is no failure: the next request reconnects.

use super::queue::Owner;
use super::{BackendConn, Unsent};
use crate::pool::FailureOutcome;
use crate::stats::counters::add;

/// Why a request to a server failed. The text is what the client reads after
/// `ERR redshard: ` (rendered with the other client errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to server {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("server {server} is down ({cause}); next attempt in {retry_in_ms} ms")]
    Down {
        server: String,
        cause: String,
        retry_in_ms: u64,
    },
    #[error("server {server} timed out after {ms} ms")]
    TimedOut { server: String, ms: u64 },
    /// Worded so that nutcracker users' checks for "reset by peer" still match.
    #[error(
        "server {server} closed the connection with requests in flight (connection reset by peer)"
    )]
    Closed { server: String },
    #[error("{op} server {server}: {detail}")]
    Io {
        server: String,
        op: &'static str,
        detail: String,
    },
    #[error("server {server} sent a malformed reply: {detail}")]
    Malformed { server: String, detail: String },
    #[error("a reply from server {server} was larger than max_reply_bytes ({limit} bytes): the request failed and the server connection was reset")]
    TooLarge { server: String, limit: usize },
    #[error("server {server} is not keeping up: over {limit} bytes wait to be written to it")]
    Backlog { server: String, limit: usize },
    #[error("server {server} refused the connection setup (AUTH/HELLO/SELECT): {reply}")]
    Handshake { server: String, reply: String },
    #[error("server {server} sent a reply nobody asked for")]
    Stray { server: String },
}

impl BackendError {
    /// Whether this counts against the server's health. An oversized reply
    /// is the request's doing, not the server's.
    fn counts_against_server(&self) -> bool {
        !matches!(
            self,
            BackendError::TooLarge { .. }
                | BackendError::Backlog { .. }
                | BackendError::Down { .. }
        )
    }
}

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
        if error.counts_against_server() {
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

    /// Hands every queued request its failure. Requests none of whose bytes
    /// were written come back with their bytes (the worker may route them
    /// again); a request that may have reached the server is never replayed.
    fn fail_all(&self, error: &BackendError) {
        let drained = self.state.borrow_mut().queue.drain();
        let mut offset = 0;
        let mut failed = 0u64;
        for (i, p) in drained.waiting.into_iter().enumerate() {
            let unsent = if i >= drained.first_unsent {
                let bytes = &drained.unsent[offset..offset + p.len];
                offset += p.len;
                Some(Unsent {
                    bytes,
                    server: self.spec.index,
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
