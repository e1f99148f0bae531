//! A client session: read requests, frame them, dispatch each, and write the
//! replies back in request order as they become ready.

use std::rc::Rc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::dispatch::{Dispatcher, Next};
use super::listen::ClientStream;
use super::replies::{ClientReplies, Replies};
use super::worker::WorkerPool;
use crate::protocol::{command, encode, FrameLimits, RequestFramer};
use crate::stats::counters::{add, PoolCounters};

/// Requests of one client waiting for their replies before the proxy stops
/// reading more from it: with `client_output_limit` this bounds what a client
/// that does not read can make the proxy hold.
const MAX_IN_FLIGHT: usize = 1024;
/// A buffer grown past this by a burst is given back once drained.
const KEEP_CAPACITY: usize = 1 << 20;

pub async fn serve(conn: ClientStream, pool: Rc<WorkerPool>, client_id: u64) {
    match conn {
        ClientStream::Tcp(mut s) => {
            let (r, w) = s.split();
            serve_io(r, w, pool, client_id).await
        }
        ClientStream::Unix(mut s) => {
            let (r, w) = s.split();
            serve_io(r, w, pool, client_id).await
        }
    }
}

async fn serve_io<R, W>(mut reader: R, mut writer: W, pool: Rc<WorkerPool>, client_id: u64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let replies: Replies = Rc::new(ClientReplies::default());
    let (limits, output_limit) = {
        let snapshot = pool.runtime.snapshot();
        let limits = FrameLimits {
            max_request: snapshot.config.max_request_bytes,
            max_key: snapshot.config.max_key_bytes,
            ..FrameLimits::default()
        };
        (limits, snapshot.config.client_output_limit)
    };
    let mut framer = RequestFramer::with_key_rule(limits, command::first_arg_is_key);
    let runtime = pool.runtime.clone();
    let stats = runtime.stats.shard(pool.index);
    let mut dispatcher = Dispatcher::new(pool, replies.clone(), client_id);
    let read_chunk = super::read_chunk();
    let mut inbuf = BytesMut::with_capacity(read_chunk);
    let mut sending = BytesMut::new();
    // Stop reading: QUIT, a protocol error, or the client's EOF. Replies
    // already due are still written.
    let mut closing = false;
    loop {
        if sending.is_empty() {
            replies.take_output(&mut sending);
            if closing && sending.is_empty() && replies.pending() == 0 {
                break;
            }
        }
        if inbuf.capacity() - inbuf.len() < read_chunk / 4 {
            inbuf.reserve(read_chunk);
        }
        tokio::select! {
            biased;
            written = writer.write_buf(&mut sending), if !sending.is_empty() => {
                if written.is_err() {
                    add(&stats.client_err, 1);
                    break;
                }
                if sending.is_empty() && sending.capacity() > KEEP_CAPACITY {
                    sending = BytesMut::new();
                }
            }
            // A client that does not read its replies is not read either,
            // once they pass the limits: memory stays bounded.
            read = reader.read_buf(&mut inbuf), if !closing
                && replies.pending() < MAX_IN_FLIGHT
                && sending.len() + replies.buffered() < output_limit => {
                match read {
                    Ok(0) => {
                        add(&stats.client_eof, 1);
                        closing = true;
                    }
                    Err(_) => {
                        add(&stats.client_err, 1);
                        closing = true;
                    }
                    Ok(_) => {
                        closing = handle_requests(&mut inbuf, &mut framer, &mut dispatcher, stats);
                        if inbuf.is_empty() && inbuf.capacity() > KEEP_CAPACITY {
                            inbuf = BytesMut::with_capacity(read_chunk);
                        }
                    }
                }
            }
            _ = replies.ready.notified(), if sending.is_empty() => {
                // Let the other servers' replies that arrived in the same
                // round of I/O events land first, so the client gets one
                // write (and one wake-up) instead of one per server.
                crate::proxy::yield_once().await;
            }
        }
    }
    replies.close();
    let _ = writer.shutdown().await;
}

/// Frames and dispatches every complete request in `inbuf`. True when the
/// session should stop reading (QUIT or a protocol error).
fn handle_requests(
    inbuf: &mut BytesMut,
    framer: &mut RequestFramer,
    dispatcher: &mut Dispatcher,
    stats: &PoolCounters,
) -> bool {
    loop {
        match framer.next_frame(inbuf) {
            Ok(None) => return false,
            Ok(Some(frame)) => {
                let next = dispatcher.dispatch(&inbuf[..frame.len], framer.args(), frame.inline);
                inbuf.advance(frame.len);
                if next == Next::Close {
                    inbuf.clear();
                    return true;
                }
            }
            Err(e) => {
                add(&stats.client_err, 1);
                dispatcher
                    .replies()
                    .push_local(|out| encode::error(out, &format!("ERR Protocol error: {e}")));
                inbuf.clear();
                return true;
            }
        }
    }
}
