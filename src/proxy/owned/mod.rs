//! Clients that own a backend connection: a transaction (MULTI ... EXEC, and
//! WATCH before it), a blocking call (BLPOP, XREAD BLOCK, ...), a subscriber
//! (its channels' servers; kept beside the others, as a RESP3 client may
//! subscribe and run a transaction at once).
//! One mechanism for all of them: a [`Dedicated`] connection to the server
//! concerned, bounded per server (`max_dedicated_connections`), given back
//! to its worker when the client leaves nothing on it, closed when it lets
//! go mid-way or leaves. Other clients never wait behind it.
//!
//! Order is kept as for everything else: before a client's request goes to
//! a connection of its own, the requests it sent on shared connections have
//! their replies; and after it, the client's next requests wait until the
//! owned connection's last request (EXEC, the blocking call) is answered,
//! then the connection goes and they go the usual way.
//!
//! The records (`open_transaction`, `subscriber_conns`, `subscriptions`)
//! know nothing of the dispatcher; the files that change them as requests
//! come (`transaction`, `subscriber`, `blocking`, `settle`) extend it.

pub mod blocking;
pub mod open_transaction;
pub mod settle;
pub mod subscriber;
pub mod subscriber_conns;
pub mod subscriptions;
pub mod transaction;

use crate::backend::Dedicated;

pub use open_transaction::Transaction;
pub use subscriber_conns::Subscriber;

/// What a client owns now.
#[derive(Debug, Default)]
pub enum Owned {
    #[default]
    None,
    /// Connections whose last request (EXEC, a blocking call) is in flight:
    /// the client's next requests wait for its reply, then they close.
    /// `blocked`: a blocking call, which a client that leaves abandons.
    /// `clean`: that last request leaves nothing on the connections (EXEC,
    /// a blocking call), so they may serve another client; else (DISCARD,
    /// UNWATCH, a refused EXEC) they close.
    Draining {
        conns: Vec<Dedicated>,
        blocked: Option<Blocked>,
        clean: bool,
    },
    /// WATCH or MULTI seen, EXEC not yet.
    Txn(Transaction),
}

/// A blocking call in flight.
#[derive(Debug, Clone, Copy)]
pub struct Blocked {
    /// Its reply slot.
    pub seq: u64,
    /// How long its reply may take (again, if a cluster redirects it).
    pub deadline: Option<std::time::Duration>,
}
