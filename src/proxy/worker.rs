//! One worker: a thread with a current_thread runtime, its own listeners (one
//! per pool, SO_REUSEPORT so the kernel spreads connections) and its own
//! backend connections. Nothing on the request path is shared with other
//! workers except the read-mostly pool snapshots.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::UnboundedReceiver;

use super::listen::Listener;
use super::session;
use crate::backend::{BackendConn, BackendSpec};
use crate::config::ListenAddr;
use crate::pool::{FailurePolicy, PoolRuntime, PoolSnapshot};
use crate::protocol::Proto;
use crate::stats::counters::add;

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
    let connect_timeout = pool
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let timeout = pool.timeout_ms.map(Duration::from_millis);
    pool.servers
        .iter()
        .enumerate()
        .map(|(index, server)| {
            (0..pool.server_connections.max(1))
                .map(|_| {
                    BackendConn::new(BackendSpec {
                        label: server.label(),
                        addr: server.addr.clone(),
                        auth: pool.redis_auth.clone(),
                        db: pool.redis_db,
                        resp3,
                        connect_timeout,
                        timeout,
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
                    })
                })
                .collect()
        })
        .collect()
}

/// What the main thread asks of a worker (start, reload).
pub enum WorkerCommand {
    /// Accept clients of `pool` on `listener` (a new pool, or a new address).
    Listen {
        pool: Arc<PoolRuntime>,
        addr: ListenAddr,
        listener: Listener,
    },
    /// Stop accepting on `addr` for pool `pool`.
    StopListening { pool: String, addr: ListenAddr },
    /// The pool's config changed: rebuild its connections now.
    Refresh { pool: String },
    /// The pool is gone: close its connections once idle.
    Remove { pool: String },
}

/// A worker's pools and their accept loops.
struct WorkerState {
    index: usize,
    pools: HashMap<String, Rc<WorkerPool>>,
    accepting: Vec<(String, ListenAddr, tokio::task::JoinHandle<()>)>,
}

impl WorkerState {
    fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::Listen {
                pool,
                addr,
                listener,
            } => {
                let name = pool.name.clone();
                let worker_pool = self
                    .pools
                    .entry(name.clone())
                    .or_insert_with(|| {
                        let wp = WorkerPool::new(pool, self.index);
                        if wp.runtime.snapshot().config.preconnect {
                            wp.preconnect();
                        }
                        wp
                    })
                    .clone();
                let task = tokio::task::spawn_local(accept_loop(worker_pool, listener));
                self.accepting.push((name, addr, task));
            }
            WorkerCommand::StopListening { pool, addr } => {
                self.accepting.retain(|(p, a, task)| {
                    let stop = *p == pool && *a == addr;
                    if stop {
                        task.abort();
                    }
                    !stop
                });
            }
            WorkerCommand::Refresh { pool } => {
                if let Some(p) = self.pools.get(&pool) {
                    p.refresh();
                }
            }
            WorkerCommand::Remove { pool } => {
                self.accepting.retain(|(p, _, task)| {
                    if *p == pool {
                        task.abort();
                    }
                    *p != pool
                });
                if let Some(p) = self.pools.remove(&pool) {
                    p.retire_all();
                }
            }
        }
    }
}

/// Runs one worker until the process exits, taking commands from `commands`.
pub fn run(index: usize, mut commands: UnboundedReceiver<WorkerCommand>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(format!("redshard-w{index}"))
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let mut state = WorkerState {
            index,
            pools: HashMap::new(),
            accepting: Vec::new(),
        };
        while let Some(command) = commands.recv().await {
            state.handle(command);
        }
        // The main thread is gone: keep serving until the process exits.
        std::future::pending::<()>().await;
    });
    Ok(())
}

async fn accept_loop(pool: Rc<WorkerPool>, listener: Listener) {
    let listener = match listener.into_tokio() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(pool = %pool.runtime.name, "cannot register listener: {e}");
            return;
        }
    };
    loop {
        let conn = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: say so, back off, go on.
                tracing::warn!(pool = %pool.runtime.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (limit, keepalive) = {
            let snap = pool.runtime.snapshot();
            (snap.config.client_connections, snap.config.tcpkeepalive)
        };
        add(&pool.runtime.stats.shard(pool.index).total_connections, 1);
        let Some(client_id) = pool.runtime.admit_client(limit) else {
            tokio::task::spawn_local(refuse(conn));
            continue;
        };
        conn.configure(keepalive);
        let pool = pool.clone();
        tokio::task::spawn_local(async move {
            session::serve(conn, pool.clone(), client_id).await;
            pool.runtime.release_client();
        });
    }
}

/// Over `client_connections`: Redis's own error, then close.
async fn refuse(mut conn: super::listen::ClientStream) {
    let mut reply = bytes::BytesMut::new();
    super::error::ClientError::MaxClients.write(&mut reply);
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_all(&reply)).await;
    let _ = conn.shutdown().await;
}
