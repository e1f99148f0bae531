//! Socket-level rhythm shared by the client and the server side: how much one
//! read takes, when a grown buffer is given back, and how one round of I/O
//! events is gathered into one write.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Size of each read from a socket (`-m`, nutcracker's mbuf size).
static READ_CHUNK: AtomicUsize = AtomicUsize::new(16 * 1024);

/// A buffer grown past this by a burst is given back once drained.
pub const KEEP_CAPACITY: usize = 1 << 20;

pub fn set_read_chunk(bytes: usize) {
    READ_CHUNK.store(bytes.clamp(512, 16 << 20), Ordering::Relaxed);
}

pub fn read_chunk() -> usize {
    READ_CHUNK.load(Ordering::Relaxed)
}

/// Lets every task already woken run first, then continues: used to gather
/// the work of one round of events into one write. (Not `tokio::task::
/// yield_now`, whose deferred wake-up goes through the runtime's park step;
/// this one simply re-queues the task behind the others.)
pub async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// Whether a stream needs flushing after writes. A TLS stream may accept
/// bytes, encrypt them and keep the records the socket did not take (it
/// was full) until it is written to or flushed again: without a flush, a
/// reply could wait there for the next one. A plain socket holds nothing
/// back, so its I/O loop skips the extra step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    Never,
    AfterWrites,
}

/// Writes some of `out` (`Some(bytes written)`) or, when it is all
/// written, flushes `w` (`None`). One future for both, so an I/O loop's
/// `select!` borrows its writer once. Cancel-safe, as `write_buf` and
/// `flush` are.
pub async fn write_or_flush<W, B>(w: &mut W, out: &mut B) -> std::io::Result<Option<usize>>
where
    W: tokio::io::AsyncWrite + Unpin,
    B: bytes::Buf,
{
    use tokio::io::AsyncWriteExt;
    if out.has_remaining() {
        w.write_buf(out).await.map(Some)
    } else {
        w.flush().await.map(|()| None)
    }
}
