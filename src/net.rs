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
