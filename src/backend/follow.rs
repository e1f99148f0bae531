//! A connection to a Sentinel master follows the master's moves. When the
//! pool's snapshot puts the master at another address, nothing more is
//! written here: the requests not yet written go back to their senders,
//! marked for the new address, the replies still due are awaited, and the
//! connection closes. While Sentinel promotes a replica, nothing new is
//! written (what the old master took now would be lost when it becomes a
//! replica). A `-READONLY` reply is a sign the master was demoted: the pool's
//! watcher is told, and asks the sentinels again.
//!
//! Dedicated connections do not follow: what their client set up (MULTI,
//! WATCH, a blocked call) lives on the old master and cannot move.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;

use super::error::BackendError;
use super::queue::Owner;
use super::{BackendConn, Unsent, Waiter};
use crate::pool::counters::add;

/// How often a connection holding writes looks whether the hold ended.
pub(super) const HOLD_POLL: Duration = Duration::from_millis(2);

impl BackendConn {
    /// Whether the pool now puts this connection's master at another address.
    pub(super) fn moved_away(&self) -> bool {
        if !self.spec.follows_master || self.spec.dedicated {
            return false;
        }
        let snapshot = self.spec.pool.snapshot();
        let same_master = snapshot
            .config
            .servers
            .get(self.spec.index)
            .is_some_and(|s| s.is_sentinel_master() && s.name == self.spec.label);
        same_master && snapshot.addrs[self.spec.index] != self.spec.addr
    }

    /// Called before each write: leaves a master that moved, and says
    /// whether writes are held now.
    pub(super) fn follow(&self, sending: &mut BytesMut) -> bool {
        if !self.spec.follows_master || self.spec.dedicated || self.state.borrow().moved {
            return false;
        }
        if self.moved_away() {
            self.leave(sending);
            return false;
        }
        self.spec.health.master.held()
    }

    /// The master moved: hands back every request not yet written (the
    /// writer's unwritten bytes included) and lets the connection close
    /// after the replies still due.
    fn leave(&self, sending: &mut BytesMut) {
        let unsent = {
            let mut st = self.state.borrow_mut();
            st.moved = true;
            st.retiring = true;
            st.queue.take_unsent(sending)
        };
        tracing::info!(
            pool = %self.spec.pool.name,
            server = %self.spec.label,
            handed_back = unsent.len(),
            "master moved: requests not yet written go to its new address"
        );
        let error = self.moved_error();
        for (pending, bytes) in unsent {
            if let Owner::Client(w) = pending.owner {
                w.sink.failed(w.tag, &error, Some(self.unsent(&bytes)));
            }
        }
    }

    /// A request sent here after the master moved goes straight back.
    pub(super) fn hand_back(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut), waiter: Waiter) {
        let mut bytes = BytesMut::new();
        write(&mut bytes);
        let unsent = self.unsent(&bytes);
        waiter
            .sink
            .failed(waiter.tag, &self.moved_error(), Some(unsent));
    }

    /// A request for a master whose address is not known yet.
    pub(super) fn unresolved(&self, waiter: Waiter) {
        let why = self.spec.health.master.unresolved().unwrap_or_else(|| {
            "the sentinels have not been asked yet; try again in a moment".to_string()
        });
        let error = BackendError::Unresolved {
            server: self.spec.label.clone(),
            why,
        };
        add(&self.pool_counters().forward_error, 1);
        waiter.sink.failed(waiter.tag, &error, None);
    }

    /// A reply to a client's request: `-READONLY` from a master means it is
    /// one no more.
    #[inline]
    pub(super) fn note_reply(&self, reply: &[u8]) {
        if self.spec.follows_master && reply.starts_with(b"-READONLY") {
            tracing::warn!(
                pool = %self.spec.pool.name,
                server = %self.spec.label,
                "master answered READONLY: asking the sentinels again"
            );
            self.spec.pool.doubt_master(&self.spec.health);
        }
    }

    fn moved_error(&self) -> BackendError {
        BackendError::Moved {
            server: self.spec.label.clone(),
        }
    }

    fn unsent<'a>(&self, bytes: &'a [u8]) -> Unsent<'a> {
        Unsent {
            bytes,
            server: self.spec.index,
            readdressed: true,
        }
    }
}
