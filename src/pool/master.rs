//! Servers named by their Sentinel master name: the pool's side of a
//! failover (a new snapshot in which the master is at its new address,
//! swapped in as a reload's is), the way to a master's
//! [`super::master_state::MasterState`] by its name, and each server as
//! operators see it.
//!
//! The sentinel watcher ([`crate::sentinel`]) writes here; the backend
//! connections read it. Neither knows the other.

use super::health::ServerHealth;
use super::runtime::PoolRuntime;
use super::snapshot::PoolSnapshot;
use crate::config::{PoolConfig, ServerAddr};

/// What a [`PoolRuntime::move_master`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The master's index in the pool's config.
    pub index: usize,
    /// Its address before (`None`: it had none, this is its first).
    pub from: Option<ServerAddr>,
}

impl PoolRuntime {
    /// Master `master` is now at `addr`: a new snapshot in which new requests
    /// go there at once (each worker's connections to the old address hand
    /// back what they had not written and close after their last reply).
    /// `None` when it was there already or the pool has no such master
    /// (a reload removed it). A change from one address to another counts
    /// as a failover followed and starts the server's health afresh; the
    /// hold on writes ends either way.
    pub fn move_master(&self, master: &str, addr: &ServerAddr) -> Option<Moved> {
        let mut moved = None;
        self.snapshot.rcu(|current| {
            moved = master_index(&current.config, master)
                .filter(|&i| current.addrs[i].as_ref() != Some(addr))
                .map(|index| Moved {
                    index,
                    from: current.addrs[index].clone(),
                });
            match &moved {
                Some(m) => {
                    // A new server: the old one's failures and backoff
                    // are not held against it.
                    current.health[m.index].rejoin();
                    let mut addrs = current.addrs.clone();
                    addrs[m.index] = Some(addr.clone());
                    std::sync::Arc::new(current.rebuilt(addrs, current.replicas.clone()))
                }
                None => std::sync::Arc::clone(current),
            }
        });
        let snapshot = self.snapshot();
        if let Some(i) = master_index(&snapshot.config, master) {
            let state = &snapshot.health[i].master;
            state.release();
            state.set_unresolved(None);
            if moved.as_ref().is_some_and(|m| m.from.is_some()) {
                state.count_failover();
            }
        }
        moved
    }

    /// The state of master `master`, if the pool has it.
    pub fn master_state(&self, master: &str) -> Option<std::sync::Arc<ServerHealth>> {
        let snapshot = self.snapshot();
        master_index(&snapshot.config, master).map(|i| snapshot.health[i].clone())
    }

    /// A connection to server `index` doubts it is still a master: the
    /// watcher asks the sentinels again.
    pub fn doubt_master(&self, health: &ServerHealth) {
        if health.master.doubt() {
            self.master_doubts.notify_one();
        }
    }
}

/// A server as operators see it (INFO, the stats JSON, /metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerView {
    pub role: &'static str,
    /// Where it is now; `-` while a Sentinel master's is unknown.
    pub addr: String,
    /// `live`, `down` (failing, backing off), `ejected`, `unresolved` (no
    /// address yet) or `failing_over` (writes held while Sentinel promotes
    /// a replica); for a replica also `not_answering`, `loading`,
    /// `link_down` or `lagging` (it serves no reads then).
    pub state: &'static str,
    /// Failovers followed (Sentinel masters; 0 for the others).
    pub failovers: u64,
    pub sentinel: bool,
    /// How far behind its master (replicas, once looked at).
    pub lag_ms: Option<u64>,
}

impl PoolSnapshot {
    /// Server `index` as operators see it.
    pub fn view(&self, index: usize) -> ServerView {
        let health = &self.health[index];
        let addr = self.addrs[index].as_ref();
        let state = if !self.placement.is_live(index) && self.placement.is_cluster() {
            // A cluster node the pool knows that serves no slot now (a
            // replica given as a seed, a demoted master).
            "no_slots"
        } else if !self.placement.is_live(index) {
            "ejected"
        } else if addr.is_none() {
            "unresolved"
        } else if health.master.held() {
            "failing_over"
        } else if health.may_connect().is_err() || health.failures() > 0 {
            "down"
        } else {
            "live"
        };
        ServerView {
            role: "master",
            addr: addr.map_or_else(|| "-".to_string(), ServerAddr::to_string),
            state,
            failovers: health.master.failovers(),
            sentinel: self.config.servers[index].is_sentinel_master(),
            lag_ms: None,
        }
    }
}

/// Index of the Sentinel master named `master` in `config`.
pub(super) fn master_index(config: &PoolConfig, master: &str) -> Option<usize> {
    config
        .servers
        .iter()
        .position(|s| s.is_sentinel_master() && s.name == master)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    fn pool(servers: &str) -> std::sync::Arc<PoolRuntime> {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:1\n  sentinels:\n   - 127.0.0.1:26379\n  servers:\n{servers}"
        );
        let config = Config::parse(&yaml, Path::new("t.yml")).unwrap();
        PoolRuntime::new(config.pools[0].clone())
    }

    fn addr(port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn a_move_swaps_one_address_and_counts_a_failover_once_known() {
        let p = pool("   - a:1\n   - b:1\n");
        let before = p.snapshot_arc();
        assert_eq!(before.addrs, vec![None, None]);
        let first = p.move_master("b", &addr(7001)).unwrap();
        assert_eq!(
            first,
            Moved {
                index: 1,
                from: None
            }
        );
        assert_eq!(p.move_master("b", &addr(7001)), None, "already there");
        assert_eq!(p.move_master("c", &addr(7001)), None, "no such master");
        let m = p.move_master("b", &addr(7002)).unwrap();
        assert_eq!(m.from, Some(addr(7001)));
        let after = p.snapshot_arc();
        assert_eq!(after.addrs, vec![None, Some(addr(7002))]);
        assert_eq!(after.generation, before.generation, "no reload");
        assert_eq!(after.moves, before.moves + 2);
        assert!(after.version > before.version, "the epoch barrier sees it");
        assert_eq!(after.health[1].master.failovers(), 1);
        assert_eq!(after.health[0].master.failovers(), 0);
    }

    #[test]
    fn a_move_ends_the_hold_and_a_reload_keeps_the_address() {
        let p = pool("   - a:1\n   - b:1\n");
        let a = p.master_state("a").unwrap();
        a.master.hold(Duration::from_secs(60));
        assert!(a.master.held());
        p.move_master("a", &addr(7001));
        assert!(!a.master.held());
        let yaml = "p:\n  listen: 127.0.0.1:1\n  sentinels:\n   - 127.0.0.1:26379\n  servers:\n   - c:1\n   - a:1\n";
        let config = Config::parse(yaml, Path::new("t.yml")).unwrap();
        p.reload(config.pools[0].clone());
        assert_eq!(p.snapshot().addrs, vec![None, Some(addr(7001))]);
    }

    #[test]
    fn a_doubt_is_taken_once() {
        let p = pool("   - a:1\n");
        let a = p.master_state("a").unwrap();
        p.doubt_master(&a);
        p.doubt_master(&a);
        assert!(a.master.take_doubt());
        assert!(!a.master.take_doubt());
    }
}
