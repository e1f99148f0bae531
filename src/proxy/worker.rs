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

use super::accept;
use super::client_tls;
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
    accept::reserve();
    loop {
        let conn = accept::next_client(&pool, &listener).await;
        // The certificate in force when the client came: a reload that
        // renews it serves the next client with the new one.
        let (limit, keepalive, tls) = {
            let snap = pool.runtime.snapshot();
            let tls = snap.config.listen_tls.as_ref().map(|t| t.acceptor());
            (
                snap.config.client_connections,
                snap.config.tcpkeepalive,
                tls,
            )
        };
        add(&pool.runtime.stats.shard(pool.index).total_connections, 1);
        let admission = pool.runtime.admit_client(limit);
        conn.configure(keepalive);
        // A session that panics ends alone: tokio catches the panic and
        // drops the task, closing its client's socket and releasing its
        // admission; the worker and its other clients go on.
        tokio::task::spawn_local(client(conn, pool.clone(), admission, tls));
    }
}

/// One accepted client's task: its TLS handshake if the pool asks for one
/// (here, not in the accept loop, so a silent client delays nobody), then
/// its session, or the refusal when the pool is full.
async fn client(
    conn: super::listen::ClientStream,
    pool: Rc<WorkerPool>,
    admission: Option<crate::pool::Admission>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let conn = match tls {
        Some(tls) => match client_tls::handshake(conn, tls, &pool).await {
            Some(conn) => conn,
            None => return,
        },
        None => conn,
    };
    match admission {
        Some(admission) => session::serve(conn, pool, admission).await,
        None => refuse(conn).await,
    }
}

/// Over `client_connections`: Redis's own error, then close.
async fn refuse(mut conn: super::listen::ClientStream) {
    let mut reply = bytes::BytesMut::new();
    super::error::ClientError::MaxClients.write(&mut reply);
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_all(&reply)).await;
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use crate::config::Config;
    use crate::pool::PoolRuntime;

    /// What `accept_loop` relies on: on a worker's runtime (current_thread,
    /// LocalSet), a task that panics ends alone. Its state is dropped, so
    /// its client sees the connection close and its admission is released,
    /// and the worker runs its other tasks as before.
    #[test]
    fn a_panicking_session_closes_its_client_and_spares_the_worker() {
        let yaml = "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:7001:1\n";
        let config = Config::parse(yaml, Path::new("t.yml")).unwrap();
        let pool = PoolRuntime::new(config.pools[0].clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (conn, _) = listener.accept().await.unwrap();
            let admission = pool.admit_client(0).unwrap();
            assert_eq!(pool.client_count(), 1);
            let session = tokio::task::spawn_local(async move {
                let _state = (conn, admission);
                tokio::task::yield_now().await;
                panic!("a bug in a session");
            });
            assert!(session.await.unwrap_err().is_panic());
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte));
            assert_eq!(read.await.expect("closed in time").unwrap(), 0, "EOF");
            assert_eq!(pool.client_count(), 0);
            let other = tokio::task::spawn_local(async { 7 });
            assert_eq!(other.await.unwrap(), 7);
        });
    }
}
