//! Clients that own a backend connection: a transaction (MULTI ... EXEC, and
//! WATCH before it), a blocking call (BLPOP, XREAD BLOCK, ...), a subscriber
//! (its channels' servers; kept beside the others, as a RESP3 client may
//! subscribe and run a transaction at once).
//! One mechanism for all of them: a [`Dedicated`] connection to the server
//! concerned, bounded per server (`max_dedicated_connections`), closed when
//! the client lets go of it or leaves. Other clients never wait behind it.
//!
//! Order is kept as for everything else: before a client's request goes to
//! a connection of its own, the requests it sent on shared connections have
//! their replies; and after it, the client's next requests wait until the
//! owned connection's last request (EXEC, the blocking call) is answered,
//! then the connection closes and they go the usual way.

pub mod blocking;
pub mod subscriber;
pub mod subscriptions;
pub mod transaction;

use crate::backend::Dedicated;
use crate::pool::PoolSnapshot;
use crate::proxy::error::ClientError;
use crate::proxy::reply_queue::WHOLE;
use crate::route::{CommandSpec, Request, Route};

pub use subscriber::Subscriber;
pub use transaction::Transaction;

/// What a client owns now.
#[derive(Debug, Default)]
pub enum Owned {
    #[default]
    None,
    /// Connections whose last request (EXEC, a blocking call) is in flight:
    /// the client's next requests wait for its reply, then they close.
    /// `blocked`: the reply slot of a blocking call, which a client that
    /// leaves abandons. `clean`: that last request leaves nothing on the
    /// connections (EXEC, a blocking call), so they may serve another
    /// client; else (DISCARD, UNWATCH, a refused EXEC) they close.
    Draining {
        conns: Vec<Dedicated>,
        blocked: Option<u64>,
        clean: bool,
    },
    /// WATCH or MULTI seen, EXEC not yet.
    Txn(Transaction),
}

impl super::dispatch::Dispatcher {
    /// Settles what the client owns before its next request: `false` while
    /// a drained connection's last reply is awaited (the request waits).
    pub(super) fn settle_owned(&mut self) -> bool {
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
    pub(super) fn one_server(
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
    pub(super) fn owned_idle(&self) -> bool {
        !matches!(self.owned, Owned::Draining { .. })
    }

    /// The client is gone: a blocking call it left is abandoned (its
    /// connection closes, so the server forgets it) and answered with
    /// nothing, as Redis answers a client that closes while blocked, and so
    /// are its subscriptions; an EXEC in flight still gets its reply, as the
    /// client may be reading it.
    pub fn client_left(&mut self) {
        if let Owned::Draining {
            blocked: Some(seq), ..
        } = self.owned
        {
            self.client.deliver(seq, WHOLE, b"");
            self.owned = Owned::None;
        }
        self.end_subscriber(None);
    }
}
