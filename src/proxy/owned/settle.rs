//! What a client owns, settled between its requests: connections whose last
//! reply is in go back (or close), a client that left abandons its blocking
//! call and its subscriptions.

use super::Owned;
use crate::backend::Dedicated;
use crate::pool::PoolSnapshot;
use crate::proxy::error::ClientError;
use crate::proxy::reply_queue::WHOLE;
use crate::route::{CommandSpec, Request, Route};

impl crate::proxy::dispatch::Dispatcher {
    /// Settles what the client owns before its next request: `false` while
    /// a drained connection's last reply is awaited (the request waits).
    pub(in crate::proxy) fn settle_owned(&mut self) -> bool {
        if let Owned::Draining { .. } = self.owned {
            if self.client.queue.borrow().pending() > 0 || self.client.has_returned() {
                return false;
            }
            if let Owned::Draining {
                conns, clean: true, ..
            } = std::mem::take(&mut self.owned)
            {
                conns.into_iter().for_each(Dedicated::recycle);
            }
        }
        true
    }

    /// The one server a command that is never split goes to (WATCH, a
    /// blocking call); `None` once the client has the router's refusal.
    pub(in crate::proxy) fn one_server(
        &mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        snapshot: &PoolSnapshot,
    ) -> Option<usize> {
        match self.router.route(spec, req, &snapshot.placement) {
            Route::One(server) => Some(server),
            Route::Refused(e) => {
                let error = ClientError::route(e, spec.name, &snapshot.config);
                self.client.push_error(&error);
                None
            }
            _ => unreachable!("{} is never split", spec.name),
        }
    }

    /// Closes drained connections whose last reply is in.
    pub fn release_owned(&mut self) {
        self.settle_owned();
    }

    /// Nothing the client sent waits here for a connection it owns.
    pub(in crate::proxy) fn owned_idle(&self) -> bool {
        !matches!(self.owned, Owned::Draining { .. })
    }

    /// The client is gone: a blocking call it left is abandoned (its
    /// connection closes, so the server forgets it) and answered with
    /// nothing, as Redis answers a client that closes while blocked, and so
    /// are its subscriptions; an EXEC in flight still gets its reply, as the
    /// client may be reading it.
    pub fn client_left(&mut self) {
        if let Owned::Draining {
            blocked: Some(b), ..
        } = self.owned
        {
            self.client.deliver(b.seq, WHOLE, b"");
            self.owned = Owned::None;
        }
        self.end_subscriber(None);
    }
}
