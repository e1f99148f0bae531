//! A pool as one worker sees it: the shared runtime plus this worker's
//! connections to each server, per protocol, replaced after a reload.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{BackendConn, BackendError, BackendSpec, Dedicated};
use crate::pool::{FailurePolicy, PoolRuntime, PoolSnapshot};
use crate::protocol::Proto;

/// A pool as one worker sees it: the shared runtime plus this worker's
/// connections to each server.
pub struct WorkerPool {
    pub runtime: Arc<PoolRuntime>,
    /// Which worker this is (its counter shard).
    pub index: usize,
    conns: RefCell<Conns>,
}

struct Conns {
    generation: u64,
    /// `servers[i][c]`: connection `c` to server `i`, speaking RESP2.
    servers: Vec<Vec<Rc<BackendConn>>>,
    /// The same for RESP3 clients, opened the first time one needs them.
    servers_resp3: Option<Vec<Vec<Rc<BackendConn>>>>,
}

/// Connect timeout when the pool sets no `timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl WorkerPool {
    pub fn new(runtime: Arc<PoolRuntime>, index: usize) -> Rc<WorkerPool> {
        let snapshot = runtime.snapshot_arc();
        Rc::new(WorkerPool {
            conns: RefCell::new(Conns {
                generation: snapshot.generation,
                servers: build_conns(index, &runtime, &snapshot, false),
                servers_resp3: None,
            }),
            runtime,
            index,
        })
    }

    /// Opens every connection now (`preconnect: true`).
    pub fn preconnect(&self) {
        for conns in &self.conns.borrow().servers {
            for c in conns {
                c.preconnect();
            }
        }
    }

    /// The connection a client uses to reach `server`: always the same one for
    /// the same client, so its requests to a server stay in order.
    #[inline]
    pub fn conn(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        client_id: u64,
        proto: Proto,
    ) -> Rc<BackendConn> {
        let mut conns = self.conns.borrow_mut();
        if conns.generation != snapshot.generation {
            self.replace_conns(&mut conns, snapshot);
        }
        let servers = match proto {
            Proto::Resp2 => &conns.servers,
            Proto::Resp3 => conns
                .servers_resp3
                .get_or_insert_with(|| build_conns(self.index, &self.runtime, snapshot, true)),
        };
        let list = &servers[server];
        list[client_id as usize % list.len()].clone()
    }
}

impl WorkerPool {
    /// A connection of the client's own to `server` (a transaction, a
    /// subscriber, a blocking call), if the pool's bound allows one more.
    pub fn dedicated(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        proto: Proto,
    ) -> Result<Dedicated, BackendError> {
        let spec = spec(
            self.index,
            &self.runtime,
            snapshot,
            server,
            proto == Proto::Resp3,
        );
        Dedicated::open(spec, snapshot.config.max_dedicated_connections as usize)
    }
}

impl WorkerPool {
    /// After a reload: new connections for the new config; the old ones get
    /// the replies of what is in flight, then close.
    fn replace_conns(&self, conns: &mut Conns, snapshot: &PoolSnapshot) {
        for old in conns
            .servers
            .iter()
            .chain(conns.servers_resp3.iter().flatten())
            .flatten()
        {
            old.retire();
        }
        conns.generation = snapshot.generation;
        conns.servers = build_conns(self.index, &self.runtime, snapshot, false);
        conns.servers_resp3 = None;
        if snapshot.config.preconnect {
            for c in conns.servers.iter().flatten() {
                c.preconnect();
            }
        }
    }

    /// Rebuilds the connections now if the pool's config changed.
    pub fn refresh(&self) {
        let snapshot = self.runtime.snapshot_arc();
        let mut conns = self.conns.borrow_mut();
        if conns.generation != snapshot.generation {
            self.replace_conns(&mut conns, &snapshot);
        }
    }

    /// Closes every connection once idle (the pool was removed).
    pub fn retire_all(&self) {
        let conns = self.conns.borrow();
        for c in conns
            .servers
            .iter()
            .chain(conns.servers_resp3.iter().flatten())
            .flatten()
        {
            c.retire();
        }
    }
}

fn build_conns(
    worker_index: usize,
    pool_rt: &Arc<PoolRuntime>,
    snapshot: &PoolSnapshot,
    resp3: bool,
) -> Vec<Vec<Rc<BackendConn>>> {
    let pool = &snapshot.config;
    (0..pool.servers.len())
        .map(|index| {
            (0..pool.server_connections.max(1))
                .map(|_| BackendConn::new(spec(worker_index, pool_rt, snapshot, index, resp3)))
                .collect()
        })
        .collect()
}

/// What a connection to server `index` of the pool needs to know.
fn spec(
    worker_index: usize,
    pool_rt: &Arc<PoolRuntime>,
    snapshot: &PoolSnapshot,
    index: usize,
    resp3: bool,
) -> BackendSpec {
    let pool = &snapshot.config;
    let server = &pool.servers[index];
    let connect_timeout = pool
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    BackendSpec {
        label: server.label(),
        addr: server.addr.clone(),
        auth: pool.redis_auth.clone(),
        db: pool.redis_db,
        resp3,
        connect_timeout,
        timeout: pool.timeout_ms.map(Duration::from_millis),
        policy: FailurePolicy {
            retry_timeout: Duration::from_millis(pool.server_retry_timeout_ms),
            eject_after: pool.auto_eject_hosts.then_some(pool.server_failure_limit),
        },
        max_queue: pool.client_output_limit,
        max_reply: pool.max_reply_bytes,
        health: snapshot.health[index].clone(),
        pool: pool_rt.clone(),
        index,
        worker_index,
        dedicated: false,
        tls: pool.backend_tls.clone(),
    }
}
