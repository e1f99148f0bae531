//! MULTI / EXEC / DISCARD / WATCH / UNWATCH through the proxy.
//!
//! A transaction runs on a connection of the client's own to the server of
//! its keys, which the first key fixes (WATCH's, or the first queued
//! command's). Every queued command goes there and gets its `+QUEUED` (or
//! its error) from that server; EXEC returns that server's array. A command
//! the proxy cannot queue there (a key on another server, a command it does
//! not run, a full connection pool) is answered with its error at once and
//! EXEC answers `EXECABORT`, as Redis does for an error while queuing: no
//! queued command runs before EXEC, and none after a refused one.
//!
//! Commands without keys (PING, ECHO, TIME...) queued before any key fixed
//! the server are answered `+QUEUED` here and sent after MULTI once a server
//! is known (or to the pool's keyless server at EXEC).
//!
//! In a cluster pool a transaction's keys share a slot: a key of another
//! master's is refused as Redis refuses keys of several slots (CROSSSLOT),
//! the master checks its own at EXEC.
//!
//! With `multi: per_server` and no WATCH, a transaction whose keys span
//! servers runs as one MULTI/EXEC per server, atomic on each and not across
//! them; EXEC waits for every `+QUEUED`, discards everything if any command
//! was refused, and merges the servers' arrays in the order the commands
//! were queued. A command split by key outside MULTI (MSET, MGET, DEL...)
//! is split inside it too: a piece queued on each of its servers, their
//! results combined at EXEC.

use std::rc::Rc;

use bytes::BytesMut;

use super::open_transaction::Transaction;
use super::Owned;
use crate::config::MultiMode;
use crate::protocol::Proto;
use crate::proxy::client::{IGNORED, QUEUED, QUEUED_PART};
use crate::proxy::dispatch::{waiter, Dispatcher, Next};
use crate::proxy::error::ClientError;
use crate::proxy::merge::{ExecItem, Merge, MergeKind};
use crate::proxy::reply_queue::WHOLE;
use crate::route::{
    Action, CommandSpec, Keys, Local, Request, Route, RouteError, SplitRoute, TxnCmd,
};

/// The transaction a caller knows is open.
fn open(owned: &mut Owned) -> &mut Transaction {
    match owned {
        Owned::Txn(t) => t,
        _ => unreachable!("called inside a transaction"),
    }
}

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

impl Dispatcher {
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH.
    pub(in crate::proxy) fn txn_command(
        &mut self,
        cmd: TxnCmd,
        spec: &CommandSpec,
        req: &Request<'_>,
    ) -> Next {
        let multi = matches!(&self.owned, Owned::Txn(t) if t.multi);
        match cmd {
            TxnCmd::Multi if multi => self.plain_error("ERR MULTI calls can not be nested"),
            TxnCmd::Multi => {
                let per_server = self.pool.runtime.snapshot().config.multi == MultiMode::PerServer;
                if !matches!(self.owned, Owned::Txn(_)) {
                    self.owned = Owned::Txn(Transaction::new(per_server));
                }
                let txn = open(&mut self.owned);
                txn.multi = true;
                // After WATCH: the watched connection enters MULTI too.
                for conn in &txn.conns {
                    let ignored = waiter(&self.client, 0, IGNORED, false);
                    conn.conn().send(b"*1\r\n$5\r\nMULTI\r\n", ignored);
                }
                self.client.take_queued_error();
                self.ok()
            }
            TxnCmd::Exec if multi => self.exec(),
            TxnCmd::Exec => self.plain_error("ERR EXEC without MULTI"),
            TxnCmd::Discard if multi => {
                // Closing the connections discards the transaction there.
                self.let_go();
                self.ok()
            }
            TxnCmd::Discard => self.plain_error("ERR DISCARD without MULTI"),
            TxnCmd::Watch if multi => self.plain_error("ERR WATCH inside MULTI is not allowed"),
            TxnCmd::Watch => self.watch(spec, req),
            TxnCmd::Unwatch if multi => self.queue_command(spec, req),
            TxnCmd::Unwatch => {
                if let Owned::Txn(_) = self.owned {
                    self.let_go();
                }
                self.ok()
            }
        }
    }

    /// A request while a transaction is open: `Some` when the transaction
    /// takes it (queued inside MULTI, or sent on the watched connection).
    pub(in crate::proxy) fn txn_request(
        &mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
    ) -> Option<Next> {
        let Owned::Txn(txn) = &self.owned else {
            return None;
        };
        if matches!(
            spec.action,
            Action::Txn(_) | Action::Local(Local::Quit | Local::Reset)
        ) {
            return None;
        }
        if txn.multi {
            return Some(self.queue_command(spec, req));
        }
        // Watching: what goes to the watched server goes on its connection.
        let watched = txn.conns.first()?.server();
        if !matches!(spec.action, Action::Forward | Action::Block(_)) {
            return None;
        }
        let snapshot = self.pool.runtime.snapshot_arc();
        match self.router.route(spec, req, &snapshot.placement) {
            Route::One(s) if s == watched && spec.keys != Keys::None => {
                let seq = self.client.reserve();
                let w = waiter(&self.client, seq, WHOLE, false);
                let txn = open(&mut self.owned);
                txn.conns[0].conn().send_with(|b| req.encode_whole(b), w);
                Some(Next::Continue)
            }
            _ => None,
        }
    }

    fn ok(&mut self) -> Next {
        self.client
            .push_local(|o| crate::protocol::encode::simple(o, "OK"));
        Next::Continue
    }

    /// An error reply that changes nothing.
    fn plain_error(&mut self, text: &'static str) -> Next {
        self.client
            .push_local(|o| crate::protocol::encode::error(o, text));
        Next::Continue
    }

    /// A command inside MULTI: queued on the server of its keys, or refused
    /// (and the transaction with it).
    fn queue_command(&mut self, spec: &CommandSpec, req: &Request<'_>) -> Next {
        let snapshot = self.pool.runtime.snapshot_arc();
        let refuse = |reason: &'static str| ClientError::Unsupported {
            command: spec.name.to_string(),
            reason,
        };
        let keyless = spec.keys == Keys::None;
        let server = match spec.action {
            Action::Local(Local::Ping | Local::Echo) | Action::Txn(TxnCmd::Unwatch) => None,
            Action::Local(_) => return self.abort_with(&refuse(
                "inside MULTI it would change the proxy's connection state; send it before MULTI",
            )),
            Action::Hosted(h) if snapshot.config.hosted.contains(&h.group()) => {
                return self.abort_with(&refuse(
                    "hosted commands run as scripts of their own and cannot be queued inside MULTI",
                ))
            }
            Action::Refuse(why) => return self.abort_with(&refuse(why.reason())),
            Action::Sub(_) => return self.abort_with(&refuse(
                "a subscription cannot be queued inside MULTI; subscribe before MULTI or after EXEC",
            )),
            _ => match self.router.route(spec, req, &snapshot.placement) {
                Route::One(_) if keyless => None,
                Route::One(s) => Some(s),
                Route::Refused(e) => {
                    let error = ClientError::route(e, spec.name, &snapshot.config);
                    return self.abort_with(&error);
                }
                Route::Scan(_) => {
                    return self.abort_with(&refuse("its cursor walks every server, which a transaction on one server cannot; SCAN before MULTI or after EXEC"))
                }
                Route::Split(split)
                    if matches!(&self.owned, Owned::Txn(t) if t.per_server)
                        && !snapshot.placement.is_cluster() =>
                {
                    let pieces = Pieces::of(&split, req, self.state.proto);
                    return self.queue_split(pieces);
                }
                Route::Split(_) | Route::All { .. } => {
                    let error = ClientError::route(RouteError::CrossServer, spec.name, &snapshot.config);
                    return self.abort_with(&error);
                }
            },
        };
        let txn = open(&mut self.owned);
        let target = match (server, txn.fixed()) {
            // In a cluster a transaction has one slot (the node checks the
            // slots of one node's keys at EXEC).
            (Some(s), Some(f)) if s != f && snapshot.placement.is_cluster() => {
                let error = ClientError::route(RouteError::CrossSlot, spec.name, &snapshot.config);
                return self.abort_with(&error);
            }
            (Some(s), Some(f)) if s != f => {
                let error = ClientError::TxnOtherServer {
                    command: spec.name.to_string(),
                    pinned_by: if txn.watching {
                        "its WATCH"
                    } else {
                        "its first key"
                    },
                    pool: snapshot.config.name.clone(),
                };
                return self.abort_with(&error);
            }
            (Some(s), _) => s,
            (None, Some(f)) => f,
            (None, None) => match txn.conns.first() {
                Some(c) => c.server(),
                None => {
                    let mut bytes = BytesMut::new();
                    req.encode_whole(&mut bytes);
                    txn.early.push(bytes.freeze());
                    txn.order.push(ExecItem::One(0));
                    self.client
                        .push_local(|o| crate::protocol::encode::simple(o, "QUEUED"));
                    return Next::Continue;
                }
            },
        };
        let index = match self.txn_conn(target) {
            Ok(i) => i,
            Err(next) => return next,
        };
        let txn = open(&mut self.owned);
        let part = if txn.per_server { QUEUED } else { WHOLE };
        let seq = self.client.reserve();
        let w = waiter(&self.client, seq, part, false);
        txn.conns[index]
            .conn()
            .send_with(|b| req.encode_whole(b), w);
        txn.order.push(ExecItem::One(index as u32));
        Next::Continue
    }

    /// A command split by key inside MULTI (`multi: per_server`): each
    /// server queues its piece; the client gets one `+QUEUED` when all did
    /// (else the first refusal, and EXEC aborts), and EXEC combines the
    /// pieces' results as the command's merge does outside MULTI.
    fn queue_split(&mut self, pieces: Pieces) -> Next {
        // Every connection first: one not yet open may have to wait for
        // the shared connections, and no piece may go out before then.
        let mut conns = Vec::with_capacity(pieces.bytes.len());
        for &(server, _) in &pieces.bytes {
            match self.txn_conn(server) {
                Ok(i) => conns.push(i as u32),
                Err(next) => return next,
            }
        }
        let seq = self
            .client
            .reserve_merge(Merge::new(MergeKind::Queued, conns.len()));
        let txn = open(&mut self.owned);
        for (part, ((_, bytes), &conn)) in pieces.bytes.iter().zip(&conns).enumerate() {
            let w = waiter(&self.client, seq, QUEUED_PART | part as u32, false);
            txn.conns[conn as usize].conn().send(bytes, w);
        }
        txn.order.push(ExecItem::Split {
            kind: pieces.kind,
            parts: conns,
        });
        Next::Continue
    }

    /// The transaction's connection to `server`, opened (with MULTI sent on
    /// it, and the early keyless commands on the first) if it is new.
    fn txn_conn(&mut self, server: usize) -> Result<usize, Next> {
        let txn = open(&mut self.owned);
        if let Some(i) = txn.conn_index(server) {
            return Ok(i);
        }
        // Requests sent on shared connections are answered first: the new
        // connection must not overtake them.
        if !self.all_answered() {
            return Err(Next::Hold);
        }
        let pool = Rc::clone(&self.pool);
        let snapshot = pool.runtime.snapshot_arc();
        self.enter_epoch(snapshot.version);
        let conn = match pool.dedicated(&snapshot, server, self.state.proto) {
            Ok(c) => c,
            Err(e) => return Err(self.abort_with(&ClientError::Backend(e))),
        };
        let txn = open(&mut self.owned);
        if txn.multi {
            let ignored = waiter(&self.client, 0, IGNORED, false);
            conn.conn().send(b"*1\r\n$5\r\nMULTI\r\n", ignored);
            if txn.conns.is_empty() {
                for early in txn.early.drain(..) {
                    let ignored = waiter(&self.client, 0, IGNORED, false);
                    conn.conn().send(&early, ignored);
                }
            }
        }
        txn.conns.push(conn);
        Ok(txn.conns.len() - 1)
    }

    /// Ends the transaction: its connections close once the replies to what
    /// was sent on them are in (closing discards it at the servers).
    fn let_go(&mut self) {
        if let Owned::Txn(txn) = std::mem::take(&mut self.owned) {
            self.owned = Owned::Draining {
                conns: txn.conns,
                blocked: None,
                clean: false,
            };
        }
    }

    /// The client gets `error` for this command, and EXEC will answer
    /// EXECABORT (outside MULTI: just the error).
    fn abort_with(&mut self, error: &ClientError) -> Next {
        self.txn_queuing_failed();
        self.client.push_error(error);
        Next::Continue
    }

    /// Refuses a request the proxy answers with an error while queuing: an
    /// unknown command, a wrong number of arguments.
    pub(in crate::proxy) fn txn_queuing_failed(&mut self) {
        if let Owned::Txn(t) = &mut self.owned {
            if t.multi {
                t.aborted = true;
            }
        }
    }

    fn exec(&mut self) -> Next {
        let txn = open(&mut self.owned);
        if txn.aborted {
            self.let_go();
            return self.plain_error(EXECABORT);
        }
        if txn.conns.is_empty() && txn.early.is_empty() {
            self.owned = Owned::None;
            self.client.push_local(|o| o.extend_from_slice(b"*0\r\n"));
            return Next::Continue;
        }
        if txn.conns.is_empty() {
            // Only keyless commands: the pool's keyless server runs them.
            let server = self.pool.runtime.snapshot().placement.server_for(b"");
            let Some(server) = server else {
                let snapshot = self.pool.runtime.snapshot_arc();
                let error = ClientError::route(RouteError::NoServer, "exec", &snapshot.config);
                self.owned = Owned::None;
                self.client.push_error(&error);
                return Next::Continue;
            };
            if let Err(next) = self.txn_conn(server) {
                if let Owned::Txn(t) = &self.owned {
                    if t.aborted {
                        self.owned = Owned::None;
                        return self.plain_error(EXECABORT);
                    }
                }
                return next;
            }
        }
        let txn = open(&mut self.owned);
        if txn.conns.len() == 1 {
            let seq = self.client.reserve();
            let w = waiter(&self.client, seq, WHOLE, false);
            txn.conns[0].conn().send(b"*1\r\n$4\r\nEXEC\r\n", w);
        } else {
            // One MULTI per server: every +QUEUED is in before EXEC, and a
            // refusal by any server discards all of them.
            if !self.all_answered() {
                return Next::Hold;
            }
            let txn = open(&mut self.owned);
            if self.client.take_queued_error() {
                self.let_go();
                return self.plain_error(EXECABORT);
            }
            let order = std::mem::take(&mut txn.order);
            let parts = txn.conns.len();
            let seq = self
                .client
                .reserve_merge(Merge::new(MergeKind::Exec { order }, parts));
            for (part, conn) in txn.conns.iter().enumerate() {
                let w = waiter(&self.client, seq, part as u32, false);
                conn.conn().send(b"*1\r\n$4\r\nEXEC\r\n", w);
            }
        }
        let Owned::Txn(txn) = std::mem::take(&mut self.owned) else {
            unreachable!("inside MULTI")
        };
        // EXEC ends MULTI and WATCH on each connection.
        self.owned = Owned::Draining {
            conns: txn.conns,
            blocked: None,
            clean: true,
        };
        Next::Continue
    }

    /// WATCH keys: on the server of the keys, which fixes the transaction's.
    fn watch(&mut self, spec: &CommandSpec, req: &Request<'_>) -> Next {
        let snapshot = self.pool.runtime.snapshot_arc();
        let Some(server) = self.one_server(spec, req, &snapshot) else {
            return Next::Continue;
        };
        match &self.owned {
            Owned::Txn(t) if t.fixed().is_some_and(|f| f != server) => {
                let error = ClientError::route(RouteError::CrossServer, "watch", &snapshot.config);
                self.client.push_error(&error);
                return Next::Continue;
            }
            Owned::Txn(_) => {}
            _ => self.owned = Owned::Txn(Transaction::new(false)),
        }
        if let Owned::Txn(t) = &mut self.owned {
            // WATCH pins the transaction to one server in every mode.
            t.per_server = false;
        }
        let index = match self.txn_conn(server) {
            Ok(i) => i,
            Err(next) => {
                if let Owned::Txn(t) = &self.owned {
                    if t.conns.is_empty() && !t.watching {
                        self.owned = Owned::None;
                    }
                }
                return next;
            }
        };
        let txn = open(&mut self.owned);
        txn.watching = true;
        let seq = self.client.reserve();
        let w = waiter(&self.client, seq, WHOLE, false);
        txn.conns[index]
            .conn()
            .send_with(|b| req.encode_whole(b), w);
        Next::Continue
    }
}

/// A command split by key, taken out of the router's borrow: each piece's
/// server and bytes, and how EXEC combines their results.
struct Pieces {
    bytes: Vec<(usize, bytes::Bytes)>,
    kind: MergeKind,
}

impl Pieces {
    fn of(split: &SplitRoute<'_>, req: &Request<'_>, proto: Proto) -> Pieces {
        let bytes = (0..split.parts())
            .map(|part| {
                let mut b = BytesMut::new();
                split.encode_part(part, req, &mut b);
                (split.server(part), b.freeze())
            })
            .collect();
        Pieces {
            bytes,
            kind: MergeKind::of_split(split, proto),
        }
    }
}
