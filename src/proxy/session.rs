//! A client session: read requests, frame them, dispatch each in order, and
//! write the replies back in request order as they become ready.
//!
//! Memory is bounded by construction: a request is taken only while the
//! client's account (replies queued, plus an estimate for each reply still to
//! come) is under its output limit and fewer than [`MAX_IN_FLIGHT`] requests
//! await replies; otherwise it waits in the input buffer, and the socket is
//! not read, until replies have been written. Where the estimate was wrong
//! and a client that does not read holds twice its limit (and three times
//! its largest reply), it is closed.

use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::client::Client;
use super::dispatch::{Dispatcher, Next};
use super::error::ClientError;
use super::hosted_call::Pause;
use super::listen::ClientStream;
use super::local::Peer;
use super::worker_pool::WorkerPool;
use crate::auth::Peer as LoginPeer;
use crate::command;
use crate::memory::{budget, LARGE_REQUEST};
use crate::net::{read_chunk, write_or_flush, yield_once, Flush, KEEP_CAPACITY};
use crate::pool::counters::{add, PoolCounters};
use crate::pool::Admission;
use crate::protocol::{FrameLimits, RequestFramer};

/// Requests of one client awaiting replies before the proxy takes no more.
pub const MAX_IN_FLIGHT: usize = 1024;

/// How long a client closed for the proxy's memory is given to take the
/// error that says so.
const TELL_EVICTED: std::time::Duration = std::time::Duration::from_millis(100);

/// Serves one client until it leaves or is closed; `admission` counts it
/// against the pool's `client_connections` until then.
pub async fn serve(conn: ClientStream, pool: Rc<WorkerPool>, admission: Admission) {
    let client_id = admission.id();
    let (peer, login_peer) = (conn.peer(), conn.login_peer());
    match conn {
        ClientStream::Tcp(mut s) => {
            let (r, w) = s.split();
            serve_io(r, w, Flush::Never, pool, client_id, peer, login_peer).await
        }
        ClientStream::Unix(mut s) => {
            let (r, w) = s.split();
            serve_io(r, w, Flush::Never, pool, client_id, peer, login_peer).await
        }
        ClientStream::Tls(s) => {
            let (r, w) = tokio::io::split(*s);
            serve_io(r, w, Flush::AfterWrites, pool, client_id, peer, login_peer).await
        }
    }
}

/// Where the session's input stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Reading.
    Open,
    /// The client sent EOF (or a read failed): what it sent is still served.
    Ended,
    /// QUIT or a protocol error: nothing more is served.
    Closed,
}

struct Session {
    /// Holds the next request, framed, while it waits to be taken.
    framer: RequestFramer,
    dispatcher: Dispatcher,
    client: Rc<Client>,
    inbuf: BytesMut,
    output_limit: usize,
    input: Input,
    /// The input holds no complete request (the last look needed more bytes).
    starved: bool,
    /// New pool snapshots: a subscriber's channels may have moved.
    changes: tokio::sync::watch::Receiver<u64>,
}

async fn serve_io<R, W>(
    mut reader: R,
    mut writer: W,
    flush: Flush,
    pool: Rc<WorkerPool>,
    client_id: u64,
    peer: Peer,
    login_peer: Option<LoginPeer>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (limits, output_limit) = {
        let snapshot = pool.runtime.snapshot();
        let limits = FrameLimits {
            max_request: snapshot.config.max_request_bytes,
            max_key: snapshot.config.max_key_bytes,
            ..FrameLimits::default()
        };
        (limits, snapshot.config.client_output_limit)
    };
    let runtime = pool.runtime.clone();
    let stats = runtime.stats.shard(pool.index);
    let client = Rc::new(Client::new(output_limit));
    let chunk = read_chunk();
    let mut s = Session {
        framer: RequestFramer::with_key_rule(limits, command::first_arg_is_key),
        dispatcher: Dispatcher::new(pool, client.clone(), client_id, peer, login_peer),
        client,
        inbuf: BytesMut::with_capacity(chunk),
        output_limit,
        input: Input::Open,
        starved: true,
        changes: runtime.changes(),
    };
    let mut sending = Bytes::new();
    // Written, but perhaps held back by the stream (TLS) until flushed.
    let mut unflushed = false;
    loop {
        s.work(sending.len(), stats);
        if s.client.queue.borrow().overflowed() {
            tracing::warn!(
                pool = %runtime.name,
                client = client_id,
                "client closed: it left more than twice client_output_limit ({output_limit} bytes), and three times its largest reply, unread"
            );
            add(&stats.client_err, 1);
            break;
        }
        if sending.is_empty() {
            sending = s.client.queue.borrow_mut().take_output();
            if sending.is_empty() && s.finished() {
                break;
            }
        }
        s.client
            .memory
            .set_input(s.inbuf.len() + s.framer.held_bytes() + sending.len());
        s.client.account_output();
        if s.client.memory.evicted() {
            tracing::warn!(
                pool = %runtime.name,
                client = client_id,
                max_memory = budget().limit(),
                "client closed: the proxy passed --max-memory and this client held the most"
            );
            add(&stats.client_err, 1);
            if sending.is_empty() {
                tell_evicted(&mut writer).await;
            }
            break;
        }
        let pause = s.dispatcher.hosted_pause();
        let pausing = pause.is_some();
        if s.inbuf.capacity() - s.inbuf.len() < chunk / 4 {
            s.inbuf.reserve(chunk);
        }
        tokio::select! {
            biased;
            written = write_or_flush(&mut writer, &mut sending), if !sending.is_empty() || unflushed => {
                match written {
                    Ok(wrote) => unflushed = wrote.is_some() && flush == Flush::AfterWrites,
                    Err(_) => {
                        add(&stats.client_err, 1);
                        break;
                    }
                }
            }
            read = reader.read_buf(&mut s.inbuf), if s.may_read(sending.len(), chunk) => {
                match read {
                    Ok(0) => {
                        add(&stats.client_eof, 1);
                        s.input = Input::Ended;
                    }
                    Err(_) => {
                        add(&stats.client_err, 1);
                        s.input = Input::Ended;
                    }
                    Ok(_) => {}
                }
            }
            _ = s.client.ready.notified() => {
                // Let the other servers' replies that arrived in the same
                // round of I/O events land first, so the client gets one
                // write (and one wake-up) instead of one per server. While a
                // write is under way, replies still wake the session: what
                // it holds is counted, and a client that does not read is
                // seen past its limits, at once.
                if sending.is_empty() {
                    yield_once().await;
                }
            }
            _ = pause_over(pause), if pausing => s.dispatcher.retry_hosted(),
            changed = s.changes.changed(), if s.dispatcher.subscribed() => {
                if changed.is_ok() && s.dispatcher.subscriber_misplaced() {
                    s.close_input();
                }
            }
            _ = s.client.memory.until_evicted() => {}
        }
    }
    drop(s);
    let _ = writer.shutdown().await;
}

/// Tells a client closed for the proxy's memory why, between replies (a
/// client that reads, e.g. one sending a huge request, learns it), within a
/// moment or not at all.
async fn tell_evicted<W: AsyncWrite + Unpin>(writer: &mut W) {
    let mut why = BytesMut::new();
    ClientError::Evicted {
        limit: budget().limit(),
    }
    .write(&mut why);
    let _ = tokio::time::timeout(TELL_EVICTED, writer.write_all(&why)).await;
}

async fn pause_over(pause: Option<Pause>) {
    if let Some(pause) = pause {
        pause.over().await
    }
}

impl Drop for Session {
    /// Replies still to come are dropped as they arrive, whether the session
    /// ended or a panic unwound it. (`try_`: a panic while the queue was
    /// borrowed must not become a second one.)
    fn drop(&mut self) {
        if let Ok(mut queue) = self.client.queue.try_borrow_mut() {
            queue.close();
        }
        self.client.memory.set_input(0);
        self.client.memory.set_output(0);
    }
}

impl Session {
    /// Everything that can move without waiting: requests handed back by a
    /// failed connection, the hosted call's progress, then new requests.
    fn work(&mut self, writing: usize, stats: &PoolCounters) {
        if self.dispatcher.pump_subscriber() {
            add(&stats.client_err, 1);
            self.close_input();
        }
        self.dispatcher.route_returned();
        self.dispatcher.advance_hosted(self.input != Input::Open);
        if self.input != Input::Open {
            self.dispatcher.client_left();
        }
        // A drained connection goes as soon as its last reply is in, not at
        // the client's next request: it holds one of a bounded few.
        self.dispatcher.release_owned();
        if self.input != Input::Closed {
            self.take_requests(writing, stats);
        }
    }

    /// Frames and dispatches the requests in the input buffer, in order, as
    /// long as the client's account allows.
    fn take_requests(&mut self, writing: usize, stats: &PoolCounters) {
        self.starved = false;
        loop {
            if self.over_limits(writing) {
                return;
            }
            // A held request comes back from the framer as it was framed.
            let req = match self.framer.next_frame(&self.inbuf) {
                Ok(Some(req)) => req,
                Ok(None) => {
                    self.starved = true;
                    // Empty lines with nothing after them yet: skipped, as
                    // Redis skips them, so they take no memory.
                    self.inbuf.advance(self.framer.take_blank());
                    if !self.client.memory.may_grow(self.inbuf.len()) {
                        add(&stats.client_err, 1);
                        let error = ClientError::MemoryLimit {
                            limit: budget().limit(),
                        };
                        self.client.push_error(&error);
                        return self.close_input();
                    }
                    return;
                }
                Err(e) => {
                    add(&stats.client_err, 1);
                    self.client.push_error(&ClientError::Protocol(e));
                    return self.close_input();
                }
            };
            let len = req.wire_len();
            match self.dispatcher.dispatch(&req) {
                Next::Continue => self.inbuf.advance(len),
                Next::Hold => return self.framer.hold(),
                Next::Close => return self.close_input(),
            }
            if self.inbuf.is_empty() {
                // Idle: give back what a large request took.
                self.framer.shrink();
                if self.inbuf.capacity() > KEEP_CAPACITY {
                    self.inbuf = BytesMut::with_capacity(read_chunk());
                }
            }
        }
    }

    /// Whether the client must wait before its next request is taken: it
    /// has many in flight, its replies (queued and to come) reach its output
    /// limit, or the proxy is over its memory bound and this client already
    /// holds or awaits a large share (a small one goes on undisturbed).
    fn over_limits(&self, writing: usize) -> bool {
        let q = self.client.queue.borrow();
        let accounted = writing + q.accounted();
        q.pending() >= MAX_IN_FLIGHT
            || accounted >= self.output_limit
            || (accounted >= LARGE_REQUEST && budget().over())
    }

    fn close_input(&mut self) {
        self.input = Input::Closed;
        self.starved = true;
        self.framer.clear();
        self.inbuf.clear();
    }

    /// Whether to read more: not while a request waits for the account to
    /// allow it (the client's own backpressure); while one waits for order
    /// (a hosted call, a drain), a little, so a client that leaves is seen.
    fn may_read(&self, writing: usize, chunk: usize) -> bool {
        if self.input != Input::Open || self.over_limits(writing) {
            return false;
        }
        if self.framer.holding() {
            self.dispatcher.hosting() && self.inbuf.len() < 4 * chunk
        } else {
            true
        }
    }

    /// Nothing more will be read and everything due has been answered.
    fn finished(&self) -> bool {
        let nothing_left = match self.input {
            Input::Open => false,
            Input::Closed => true,
            Input::Ended => !self.framer.holding() && self.starved,
        };
        nothing_left && self.dispatcher.idle() && self.client.queue.borrow().pending() == 0
    }
}
