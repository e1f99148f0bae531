//! Following Redis Sentinel: pools whose servers are named by Sentinel master
//! name learn each master's address from the sentinels, at start and after
//! every failover.
//!
//! - `ask`: where is master M (asked of the sentinels in turn), and is this
//!   server a master (`ROLE`).
//! - `events`: the sentinel Pub/Sub messages acted on.
//! - `watch`: one pool's watcher: subscriptions, periodic questions, holds
//!   during a promotion, and the moves it hands to the pool.
//!
//! A watcher knows no worker and no client. It hands a master's new address
//! to the pool the way a reload hands a new config: a new snapshot swapped
//! in (read-copy-update), so the router, the epoch barrier that keeps each
//! client's order, and the workers' connection replacement all work as for
//! a reload; each connection to the old address sees the move itself
//! (`backend::follow`), hands back what it never wrote and drains.

mod ask;
mod events;
mod watch;

use std::sync::{Arc, Mutex};

use crate::config::{Config, ServerAddr};
use crate::pool::PoolRuntime;
use watch::{Watch, WatchKey};

/// What the sentinels said at start, before any client is served.
#[derive(Debug, Default)]
pub struct Found {
    masters: Vec<FoundMaster>,
}

/// Pool, master, its address (or why there is none) and its replicas (when
/// the pool reads from them).
type FoundMaster = (String, String, Result<ServerAddr, String>, Vec<ServerAddr>);

/// Asks the sentinels of every pool that follows Sentinel where its masters
/// are (checking each address with `ROLE`), and logs what it learnt: a
/// master no sentinel answered for is an error naming the sentinels tried.
/// The proxy serves either way; the watchers keep asking.
pub async fn discover(config: &Config) -> Found {
    let mut found = Found::default();
    for pool in &config.pools {
        let Some(key) = WatchKey::of(pool) else {
            continue;
        };
        let mut asker = ask::Asker::new(key.sentinel.sentinels.clone(), key.sentinel.auth.clone());
        for master in &key.masters {
            let answer = asker.master_addr(master).await;
            match &answer {
                Ok(addr) => match ask::role(addr, &key.login).await {
                    Ok(ask::Role::Master) => {
                        tracing::info!(pool = %pool.name, master = %master, "master at {addr}")
                    }
                    other => {
                        tracing::warn!(pool = %pool.name, master = %master, "the sentinels put the master at {addr}, whose ROLE is {other:?}; taken until they say otherwise")
                    }
                },
                Err(why) => {
                    tracing::error!(pool = %pool.name, master = %master, "{why}; its keys get this error until a sentinel answers")
                }
            }
            let replicas = match (&answer, key.replicas) {
                (Ok(addr), true) => asker
                    .replicas(master)
                    .await
                    .map(|mut r| {
                        r.retain(|r| r != addr);
                        r
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let pool_name = pool.name.clone();
            found
                .masters
                .push((pool_name, master.clone(), answer, replicas));
        }
    }
    found
}

impl Found {
    /// Gives `pool` the addresses found for it.
    pub fn apply(&self, pool: &PoolRuntime) {
        for (name, master, answer, replicas) in &self.masters {
            if *name != pool.name {
                continue;
            }
            match answer {
                Ok(addr) => {
                    pool.move_master(master, addr);
                    pool.set_replicas(master, replicas);
                }
                Err(why) => {
                    if let Some(health) = pool.master_state(master) {
                        health.master.set_unresolved(Some(why.clone()));
                    }
                }
            }
        }
    }
}

/// Runs a watcher for every pool that follows Sentinel, until the process
/// exits: started for a new pool, restarted when a reload changes a pool's
/// sentinels, masters or `redis_auth`, stopped when the pool goes.
pub async fn run(pools: Arc<Mutex<Vec<Arc<PoolRuntime>>>>) {
    crate::pool::watchers::per_pool(pools, WatchKey::of, |pool, key| {
        Watch::new(pool, key.clone()).run()
    })
    .await
}
