//! Replicas of a pool's servers, for reads (`read_from`): where each is,
//! its health (the same backoff as a server's, shared by every worker), and
//! what the replica prober last found (how far behind its master, loading,
//! its link to the master); and the pool's side of a change in a Sentinel
//! master's replicas: a new snapshot, swapped in as an address is.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::health::ServerHealth;
use super::runtime::{PoolRuntime, PoolSnapshot};
use crate::config::{PoolConfig, ServerAddr};

/// One replica of a server.
#[derive(Debug, Clone)]
pub struct Replica {
    pub addr: ServerAddr,
    /// Its health and counters, carried over by a reload like a server's.
    pub health: Arc<ServerHealth>,
}

/// What the replica prober last found. Until its first look a replica is
/// taken as able to serve (a read it fails on goes to another).
#[derive(Debug)]
pub struct ReplicaState {
    /// How far behind its master, in ms; `u64::MAX`: not known (the probe
    /// did not reach it).
    lag_ms: AtomicU64,
    loading: AtomicBool,
    /// Its link to the master is up (`master_link_status:up`).
    link_up: AtomicBool,
}

impl Default for ReplicaState {
    fn default() -> Self {
        ReplicaState {
            lag_ms: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            link_up: AtomicBool::new(true),
        }
    }
}

/// One look at a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProbe {
    /// `None`: it did not answer.
    pub lag_ms: Option<u64>,
    pub loading: bool,
    pub link_up: bool,
}

impl ReplicaState {
    pub fn record(&self, probe: ReplicaProbe) {
        self.lag_ms
            .store(probe.lag_ms.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.loading.store(probe.loading, Ordering::Relaxed);
        self.link_up.store(probe.link_up, Ordering::Relaxed);
    }

    /// Why it serves no reads now (`None`: it does).
    pub fn unfit(&self, max_lag_ms: u64) -> Option<&'static str> {
        let lag = self.lag_ms.load(Ordering::Relaxed);
        if lag == u64::MAX {
            Some("not answering")
        } else if self.loading.load(Ordering::Relaxed) {
            Some("loading")
        } else if !self.link_up.load(Ordering::Relaxed) {
            Some("link to its master down")
        } else if lag > max_lag_ms {
            Some("lagging")
        } else {
            None
        }
    }

    /// How far behind its master it was last seen, in ms.
    pub fn lag_ms(&self) -> Option<u64> {
        Some(self.lag_ms.load(Ordering::Relaxed)).filter(|&l| l != u64::MAX)
    }
}

impl Replica {
    /// It may take a read now: its connections are not backing off after a
    /// failure, and the prober found it fit.
    #[inline]
    pub fn serves(&self, max_lag_ms: u64) -> bool {
        self.health.may_connect().is_ok() && self.health.replica.unfit(max_lag_ms).is_none()
    }
}

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
    pub fn replica_view(&self, server: usize, r: usize) -> super::ServerView {
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
        super::ServerView {
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

/// `addrs` as replicas, with the health of those already in `old`.
fn keep_health(old: &[Replica], addrs: &[ServerAddr]) -> Vec<Replica> {
    addrs
        .iter()
        .map(|addr| Replica {
            addr: addr.clone(),
            health: old
                .iter()
                .find(|r| r.addr == *addr)
                .map_or_else(Arc::default, |r| r.health.clone()),
        })
        .collect()
}

/// The replicas of `config`'s servers: those the config lists, or for a
/// Sentinel master the ones it had in `old`; health carried over from `old`.
pub(super) fn carry_replicas(old: Option<&PoolSnapshot>, config: &PoolConfig) -> Vec<Vec<Replica>> {
    config
        .servers
        .iter()
        .map(|s| {
            let before = old.and_then(|o| {
                let i = o.config.servers.iter().position(|p| p.name == s.name)?;
                Some(o.replicas[i].as_slice())
            });
            let before = before.unwrap_or(&[]);
            match s.is_sentinel_master() {
                true => before.to_vec(),
                false => keep_health(before, &s.replicas),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_serves_until_the_prober_finds_it_unfit() {
        let r = Replica {
            addr: ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            health: Arc::default(),
        };
        assert!(r.serves(100), "optimistic before the first look");
        let look = |lag_ms, loading, link_up| ReplicaProbe {
            lag_ms,
            loading,
            link_up,
        };
        for (probe, why) in [
            (look(None, false, true), "not answering"),
            (look(Some(0), true, true), "loading"),
            (look(Some(0), false, false), "link to its master down"),
            (look(Some(101), false, true), "lagging"),
        ] {
            r.health.replica.record(probe);
            assert_eq!(r.health.replica.unfit(100), Some(why));
            assert!(!r.serves(100));
        }
        r.health.replica.record(look(Some(100), false, true));
        assert!(r.serves(100));
        assert_eq!(r.health.replica.lag_ms(), Some(100));
    }
}
