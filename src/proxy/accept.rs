//! The accept loop at the file descriptor limit (EMFILE, ENFILE). There
//! the kernel has completed the client's connection and keeps it in the
//! listen backlog, and every accept fails until a descriptor is free:
//! retried at once it spins, retried on a timer it leaves the client
//! waiting with no answer.
//!
//! So the process keeps one descriptor in reserve (a spare open on
//! `/dev/null`, as libuv does): at the limit it closes the spare, accepts
//! the waiting client into the freed slot, tells it why (`-ERR redshard:
//! too many open files ...`; a TLS pool's client is only closed, as it
//! expects a handshake), closes it, and takes the spare again. Each round
//! answers one real client, so a backlog is drained at the rate clients
//! come and the loop then waits for the next one; nothing spins. Clients
//! already connected need no new descriptor and are served as before.
//! Should another thread take the freed slot first (another worker's
//! accept), the next client accepted anywhere is turned away to get the
//! spare back. The log lines are [`super::fd_episode`]'s.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::SockRef;

use super::error::ClientError;
use super::fd_episode;
use super::listen::{ClientStream, TokioListener};
use super::worker_pool::WorkerPool;
use crate::pool::counters::add;

/// The descriptor held in reserve for the process (workers are threads
/// sharing one descriptor table, so one spare serves them all).
static SPARE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// False while [`SPARE`] is given up or lost for want of a descriptor;
/// read without the lock on every accept.
static HELD: AtomicBool = AtomicBool::new(false);

fn spare() -> MutexGuard<'static, Option<std::fs::File>> {
    SPARE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the spare is held after [`take_back`].
#[derive(PartialEq, Eq)]
enum Taken {
    Held,
    /// No descriptor is free for it.
    Short,
    /// It cannot be opened for another reason (no `/dev/null` in a
    /// chroot): the process does without, said once, and no client is
    /// turned away to get it back.
    Without,
}

/// Opens the spare into `slot`, unless it is there.
fn take_back(slot: &mut Option<std::fs::File>) -> Taken {
    static WITHOUT: std::sync::Once = std::sync::Once::new();
    let taken = match slot {
        Some(_) => Taken::Held,
        None => match std::fs::File::open("/dev/null") {
            Ok(file) => {
                *slot = Some(file);
                Taken::Held
            }
            Err(e) if fd_episode::out_of_descriptors(&e) => Taken::Short,
            Err(e) => {
                WITHOUT.call_once(|| {
                    tracing::warn!(
                        "cannot open /dev/null as the spare descriptor ({e}): at the file \
                         descriptor limit, new clients will wait for a free descriptor \
                         instead of getting an error"
                    )
                });
                Taken::Without
            }
        },
    };
    // Accepts look no further unless there is a spare to take back.
    HELD.store(taken != Taken::Short, Ordering::Relaxed);
    taken
}

/// Takes the spare descriptor, if the process has none yet. Called when a
/// listener starts, so the spare exists before the limit is reached.
pub fn reserve() {
    take_back(&mut spare());
}

/// An error about the connection being accepted, not the listener: that
/// client is gone, the next one may be accepted at once.
fn that_connection_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::EPROTO)
}

/// The next client of `listener` to serve; the ones turned away meanwhile
/// were told why.
pub async fn next_client(pool: &WorkerPool, listener: &TokioListener) -> ClientStream {
    let mut wait = Duration::ZERO;
    loop {
        match listener.accept().await {
            Ok(client) => {
                if let Some(client) = accepted(pool, client) {
                    return client;
                }
                wait = Duration::ZERO;
            }
            Err(e) => {
                if failed(pool, listener, &e).await {
                    wait = Duration::ZERO;
                } else {
                    wait = (wait * 2).clamp(fd_episode::RETRY[0], fd_episode::RETRY_MAX);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// A client accepted on `pool`'s listener: `Some` to serve it. When the
/// spare was lost and no descriptor is free for it, this client's is the
/// one taken back: it is told why and closed.
#[inline]
fn accepted(pool: &WorkerPool, client: ClientStream) -> Option<ClientStream> {
    if !HELD.load(Ordering::Relaxed) {
        let mut slot = spare();
        if take_back(&mut slot) == Taken::Short {
            say_goodbye(pool, client);
            take_back(&mut slot);
            drop(slot);
            refused(pool, &io::Error::from_raw_os_error(libc::EMFILE));
            return None;
        }
    }
    fd_episode::accepted(&pool.runtime.name);
    Some(client)
}

/// A failed accept on `listener`: turns the waiting client away if the
/// error is the descriptor limit. `true` when the next accept may follow
/// at once.
async fn failed(pool: &WorkerPool, listener: &TokioListener, error: &io::Error) -> bool {
    if that_connection_only(error) {
        tracing::debug!(pool = %pool.runtime.name, "accept: a client left before it was accepted: {error}");
        return true;
    }
    let outcome = if fd_episode::out_of_descriptors(error) {
        std::future::poll_fn(|cx| Poll::Ready(turn_away(pool, listener, cx))).await
    } else {
        Spare::Useless
    };
    match outcome {
        // At the limit, accept fails before it looks for a client: nobody
        // was refused, and the listener now waits for the next one.
        Spare::NobodyWaiting => true,
        // A slot of the backlog emptied: the next accept finds the next
        // client or waits for one.
        Spare::TurnedAway => {
            refused(pool, error);
            true
        }
        Spare::Lost | Spare::Useless => {
            fd_episode::failed(&pool.runtime.name, error, false);
            false
        }
    }
}

/// Counts and logs a client turned away.
fn refused(pool: &WorkerPool, error: &io::Error) {
    add(&pool.runtime.stats.shard(pool.index).fd_refusals, 1);
    fd_episode::failed(&pool.runtime.name, error, true);
}

/// What giving up the spare descriptor did.
enum Spare {
    /// A waiting client was told and closed.
    TurnedAway,
    /// No client was waiting: the listener waits for the next one.
    NobodyWaiting,
    /// Another thread took the slot the spare freed.
    Lost,
    /// No spare to give up, or an error it cannot help with.
    Useless,
}

/// Gives up the spare to accept one waiting client, answers it with the
/// error and closes it, then takes the spare again.
fn turn_away(pool: &WorkerPool, listener: &TokioListener, cx: &mut Context<'_>) -> Spare {
    let mut slot = spare();
    // Lost earlier: taken back if a descriptor is free now.
    if take_back(&mut slot) != Taken::Held {
        return Spare::Useless;
    }
    HELD.store(false, Ordering::Relaxed);
    drop(slot.take());
    // Polled rather than awaited, so the spare is back before anything
    // else runs; `Pending` (nobody waiting) leaves the listener waiting
    // for the next client, as an accept that would block does.
    let outcome = match listener.poll_accept(cx) {
        Poll::Ready(Ok(client)) => {
            say_goodbye(pool, client);
            Spare::TurnedAway
        }
        Poll::Ready(Err(_)) => Spare::Lost,
        Poll::Pending => Spare::NobodyWaiting,
    };
    take_back(&mut slot);
    outcome
}

/// Tells a client the proxy is out of descriptors (a TLS pool's client
/// expects a handshake, not RESP: it is only closed), and closes it. Its
/// socket is non-blocking, so the worker never waits.
fn say_goodbye(pool: &WorkerPool, client: ClientStream) {
    let socket = match &client {
        ClientStream::Tcp(s) => SockRef::from(s),
        ClientStream::Unix(s) => SockRef::from(s),
        ClientStream::Tls(_) => return,
    };
    if pool.runtime.snapshot().config.listen_tls.is_none() {
        let mut text = bytes::BytesMut::new();
        ClientError::OutOfDescriptors.write(&mut text);
        let _ = (&*socket).write(&text);
    }
    // Unread input would make the close a reset, which may cost the client
    // the reply: read what it sent already.
    let mut sink = [0u8; 1024];
    let _ = (&*socket).read(&mut sink);
}
