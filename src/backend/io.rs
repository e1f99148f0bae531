//! Connecting, and the loop that writes everything queued in one write and
//! hands each complete reply to the oldest request.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::error::BackendError;
use super::queue::{Owner, Pending};
use super::{handshake, BackendConn, Status};
use crate::config::ServerAddr;
use crate::net::{read_chunk, yield_once, KEEP_CAPACITY};
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
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
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
            match self.connect_and_serve().await {
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

    async fn connect_and_serve(self: &Rc<Self>) -> Ended {
        let stream = match self.connect().await {
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
                self.serve(r, w).await
            }
            Stream::Unix(mut s) => {
                let (r, w) = s.split();
                self.serve(r, w).await
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

    async fn connect(&self) -> Result<Stream, BackendError> {
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
        let unreachable = |detail: String| BackendError::Unreachable {
            server: self.spec.label.clone(),
            detail,
        };
        match tokio::time::timeout(self.spec.connect_timeout, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "timed out after {} ms",
                self.spec.connect_timeout.as_millis()
            ))),
        }
    }

    async fn serve<R, W>(&self, reader: R, writer: W) -> Ended
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut sending = BytesMut::new();
        let ended = self.serve_io(reader, writer, &mut sending).await;
        // Whatever was not written goes back in front of the queue, so a
        // failure knows which requests never reached the server.
        self.state.borrow_mut().queue.restore_unwritten(sending);
        self.memory.set(self.state.borrow().queue.unsent_bytes());
        ended
    }

    async fn serve_io<R, W>(&self, mut reader: R, mut writer: W, sending: &mut BytesMut) -> Ended
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let chunk = read_chunk();
        let mut rbuf = BytesMut::with_capacity(chunk);
        let mut skipper = ReplySkipper::with_limit(self.spec.max_reply);
        // Fires when the oldest request's time is up; re-armed lazily.
        let idle = Duration::from_secs(3600);
        let timer = tokio::time::sleep(idle);
        tokio::pin!(timer);
        // Reply bytes handed to clients since this task last let others run.
        let mut handed = 0;
        loop {
            if handed >= HAND_OUT_SLICE {
                // A fast server can fill clients faster than they are
                // written to: let their sessions run (write, count what they
                // hold, close one over the memory bound) before more lands.
                handed = 0;
                yield_once().await;
            }
            if self.spec.timeout.is_some() {
                if let Some(deadline) = self.state.borrow().queue.first_deadline() {
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                }
            }
            if sending.is_empty() {
                let mut st = self.state.borrow_mut();
                st.queue.take_for_write(sending);
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
                written = writer.write_buf(sending), if !sending.is_empty() => {
                    match written {
                        Ok(n) => self.state.borrow_mut().queue.wrote(n),
                        Err(e) => return self.lost(self.io_error("writing to", e)),
                    }
                    if sending.is_empty() && sending.capacity() > KEEP_CAPACITY {
                        *sending = BytesMut::new();
                    }
                }
                _ = &mut timer, if self.spec.timeout.is_some() => {
                    let now = Instant::now();
                    let expired = self.state.borrow().queue.first_deadline().is_some_and(|d| d <= now);
                    if expired {
                        return Ended::Failed(BackendError::TimedOut {
                            server: self.spec.label.clone(),
                            ms: self.spec.timeout.unwrap_or_default().as_millis() as u64,
                        });
                    }
                    timer.as_mut().reset(now + idle);
                }
                _ = self.wake.notified(), if sending.is_empty() => {
                    // Gather the requests other clients queue in this round of
                    // I/O events into the same write.
                    yield_once().await;
                }
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
    /// fails with that reason; the others in flight with the reset of the
    /// connection, which is the only way past the reply.
    fn too_large(&self, limit: usize) -> BackendError {
        let server = self.spec.label.clone();
        let head = self.state.borrow_mut().queue.pop();
        if let Some(Pending {
            owner: Owner::Client(w),
            ..
        }) = head
        {
            let error = BackendError::TooLarge {
                server: server.clone(),
                limit,
            };
            add(&self.pool_counters().forward_error, 1);
            w.sink.failed(w.tag, &error, None);
        }
        BackendError::Reset {
            server,
            cause: "a reply before it was larger than max_reply_bytes",
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

    /// Hands every complete reply in `rbuf` to the oldest request.
    fn hand_out_replies(
        &self,
        rbuf: &mut BytesMut,
        skipper: &mut ReplySkipper,
    ) -> Result<(), BackendError> {
        loop {
            let len = match skipper.next_reply(rbuf) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(()),
                Err(ReplyError::TooLarge(limit)) => return Err(self.too_large(limit)),
                Err(e) => {
                    return Err(BackendError::Malformed {
                        server: self.spec.label.clone(),
                        detail: e.to_string(),
                    })
                }
            };
            let pending = {
                let mut st = self.state.borrow_mut();
                st.answered += 1;
                st.queue.pop()
            };
            let Some(pending) = pending else {
                return Err(BackendError::Stray {
                    server: self.spec.label.clone(),
                });
            };
            let c = self.counters();
            add(&c.responses, 1);
            add(&c.response_bytes, len as u64);
            c.observe_latency(pending.sent.elapsed().as_micros() as u64);
            let reply = &rbuf[..len];
            match pending.owner {
                Owner::Client(w) => {
                    // Only a reply to a request proves the server healthy: a
                    // handshake reply may be its refusal.
                    self.spec.health.success();
                    w.sink.reply(w.tag, reply)
                }
                Owner::Handshake(step) => handshake::check(&self.spec, step, reply)?,
            }
            rbuf.advance(len);
        }
    }
}
