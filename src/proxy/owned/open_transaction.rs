//! What the proxy keeps of a transaction in progress (WATCH seen, or MULTI,
//! and EXEC not yet): its connections, what was queued where, and whether
//! it can still run. The commands that change it are in `transaction`.

use bytes::Bytes;

use crate::backend::Dedicated;
use crate::proxy::merge::ExecItem;

/// A transaction in progress: WATCH seen, or MULTI, and EXEC not yet.
#[derive(Debug)]
pub struct Transaction {
    /// MULTI was seen (else only WATCH so far).
    pub(super) multi: bool,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    pub(super) aborted: bool,
    /// Keys may span servers (`multi: per_server`, no WATCH).
    pub(super) per_server: bool,
    pub(super) watching: bool,
    /// One connection per server the transaction reached, MULTI sent on it
    /// when `multi` is.
    pub(super) conns: Vec<Dedicated>,
    /// Keyless commands queued before a server was known.
    pub(super) early: Vec<Bytes>,
    /// For EXEC's merge: the connection (or, split by key, connections) of
    /// each queued command, in order; an early one went to the first.
    pub(super) order: Vec<ExecItem>,
}

impl Transaction {
    pub(super) fn new(per_server: bool) -> Transaction {
        Transaction {
            multi: false,
            aborted: false,
            per_server,
            watching: false,
            conns: Vec::new(),
            early: Vec::new(),
            order: Vec::new(),
        }
    }

    /// The server the transaction is fixed to, in one-server mode.
    pub(super) fn fixed(&self) -> Option<usize> {
        if self.per_server {
            return None;
        }
        self.conns.first().map(|c| c.server())
    }

    pub(super) fn conn_index(&self, server: usize) -> Option<usize> {
        self.conns.iter().position(|c| c.server() == server)
    }
}
