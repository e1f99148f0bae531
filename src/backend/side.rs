//! One request on a short-lived connection of its own, beside the pipelined
//! one, for what must overtake the requests queued there. SCRIPT KILL and
//! FUNCTION KILL must reach a server whose pipelined connection is stuck
//! behind the very script they stop (Redis reads nothing more from the
//! connection that sent a script until the script ends); the busy probe
//! asks a server whether it is running a script. Nothing here touches the
//! server's health: a side request is a question, not the pool's traffic.

use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::connect::{connect, Stream};
use super::error::BackendError;
use super::{handshake, BackendConn, BackendSpec, Waiter};
use crate::pool::counters::add;
use crate::protocol::{ReplyError, ReplySkipper};

/// How long a side request may take when the pool sets no `timeout`: longer
/// than Redis's default busy-reply-threshold (5 s), before which a server
/// running a script reads no command at all, SCRIPT KILL included.
pub const DEFAULT_SIDE_TIMEOUT: Duration = Duration::from_secs(10);

impl BackendConn {
    /// Sends the request that `write` encodes to this connection's server
    /// on a short-lived connection of its own, ahead of everything queued
    /// here; its reply or failure goes to `waiter`. Bounded by the pool's
    /// `timeout`, or by [`DEFAULT_SIDE_TIMEOUT`] when it sets none.
    pub fn send_aside(self: &Rc<Self>, write: impl FnOnce(&mut BytesMut), waiter: Waiter) {
        let conn = Rc::clone(self);
        let mut request = BytesMut::new();
        write(&mut request);
        tokio::task::spawn_local(async move {
            let spec = &conn.spec;
            let limit = spec.timeout.unwrap_or(DEFAULT_SIDE_TIMEOUT);
            let outcome = tokio::time::timeout(limit, request_aside(spec, &request))
                .await
                .unwrap_or_else(|_| {
                    Err(BackendError::TimedOut {
                        server: spec.label.clone(),
                        ms: limit.as_millis() as u64,
                    })
                });
            match outcome {
                Ok(reply) => waiter.sink.reply(waiter.tag, &reply),
                Err(error) => {
                    add(&conn.pool_counters().forward_error, 1);
                    waiter.sink.failed(waiter.tag, &error, None);
                }
            }
        });
    }
}

/// Connects, authenticates with the pool's `redis_auth`, sends `request` and
/// returns its reply; the connection closes after it.
pub(super) async fn request_aside(
    spec: &BackendSpec,
    request: &[u8],
) -> Result<Bytes, BackendError> {
    match connect(spec).await? {
        Stream::Tcp(mut s) => exchange(spec, &mut s, request).await,
        Stream::Unix(mut s) => exchange(spec, &mut s, request).await,
        Stream::Tls(mut s) => exchange(spec, &mut *s, request).await,
    }
}

async fn exchange<S>(
    spec: &BackendSpec,
    stream: &mut S,
    request: &[u8],
) -> Result<Bytes, BackendError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server = || spec.label.clone();
    let io = |op, e: std::io::Error| BackendError::Io {
        server: server(),
        op,
        detail: e.to_string(),
    };
    let (mut out, steps) = handshake::build_side(spec);
    out.extend_from_slice(request);
    stream
        .write_all(&out)
        .await
        .map_err(|e| io("writing to", e))?;
    // TLS may hold back what the socket did not take.
    stream.flush().await.map_err(|e| io("writing to", e))?;
    let mut steps = steps.into_iter().map(|(step, _)| step);
    let mut skipper = ReplySkipper::with_limit(spec.max_reply);
    let mut buf = BytesMut::new();
    loop {
        match skipper.next_reply(&buf) {
            Ok(Some(len)) => {
                let reply = buf.split_to(len).freeze();
                match steps.next() {
                    Some(step) => handshake::check(spec, step, &reply)?,
                    None => return Ok(reply),
                }
            }
            Ok(None) => {
                let read = stream.read_buf(&mut buf).await;
                if read.map_err(|e| io("reading from", e))? == 0 {
                    return Err(BackendError::Closed { server: server() });
                }
            }
            Err(ReplyError::TooLarge(limit)) => {
                return Err(BackendError::TooLarge {
                    server: server(),
                    limit,
                })
            }
            Err(e) => {
                return Err(BackendError::Malformed {
                    server: server(),
                    detail: e.to_string(),
                })
            }
        }
    }
}
