//! One worker: a thread with a current_thread runtime, its own listeners (one
//! per pool, SO_REUSEPORT so the kernel spreads connections) and its own
//! backend connections. Nothing on the request path is shared with other
//! workers except the read-mostly pool snapshots.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::UnboundedReceiver;

use super::listen::Listener;
use super::session;
use super::worker_pool::WorkerPool;
use crate::config::ListenAddr;
use crate::pool::counters::add;
use crate::pool::PoolRuntime;

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
