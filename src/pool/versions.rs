//! The Redis version a pool reports to its clients (HELLO, INFO): the
//! lowest its servers run, since a client must only use the commands every
//! server it may reach has. Which servers count: every server of a ring
//! (an ejected one comes back), a cluster's masters that serve slots (a
//! node the pool once knew may be long gone), and the replicas when the
//! pool reads from them.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::health::ServerHealth;
use super::snapshot::PoolSnapshot;
use super::version_state::RedisVersion;
use crate::config::{ReadFrom, ServerAddr};

/// A server whose version the pool reports.
pub struct Versioned<'a> {
    /// `None`: a Sentinel master whose address is not known yet.
    pub addr: Option<&'a ServerAddr>,
    pub health: &'a Arc<ServerHealth>,
    /// Its name in logs: the server's label, or a replica's address.
    label: LabelOf<'a>,
}

enum LabelOf<'a> {
    Server(&'a crate::config::ServerConfig),
    Replica(&'a ServerAddr),
}

impl Versioned<'_> {
    pub fn label(&self) -> String {
        match self.label {
            LabelOf::Server(s) => s.label(),
            LabelOf::Replica(addr) => format!("{addr} (replica)"),
        }
    }
}

impl PoolSnapshot {
    /// The servers whose versions count (see the module's doc).
    pub fn versioned(&self) -> impl Iterator<Item = Versioned<'_>> {
        let cluster = self.placement.is_cluster();
        let replicas = self.config.read_from != ReadFrom::Master;
        self.config
            .servers
            .iter()
            .enumerate()
            .filter(move |(i, _)| !cluster || self.placement.is_live(*i))
            .flat_map(move |(i, server)| {
                let master = Versioned {
                    addr: self.addrs[i].as_ref(),
                    health: &self.health[i],
                    label: LabelOf::Server(server),
                };
                let taken = if replicas { &self.replicas[i][..] } else { &[] };
                let replicas = taken.iter().map(|r| Versioned {
                    addr: Some(&r.addr),
                    health: &r.health,
                    label: LabelOf::Replica(&r.addr),
                });
                std::iter::once(master).chain(replicas)
            })
    }

    /// The lowest version among the servers that count, `None` while none
    /// is known.
    pub fn lowest_version(&self) -> Option<RedisVersion> {
        self.versioned()
            .filter_map(|s| s.health.version.get())
            .min()
    }

    /// When the servers that count run more than one `major.minor`: those
    /// levels, and each server's version, for the log.
    pub fn version_mix(&self) -> Option<(BTreeSet<(u16, u16)>, String)> {
        let known: Vec<(String, RedisVersion)> = self
            .versioned()
            .filter_map(|s| Some((s.label(), s.health.version.get()?)))
            .collect();
        let levels: BTreeSet<(u16, u16)> = known.iter().map(|(_, v)| v.major_minor()).collect();
        if levels.len() < 2 {
            return None;
        }
        let each: Vec<String> = known.iter().map(|(s, v)| format!("{s} {v}")).collect();
        Some((levels, each.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn snapshot(extra: &str) -> PoolSnapshot {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:1\n{extra}  servers:\n   - 127.0.0.1:2:1\n   - server: 127.0.0.1:3:1\n     replicas: [127.0.0.1:4]\n"
        );
        let config = Config::parse(&yaml, std::path::Path::new("t.yml")).unwrap();
        PoolSnapshot::new(config.pools.into_iter().next().unwrap())
    }

    fn v(text: &str) -> RedisVersion {
        RedisVersion::parse(text).unwrap()
    }

    #[test]
    fn the_lowest_known_version_of_the_servers_that_count() {
        let s = snapshot("");
        assert_eq!(s.lowest_version(), None, "none known yet");
        s.health[1].version.learn(v("7.2.4"), "p", "b");
        assert_eq!(s.lowest_version(), Some(v("7.2.4")));
        s.health[0].version.learn(v("7.0.15"), "p", "a");
        assert_eq!(s.lowest_version(), Some(v("7.0.15")));
        assert!(s.version_mix().is_some());
        // The replica serves no reads: its version does not count.
        s.replicas[1][0].health.version.learn(v("6.2.14"), "p", "r");
        assert_eq!(s.lowest_version(), Some(v("7.0.15")));
    }

    #[test]
    fn replicas_count_when_the_pool_reads_from_them() {
        let s = snapshot("  read_from: prefer_replica\n");
        s.health[0].version.learn(v("7.0.15"), "p", "a");
        s.replicas[1][0].health.version.learn(v("6.2.14"), "p", "r");
        assert_eq!(s.lowest_version(), Some(v("6.2.14")));
        let (levels, each) = s.version_mix().unwrap();
        assert_eq!(levels.into_iter().collect::<Vec<_>>(), [(6, 2), (7, 0)]);
        assert_eq!(each, "127.0.0.1:2 7.0.15, 127.0.0.1:4 (replica) 6.2.14");
    }

    #[test]
    fn patch_levels_alone_are_no_mix() {
        let s = snapshot("");
        s.health[0].version.learn(v("7.0.15"), "p", "a");
        s.health[1].version.learn(v("7.0.11"), "p", "b");
        assert_eq!(s.version_mix(), None);
        assert_eq!(s.lowest_version(), Some(v("7.0.11")));
    }
}
