//! A reload of one pool: what the new snapshot carries over from the old
//! one (each kept server's health, a Sentinel master's address and
//! replicas, a cluster's masters and slot table), and what changed. Above
//! the files that own those parts, so the runtime below needs none of them.

use std::sync::Arc;

use super::health::ServerHealth;
use super::master::master_index;
use super::placement::SlotTable;
use super::runtime::PoolRuntime;
use super::snapshot::{carry_replicas, PoolSnapshot, Whereabouts};
use crate::config::{PoolConfig, ServerAddr};

impl PoolRuntime {
    /// Swaps in a new config for this pool (a reload). Servers present in
    /// both (same name, or same address when unnamed) keep their health;
    /// returns what changed. Done as a read-copy-update, like an ejection's
    /// rebuild, so neither can overwrite the other's snapshot, and every new
    /// snapshot gets a version of its own.
    pub fn reload(&self, config: PoolConfig) -> PoolChange {
        let mut change = PoolChange::default();
        self.snapshot.rcu(|old| {
            let (config, slots) = carry_nodes(old, config.clone());
            let (health, c) = carry_over(old, &config);
            change = c;
            let generation = old.generation + u64::from(change.any);
            let whereabouts = Whereabouts {
                addrs: carry_addresses(old, &config),
                replicas: carry_replicas(Some(old), &config),
                slots,
            };
            let counts = (generation, old.moves, old.version + 1);
            PoolSnapshot::build(config, health, whereabouts, counts)
        });
        self.announce();
        change
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

/// The addresses of `config`'s servers after a reload: a server's own, or
/// for a Sentinel master the one it had in `old` (its watcher asks again).
fn carry_addresses(old: &PoolSnapshot, config: &PoolConfig) -> Vec<Option<ServerAddr>> {
    config
        .servers
        .iter()
        .map(|s| match &s.addr {
            Some(addr) => Some(addr.clone()),
            None => master_index(&old.config, &s.name).and_then(|i| old.addrs[i].clone()),
        })
        .collect()
}

/// A reload of a cluster pool keeps the masters learnt and the slot table
/// (the watcher asks the cluster again if the seeds changed); a pool that
/// becomes a cluster pool starts from its seeds.
fn carry_nodes(old: &PoolSnapshot, mut config: PoolConfig) -> (PoolConfig, Option<SlotTable>) {
    match (&old.config.cluster, &config.cluster) {
        (Some(_), Some(_)) => {
            config.servers = old.config.servers.clone();
            (config, old.slots.clone())
        }
        _ => (config, None),
    }
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
