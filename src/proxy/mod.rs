//! The proxy: worker threads, listeners, client sessions, request dispatch and
//! the merging of split requests.

mod accept;
pub mod client;
mod client_tls;
mod cross_protocol;
pub mod dispatch;
pub mod error;
mod fd_episode;
mod hosted_call;
mod hosted_steps;
mod info_keyspace;
pub mod listen;
pub mod local;
mod map_wait;
pub mod merge;
pub mod owned;
mod permit;
pub mod reply_queue;
mod returned;
pub mod rewrite;
pub mod session;
pub mod supervisor;
pub mod worker;
pub mod worker_pool;

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::config::{Config, ListenAddr};
use crate::pool::PoolRuntime;

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

/// A running proxy: its pools, the worker threads and the channels to them.
pub struct Proxy {
    /// The pools now serving, in config order; shared with the supervisor.
    pools: Arc<std::sync::Mutex<Vec<Arc<PoolRuntime>>>>,
    senders: Vec<UnboundedSender<worker::WorkerCommand>>,
    pub workers: Vec<std::thread::JoinHandle<()>>,
}

/// Binds every pool's listener and starts `workers` worker threads; each
/// pool is given first what was asked before any client comes (`prepare`:
/// where the Sentinel masters are, the servers' versions).
pub fn start(
    config: &Config,
    workers: usize,
    prepare: impl Fn(&PoolRuntime),
) -> Result<Proxy, StartError> {
    let workers = workers.max(1);
    check_redis(config)?;
    crate::pool::counters::set_workers(workers);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..workers {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let mut proxy = Proxy {
        pools: Arc::default(),
        senders,
        workers: Vec::new(),
    };
    let mut pools = Vec::new();
    for pool in &config.pools {
        let runtime = PoolRuntime::new(pool.clone());
        prepare(&runtime);
        proxy.listen(&runtime, &pool.listen, pool.backlog)?;
        tracing::info!(pool = %pool.name, listen = %pool.listen, servers = pool.servers.len(), "pool ready");
        pools.push(runtime);
    }
    *proxy.pools.lock().unwrap_or_else(|p| p.into_inner()) = pools;
    crate::stats::set_facts(crate::stats::ProxyFacts {
        started: std::time::Instant::now(),
        workers,
        pools: config.pools.len(),
    });
    for (index, commands) in receivers.into_iter().enumerate() {
        let handle = std::thread::Builder::new()
            .name(format!("redshard-w{index}"))
            .spawn(move || {
                if let Err(e) = worker::run(index, commands) {
                    tracing::error!("worker {index} stopped: {e}");
                }
            })
            .map_err(StartError::Thread)?;
        proxy.workers.push(handle);
    }
    Ok(proxy)
}

/// Refuses a config with a memcached pool: redshard speaks Redis only.
pub fn check_redis(config: &Config) -> Result<(), StartError> {
    match config.pools.iter().find(|p| !p.redis) {
        Some(p) => Err(StartError::NotRedis {
            pool: p.name.clone(),
        }),
        None => Ok(()),
    }
}

impl Proxy {
    /// The pools now serving.
    pub fn pools(&self) -> Arc<std::sync::Mutex<Vec<Arc<PoolRuntime>>>> {
        self.pools.clone()
    }

    /// Binds `addr` once per worker and has each worker accept on it.
    fn listen(
        &self,
        pool: &Arc<PoolRuntime>,
        addr: &ListenAddr,
        backlog: u32,
    ) -> Result<(), StartError> {
        let listeners = self.bind(&pool.name, addr, backlog, false)?;
        self.hand_out(pool, addr, listeners);
        Ok(())
    }

    /// One listener per worker for `addr`, not yet handed out (`pool` names
    /// it in the error); `ours`: another pool of this process listens there.
    pub fn bind(
        &self,
        pool: &str,
        addr: &ListenAddr,
        backlog: u32,
        ours: bool,
    ) -> Result<Vec<listen::Listener>, StartError> {
        listen::bind(addr, backlog, self.senders.len(), ours).map_err(|source| StartError::Listen {
            pool: pool.to_string(),
            addr: addr.to_string(),
            source,
        })
    }

    /// Has each worker accept on one of `listeners` for `pool`.
    pub fn hand_out(
        &self,
        pool: &Arc<PoolRuntime>,
        addr: &ListenAddr,
        listeners: Vec<listen::Listener>,
    ) {
        for (tx, listener) in self.senders.iter().zip(listeners) {
            let _ = tx.send(worker::WorkerCommand::Listen {
                pool: pool.clone(),
                addr: addr.clone(),
                listener,
            });
        }
    }

    fn tell_all(&self, command: impl Fn() -> worker::WorkerCommand) {
        for tx in &self.senders {
            let _ = tx.send(command());
        }
    }

    /// The pool's config changed: every worker rebuilds its connections.
    pub fn refresh(&self, pool: &str) {
        self.tell_all(|| worker::WorkerCommand::Refresh {
            pool: pool.to_string(),
        });
    }

    /// Every worker stops accepting on `addr` for `pool`.
    pub fn stop_listening(&self, pool: &str, addr: &ListenAddr) {
        self.tell_all(|| worker::WorkerCommand::StopListening {
            pool: pool.to_string(),
            addr: addr.clone(),
        });
    }

    /// The pool is gone: workers stop accepting and close its connections.
    pub fn remove(&self, pool: &str) {
        self.tell_all(|| worker::WorkerCommand::Remove {
            pool: pool.to_string(),
        });
    }
}
