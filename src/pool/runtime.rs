//! A pool as the workers share it: an immutable snapshot (config, placement,
//! server health) behind an ArcSwap, so an ejection or a reload can swap it
//! while requests read it, the pool-wide counters the client limit needs,
//! the clients waiting for its locks, and its clients as CLIENT LIST shows
//! them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::client_list::ClientList;
use super::health::ServerHealth;
use super::Placement;
use crate::config::{PoolConfig, ServerAddr};
use crate::hosted::LockWaiters;
use crate::pool::counters::{PoolCounters, Sharded};

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
    pub replicas: Vec<Vec<super::Replica>>,
    /// A cluster pool's slot table: the server (config index) serving
    /// each slot, as the cluster last said; `None` before it said.
    pub slots: Option<super::SlotTable>,
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
        let replicas = super::replica::carry_replicas(None, &config);
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
        replicas: Vec<Vec<super::Replica>>,
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
    pub replicas: Vec<Vec<super::Replica>>,
    pub slots: Option<super::SlotTable>,
}

/// A client counted against `client_connections` for as long as this
/// lives: its session drops it however it ends, by unwinding from a panic
/// too, so no count is lost.
#[derive(Debug)]
pub struct Admission {
    id: u64,
    runtime: Arc<PoolRuntime>,
}

impl Admission {
    /// The client's id, unique in the pool.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.runtime.client_list.remove(self.id);
        self.runtime.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub struct PoolRuntime {
    pub name: String,
    pub(super) snapshot: ArcSwap<PoolSnapshot>,
    /// Client connections open now, across all workers.
    clients: AtomicUsize,
    next_client_id: AtomicU64,
    /// The pool's counters, one shard per worker.
    pub stats: Sharded<PoolCounters>,
    /// Clients in LOCK.ACQUIRE ... WAIT, on any worker, by lock: a release
    /// through any worker wakes one of them.
    pub lock_waiters: Arc<LockWaiters>,
    /// The version of each new snapshot, for sessions that must look again
    /// at where their channels live (subscribers) as soon as it changes.
    changes: tokio::sync::watch::Sender<u64>,
    /// Its clients as CLIENT LIST shows them; a client's line goes when
    /// its [`Admission`] does.
    pub client_list: ClientList,
    /// A server of this pool doubted it is still a master (`-READONLY`):
    /// the pool's sentinel watcher asks again at once.
    pub master_doubts: tokio::sync::Notify,
    /// A cluster pool's slot map is wanted now (a `MOVED`, a slot no
    /// master serves), and what its watcher did: see [`super::ClusterMaps`].
    pub cluster_maps: super::ClusterMaps,
}

impl PoolRuntime {
    pub fn new(config: PoolConfig) -> Arc<PoolRuntime> {
        Arc::new(PoolRuntime {
            name: config.name.clone(),
            snapshot: ArcSwap::from_pointee(PoolSnapshot::new(config)),
            clients: AtomicUsize::new(0),
            next_client_id: AtomicU64::new(1),
            stats: Sharded::default(),
            lock_waiters: Arc::default(),
            changes: tokio::sync::watch::Sender::new(0),
            client_list: ClientList::default(),
            master_doubts: tokio::sync::Notify::new(),
            cluster_maps: super::ClusterMaps::default(),
        })
    }

    /// Changes as they come: each new snapshot's version.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(super) fn announce(&self) {
        self.changes.send_replace(self.snapshot.load().version);
    }

    /// The current snapshot. Cheap; do not hold it across an `.await`.
    #[inline]
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<PoolSnapshot>> {
        self.snapshot.load()
    }

    pub fn snapshot_arc(&self) -> Arc<PoolSnapshot> {
        self.snapshot.load_full()
    }

    /// Rebuilds the ring from the servers' health (after an ejection or a
    /// rejoin). Concurrent calls converge: each reads the health atomics.
    pub fn rebuild_placement(&self) {
        self.snapshot.rcu(|current| {
            PoolSnapshot::build(
                current.config.clone(),
                current.health.clone(),
                current.whereabouts(),
                (current.generation, current.moves, current.version + 1),
            )
        });
        self.announce();
    }

    /// Swaps in a new config for this pool (a reload). Servers present in
    /// both (same name, or same address when unnamed) keep their health;
    /// returns what changed. Done as a read-copy-update, like an ejection's
    /// rebuild, so neither can overwrite the other's snapshot, and every new
    /// snapshot gets a version of its own.
    pub fn reload(&self, config: PoolConfig) -> PoolChange {
        let mut change = PoolChange::default();
        self.snapshot.rcu(|old| {
            let (config, slots) = super::cluster::carry_nodes(old, config.clone());
            let (health, c) = carry_over(old, &config);
            change = c;
            let generation = old.generation + u64::from(change.any);
            let whereabouts = Whereabouts {
                addrs: super::master::carry_addresses(old, &config),
                replicas: super::replica::carry_replicas(Some(old), &config),
                slots,
            };
            let counts = (generation, old.moves, old.version + 1);
            PoolSnapshot::build(config, health, whereabouts, counts)
        });
        self.announce();
        change
    }

    /// Admits one more client unless `limit` (0: none) is reached.
    pub fn admit_client(self: &Arc<Self>, limit: u32) -> Option<Admission> {
        let before = self.clients.fetch_add(1, Ordering::AcqRel);
        if limit > 0 && before >= limit as usize {
            self.clients.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admission {
            id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
            runtime: Arc::clone(self),
        })
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }
}

/// The health of each server of `config`, carried over from `old` where the
/// server was there before, and what changed.
fn carry_over(old: &PoolSnapshot, config: &PoolConfig) -> (Vec<Arc<ServerHealth>>, PoolChange) {
    let identity = |s: &crate::config::ServerConfig| s.label();
    let mut change = PoolChange::default();
    let health = config
        .servers
        .iter()
        .map(|s| {
            match old
                .config
                .servers
                .iter()
                .position(|o| identity(o) == identity(s))
            {
                Some(i) => {
                    if old.config.servers[i] != *s {
                        change.servers_changed.push(s.label());
                    }
                    old.health[i].clone()
                }
                None => {
                    change.servers_added.push(s.label());
                    Arc::default()
                }
            }
        })
        .collect();
    for o in &old.config.servers {
        if !config.servers.iter().any(|s| identity(s) == identity(o)) {
            change.servers_removed.push(o.label());
        }
    }
    change.options_changed = options_diff(&old.config, config);
    change.any = old.config != *config;
    (health, change)
}

/// What a reload changed in one pool.
#[derive(Debug, Default, Clone)]
pub struct PoolChange {
    pub any: bool,
    pub servers_added: Vec<String>,
    pub servers_removed: Vec<String>,
    pub servers_changed: Vec<String>,
    pub options_changed: Vec<&'static str>,
}

impl std::fmt::Display for PoolChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.any {
            return f.write_str("unchanged");
        }
        let mut parts = Vec::new();
        if !self.servers_added.is_empty() {
            parts.push(format!("servers added [{}]", self.servers_added.join(", ")));
        }
        if !self.servers_removed.is_empty() {
            parts.push(format!(
                "servers removed [{}]",
                self.servers_removed.join(", ")
            ));
        }
        if !self.servers_changed.is_empty() {
            parts.push(format!(
                "servers changed (weight or address) [{}]",
                self.servers_changed.join(", ")
            ));
        }
        if !self.options_changed.is_empty() {
            parts.push(format!(
                "options changed [{}]",
                self.options_changed.join(", ")
            ));
        }
        if parts.is_empty() {
            parts.push("server order changed".into());
        }
        f.write_str(&parts.join("; "))
    }
}

fn options_diff(a: &PoolConfig, b: &PoolConfig) -> Vec<&'static str> {
    let mut out = Vec::new();
    // The pattern names every field but the name and the servers (compared
    // apart), so a new option cannot be left out of the reload log.
    macro_rules! diff {
        ($($field:ident),*) => {{
            let PoolConfig { name: _, servers: _, $($field: _),* } = a;
            $(if a.$field != b.$field { out.push(stringify!($field)); })*
        }};
    }
    diff!(
        listen,
        hash,
        hash_tag,
        distribution,
        timeout_ms,
        backlog,
        client_connections,
        redis,
        redis_auth,
        redis_db,
        preconnect,
        auto_eject_hosts,
        server_connections,
        server_retry_timeout_ms,
        server_failure_limit,
        tcpkeepalive,
        max_request_bytes,
        max_key_bytes,
        client_output_limit,
        max_reply_bytes,
        hosted,
        bloom_max_bytes,
        max_dedicated_connections,
        multi,
        allow_keys,
        allow_flush,
        users,
        redis_username,
        redis_hosted_login,
        max_auth_failures,
        sentinel,
        cluster,
        read_from,
        replica_max_lag_ms,
        listen_tls,
        backend_tls
    );
    out
}
