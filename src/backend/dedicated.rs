//! A connection one client owns: for a transaction (MULTI ... EXEC on the
//! server of its keys), a subscriber (its channels' servers), or a blocking
//! call (BLPOP waits on the server without stalling anybody else).
//!
//! Bounded per server, all workers together (`max_dedicated_connections`):
//! when all are taken a client gets a clear error at once rather than a
//! wait. Dropping the handle closes the connection, whatever is in flight
//! on it: Redis then discards a transaction, forgets a subscriber and
//! unblocks a blocked call.

use std::rc::Rc;

use super::{BackendConn, BackendError, BackendSpec};

/// A dedicated connection, closed when dropped.
#[derive(Debug)]
pub struct Dedicated {
    conn: Rc<BackendConn>,
}

impl Dedicated {
    /// Opens (lazily, at its first request) a connection of its own to the
    /// server `spec` names, if fewer than `max` are open to it.
    pub fn open(mut spec: BackendSpec, max: usize) -> Result<Dedicated, BackendError> {
        if !spec.health.take_dedicated(max) {
            return Err(BackendError::NoDedicated {
                server: spec.label.clone(),
                max,
            });
        }
        spec.dedicated = true;
        Ok(Dedicated {
            conn: BackendConn::new(spec),
        })
    }

    pub fn conn(&self) -> &Rc<BackendConn> {
        &self.conn
    }

    /// The server's index in the pool's config.
    pub fn server(&self) -> usize {
        self.conn.server()
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        self.conn.close();
        self.conn.spec.health.give_back_dedicated();
    }
}
