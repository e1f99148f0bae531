//! A connection one client owns: for a transaction (MULTI ... EXEC on the
//! server of its keys), a subscriber (its channels' servers), or a blocking
//! call (BLPOP waits on the server without stalling anybody else).
//!
//! Bounded per server, all workers together (`max_dedicated_connections`):
//! when all are taken a client gets a clear error at once rather than a
//! wait. Dropping the handle closes the connection, whatever is in flight
//! on it: Redis then discards a transaction, forgets a subscriber and
//! unblocks a blocked call. A connection its client left clean (EXEC's or
//! the blocking call's reply in, every subscription confirmed gone) is
//! [recycled](Dedicated::recycle) instead: the worker keeps a few, idle, for
//! the next client, so a worker looping on BRPOP or MULTI does not open a
//! connection (and send its handshake) per call.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BackendConn, BackendError, BackendSpec};
use crate::pool::ServerHealth;

/// Idle connections kept per server and protocol, by each worker.
const IDLE_PER_SERVER: usize = 4;

/// An idle connection older than this is closed rather than used: a server
/// with an idle `timeout` may be about to close it.
const IDLE_MAX_AGE: Duration = Duration::from_secs(10);

/// A dedicated connection, closed when dropped unless recycled.
#[derive(Debug)]
pub struct Dedicated {
    conn: Option<Rc<BackendConn>>,
    health: Arc<ServerHealth>,
    idle: Rc<IdleConns>,
    generation: u64,
}

impl Dedicated {
    /// A connection of its own to the server `spec` names (an idle one of
    /// this worker's from the same config generation, or a new one, opened
    /// at its first request), if fewer than `max` are in use.
    pub fn open(
        mut spec: BackendSpec,
        max: usize,
        idle: &Rc<IdleConns>,
        generation: u64,
    ) -> Result<Dedicated, BackendError> {
        if !spec.health.take_dedicated(max) {
            return Err(BackendError::NoDedicated {
                server: spec.label.clone(),
                max,
            });
        }
        let conn = idle
            .take(spec.index, spec.resp3, generation)
            .unwrap_or_else(|| {
                spec.dedicated = true;
                BackendConn::new(spec.clone())
            });
        Ok(Dedicated {
            conn: Some(conn),
            health: spec.health,
            idle: Rc::clone(idle),
            generation,
        })
    }

    pub fn conn(&self) -> &Rc<BackendConn> {
        self.conn
            .as_ref()
            .expect("taken only by recycle, which consumes")
    }

    /// The server's index in the pool's config.
    pub fn server(&self) -> usize {
        self.conn().server()
    }

    /// The client is done with it, and left nothing on it: kept idle for
    /// the next client when it is still sound, else closed.
    pub fn recycle(mut self) {
        if let Some(conn) = self.conn.take() {
            if conn.reusable() {
                self.idle.put(conn, self.generation);
            } else {
                conn.close();
            }
        }
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
        self.health.give_back_dedicated();
    }
}

/// One worker's idle dedicated connections to a pool's servers.
#[derive(Debug, Default)]
pub struct IdleConns {
    conns: RefCell<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    conn: Rc<BackendConn>,
    generation: u64,
    since: Instant,
}

impl IdleConns {
    /// An idle connection to `server` speaking the protocol asked, from
    /// config `generation`; the stale ones met on the way are closed.
    fn take(&self, server: usize, resp3: bool, generation: u64) -> Option<Rc<BackendConn>> {
        let mut conns = self.conns.borrow_mut();
        sweep(&mut conns, generation);
        let at = conns
            .iter()
            .rposition(|i| i.conn.server() == server && i.conn.speaks_resp3() == resp3)?;
        Some(conns.swap_remove(at).conn)
    }

    fn put(&self, conn: Rc<BackendConn>, generation: u64) {
        let mut conns = self.conns.borrow_mut();
        sweep(&mut conns, generation);
        let (server, resp3) = (conn.server(), conn.speaks_resp3());
        let same = conns
            .iter()
            .filter(|i| i.conn.server() == server && i.conn.speaks_resp3() == resp3)
            .count();
        if same >= IDLE_PER_SERVER {
            return conn.close();
        }
        conns.push(Idle {
            conn,
            generation,
            since: Instant::now(),
        });
    }

    /// Idle connections now (for tests and stats).
    pub fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Closes the connections that are too old, from another config, or no
/// longer sound (the server closed them).
fn sweep(conns: &mut Vec<Idle>, generation: u64) {
    conns.retain(|i| {
        let keep =
            i.generation == generation && i.since.elapsed() < IDLE_MAX_AGE && i.conn.reusable();
        if !keep {
            i.conn.close();
        }
        keep
    });
}
