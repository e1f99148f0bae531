//! One background task per pool that needs one (a Sentinel watcher, a
//! cluster's slot map watcher), kept in step with the pools a reload
//! leaves: started for a new pool, restarted when the settings it runs
//! with change, stopped when the pool goes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::PoolRuntime;
use crate::config::PoolConfig;

/// How often the pools are compared with the tasks running.
const TICK: Duration = Duration::from_millis(50);

/// A pool's task, stopped when dropped.
struct Running<K> {
    pool: Arc<PoolRuntime>,
    key: K,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Drop for Running<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `start(pool, key)` for every pool whose config gives a key
/// (`key_of`), until the process exits.
pub async fn per_pool<K, F, Fut>(
    pools: Arc<Mutex<Vec<Arc<PoolRuntime>>>>,
    key_of: fn(&PoolConfig) -> Option<K>,
    start: F,
) where
    K: PartialEq,
    F: Fn(Arc<PoolRuntime>, &K) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running: HashMap<String, Running<K>> = HashMap::new();
    loop {
        let now: Vec<Arc<PoolRuntime>> = pools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        running.retain(|name, r| {
            now.iter().any(|p| {
                p.name == *name
                    && Arc::ptr_eq(p, &r.pool)
                    && key_of(&p.snapshot().config).as_ref() == Some(&r.key)
            })
        });
        for pool in &now {
            if running.contains_key(&pool.name) {
                continue;
            }
            let Some(key) = key_of(&pool.snapshot().config) else {
                continue;
            };
            let task = tokio::spawn(start(pool.clone(), &key));
            let r = Running {
                pool: pool.clone(),
                key,
                task,
            };
            running.insert(pool.name.clone(), r);
        }
        tokio::time::sleep(TICK).await;
    }
}
