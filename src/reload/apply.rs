//! Applying a new, already parsed config to a running proxy: pools added,
//! removed and changed, listeners moved. The proxy only provides the
//! primitives (bind, hand out, tell the workers); the order in which they are
//! used — and so what clients see during a reload — is decided here.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, ListenAddr, PoolConfig};
use crate::pool::PoolRuntime;
use crate::proxy::listen::Listener;
use crate::proxy::{check_redis, Proxy, StartError};

/// Listeners bound for the new config, by pool name, not yet handed out.
type Bound = Vec<(String, Vec<Listener>)>;

/// Applies `config`: new listeners open before old ones close and health is
/// carried over for unchanged servers. Nothing changes when a new listener
/// cannot be bound. Returns a one-line summary for the log.
pub fn apply(proxy: &Proxy, config: &Config) -> Result<String, StartError> {
    check_redis(config)?;
    let started = Instant::now();
    let pools = proxy.pools();
    let old: Vec<Arc<PoolRuntime>> = pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut bound = bind_new_addresses(proxy, &old, config)?;
    let mut report = Vec::new();
    let mut now = Vec::with_capacity(config.pools.len());
    for pool in &config.pools {
        let listeners = bound
            .iter_mut()
            .find(|(name, _)| *name == pool.name)
            .map(|(_, l)| std::mem::take(l));
        let runtime = match old.iter().find(|p| p.name == pool.name) {
            Some(rt) => update_pool(proxy, rt, pool, listeners, config, &mut report),
            None => add_pool(proxy, pool, listeners, &mut report),
        };
        now.push(runtime);
    }
    for gone in old.iter().filter(|o| config.pool(&o.name).is_none()) {
        proxy.remove(&gone.name);
        remove_socket_file(&gone.snapshot().config.listen, config);
        report.push(format!("pool '{}' removed", gone.name));
    }
    *pools.lock().unwrap_or_else(|p| p.into_inner()) = now;
    let summary = if report.is_empty() {
        "nothing changed".to_string()
    } else {
        report.join("; ")
    };
    Ok(format!(
        "{summary} (swap took {} µs)",
        started.elapsed().as_micros()
    ))
}

/// Binds every address that is new (a new pool, or a pool whose `listen`
/// changed) before anything else happens, so that a failure leaves all as it
/// was. Dropping the result closes them again.
fn bind_new_addresses(
    proxy: &Proxy,
    old: &[Arc<PoolRuntime>],
    config: &Config,
) -> Result<Bound, StartError> {
    let mut bound = Vec::new();
    for pool in &config.pools {
        let old_listen = old
            .iter()
            .find(|p| p.name == pool.name)
            .map(|p| p.snapshot().config.listen.clone());
        if old_listen.as_ref() != Some(&pool.listen) {
            let ours = old
                .iter()
                .any(|p| p.snapshot().config.listen.same_place(&pool.listen));
            let listeners = proxy.bind(&pool.name, &pool.listen, pool.backlog, ours)?;
            bound.push((pool.name.clone(), listeners));
        }
    }
    Ok(bound)
}

/// A pool in both configs: swaps its snapshot, and moves its listener when
/// `listeners` were bound for a new address (the old one closes after the new
/// one accepts).
fn update_pool(
    proxy: &Proxy,
    runtime: &Arc<PoolRuntime>,
    pool: &PoolConfig,
    listeners: Option<Vec<Listener>>,
    config: &Config,
    report: &mut Vec<String>,
) -> Arc<PoolRuntime> {
    let before = runtime.snapshot().config.listen.clone();
    let change = runtime.reload(pool.clone());
    if change.any {
        report.push(format!("pool '{}': {change}", pool.name));
        proxy.refresh(&pool.name);
    }
    if let Some(listeners) = listeners {
        proxy.hand_out(runtime, &pool.listen, listeners);
        proxy.stop_listening(&pool.name, &before);
        remove_socket_file(&before, config);
    }
    runtime.clone()
}

/// A pool only in the new config: a fresh runtime on its new listeners.
fn add_pool(
    proxy: &Proxy,
    pool: &PoolConfig,
    listeners: Option<Vec<Listener>>,
    report: &mut Vec<String>,
) -> Arc<PoolRuntime> {
    let runtime = PoolRuntime::new(pool.clone());
    if let Some(listeners) = listeners {
        proxy.hand_out(&runtime, &pool.listen, listeners);
    }
    report.push(format!("pool '{}' added on {}", pool.name, pool.listen));
    runtime
}

/// A unix socket's file outlives its listener; a pool that moved away or was
/// removed must not leave it behind. Unless a pool of the new config listens
/// on that path (a pool renamed, or another pool taking the path): its new
/// socket replaced the old one there, and stays.
fn remove_socket_file(addr: &ListenAddr, config: &Config) {
    if let ListenAddr::Unix { path, .. } = addr {
        let taken = config
            .pools
            .iter()
            .any(|p| matches!(&p.listen, ListenAddr::Unix { path: q, .. } if q == path));
        if !taken {
            let _ = std::fs::remove_file(path);
        }
    }
}
