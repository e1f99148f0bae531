//! Reads from replicas (`read_from`): the replica a client reads from, why
//! none serves, each replica as operators see it; and the pool's side of a
//! change in a Sentinel master's replicas: a new snapshot, swapped in as an
//! address is.

use std::sync::Arc;

use super::master::ServerView;
use super::runtime::PoolRuntime;
use super::snapshot::{keep_health, PoolSnapshot};
use crate::config::ServerAddr;

impl PoolSnapshot {
    /// The replica of server `server` that client `client_id` reads from:
    /// one of those that serve now, the same one for the same client while
    /// they stay the same (so its reads do not go back in time by hopping
    /// between replicas), spread over them by client. `None`: none serves.
    #[inline]
    pub fn replica_for(&self, server: usize, client_id: u64) -> Option<usize> {
        let max = self.config.replica_max_lag_ms;
        let replicas = &self.replicas[server];
        let fit = replicas.iter().filter(|r| r.serves(max)).count();
        if fit == 0 {
            return None;
        }
        let pick = client_id as usize % fit;
        let mut serving = replicas.iter().enumerate().filter(|(_, r)| r.serves(max));
        serving.nth(pick).map(|(i, _)| i)
    }

    /// Replica `r` of server `server` as operators see it.
    pub fn replica_view(&self, server: usize, r: usize) -> ServerView {
        let replica = &self.replicas[server][r];
        let state = match replica.health.may_connect() {
            Err(_) => "down",
            Ok(()) => match replica.health.replica.unfit(self.config.replica_max_lag_ms) {
                None => "live",
                Some("not answering") => "not_answering",
                Some("loading") => "loading",
                Some("lagging") => "lagging",
                Some(_) => "link_down",
            },
        };
        ServerView {
            role: "replica",
            addr: replica.addr.to_string(),
            state,
            failovers: 0,
            sentinel: self.config.servers[server].is_sentinel_master(),
            lag_ms: replica.health.replica.lag_ms(),
        }
    }

    /// Why no replica of server `server` serves reads now.
    pub fn why_no_replica(&self, server: usize) -> String {
        let max = self.config.replica_max_lag_ms;
        let replicas = &self.replicas[server];
        if replicas.is_empty() {
            return "it has no replicas".into();
        }
        let each: Vec<String> = replicas
            .iter()
            .map(|r| {
                let why = match r.health.may_connect() {
                    Err(_) => "down",
                    Ok(()) => r.health.replica.unfit(max).unwrap_or("serving"),
                };
                format!("{} {why}", r.addr)
            })
            .collect();
        each.join(", ")
    }
}

impl PoolRuntime {
    /// Master `master`'s replicas are now `addrs` (as its sentinels list
    /// them). Those kept keep their health. Whether anything changed.
    pub fn set_replicas(&self, master: &str, addrs: &[ServerAddr]) -> bool {
        let mut changed = false;
        self.snapshot.rcu(|current| {
            let index = current
                .config
                .servers
                .iter()
                .position(|s| s.is_sentinel_master() && s.name == master);
            let same = index.is_none_or(|i| {
                let now: Vec<&ServerAddr> = current.replicas[i].iter().map(|r| &r.addr).collect();
                now.len() == addrs.len() && addrs.iter().all(|a| now.contains(&a))
            });
            changed = !same;
            match index.filter(|_| changed) {
                Some(i) => {
                    let mut replicas = current.replicas.clone();
                    replicas[i] = keep_health(&current.replicas[i], addrs);
                    Arc::new(current.rebuilt(current.addrs.clone(), replicas))
                }
                None => Arc::clone(current),
            }
        });
        changed
    }
}
