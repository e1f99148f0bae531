//! Connecting, and the loop that writes everything queued in one write and
//! hands each complete reply to the oldest request.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;

use super::busy::{self, BusyWatch};
use super::connect::{connect, Stream};
use super::error::BackendError;
use super::follow::HOLD_POLL;
use super::queue::{Owner, Pending};
use super::{handshake, side, BackendConn, Status};
use crate::net::{read_chunk, write_or_flush, yield_once, Flush, KEEP_CAPACITY};
use crate::pool::counters::{add, gauge_add};
use crate::protocol::{ReplyError, ReplySkipper};

/// Reply bytes read before the connection's task lets the clients' run.
const HAND_OUT_SLICE: usize = 1 << 20;

/// How a connection ended.
enum Ended {
    /// Retired by a reload, after its last reply.
    Retired,
    /// The server closed it (or reset it) with nothing written awaiting a
    /// reply: Redis's own idle `timeout`, a restart between requests. Not a
    /// failure; whatever is queued goes out on a new connection.
    Quiet,
    Failed(BackendError),
    /// A dedicated connection its owner let go of.
    Dropped,
}

impl BackendConn {
    /// The connection's task: connects, serves until the connection ends,
    /// and reconnects at once when it ended quietly with requests queued.
    pub(super) async fn run(self: Rc<Self>) {
        // A server that closes every new connection before answering anything
        // would have us reconnect in a loop: the second such close in a row
        // is a failure.
        let mut quiet_unanswered = 0;
        loop {
            let answered = self.state.borrow().answered;
            let ended = self.connect_and_serve().await;
            if self.spec.dedicated {
                self.end_dedicated(ended);
                return;
            }
            match ended {
                Ended::Dropped => break,
                Ended::Retired => {
                    tracing::debug!(server = %self.spec.label, "retired connection closed after its last reply");
                    break;
                }
                Ended::Quiet => {
                    add(&self.counters().server_eof, 1);
                    tracing::debug!(server = %self.spec.label, "server closed an idle connection");
                    self.state.borrow_mut().queue.drop_unsent_handshake();
                    if self.state.borrow().queue.is_empty() {
                        break;
                    }
                    if self.state.borrow().answered == answered {
                        quiet_unanswered += 1;
                        if quiet_unanswered > 1 {
                            self.fail(BackendError::Unanswered {
                                server: self.spec.label.clone(),
                            });
                            break;
                        }
                    } else {
                        quiet_unanswered = 0;
                    }
                }
                Ended::Failed(error) => {
                    self.fail(error);
                    break;
                }
            }
        }
        self.state.borrow_mut().status = Status::Idle;
        self.memory.set(self.state.borrow().queue.unsent_bytes());
    }

    /// A dedicated connection is opened once: whatever ended it, what its
    /// client set up on it is gone, and the client is told (unless it let
    /// go itself).
    fn end_dedicated(&self, ended: Ended) {
        let error = match ended {
            Ended::Dropped => None,
            Ended::Failed(e) => Some(e),
            Ended::Retired | Ended::Quiet => Some(BackendError::DedicatedLost {
                server: self.spec.label.clone(),
            }),
        };
        {
            let mut st = self.state.borrow_mut();
            st.lost = true;
            st.status = Status::Idle;
        }
        match error {
            Some(e) => {
                self.fail(e.clone());
                if let Some(listener) = self.listener.borrow_mut().take() {
                    listener.sink.failed(listener.tag, &e, None);
                }
            }
            None => {
                let lost = BackendError::DedicatedLost {
                    server: self.spec.label.clone(),
                };
                self.fail_quietly(&lost);
            }
        }
        self.memory.set(0);
    }

    async fn connect_and_serve(self: &Rc<Self>) -> Ended {
        let stream = match connect(&self.spec).await {
            Ok(s) => s,
            Err(e) => return Ended::Failed(e),
        };
        self.state.borrow_mut().queue.reset_cursor();
        let (bytes, steps) = handshake::build(&self.spec);
        if !steps.is_empty() {
            self.state.borrow_mut().queue.push_front(bytes, &steps);
        }
        let c = self.counters();
        gauge_add(&c.server_connections, 1);
        let ended = match stream {
            Stream::Tcp(mut s) => {
                let (r, w) = s.split();
                self.serve(r, w, Flush::Never).await
            }
            Stream::Unix(mut s) => {
                let (r, w) = s.split();
                self.serve(r, w, Flush::Never).await
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                self.serve(r, w, Flush::AfterWrites).await
            }
        };
        gauge_add(&c.server_connections, -1);
        for g in [
            &c.in_queue,
            &c.in_queue_bytes,
            &c.out_queue,
            &c.out_queue_bytes,
        ] {
            g.store(0, Ordering::Relaxed);
        }
        ended
    }

    async fn serve<R, W>(&self, reader: R, writer: W, flush: Flush) -> Ended
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut sending = BytesMut::new();
        let ended = self.serve_io(reader, writer, flush, &mut sending).await;
        // Whatever was not written goes back in front of the queue, so a
        // failure knows which requests never reached the server.
        let mut st = self.state.borrow_mut();
        st.queue.restore_unwritten(sending);
        // A new socket is not stuck behind any script.
        st.busy = None;
        let unsent = st.queue.unsent_bytes();
        drop(st);
        self.memory.set(unsent);
        ended
    }

    async fn serve_io<R, W>(
        &self,
        mut reader: R,
        mut writer: W,
        flush: Flush,
        sending: &mut BytesMut,
    ) -> Ended
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let chunk = read_chunk();
        let mut rbuf = BytesMut::with_capacity(chunk);
        let mut skipper = ReplySkipper::with_limit(self.spec.max_reply);
        let mut watch = BusyWatch::new();
        // Fires when the oldest request's time is up, or a busy probe is due;
        // re-armed lazily.
        let idle = Duration::from_secs(3600);
        let timer = tokio::time::sleep(idle);
        tokio::pin!(timer);
        // Reply bytes handed to clients since this task last let others run.
        let mut handed = 0;
        // Written, but perhaps held back by the stream (TLS) until flushed.
        let mut unflushed = false;
        // When the server last sent anything: the timeout measures its
        // silence, not the queue ahead of a request (see `next_check`).
        let mut heard = None;
        loop {
            if handed >= HAND_OUT_SLICE {
                // A fast server can fill clients faster than they are
                // written to: let their sessions run (write, count what they
                // hold, close one over the memory bound) before more lands.
                handed = 0;
                yield_once().await;
            }
            if let Some(at) = self.next_check(&mut watch, heard) {
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
            }
            if self.state.borrow().closing {
                return Ended::Dropped;
            }
            let holding = self.follow(sending);
            if sending.is_empty() {
                let mut st = self.state.borrow_mut();
                if !holding {
                    st.queue.take_for_write(sending);
                }
                if st.retiring && sending.is_empty() && st.queue.is_empty() {
                    return Ended::Retired;
                }
            }
            self.update_queue_gauges(sending.len());
            let held = self.state.borrow().queue.unsent_bytes() + sending.len() + rbuf.len();
            if self.memory.set(held) {
                crate::memory::budget().enforce();
            }
            if rbuf.capacity() - rbuf.len() < chunk / 4 {
                rbuf.reserve(chunk);
            }
            tokio::select! {
                biased;
                read = reader.read_buf(&mut rbuf) => {
                    match read {
                        Ok(0) => return self.lost(BackendError::Closed { server: self.spec.label.clone() }),
                        Ok(n) => {
                            handed += n;
                            if self.spec.timeout.is_some() {
                                heard = Some(Instant::now());
                            }
                            if let Err(e) = self.hand_out_replies(&mut rbuf, &mut skipper) {
                                return Ended::Failed(e);
                            }
                        }
                        Err(e) => return self.lost(self.io_error("reading from", e)),
                    }
                    if rbuf.is_empty() && rbuf.capacity() > KEEP_CAPACITY {
                        rbuf = BytesMut::with_capacity(chunk);
                    }
                }
                written = write_or_flush(&mut writer, sending), if !sending.is_empty() || unflushed => {
                    match written {
                        Ok(Some(n)) => {
                            self.state.borrow_mut().queue.wrote(n);
                            unflushed = flush == Flush::AfterWrites;
                        }
                        Ok(None) => unflushed = false,
                        Err(e) => return self.lost(self.io_error("writing to", e)),
                    }
                    if sending.is_empty() && sending.capacity() > KEEP_CAPACITY {
                        *sending = BytesMut::new();
                    }
                }
                _ = &mut timer => {
                    if let Some(ended) = self.on_timer(&mut watch, heard) {
                        return ended;
                    }
                    timer.as_mut().reset(Instant::now() + idle);
                }
                (head, answer) = watch.answer(), if watch.running() => {
                    self.on_probe_answer(&mut watch, head, answer);
                }
                // Writes held while Sentinel promotes a replica: look again
                // shortly whether the hold ended or the master moved.
                _ = tokio::time::sleep(HOLD_POLL), if holding => {}
                _ = self.wake.notified(), if sending.is_empty() => {
                    // Gather the requests other clients queue in this round of
                    // I/O events into the same write.
                    yield_once().await;
                }
            }
        }
    }

    /// When the timer fires next: the oldest request's deadline, or, when
    /// the pool sets no `timeout`, the next busy probe.
    ///
    /// On a shared connection the deadline is never sooner than `timeout`
    /// after the server last sent anything: replies come in order, so a
    /// request queued behind large replies (another client's pipeline of
    /// big values, which that client may never read) waits while the server
    /// is busy answering, and a server that keeps answering has not failed.
    /// Counting that wait against it ejected healthy servers.
    fn next_check(&self, watch: &mut BusyWatch<'_>, heard: Option<Instant>) -> Option<Instant> {
        let st = self.state.borrow();
        if self.spec.dedicated {
            return st.queue.first_deadline();
        }
        if let Some(timeout) = self.spec.timeout {
            let first = st.queue.first_deadline()?;
            return Some(heard.map_or(first, |h| first.max(h + timeout)));
        }
        watch.forget_unless_about(st.answered);
        if st.busy.is_some() {
            return None;
        }
        watch.due(st.queue.oldest_awaiting())
    }

    /// The timer fired: the oldest request timed out, or a busy probe is due.
    fn on_timer<'a>(&'a self, watch: &mut BusyWatch<'a>, heard: Option<Instant>) -> Option<Ended> {
        let now = Instant::now();
        let st = self.state.borrow();
        if let (Some(timeout), Some(heard), false) = (self.spec.timeout, heard, self.spec.dedicated)
        {
            if now < heard + timeout {
                return None;
            }
        }
        if self.spec.timeout.is_some() || self.spec.dedicated {
            return st.queue.first_expired(now).map(|ms| {
                Ended::Failed(BackendError::TimedOut {
                    server: self.spec.label.clone(),
                    ms,
                })
            });
        }
        if st.busy.is_some() {
            return None;
        }
        if let Some(text) = watch.confirmed(st.answered, now) {
            drop(st);
            self.mark_busy(text);
        } else if watch
            .due(st.queue.oldest_awaiting())
            .is_some_and(|d| d <= now)
        {
            watch.start(
                st.answered,
                Box::pin(side::request_aside(&self.spec, busy::PROBE)),
            );
        }
        None
    }

    /// What the busy probe about request `head` found.
    fn on_probe_answer(
        &self,
        watch: &mut BusyWatch<'_>,
        head: u64,
        answer: Result<Bytes, BackendError>,
    ) {
        let text = match answer {
            Ok(reply) => busy::busy_text(&reply),
            Err(e) => {
                tracing::debug!(server = %self.spec.label, "busy probe: {e}");
                None
            }
        };
        if let Some(text) = text {
            if self.state.borrow().answered == head {
                watch.saw_busy(head, text);
            }
        }
    }

    /// The connection is gone: a failure if a request written to it awaits
    /// its reply (it may have run), else a quiet end.
    fn lost(&self, error: BackendError) -> Ended {
        if self.state.borrow().queue.awaiting() == 0 {
            Ended::Quiet
        } else {
            Ended::Failed(error)
        }
    }

    /// The oldest request's reply is over `max_reply_bytes`: that request
    /// alone fails, with that reason; the reply is discarded as it streams
    /// past and the requests behind it get their own replies.
    fn too_large(&self, limit: usize) -> Result<(), BackendError> {
        let server = self.spec.label.clone();
        let head = self.state.borrow_mut().pop_answered();
        match head {
            Some(Pending {
                owner: Owner::Client(w),
                ..
            }) => {
                self.spec.health.success();
                add(&self.counters().responses, 1);
                add(&self.pool_counters().forward_error, 1);
                w.sink
                    .failed(w.tag, &BackendError::TooLarge { server, limit }, None);
                Ok(())
            }
            Some(Pending {
                owner: Owner::Abandoned,
                ..
            }) => Ok(()),
            // A handshake reply over the limit (a tiny max_reply_bytes): the
            // connection cannot be set up as the pool says.
            Some(_) => Err(BackendError::Reset {
                server,
                cause: "a handshake reply was larger than max_reply_bytes",
            }),
            None => Err(BackendError::Stray { server }),
        }
    }

    fn malformed(&self, e: ReplyError) -> BackendError {
        BackendError::Malformed {
            server: self.spec.label.clone(),
            detail: e.to_string(),
        }
    }

    fn io_error(&self, op: &'static str, e: std::io::Error) -> BackendError {
        BackendError::Io {
            server: self.spec.label.clone(),
            op,
            detail: e.to_string(),
        }
    }

    fn update_queue_gauges(&self, unwritten: usize) {
        let g = self.state.borrow().queue.gauges(unwritten);
        let c = self.counters();
        let set = |a: &std::sync::atomic::AtomicI64, v: usize| a.store(v as i64, Ordering::Relaxed);
        set(&c.in_queue, g.in_queue);
        set(&c.in_queue_bytes, g.in_queue_bytes);
        set(&c.out_queue, g.out_queue);
        set(&c.out_queue_bytes, g.out_queue_bytes);
    }

    /// Hands every complete reply in `rbuf` to the oldest request; drops
    /// what arrived of a reply being discarded.
    fn hand_out_replies(
        &self,
        rbuf: &mut BytesMut,
        skipper: &mut ReplySkipper,
    ) -> Result<(), BackendError> {
        let mut now = None;
        loop {
            if skipper.discarding() {
                let d = skipper.discard(rbuf).map_err(|e| self.malformed(e))?;
                add(&self.counters().response_bytes, d.consumed as u64);
                rbuf.advance(d.consumed);
                if !d.ended {
                    return Ok(());
                }
                continue;
            }
            let len = match skipper.next_reply(rbuf) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(()),
                Err(ReplyError::TooLarge(limit)) => {
                    self.too_large(limit)?;
                    continue;
                }
                Err(e) => return Err(self.malformed(e)),
            };
            if !self.state.borrow().queue.head_is_handshake() {
                if let Some(listener) = self.listener.borrow().as_ref() {
                    let c = self.counters();
                    add(&c.responses, 1);
                    add(&c.response_bytes, len as u64);
                    listener.sink.reply(listener.tag, &rbuf[..len]);
                    rbuf.advance(len);
                    continue;
                }
                if self.state.borrow().closing {
                    // The owner let go (a subscriber's listener is gone with
                    // it): what is still coming is nobody's, not a stray.
                    rbuf.clear();
                    return Ok(());
                }
            }
            let pending = self.state.borrow_mut().pop_answered();
            let Some(pending) = pending else {
                return Err(BackendError::Stray {
                    server: self.spec.label.clone(),
                });
            };
            let c = self.counters();
            add(&c.responses, 1);
            add(&c.response_bytes, len as u64);
            // One clock read for all the replies of one read.
            let now = *now.get_or_insert_with(Instant::now);
            let took = now.saturating_duration_since(pending.sent);
            c.observe_latency(took.as_micros() as u64);
            let reply = &rbuf[..len];
            match pending.owner {
                Owner::Client(w) => {
                    // Only a reply to a request proves the server healthy: a
                    // handshake reply may be its refusal.
                    self.spec.health.success();
                    self.note_reply(reply);
                    if self.spec.cluster && reply.starts_with(b"-MOVED ") {
                        // The slot map is out of date, whoever the reply
                        // is for (one followed, or a transaction's).
                        self.spec.pool.cluster_maps.want();
                    }
                    match &pending.copy {
                        Some(request) if self.spec.cluster && is_redirect(reply) => {
                            w.sink.redirected(w.tag, reply, request)
                        }
                        _ => w.sink.reply(w.tag, reply),
                    }
                }
                Owner::Handshake(step) => handshake::check(&self.spec, step, reply)?,
                // Already answered: it waited behind a busy script.
                Owner::Abandoned => {}
            }
            rbuf.advance(len);
        }
    }
}

/// A cluster node's reply that asks for the request to be sent again:
/// `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN` (one byte looked at for every
/// other reply).
#[inline]
fn is_redirect(reply: &[u8]) -> bool {
    reply.first() == Some(&b'-')
        && (crate::cluster::Redirect::parse(reply).is_some()
            || crate::cluster::redirect::is_transient(reply))
}
