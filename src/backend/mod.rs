//! A pipelined connection to one backend server, owned by one worker.
//!
//! Requests are appended to a write buffer and their reply slots to a FIFO;
//! one task writes everything queued in one write and reads replies, handing
//! each complete reply to the slot at the head of the FIFO. Replies come back
//! in request order on a connection, which is what keeps each client's
//! requests to one server in order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ServerAddr;
use crate::pool::health::FailureOutcome;
use crate::pool::{PoolRuntime, ServerHealth};
use crate::protocol::{
    command, encode, Action, FrameLimits, Keys, Proto, ReplySkipper, RequestFramer,
};
use crate::proxy::replies::Replies;
use crate::proxy::replies::WHOLE;
use crate::proxy::worker::WorkerPool;
use crate::stats::counters::{add, gauge_add, PoolCounters, ServerCounters};

/// Where a reply goes: a client's slot, or nowhere for the proxy's own
/// handshake commands (AUTH, SELECT), whose errors close the connection.
#[derive(Debug)]
pub struct Waiter {
    pub replies: Option<Replies>,
    pub seq: u64,
    pub part: u32,
    /// Already routed again once after a failure: never again.
    pub retried: bool,
}

impl Waiter {
    /// The slot `seq` (part `part`) of a client's reply queue.
    pub fn new(replies: Replies, seq: u64, part: u32) -> Waiter {
        Waiter {
            replies: Some(replies),
            seq,
            part,
            retried: false,
        }
    }
}

/// A queued request's reply slot, its size in the write stream and when it
/// times out.
#[derive(Debug)]
struct Pending {
    waiter: Waiter,
    len: usize,
    sent: Instant,
    deadline: Option<Instant>,
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
    wbuf: BytesMut,
    waiting: VecDeque<Pending>,
    status: Status,
    /// Replaced by a reload: finish what is in flight, then close.
    retiring: bool,
    /// Bytes of the requests in `waiting` (sent or not), for the queue gauges.
    queued_bytes: usize,
}

/// How a connection's task ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The server closed the connection (a failure, like an error).
    ServerClosed,
    /// Retired by a reload, after its last reply.
    Retired,
}

/// The proxy's own commands at connect (their `Waiter::part`): a wrong
/// password is the server's to report; a failed HELLO or SELECT would send
/// requests to the wrong protocol or database, so it fails the connection.
const HANDSHAKE_AUTH: u32 = 1;
const HANDSHAKE_OTHER: u32 = 2;

/// Why a connection ended in failure, and what is said of it.
#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// No connection could be made: the next attempt waits (fail fast).
    Unreachable,
    /// A request outlived the pool's `timeout`.
    TimedOut,
    /// EOF aside, anything else: read/write errors, a bad reply, a refused
    /// handshake.
    Broken,
}

impl Failure {
    fn unreachable(message: String) -> Failure {
        Failure {
            kind: FailureKind::Unreachable,
            message,
        }
    }
    fn timed_out(message: String) -> Failure {
        Failure {
            kind: FailureKind::TimedOut,
            message,
        }
    }
    fn broken(message: String) -> Failure {
        Failure {
            kind: FailureKind::Broken,
            message,
        }
    }
}

/// What a backend connection needs to know about its server.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// How the server is named in errors and logs.
    pub label: String,
    pub addr: ServerAddr,
    pub auth: Option<String>,
    pub db: u32,
    /// Speak RESP3 (HELLO 3 on connect), for clients that chose RESP3: their
    /// replies then pass through unchanged.
    pub resp3: bool,
    pub connect_timeout: Duration,
    /// The pool's `timeout` for each request.
    pub timeout: Option<Duration>,
    /// The pool's `server_retry_timeout`: how long a failed server is left
    /// alone before the next connection attempt.
    pub retry_timeout: Duration,
    /// `server_failure_limit` when `auto_eject_hosts` is on.
    pub eject_after: Option<u32>,
    /// Most bytes waiting to be written before requests are refused.
    pub max_queue: usize,
    /// The server's health, shared by every worker's connections to it.
    pub health: Arc<ServerHealth>,
    /// The pool, to rebuild its ring when this server is ejected.
    pub pool: Arc<PoolRuntime>,
    /// This server's index in the pool's config.
    pub index: usize,
    /// The worker's pool, to route unsent requests again after an ejection.
    pub worker: Weak<WorkerPool>,
    /// The worker's index: its shard of the counters.
    pub worker_index: usize,
}

#[derive(Debug)]
pub struct BackendConn {
    spec: BackendSpec,
    state: RefCell<State>,
    wake: Notify,
}

/// A buffer grown past this by a burst is given back once empty.
const KEEP_CAPACITY: usize = 1 << 20;

impl BackendConn {
    pub fn new(spec: BackendSpec) -> Rc<BackendConn> {
        Rc::new(BackendConn {
            spec,
            state: RefCell::new(State {
                wbuf: BytesMut::new(),
                waiting: VecDeque::new(),
                status: Status::Idle,
                retiring: false,
                queued_bytes: 0,
            }),
            wake: Notify::new(),
        })
    }

    pub fn label(&self) -> &str {
        &self.spec.label
    }

    /// Queues a request given as its bytes.
    #[inline]
    pub fn send(self: &Rc<Self>, request: &[u8], waiter: Waiter) {
        self.send_with(|buf| buf.extend_from_slice(request), waiter)
    }

    /// Queues a request that `write` encodes straight into the write buffer.
    pub fn send_with(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut), waiter: Waiter) {
        let mut st = self.state.borrow_mut();
        if st.status == Status::Idle {
            // Known down: answer at once instead of a fresh connect per request.
            if let Err(left) = self.spec.health.may_connect() {
                drop(st);
                let msg = format!(
                    "server {} is down ({}); next attempt in {} ms",
                    self.spec.label,
                    self.spec.health.last_error(),
                    left.as_millis()
                );
                self.count_forward_errors(1);
                return fail_one(waiter, &msg);
            }
        }
        if st.wbuf.len() > self.spec.max_queue {
            drop(st);
            self.count_forward_errors(1);
            let msg = format!(
                "server {} is not keeping up: over {} bytes wait to be written to it",
                self.spec.label, self.spec.max_queue
            );
            return fail_one(waiter, &msg);
        }
        let was_empty = st.wbuf.is_empty();
        let before = st.wbuf.len();
        write(&mut st.wbuf);
        let len = st.wbuf.len() - before;
        let sent = Instant::now();
        let deadline = self.spec.timeout.map(|t| sent + t);
        st.queued_bytes += len;
        st.waiting.push_back(Pending {
            waiter,
            len,
            sent,
            deadline,
        });
        let c = self.counters();
        add(&c.requests, 1);
        add(&c.request_bytes, len as u64);
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

    /// Requests answered with an error instead of reaching the server.
    fn count_forward_errors(&self, n: u64) {
        add(&self.pool_counters().forward_error, n);
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
        if st.status == Status::Idle {
            st.status = Status::Running;
            drop(st);
            tokio::task::spawn_local(self.clone().run());
        }
    }

    async fn run(self: Rc<Self>) {
        let result = self.connect_and_serve().await;
        let (kind, message) = match result {
            Ok(Ended::Retired) => {
                self.state.borrow_mut().status = Status::Idle;
                tracing::debug!(server = %self.spec.label, "retired connection closed after its last reply");
                return;
            }
            Ok(Ended::ServerClosed) => {
                add(&self.counters().server_eof, 1);
                let message = format!("server {} closed the connection", self.spec.label);
                (FailureKind::Broken, message)
            }
            Err(f) => {
                let c = self.counters();
                let counter = match f.kind {
                    FailureKind::TimedOut => &c.server_timedout,
                    FailureKind::Unreachable | FailureKind::Broken => &c.server_err,
                };
                add(counter, 1);
                (f.kind, f.message)
            }
        };
        let pool = &self.spec.pool.name;
        tracing::warn!(pool = %pool, server = %self.spec.label, "backend connection failed: {message}");
        let outcome = self.spec.health.failure(
            &message,
            self.spec.retry_timeout,
            self.spec.eject_after,
            kind == FailureKind::Unreachable,
        );
        if outcome == FailureOutcome::Ejected {
            tracing::warn!(
                pool = %pool,
                server = %self.spec.label,
                retry_ms = self.spec.retry_timeout.as_millis() as u64,
                "server ejected after {} consecutive failures",
                self.spec.eject_after.unwrap_or(0)
            );
            add(&self.pool_counters().server_ejects, 1);
            self.spec.pool.rebuild_placement();
        }
        self.fail_all(&message);
    }

    async fn connect_and_serve(self: &Rc<Self>) -> Result<Ended, Failure> {
        let connect = async {
            match &self.spec.addr {
                ServerAddr::Tcp { host, port } => {
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let stream = tokio::net::TcpStream::connect((host, *port)).await?;
                    stream.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(Stream::Tcp(stream))
                }
                ServerAddr::Unix(path) => {
                    Ok(Stream::Unix(tokio::net::UnixStream::connect(path).await?))
                }
            }
        };
        let stream = match tokio::time::timeout(self.spec.connect_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Failure::unreachable(format!(
                    "cannot connect to server {}: {e}",
                    self.spec.label
                )))
            }
            Err(_) => {
                return Err(Failure::unreachable(format!(
                    "cannot connect to server {}: timed out after {} ms",
                    self.spec.label,
                    self.spec.connect_timeout.as_millis()
                )))
            }
        };
        self.queue_handshake();
        gauge_add(&self.counters().server_connections, 1);
        let result = self.serve_stream(stream).await;
        let c = self.counters();
        gauge_add(&c.server_connections, -1);
        for g in [
            &c.in_queue,
            &c.in_queue_bytes,
            &c.out_queue,
            &c.out_queue_bytes,
        ] {
            g.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    async fn serve_stream(&self, stream: Stream) -> Result<Ended, Failure> {
        match stream {
            Stream::Tcp(mut s) => {
                let (r, w) = s.split();
                self.serve(r, w).await
            }
            Stream::Unix(mut s) => {
                let (r, w) = s.split();
                self.serve(r, w).await
            }
        }
    }

    /// Puts AUTH / HELLO 3 / SELECT in front of everything queued while
    /// connecting.
    fn queue_handshake(&self) {
        let mut hello = BytesMut::new();
        let mut steps = Vec::new();
        if let Some(auth) = &self.spec.auth {
            encode::command(&mut hello, [&b"AUTH"[..], auth.as_bytes()].into_iter());
            steps.push(HANDSHAKE_AUTH);
        }
        if self.spec.resp3 {
            encode::command(&mut hello, [&b"HELLO"[..], b"3"].into_iter());
            steps.push(HANDSHAKE_OTHER);
        }
        if self.spec.db != 0 {
            let db = self.spec.db.to_string();
            encode::command(&mut hello, [&b"SELECT"[..], db.as_bytes()].into_iter());
            steps.push(HANDSHAKE_OTHER);
        }
        if steps.is_empty() {
            return;
        }
        let mut st = self.state.borrow_mut();
        let hello_len = hello.len();
        hello.extend_from_slice(&st.wbuf);
        st.wbuf = hello;
        for &step in steps.iter().rev() {
            st.waiting.push_front(Pending {
                waiter: Waiter {
                    replies: None,
                    seq: 0,
                    part: step,
                    retried: false,
                },
                len: 0,
                sent: Instant::now(),
                deadline: None,
            });
        }
        st.queued_bytes += hello_len;
        // The handshake's bytes, all counted on its first command.
        if let Some(first) = st.waiting.front_mut() {
            first.len = hello_len;
        }
    }

    async fn serve<R, W>(&self, reader: R, writer: W) -> Result<Ended, Failure>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut sending = BytesMut::new();
        let result = self.serve_io(reader, writer, &mut sending).await;
        // Whatever was not written goes back in front of the queue, so a
        // failure knows which requests never reached the server.
        if !sending.is_empty() {
            let mut st = self.state.borrow_mut();
            sending.extend_from_slice(&st.wbuf);
            st.wbuf = sending;
        }
        result
    }

    async fn serve_io<R, W>(
        &self,
        mut reader: R,
        mut writer: W,
        sending: &mut BytesMut,
    ) -> Result<Ended, Failure>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let read_chunk = crate::proxy::read_chunk();
        let mut rbuf = BytesMut::with_capacity(read_chunk);
        let mut skipper = ReplySkipper::new();
        // Fires when the oldest request's time is up; re-armed lazily.
        let timer = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(timer);
        loop {
            if self.spec.timeout.is_some() {
                let front = self.state.borrow().waiting.iter().find_map(|p| p.deadline);
                if let Some(deadline) = front {
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                }
            }
            if sending.is_empty() {
                let mut st = self.state.borrow_mut();
                std::mem::swap(sending, &mut st.wbuf);
                if st.wbuf.capacity() > KEEP_CAPACITY {
                    st.wbuf = BytesMut::new();
                }
                if st.retiring && sending.is_empty() && st.waiting.is_empty() {
                    return Ok(Ended::Retired);
                }
            }
            self.update_queue_gauges(sending.len());
            if rbuf.capacity() - rbuf.len() < read_chunk / 4 {
                rbuf.reserve(read_chunk);
            }
            tokio::select! {
                biased;
                read = reader.read_buf(&mut rbuf) => {
                    match read {
                        Ok(0) => return Ok(Ended::ServerClosed),
                        Ok(_) => self.dispatch_replies(&mut rbuf, &mut skipper)?,
                        Err(e) => return Err(Failure::broken(format!("reading from server {}: {e}", self.spec.label))),
                    }
                    if rbuf.is_empty() && rbuf.capacity() > KEEP_CAPACITY {
                        rbuf = BytesMut::with_capacity(read_chunk);
                    }
                }
                written = writer.write_buf(sending), if !sending.is_empty() => {
                    if let Err(e) = written {
                        return Err(Failure::broken(format!("writing to server {}: {e}", self.spec.label)));
                    }
                    if sending.is_empty() && sending.capacity() > KEEP_CAPACITY {
                        *sending = BytesMut::new();
                    }
                }
                _ = &mut timer, if self.spec.timeout.is_some() => {
                    let now = Instant::now();
                    let expired = self
                        .state
                        .borrow()
                        .waiting
                        .iter()
                        .find_map(|p| p.deadline)
                        .is_some_and(|d| d <= now);
                    if expired {
                        return Err(Failure::timed_out(format!(
                            "server {} timed out after {} ms",
                            self.spec.label,
                            self.spec.timeout.unwrap_or_default().as_millis()
                        )));
                    }
                    timer.as_mut().reset(now + Duration::from_secs(3600));
                }
                _ = self.wake.notified(), if sending.is_empty() => {
                    // Gather the requests other clients queue in this round of
                    // I/O events into the same write.
                    crate::proxy::yield_once().await;
                }
            }
        }
    }

    /// in_queue: requests (and bytes) not yet written to the server;
    /// out_queue: written, waiting for their replies.
    fn update_queue_gauges(&self, sending: usize) {
        let st = self.state.borrow();
        let unsent_bytes = sending + st.wbuf.len();
        // Only the unsent requests at the back are walked, not the whole queue.
        let mut unsent = unsent_bytes;
        let mut unsent_reqs = 0usize;
        for p in st.waiting.iter().rev() {
            if unsent == 0 || p.len > unsent {
                break;
            }
            unsent -= p.len;
            unsent_reqs += 1;
        }
        let total_bytes = st.queued_bytes;
        let c = self.counters();
        let set = |g: &std::sync::atomic::AtomicI64, v: usize| {
            g.store(v as i64, std::sync::atomic::Ordering::Relaxed)
        };
        set(&c.in_queue, unsent_reqs);
        set(&c.in_queue_bytes, unsent_bytes);
        set(&c.out_queue, st.waiting.len() - unsent_reqs);
        set(&c.out_queue_bytes, total_bytes.saturating_sub(unsent_bytes));
    }

    /// Hands every complete reply in `rbuf` to the oldest waiter.
    fn dispatch_replies(
        &self,
        rbuf: &mut BytesMut,
        skipper: &mut ReplySkipper,
    ) -> Result<(), Failure> {
        loop {
            let len = match skipper.next_reply(rbuf) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(Failure::broken(format!(
                        "server {} sent a malformed reply: {e}",
                        self.spec.label
                    )))
                }
            };
            let pending = {
                let mut st = self.state.borrow_mut();
                let p = st.waiting.pop_front();
                st.queued_bytes -= p.as_ref().map_or(0, |p| p.len);
                p
            };
            let c = self.counters();
            add(&c.responses, 1);
            add(&c.response_bytes, len as u64);
            if let Some(p) = &pending {
                c.observe_latency(p.sent.elapsed().as_micros() as u64);
            }
            let waiter = pending.map(|p| p.waiter);
            let reply = &rbuf[..len];
            self.spec.health.success();
            match waiter {
                Some(Waiter {
                    replies: Some(r),
                    seq,
                    part,
                    ..
                }) => r.deliver(seq, part, reply),
                Some(Waiter {
                    replies: None,
                    part,
                    ..
                }) => {
                    if reply.first() == Some(&b'-') {
                        let text = String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned();
                        if part == HANDSHAKE_AUTH {
                            // As nutcracker: the connection stays, and requests
                            // get the server's own NOAUTH errors; say why once.
                            tracing::warn!(
                                server = %self.spec.label,
                                "server rejected the pool's redis_auth ({text}); its requests will be refused by the server"
                            );
                            rbuf.advance(len);
                            continue;
                        }
                        return Err(Failure::broken(format!(
                            "server {} refused the connection setup (AUTH/HELLO/SELECT): {text}",
                            self.spec.label
                        )));
                    }
                }
                None => {
                    return Err(Failure::broken(format!(
                        "server {} sent a reply nobody asked for",
                        self.spec.label
                    )));
                }
            }
            rbuf.advance(len);
        }
    }

    /// Answers every queued request with an error and returns to idle, so the
    /// next request reconnects.
    ///
    /// A request none of whose bytes reached the server may be routed again,
    /// once, if the ring no longer sends its key here (the server was
    /// ejected). A request that may have reached the server is never replayed.
    fn fail_all(&self, message: &str) {
        let (waiting, unsent) = {
            let mut st = self.state.borrow_mut();
            st.status = Status::Idle;
            st.queued_bytes = 0;
            (
                std::mem::take(&mut st.waiting),
                std::mem::take(&mut st.wbuf),
            )
        };
        if waiting.is_empty() {
            return;
        }
        // The requests at the back whose bytes are all still unsent.
        let mut unsent_before = unsent.len();
        let mut first_unsent = waiting.len();
        for (i, p) in waiting.iter().enumerate().rev() {
            if p.len > unsent_before {
                break;
            }
            unsent_before -= p.len;
            first_unsent = i;
        }
        let mut err = BytesMut::new();
        encode::error(&mut err, &format!("ERR redshard: {message}"));
        let mut offset = unsent_before;
        let mut failed = 0u64;
        for (i, p) in waiting.into_iter().enumerate() {
            let waiter = if i >= first_unsent {
                let request = &unsent[offset..offset + p.len];
                offset += p.len;
                match self.route_again(p.waiter, request) {
                    Ok(()) => continue,
                    Err(w) => w,
                }
            } else {
                p.waiter
            };
            if let Some(r) = waiter.replies {
                failed += 1;
                r.deliver(waiter.seq, waiter.part, &err);
            }
        }
        self.count_forward_errors(failed);
    }

    /// Sends a never-written single-key request to the server the ring now
    /// gives its key; gives the waiter back when that is not possible.
    fn route_again(&self, waiter: Waiter, request: &[u8]) -> Result<(), Waiter> {
        if waiter.retried || waiter.part != WHOLE || waiter.replies.is_none() {
            return Err(waiter);
        }
        let Some(worker) = self.spec.worker.upgrade() else {
            return Err(waiter);
        };
        let snapshot = self.spec.pool.snapshot_arc();
        if snapshot.placement.is_live(self.spec.index) {
            // The ring still sends it here.
            return Err(waiter);
        }
        let mut framer = RequestFramer::new(FrameLimits::default());
        let Ok(Some(_)) = framer.next_frame(request) else {
            return Err(waiter);
        };
        let args = framer.args();
        let Some(spec) = command::lookup(&request[args[0].clone()]) else {
            return Err(waiter);
        };
        let Keys::At(p) = spec.keys else {
            return Err(waiter);
        };
        if spec.action != Action::Forward || args.len() <= p as usize {
            return Err(waiter);
        }
        let Some(server) = snapshot
            .placement
            .server_for(&request[args[p as usize].clone()])
        else {
            return Err(waiter);
        };
        if server == self.spec.index {
            return Err(waiter);
        }
        let proto = if self.spec.resp3 {
            Proto::Resp3
        } else {
            Proto::Resp2
        };
        let conn = worker.conn(&snapshot, server, waiter.seq, proto);
        conn.send(
            request,
            Waiter {
                retried: true,
                ..waiter
            },
        );
        Ok(())
    }
}

/// Answers one request with an error naming the server and the cause.
fn fail_one(waiter: Waiter, message: &str) {
    if let Some(r) = waiter.replies {
        let mut err = BytesMut::new();
        encode::error(&mut err, &format!("ERR redshard: {message}"));
        r.deliver(waiter.seq, waiter.part, &err);
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}
