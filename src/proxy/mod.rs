//! The proxy: worker threads, listeners, client sessions, request dispatch and
//! the merging of split requests.

pub mod connection;
pub mod dispatch;
pub mod listen;
pub mod merge;
pub mod replies;
pub mod session;
pub mod supervisor;
pub mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::pool::PoolRuntime;

/// Size of each read from a socket (`-m`, nutcracker's mbuf size).
static READ_CHUNK: AtomicUsize = AtomicUsize::new(16 * 1024);

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
pub(crate) async fn yield_once() {
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("pool '{pool}' is a memcached pool (no 'redis: true'); redshard proxies Redis only: set redis: true")]
    NotRedis { pool: String },
    #[error("pool '{pool}': cannot listen on {addr}: {source}")]
    Listen {
        pool: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A running proxy: its pools and worker threads.
pub struct Proxy {
    pub pools: Vec<Arc<PoolRuntime>>,
    pub workers: Vec<std::thread::JoinHandle<()>>,
}

/// Binds every pool's listener and starts `workers` worker threads.
pub fn start(config: &Config, workers: usize) -> Result<Proxy, StartError> {
    let workers = workers.max(1);
    if let Some(p) = config.pools.iter().find(|p| !p.redis) {
        return Err(StartError::NotRedis {
            pool: p.name.clone(),
        });
    }
    let mut per_worker: Vec<Vec<(Arc<PoolRuntime>, listen::Listener)>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut pools = Vec::new();
    for pool in &config.pools {
        let listeners = listen::bind(&pool.listen, pool.backlog, workers).map_err(|source| {
            StartError::Listen {
                pool: pool.name.clone(),
                addr: pool.listen.to_string(),
                source,
            }
        })?;
        let runtime = PoolRuntime::new(pool.clone());
        for (w, l) in listeners.into_iter().enumerate() {
            per_worker[w].push((runtime.clone(), l));
        }
        tracing::info!(pool = %pool.name, listen = %pool.listen, servers = pool.servers.len(), "pool ready");
        pools.push(runtime);
    }
    connection::set_facts(connection::ProxyFacts {
        started: std::time::Instant::now(),
        workers,
        pools: config.pools.len(),
    });
    let mut handles = Vec::new();
    for (index, pools) in per_worker.into_iter().enumerate() {
        let handle = std::thread::Builder::new()
            .name(format!("redshard-w{index}"))
            .spawn(move || {
                if let Err(e) = worker::run(index, pools) {
                    tracing::error!("worker {index} stopped: {e}");
                }
            })
            .map_err(StartError::Thread)?;
        handles.push(handle);
    }
    Ok(Proxy {
        pools,
        workers: handles,
    })
}
