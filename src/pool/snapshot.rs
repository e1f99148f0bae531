//! The snapshot a pool's requests route with: config, placement, each
//! server's health, where its servers are (addresses, replicas, a
//! cluster's slot table) and the counts that tell the workers what changed;
//! immutable, so a change is a new snapshot built from the last one.

use std::sync::Arc;

use super::health::ServerHealth;
use super::placement::{Placement, SlotTable};
use crate::config::{PoolConfig, ServerAddr};

/// Everything a request needs to route, fixed for the life of the snapshot.
#[derive(Debug)]
pub struct PoolSnapshot {
    pub config: PoolConfig,
    pub placement: Placement,
    /// Health of each server, by config index; shared with later snapshots.
    pub health: Vec<Arc<ServerHealth>>,
    /// Where each server is now, by config index: its address in the config,
    /// or for a Sentinel master the one the sentinels last gave (`None`
    /// until they gave one).
    pub addrs: Vec<Option<ServerAddr>>,
    /// Each server's replicas, by config index (for `read_from`).
    pub replicas: Vec<Vec<Replica>>,
    /// A cluster pool's slot table: the server (config index) serving
    /// each slot, as the cluster last said; `None` before it said.
    pub slots: Option<SlotTable>,
    /// Bumped when the servers or their settings change (a reload), so the
    /// workers know to rebuild their connections. Ejections keep it.
    pub generation: u64,
    /// Bumped when a Sentinel master moves (a failover followed) or its
    /// replicas change, so the workers replace their connections to it,
    /// and only those.
    pub moves: u64,
    /// Bumped by every new snapshot (reload, ejection, rejoin): a client whose
    /// requests in flight were routed with an older one lets them finish
    /// before it routes more, so its commands keep their order.
    pub version: u64,
}

impl PoolSnapshot {
    /// A snapshot of `config` with every server healthy (for tools and tests).
    pub fn new(config: PoolConfig) -> PoolSnapshot {
        let health = config.servers.iter().map(|_| Arc::default()).collect();
        let addrs = config.servers.iter().map(|s| s.addr.clone()).collect();
        let replicas = carry_replicas(None, &config);
        let whereabouts = Whereabouts {
            addrs,
            replicas,
            slots: None,
        };
        PoolSnapshot::build(config, health, whereabouts, (0, 0, 0))
    }

    /// `counts`: generation, moves and version.
    pub(super) fn build(
        config: PoolConfig,
        health: Vec<Arc<ServerHealth>>,
        whereabouts: Whereabouts,
        (generation, moves, version): (u64, u64, u64),
    ) -> PoolSnapshot {
        let Whereabouts {
            addrs,
            replicas,
            slots,
        } = whereabouts;
        let placement = if config.cluster.is_some() {
            Placement::cluster(&config, slots.clone())
        } else if config.auto_eject_hosts {
            Placement::with_live(&config, |i| !health[i].is_ejected())
        } else {
            Placement::new(&config)
        };
        PoolSnapshot {
            config,
            placement,
            health,
            addrs,
            replicas,
            slots,
            generation,
            moves,
            version,
        }
    }

    /// Where its servers are now, to build the next snapshot from.
    pub(super) fn whereabouts(&self) -> Whereabouts {
        Whereabouts {
            addrs: self.addrs.clone(),
            replicas: self.replicas.clone(),
            slots: self.slots.clone(),
        }
    }

    /// The same snapshot with new addresses and replicas, under a new
    /// version.
    pub(super) fn rebuilt(
        &self,
        addrs: Vec<Option<ServerAddr>>,
        replicas: Vec<Vec<Replica>>,
    ) -> PoolSnapshot {
        let counts = (self.generation, self.moves + 1, self.version + 1);
        let whereabouts = Whereabouts {
            addrs,
            replicas,
            slots: self.slots.clone(),
        };
        PoolSnapshot::build(
            self.config.clone(),
            self.health.clone(),
            whereabouts,
            counts,
        )
    }
}

/// Where a pool's servers are, besides its config: addresses (a Sentinel
/// master's move), replicas, and a cluster's slot table.
#[derive(Debug, Clone)]
pub(super) struct Whereabouts {
    pub addrs: Vec<Option<ServerAddr>>,
    pub replicas: Vec<Vec<Replica>>,
    pub slots: Option<SlotTable>,
}

/// One replica of a server.
#[derive(Debug, Clone)]
pub struct Replica {
    pub addr: ServerAddr,
    /// Its health and counters, carried over by a reload like a server's.
    pub health: Arc<ServerHealth>,
}

impl Replica {
    /// It may take a read now: its connections are not backing off after a
    /// failure, and the prober found it fit.
    #[inline]
    pub fn serves(&self, max_lag_ms: u64) -> bool {
        self.health.may_connect().is_ok() && self.health.replica.unfit(max_lag_ms).is_none()
    }
}

/// `addrs` as replicas, with the health of those already in `old`.
pub(super) fn keep_health(old: &[Replica], addrs: &[ServerAddr]) -> Vec<Replica> {
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
    use crate::pool::replica_state::ReplicaProbe;

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
