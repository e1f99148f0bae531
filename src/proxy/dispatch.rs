//! What happens to one request: answered here, refused, sent whole to the
//! server of its keys, split across servers and merged, or run as a hosted
//! call — and always in the order the client sent it.
//!
//! Order is kept by construction. Requests to one server travel on one
//! connection per client, in order. A request is held (not routed) while a
//! hosted call of the same client is in progress, and while requests routed
//! with an older ring or another protocol are in flight: after an ejection,
//! a reload or `HELLO 3`, a key's requests may go to another connection, and
//! the new one must not overtake the old. One exception, by design: SCRIPT
//! KILL and FUNCTION KILL overtake everything, as they must pass the script
//! they stop.

use std::rc::Rc;

use super::client::Client;
use super::cross_protocol;
use super::error::ClientError;
use super::hosted_call::HostedCall;
use super::info_keyspace;
use super::local::{ClientState, Peer};
use super::merge::{Merge, MergeKind};
use super::owned::{Owned, Subscriber};
use super::reply_queue::WHOLE;
use super::rewrite::Rewrite;
use super::worker_pool::WorkerPool;
use crate::auth::Peer as LoginPeer;
use crate::backend::{BackendConn, BackendError, ReplySink, Tag, Waiter};
use crate::config::ReadFrom;
use crate::pool::counters::{add, Group};
use crate::pool::PoolSnapshot;
use crate::protocol::{encode, Proto};
use crate::route::reads::only_reads;
use crate::route::{
    info_asks_servers, lookup, Action, Broadcast, CommandSpec, Keyspace, Local, Request, Route,
    RouteError, Router,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done with; go on with the next request.
    Continue,
    /// Not taken: present it again once the client's earlier requests
    /// have been answered.
    Hold,
    /// Write what is due, then close (QUIT).
    Close,
}

/// A client's request handling, with the router's scratch space and the
/// client's connection state.
pub struct Dispatcher {
    pub(super) pool: Rc<WorkerPool>,
    pub(super) client: Rc<Client>,
    pub(super) client_id: u64,
    pub(super) router: Router,
    pub(super) state: ClientState,
    /// The pool snapshot version and the protocol that the requests in
    /// flight were routed with.
    pub(super) epoch: (u64, Proto),
    /// A hosted call in progress: the client's later requests wait for it.
    pub(super) hosted: Option<HostedCall>,
    /// Connections the client owns (a transaction, a blocking call).
    pub(super) owned: Owned,
    /// The client's subscriptions and their connections.
    pub(super) subscriber: Option<Box<Subscriber>>,
    /// A request held for a cluster's slot map (see [`MapWait`]).
    map_wait: super::map_wait::MapWait,
}

impl Dispatcher {
    pub fn new(
        pool: Rc<WorkerPool>,
        client: Rc<Client>,
        client_id: u64,
        peer: Peer,
        login_peer: Option<LoginPeer>,
    ) -> Self {
        let snapshot = pool.runtime.snapshot();
        let state = ClientState::new(&snapshot, peer, login_peer);
        pool.runtime
            .client_list
            .set(client_id, state.info_line(client_id));
        let epoch = (snapshot.version, state.proto);
        drop(snapshot);
        Dispatcher {
            pool,
            client,
            client_id,
            router: Router::new(),
            state,
            epoch,
            hosted: None,
            owned: Owned::None,
            subscriber: None,
            map_wait: super::map_wait::MapWait::default(),
        }
    }

    /// Nothing of this client's is in progress here (returned requests and
    /// hosted calls included).
    pub fn idle(&self) -> bool {
        self.hosted.is_none() && !self.client.has_returned() && self.owned_idle()
    }

    /// A hosted call or an owned connection's last request is in progress
    /// (the client's next requests wait, and its leaving must be seen).
    pub fn hosting(&self) -> bool {
        self.hosted.is_some() || !self.owned_idle()
    }

    /// Every request the client sent so far has its reply (none in flight,
    /// none handed back to route again).
    pub(super) fn all_answered(&self) -> bool {
        self.client.queue.borrow().pending() == 0 && !self.client.has_returned()
    }

    /// Handles one complete request.
    pub fn dispatch(&mut self, req: &Request<'_>) -> Next {
        if self.hosted.is_some() || !self.settle_owned() {
            return Next::Hold;
        }
        let Some(spec) = lookup(req.arg(0)) else {
            if cross_protocol::is_http(req.arg(0)) {
                self.count(Group::Refused);
                cross_protocol::warn(&self.pool.runtime.name, &self.state.peer.addr);
                return Next::Close;
            }
            self.txn_queuing_failed();
            self.count(Group::Refused);
            let words: Vec<&[u8]> = req.args().collect();
            self.client
                .push_error(&ClientError::unknown_command(&words));
            return Next::Continue;
        };
        let open = matches!(
            spec.action,
            Action::Local(Local::Auth | Local::Hello | Local::Quit | Local::Reset)
        );
        if !self.logged_in() && !open {
            self.count(Group::Refused);
            self.client.push_error(&ClientError::NoAuth);
            return Next::Continue;
        }
        if !spec.arity_ok(req.argc()) {
            self.txn_queuing_failed();
            self.count(Group::Refused);
            self.client
                .push_error(&ClientError::Arity(spec.name.to_string()));
            return Next::Continue;
        }
        if !open && !self.permit(spec, req) {
            return Next::Continue;
        }
        if self.in_subscriber_mode() {
            match spec.action {
                Action::Sub(_) | Action::Local(Local::Quit | Local::Reset) => {}
                Action::Local(Local::Ping) => {
                    self.count(Group::Local);
                    self.subscriber_pong(req);
                    return Next::Continue;
                }
                _ => {
                    self.count(Group::Refused);
                    let name = super::error::full_name(spec.name, req);
                    self.client
                        .push_error(&ClientError::SubscriberContext(name));
                    return Next::Continue;
                }
            }
        }
        if let Some(next) = self.txn_request(spec, req) {
            if next == Next::Continue {
                self.count(Group::Forwarded);
            }
            return next;
        }
        match spec.action {
            Action::Local(local) if !(local == Local::Info && info_asks_servers(req)) => {
                let next = self.counted(Group::Local, |d| d.local(local, req));
                if self.login_failed() {
                    return Next::Close;
                }
                next
            }
            Action::Txn(cmd) => self.counted(Group::Local, |d| d.txn_command(cmd, spec, req)),
            Action::Block(arg) => self.counted(Group::Forwarded, |d| d.blocking(arg, spec, req)),
            Action::Sub(cmd) => self.counted(Group::Forwarded, |d| d.subscription(cmd, req)),
            Action::Refuse(why) => {
                self.count(Group::Refused);
                self.client.push_error(&ClientError::Unsupported {
                    command: spec.name.to_string(),
                    reason: why.reason(),
                });
                Next::Continue
            }
            Action::Hosted(h) if self.hosts(h.group()) => {
                // One snapshot for the barrier and the first step's route.
                let snapshot = self.pool.runtime.snapshot_arc();
                if !self.enter_epoch(snapshot.version) {
                    return Next::Hold;
                }
                self.count(Group::Hosted);
                self.start_hosted(h, spec, req, &snapshot);
                Next::Continue
            }
            _ => {
                let group = match spec.action {
                    Action::Split(_) => Group::Split,
                    Action::Script
                    | Action::Function
                    | Action::SumAll
                    | Action::Local(Local::Info)
                    | Action::Keyspace(Keyspace::Keys | Keyspace::RandomKey | Keyspace::Flush) => {
                        Group::Broadcast
                    }
                    Action::Hosted(_) => Group::Hosted,
                    _ => Group::Forwarded,
                };
                let snapshot = self.pool.runtime.snapshot_arc();
                self.counted(group, |d| d.send_whole(spec, req, &snapshot))
            }
        }
    }

    /// Routes a request the usual way (whole, split or to every server),
    /// once the requests routed with another ring or protocol are answered.
    pub(super) fn send_whole(
        &mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        snapshot: &PoolSnapshot,
    ) -> Next {
        if !self.enter_epoch(snapshot.version) {
            return Next::Hold;
        }
        // An Rc clone (no atomic), so the pool can be held while self is
        // borrowed.
        let pool = Rc::clone(&self.pool);
        self.send_routed(spec, req, &pool, snapshot)
    }

    /// Runs a request's handler and counts the request, unless it is held:
    /// it comes again, and counts then.
    #[inline]
    fn counted(&mut self, group: Group, handle: impl FnOnce(&mut Self) -> Next) -> Next {
        let next = handle(self);
        if next != Next::Hold {
            self.count(group);
        }
        next
    }

    #[inline]
    fn count(&self, group: Group) {
        add(
            &self.pool.runtime.stats.shard(self.pool.index).commands[group as usize],
            1,
        );
    }

    fn hosts(&self, group: crate::hosted::Group) -> bool {
        self.pool.runtime.snapshot().config.hosted.contains(&group)
    }

    /// Whether a request may be routed now: yes when the ring and protocol
    /// are those the requests in flight used, or nothing is in flight.
    pub(super) fn enter_epoch(&mut self, version: u64) -> bool {
        let now = (version, self.state.proto);
        if now == self.epoch {
            return true;
        }
        if self.client.queue.borrow().pending() > 0 || self.client.has_returned() {
            return false;
        }
        self.epoch = now;
        true
    }

    fn local(&mut self, local: Local, req: &Request<'_>) -> Next {
        match local {
            Local::Ping if req.argc() == 1 => self.client.push_local(|o| encode::simple(o, "PONG")),
            Local::Ping if req.argc() == 2 => {
                self.client.push_local(|o| encode::bulk(o, req.arg(1)))
            }
            Local::Ping => self.client.push_error(&ClientError::Arity("ping".into())),
            Local::Echo => self.client.push_local(|o| encode::bulk(o, req.arg(1))),
            Local::Quit => {
                self.client.push_local(|o| encode::simple(o, "OK"));
                return Next::Close;
            }
            Local::Hello if self.changes_protocol_while_subscribed(req) => {
                self.client.push_error(&ClientError::HelloWhileSubscribed)
            }
            Local::Reset => {
                self.end_subscriber(None);
                return self.local_state(local, req);
            }
            // Connection state: answered from the client's state and the pool's config.
            _ => return self.local_state(local, req),
        }
        Next::Continue
    }

    /// HELLO with another protocol than the one the subscriber connections
    /// speak.
    fn changes_protocol_while_subscribed(&self, req: &Request<'_>) -> bool {
        let Some(sub) = &self.subscriber else {
            return false;
        };
        let now: &[u8] = match sub.proto {
            Proto::Resp2 => b"2",
            Proto::Resp3 => b"3",
        };
        req.argc() > 1 && req.arg(1) != now
    }

    /// Commands about the connection's state, answered from the client's
    /// state and the pool's config.
    fn local_state(&mut self, local: Local, req: &Request<'_>) -> Next {
        let snapshot = self.pool.runtime.snapshot_arc();
        let words: Vec<&[u8]> = (1..req.argc()).map(|i| req.arg(i)).collect();
        let (state, id, owned) = (&mut self.state, self.client_id, &mut self.owned);
        let runtime = &self.pool.runtime;
        let clients = &runtime.client_list;
        self.client.push_local(|out| {
            let answer = match local {
                Local::Select => state.select(&snapshot, words[0], out),
                Local::Auth => state.auth(&words, out),
                Local::Acl => state.acl(&words, out),
                Local::Hello => state.hello(&snapshot, id, &words, out),
                Local::Client => state.client(id, &words, clients, out),
                Local::Info => state.info(&snapshot, runtime, out),
                Local::ReadOnly => state.reads(false, out),
                Local::ReadWrite => state.reads(true, out),
                Local::Reset => {
                    *owned = Owned::None;
                    state.reset(&snapshot, out)
                }
                Local::Ping | Local::Echo | Local::Quit => unreachable!("answered above"),
            };
            if let Err(e) = answer {
                e.write(out);
            }
        });
        if matches!(local, Local::Client | Local::Hello | Local::Reset) {
            // What CLIENT LIST shows of this client may have changed.
            clients.set(id, state.info_line(id));
        }
        Next::Continue
    }

    /// Routes a request and sends it: whole, split or to every server.
    /// Held while a cluster pool waits for a slot map that serves it.
    fn send_routed(
        &mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        pool: &WorkerPool,
        snapshot: &PoolSnapshot,
    ) -> Next {
        let proto = self.state.proto;
        let sender = self.sender(proto);
        match self.router.route(spec, req, &snapshot.placement) {
            Route::One(server) => {
                let seq = self.client.reserve();
                let waiter = waiter(&self.client, seq, WHOLE, false);
                match target(pool, snapshot, Some(spec), server, sender) {
                    Ok(conn) => conn.send_with(|b| req.encode_whole(b), waiter),
                    Err(e) => waiter.sink.failed(waiter.tag, &e, None),
                }
            }
            Route::Split(split) => {
                let kind = MergeKind::of_split(&split, proto);
                add(
                    &pool.runtime.stats.shard(pool.index).fragments,
                    split.parts() as u64,
                );
                let seq = self.client.reserve_merge(Merge::split(kind, split.parts()));
                for part in 0..split.parts() {
                    let waiter = waiter(&self.client, seq, part as u32, false);
                    match target(pool, snapshot, Some(spec), split.server(part), sender) {
                        Ok(conn) => conn.send_with(|b| split.encode_part(part, req, b), waiter),
                        Err(e) => waiter.sink.failed(waiter.tag, &e, None),
                    }
                }
            }
            Route::All { kind, servers } => {
                let merge_kind = match kind {
                    Broadcast::ScriptLoad => MergeKind::First,
                    Broadcast::ScriptExists => MergeKind::AllOfInts,
                    Broadcast::ScriptFlush | Broadcast::Flush => MergeKind::AllOk,
                    Broadcast::DbSize => MergeKind::Sum,
                    Broadcast::ScriptKill | Broadcast::FunctionKill => MergeKind::Kill,
                    Broadcast::Keys => MergeKind::Concat,
                    Broadcast::RandomKey => MergeKind::AnyKey,
                    Broadcast::PubsubChannels => MergeKind::Union,
                    Broadcast::PubsubNumsub => MergeKind::PairSum,
                    Broadcast::InfoKeyspace => MergeKind::InfoKeyspace {
                        head: info_keyspace::head(req, snapshot, &pool.runtime),
                        db: snapshot.config.redis_db,
                        proto,
                    },
                };
                let merge = Merge::new(merge_kind, servers.len());
                let seq = self.client.reserve_merge(merge);
                for (part, &server) in servers.iter().enumerate() {
                    let waiter = waiter(&self.client, seq, part as u32, false);
                    let conn = pool.conn(snapshot, server as usize, self.client_id, proto);
                    if kind.overtakes() {
                        // The one exception to per-client order, by design:
                        // a KILL must pass the script it stops.
                        conn.send_aside(|b| kind.encode(req, b), waiter);
                    } else {
                        conn.send_with(|b| kind.encode(req, b), waiter);
                    }
                }
            }
            Route::Scan(scan) => {
                let seq = self.client.reserve_rewrite(Rewrite::ScanCursor(scan));
                let waiter = waiter(&self.client, seq, WHOLE, false);
                let conn = pool.conn(snapshot, scan.server, self.client_id, proto);
                conn.send_with(|b| scan.encode(req, b), waiter);
            }
            // No master serves the slot: the cluster is asked again first.
            Route::Refused(RouteError::NoServer)
                if snapshot.placement.is_cluster()
                    && self.map_wait.hold(&pool.runtime, &self.client) =>
            {
                return Next::Hold;
            }
            Route::Refused(e) => {
                let error = ClientError::route(e, spec.name, &snapshot.config);
                self.client.push_error(&error);
            }
        }
        self.map_wait.done();
        Next::Continue
    }

    /// Who sends, as [`target`] needs it.
    pub(super) fn sender(&self, proto: Proto) -> Sender {
        Sender {
            client_id: self.client_id,
            proto,
            reads_masters: self.state.reads_masters,
        }
    }
}

/// A client as the choice of its connection sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sender {
    client_id: u64,
    proto: Proto,
    /// It said READWRITE: its reads go to masters.
    reads_masters: bool,
}

/// The connection a request of command `spec` for `server` goes to: a
/// replica's for a read when the pool reads from replicas and the client did
/// not say READWRITE, else the server's own.
pub(super) fn target(
    pool: &WorkerPool,
    snapshot: &PoolSnapshot,
    spec: Option<&CommandSpec>,
    server: usize,
    sender: Sender,
) -> Result<Rc<BackendConn>, BackendError> {
    let Sender {
        client_id,
        proto,
        reads_masters,
    } = sender;
    let reads_replicas = snapshot.config.read_from != ReadFrom::Master && !reads_masters;
    if reads_replicas && spec.is_some_and(|s| only_reads(s.name)) {
        return pool.read_conn(snapshot, server, client_id, proto);
    }
    Ok(pool.conn(snapshot, server, client_id, proto))
}

/// A waiter for slot `seq`, part `part` of `client`'s replies.
pub(super) fn waiter(client: &Rc<Client>, seq: u64, part: u32, retried: bool) -> Waiter {
    let sink: Rc<dyn ReplySink> = client.clone();
    Waiter {
        sink,
        tag: Tag {
            seq,
            part,
            retried,
            hops: 0,
        },
    }
}
