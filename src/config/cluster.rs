//! A pool whose backend is a Redis Cluster (`cluster: true`): its servers
//! are seeds, asked for the slot map; the hash, distribution and hash tag of
//! a ring do not apply (a key goes by its slot, and the tag rule is the
//! cluster's own).

use super::schema::RawPool;
use super::{defaults, Bounded, ConfigError, ConfigErrorKind, Fail, ServerAddr, ServerConfig};

/// How a pool reaches its Redis Cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The nodes first asked for the slot map (any node of the cluster).
    pub seeds: Vec<ServerAddr>,
    /// How often the slot map is asked again when no redirection asked
    /// for it sooner.
    pub refresh_ms: u64,
    /// Ring settings given in the file that a cluster pool ignores, for
    /// `-t` and the start-up log to say so.
    pub ignored: Vec<&'static str>,
}

/// The pool's cluster settings, if `cluster: true`; `servers` checked as
/// seeds.
pub(super) fn cluster_config(
    raw: &RawPool,
    servers: &[ServerConfig],
    fail: &Fail<'_>,
) -> Result<Option<ClusterConfig>, ConfigError> {
    if raw.cluster != Some(true) {
        if raw.cluster_refresh_ms.is_some() {
            let kind = ConfigErrorKind::NoClusterFor;
            return Err(fail(kind, Some("cluster_refresh_ms"), None));
        }
        return Ok(None);
    }
    if raw.sentinels.is_some() {
        return Err(fail(
            ConfigErrorKind::ClusterWithSentinels,
            Some("sentinels"),
            None,
        ));
    }
    if raw.redis_db.is_some_and(|db| db.get() != 0) {
        return Err(fail(ConfigErrorKind::ClusterDb, Some("redis_db"), None));
    }
    let mut seeds = Vec::with_capacity(servers.len());
    for s in servers {
        let why = match &s.addr {
            _ if !s.replicas.is_empty() => Some(format!("'{}' lists replicas", s.spec)),
            Some(ServerAddr::Unix(_)) => Some(format!("'{}' is a unix socket", s.spec)),
            None => Some(format!("'{}' is no address", s.spec)),
            Some(addr) => {
                seeds.push(addr.clone());
                None
            }
        };
        if let Some(why) = why {
            let kind = ConfigErrorKind::ClusterServer(why);
            return Err(fail(kind, Some("servers"), Some(&s.spec)));
        }
    }
    let ignored = [
        ("hash", raw.hash.is_some()),
        ("distribution", raw.distribution.is_some()),
        ("hash_tag", raw.hash_tag.is_some()),
        ("auto_eject_hosts", raw.auto_eject_hosts == Some(true)),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    Ok(Some(ClusterConfig {
        seeds,
        refresh_ms: raw
            .cluster_refresh_ms
            .map_or(defaults::CLUSTER_REFRESH_MS, Bounded::get),
        ignored,
    }))
}
