//! A pipelined connection to one backend server, owned by one worker.
//!
//! It knows no client. It takes requests, each with a [`Waiter`]: an opaque
//! [`Tag`] and the [`ReplySink`] that gets the reply or the failure. Replies
//! come back in request order on a connection. When the connection fails,
//! every request in flight gets the failure, and those none of whose bytes
//! reached the server come back with their bytes, so the worker can route
//! them again.
//!
//! - `queue`: the write buffer and the FIFO of requests awaiting replies.
//! - `io`: connecting and the read/write loop.
//! - `handshake`: AUTH / HELLO 3 / SELECT in front of a new connection.
//! - `side`: one request on a short-lived connection of its own (SCRIPT
//!   KILL, the busy probe), ahead of what the pipelined one has queued.
//! - `busy`: a server stuck in a script, found by a probe when the pool
//!   sets no `timeout`, so requests queued behind it are answered.
//! - `error`: why a request failed, as the client is told.
//! - `failure`: what counts against a server's health, and failing what a
//!   lost connection held.
//! - `follow`: a connection to a Sentinel master follows its moves (hands
//!   back what it has not written, holds writes during a promotion).

mod busy;
mod connect;
mod dedicated;
mod error;
mod failure;
mod follow;
mod handshake;
mod io;
mod queue;
mod side;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::Notify;

pub use dedicated::{Dedicated, IdleConns};
pub use error::BackendError;

use crate::config::ServerAddr;
use crate::pool::counters::{add, PoolCounters, ServerCounters};
use crate::pool::{FailurePolicy, PoolRuntime, ServerHealth};
use crate::protocol::encode;
use queue::{Owner, Queue};

/// Identifies a request to whoever sent it; the backend only hands it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub seq: u64,
    pub part: u32,
    /// Already routed again once after a failure: never again.
    pub retried: bool,
    /// Times a cluster redirected it so far (MOVED, ASK, TRYAGAIN,
    /// CLUSTERDOWN), for the bound on redirections.
    pub hops: u8,
}

/// Receives what becomes of requests: implemented by the client side.
pub trait ReplySink {
    /// The complete reply to request `tag`.
    fn reply(&self, tag: Tag, reply: &[u8]);
    /// Request `tag` failed. `unsent` holds its bytes when none of them
    /// reached the server, so it may be routed again; `None` when it may
    /// have run.
    fn failed(&self, tag: Tag, error: &BackendError, unsent: Option<Unsent<'_>>);
    /// A cluster node did not run request `tag` but redirected it
    /// (`reply`: MOVED, ASK, TRYAGAIN or CLUSTERDOWN); `request` is what
    /// was sent, to send where the reply says. By default the reply is
    /// the answer.
    fn redirected(&self, tag: Tag, reply: &[u8], request: &[u8]) {
        let _ = request;
        self.reply(tag, reply)
    }
}

/// A failed request none of whose bytes reached its server.
#[derive(Debug, Clone, Copy)]
pub struct Unsent<'a> {
    pub bytes: &'a [u8],
    /// The server it was meant for (config index).
    pub server: usize,
    /// That server is now at another address (a Sentinel failover): the
    /// same server, by the same route, is a new destination.
    pub readdressed: bool,
}

/// Where a request's reply goes.
pub struct Waiter {
    pub sink: Rc<dyn ReplySink>,
    pub tag: Tag,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").field("tag", &self.tag).finish()
    }
}

/// What a backend connection needs to know about its server.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// How the server is named in errors and logs.
    pub label: String,
    /// `None`: a Sentinel master whose address is not known yet.
    pub addr: Option<ServerAddr>,
    /// A Sentinel master: the connection follows its moves (hands back what
    /// it has not written when the master moves, holds writes while
    /// Sentinel promotes a replica) and reports `-READONLY` as a doubt.
    pub follows_master: bool,
    /// A replica, taking reads: a read it held when the connection failed,
    /// written or not, goes back to its sender for another replica (a read
    /// may run twice), and it is never ejected (it is in no ring).
    pub replica: bool,
    pub auth: Option<String>,
    /// The Redis ACL user to log in as (`AUTH user password`), with `auth`
    /// as its password.
    pub username: Option<String>,
    /// The user and password hosted calls run as (`redis_hosted_username`):
    /// each is sent between an AUTH to it and an AUTH back.
    pub hosted_login: Option<(String, String)>,
    pub db: u32,
    /// Speak RESP3 (HELLO 3 on connect), for clients that chose RESP3: their
    /// replies then pass through unchanged.
    pub resp3: bool,
    pub connect_timeout: Duration,
    /// The pool's `timeout` for each request: how long the server may be
    /// silent while it is awaited.
    pub timeout: Option<Duration>,
    /// Ejection or backoff after failures.
    pub policy: FailurePolicy,
    /// Most bytes waiting to be written before requests are refused.
    pub max_queue: usize,
    /// Largest single reply accepted (`max_reply_bytes`).
    pub max_reply: usize,
    /// The server's health, shared by every worker's connections to it.
    pub health: Arc<ServerHealth>,
    /// The pool, to rebuild its ring when this server is ejected.
    pub pool: Arc<PoolRuntime>,
    /// This server's index in the pool's config.
    pub index: usize,
    /// The worker's index: its shard of the counters.
    pub worker_index: usize,
    /// Owned by one client (a transaction, a subscriber, a blocking call):
    /// its requests keep their own deadlines, it is never probed for a busy
    /// script (a blocked command waits by design), and it is never opened
    /// again once lost, since what the client set up on it (MULTI, WATCH,
    /// subscriptions) is lost with it.
    pub dedicated: bool,
    /// TLS toward the server (the pool's `tls: true`): every connection to
    /// it, side connections too, is TLS.
    pub tls: Option<crate::tls::Connector>,
    /// A node of a Redis Cluster: a copy of each request is kept until its
    /// reply, so one the node redirects goes back to its sender to be sent
    /// where the node says (on a dedicated connection only a blocking
    /// call's, which set up nothing there; a transaction's or a
    /// subscriber's owner gets the redirection as its reply: what it set up
    /// there cannot move).
    pub cluster: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// No connection and no task; the next request starts one.
    Idle,
    /// The task is connecting or serving.
    Running,
}

#[derive(Debug)]
struct State {
    queue: Queue,
    status: Status,
    /// Replaced by a reload: finish what is in flight, then close.
    retiring: bool,
    /// Replies received over the connection's life (all its sockets).
    answered: u64,
    /// The server's BUSY text while the request at the head is a script it
    /// runs: new requests are answered with it instead of queued.
    busy: Option<String>,
    /// Its owner let go of this dedicated connection: close it now.
    closing: bool,
    /// A dedicated connection that ended: it is not opened again.
    lost: bool,
    /// Its Sentinel master moved: nothing more is written here; what was
    /// not written went back to its senders, and the connection closes
    /// after the replies still due.
    moved: bool,
}

impl State {
    /// The oldest request, now that its reply came.
    fn pop_answered(&mut self) -> Option<queue::Pending> {
        self.answered += 1;
        self.busy = None;
        self.queue.pop()
    }
}

#[derive(Debug)]
pub struct BackendConn {
    spec: BackendSpec,
    state: RefCell<State>,
    wake: Notify,
    /// Where every reply that answers no request goes, on a subscriber's
    /// dedicated connection: confirmations and messages, in order.
    listener: RefCell<Option<Waiter>>,
    /// Bytes queued and buffered here, in the proxy-wide memory account.
    memory: crate::memory::Held,
}

impl BackendConn {
    pub fn new(spec: BackendSpec) -> Rc<BackendConn> {
        Rc::new(BackendConn {
            spec,
            state: RefCell::new(State {
                queue: Queue::default(),
                status: Status::Idle,
                retiring: false,
                answered: 0,
                busy: None,
                closing: false,
                lost: false,
                moved: false,
            }),
            wake: Notify::new(),
            listener: RefCell::new(None),
            memory: crate::memory::Held::new(crate::memory::budget()),
        })
    }

    pub fn label(&self) -> &str {
        &self.spec.label
    }

    /// The server's index in the pool's config.
    pub fn server(&self) -> usize {
        self.spec.index
    }

    /// Queues a request given as its bytes.
    #[inline]
    pub fn send(self: &Rc<Self>, request: &[u8], waiter: Waiter) {
        self.send_with(|buf| buf.extend_from_slice(request), waiter)
    }

    /// Queues a request that `write` encodes straight into the write buffer.
    #[inline]
    pub fn send_with(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut), waiter: Waiter) {
        self.enqueue(write, waiter, self.spec.timeout, false)
    }

    /// Queues a blocking call on a dedicated connection, with its deadline:
    /// a cluster node may redirect it (its slot moved while it waited),
    /// and it is sent again where the node says, as any request on a
    /// shared connection.
    pub fn send_blocking(
        self: &Rc<Self>,
        write: impl FnOnce(&mut BytesMut),
        waiter: Waiter,
        deadline: Option<std::time::Duration>,
    ) {
        self.enqueue(write, waiter, deadline, true)
    }

    fn enqueue(
        self: &Rc<Self>,
        write: impl FnOnce(&mut BytesMut),
        waiter: Waiter,
        timeout: Option<std::time::Duration>,
        blocking: bool,
    ) {
        let mut st = self.state.borrow_mut();
        if st.lost || st.closing {
            drop(st);
            let error = BackendError::DedicatedLost {
                server: self.spec.label.clone(),
            };
            return waiter.sink.failed(waiter.tag, &error, None);
        }
        if st.moved {
            drop(st);
            return self.hand_back(write, waiter);
        }
        if self.spec.addr.is_none() {
            drop(st);
            return self.unresolved(waiter);
        }
        if st.status == Status::Idle {
            // Known down (backing off after failures): answer at once instead
            // of a fresh connect per request.
            if let Err(left) = self.spec.health.may_connect() {
                drop(st);
                if self.spec.cluster {
                    self.spec.pool.cluster_maps.want();
                }
                let error = BackendError::Down {
                    server: self.spec.label.clone(),
                    cause: self.spec.health.last_error(),
                    retry_in_ms: left.as_millis() as u64,
                };
                add(&self.pool_counters().forward_error, 1);
                return waiter.sink.failed(waiter.tag, &error, None);
            }
        }
        if let Some(reply) = &st.busy {
            let error = BackendError::Busy {
                server: self.spec.label.clone(),
                reply: reply.clone(),
                queued: false,
            };
            drop(st);
            add(&self.pool_counters().forward_error, 1);
            return waiter.sink.failed(waiter.tag, &error, None);
        }
        if st.queue.unsent_bytes() > self.spec.max_queue {
            drop(st);
            let error = BackendError::Backlog {
                server: self.spec.label.clone(),
                limit: self.spec.max_queue,
            };
            add(&self.pool_counters().forward_error, 1);
            return waiter.sink.failed(waiter.tag, &error, None);
        }
        let was_empty = st.queue.unsent_bytes() == 0;
        let len = st.queue.push(write, Owner::Client(waiter), timeout);
        if self.spec.replica || (self.spec.cluster && (blocking || !self.spec.dedicated)) {
            st.queue.keep_copy_of_last();
        }
        let c = self.counters();
        add(&c.requests, 1);
        add(&c.request_bytes, len as u64);
        self.start_or_wake(st, was_empty);
    }

    /// Queues a hosted call's script: as the pool's hosted user when it has
    /// one (`AUTH hosted`, the call, `AUTH` back to the pool's user, queued
    /// together so no other request falls between), else as any request.
    /// An AUTH back that fails ends the connection: nothing else may run as
    /// the hosted user.
    pub fn send_hosted(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut), waiter: Waiter) {
        let Some((user, pass)) = &self.spec.hosted_login else {
            return self.send_with(write, waiter);
        };
        let restore = match (&self.spec.username, &self.spec.auth) {
            (Some(u), Some(p)) => [u.as_bytes(), p.as_bytes()],
            // Refused by the config: a hosted user needs the pool's own.
            _ => return self.send_with(write, waiter),
        };
        let mut st = self.state.borrow_mut();
        if st.lost || st.closing || st.busy.is_some() {
            drop(st);
            return self.send_with(write, waiter);
        }
        let was_empty = st.queue.unsent_bytes() == 0;
        let switch = [&b"AUTH"[..], user.as_bytes(), pass.as_bytes()];
        st.queue.push(
            |b| encode::command(b, switch.into_iter()),
            Owner::Handshake(handshake::Step::Switch),
            None,
        );
        let len = st
            .queue
            .push(write, Owner::Client(waiter), self.spec.timeout);
        let back = [&b"AUTH"[..], restore[0], restore[1]];
        st.queue.push(
            |b| encode::command(b, back.into_iter()),
            Owner::Handshake(handshake::Step::Restore),
            None,
        );
        let c = self.counters();
        add(&c.requests, 1);
        add(&c.request_bytes, len as u64);
        self.start_or_wake(st, was_empty);
    }

    /// Queues bytes whose replies go to the listener (see [`Self::listen`]).
    pub fn send_untracked(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut)) {
        let mut st = self.state.borrow_mut();
        let was_empty = st.queue.unsent_bytes() == 0;
        let len = st.queue.push_untracked(write);
        let c = self.counters();
        add(&c.requests, 1);
        add(&c.request_bytes, len as u64);
        self.start_or_wake(st, was_empty);
    }

    /// Every reply that answers no tracked request goes to `listener`, and
    /// so does the end of the connection (as a failure).
    pub fn listen(&self, listener: Waiter) {
        *self.listener.borrow_mut() = Some(listener);
    }

    /// Whether it speaks RESP3 (HELLO 3 in its handshake).
    pub fn speaks_resp3(&self) -> bool {
        self.spec.resp3
    }

    /// Connected and left clean by its owner: nothing queued or awaited,
    /// not lost, closing or retiring, no listener. Another client may own it
    /// next.
    pub fn reusable(&self) -> bool {
        let st = self.state.borrow();
        st.status == Status::Running
            && !st.lost
            && !st.closing
            && !st.retiring
            && st.busy.is_none()
            && st.queue.is_empty()
            && st.queue.unsent_bytes() == 0
            && self.listener.borrow().is_none()
    }

    /// Stops handing unasked frames to the listener (a subscriber left
    /// every subscription, confirmed).
    pub fn detach_listener(&self) {
        self.listener.borrow_mut().take();
    }

    /// The owner let go: closes the connection now, dropping what is in
    /// flight (nobody waits for it), and tells nobody.
    pub fn close(&self) {
        self.listener.borrow_mut().take();
        self.state.borrow_mut().closing = true;
        self.wake.notify_one();
    }

    fn start_or_wake(self: &Rc<Self>, mut st: std::cell::RefMut<'_, State>, was_empty: bool) {
        match st.status {
            Status::Idle => {
                st.status = Status::Running;
                drop(st);
                tokio::task::spawn_local(self.clone().run());
            }
            Status::Running if was_empty => {
                drop(st);
                self.wake.notify_one();
            }
            Status::Running => {}
        }
    }

    #[inline]
    fn counters(&self) -> &ServerCounters {
        self.spec.health.stats.shard(self.spec.worker_index)
    }

    /// This worker's shard of the pool's counters.
    fn pool_counters(&self) -> &PoolCounters {
        self.spec.pool.stats.shard(self.spec.worker_index)
    }

    /// A reload replaced this connection: new requests go elsewhere; the ones
    /// in flight get their replies, then the connection closes.
    pub fn retire(&self) {
        self.state.borrow_mut().retiring = true;
        self.wake.notify_one();
    }

    /// Starts connecting now (for `preconnect`), without a request.
    pub fn preconnect(self: &Rc<Self>) {
        let mut st = self.state.borrow_mut();
        let known = self.spec.addr.is_some();
        if known && st.status == Status::Idle && self.spec.health.may_connect().is_ok() {
            st.status = Status::Running;
            drop(st);
            tokio::task::spawn_local(self.clone().run());
        }
    }
}
