//! What operators see of cluster pools: each master's slots, the
//! redirections followed and the slot maps read, in the Prometheus text
//! and in INFO's `# Cluster` section. (Not in nutcracker's stats JSON,
//! whose layout stays its own.)

use std::fmt::Write;
use std::sync::Arc;

use super::text::{head, label};
use crate::pool::counters::REDIRECTIONS;
use crate::pool::{PoolRuntime, PoolSnapshot};

/// Slots served by each server of a cluster pool, by config index.
pub fn slots_per_server(snapshot: &PoolSnapshot) -> Vec<usize> {
    let mut counts = vec![0; snapshot.config.servers.len()];
    for &s in snapshot.slots.iter().flat_map(|t| t.iter()) {
        if let Some(c) = counts.get_mut(s as usize) {
            *c += 1;
        }
    }
    counts
}

/// The cluster families of the Prometheus text (cluster pools only).
pub(super) fn prometheus(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    let clusters: Vec<&Arc<PoolRuntime>> = pools
        .iter()
        .filter(|p| p.snapshot().config.cluster.is_some())
        .collect();
    if clusters.is_empty() {
        return;
    }
    let name = "redshard_cluster_redirections_total";
    head(
        out,
        name,
        "counter",
        "Redirections a cluster pool followed: moved (MOVED, the slot table updated), ask (ASKING to the importing node), retry (TRYAGAIN or CLUSTERDOWN, sent again after a pause).",
    );
    for pool in &clusters {
        let p = label(&pool.name);
        for (i, kind) in REDIRECTIONS.iter().enumerate() {
            let n = pool.stats.sum_u64(|c| &c.redirections[i]);
            let _ = writeln!(out, "{name}{{pool=\"{p}\",kind=\"{kind}\"}} {n}");
        }
    }
    type Count = fn(&PoolRuntime) -> u64;
    let maps: [(&str, &str, Count); 2] = [
        (
            "redshard_cluster_slot_map_refreshes_total",
            "Slot maps read from the cluster (at start, periodically, after a MOVED or for an unserved slot).",
            |p| p.cluster_maps.refreshes(),
        ),
        (
            "redshard_cluster_slot_map_failures_total",
            "Attempts to read the slot map that no node answered.",
            |p| p.cluster_maps.failures(),
        ),
    ];
    for (name, help, read) in maps {
        head(out, name, "counter", help);
        for pool in &clusters {
            let _ = writeln!(
                out,
                "{name}{{pool=\"{}\"}} {}",
                label(&pool.name),
                read(pool)
            );
        }
    }
    let name = "redshard_cluster_slots";
    head(
        out,
        name,
        "gauge",
        "Hash slots a master of a cluster pool serves.",
    );
    for pool in &clusters {
        let snap = pool.snapshot();
        let p = label(&pool.name);
        for (server, n) in snap.config.servers.iter().zip(slots_per_server(&snap)) {
            let s = label(&server.name);
            let _ = writeln!(out, "{name}{{pool=\"{p}\",server=\"{s}\"}} {n}");
        }
    }
}

/// INFO's `# Cluster` section for a cluster pool (empty for the others).
pub fn info_section(snapshot: &PoolSnapshot, runtime: &PoolRuntime) -> String {
    if snapshot.config.cluster.is_none() {
        return String::new();
    }
    let slots = slots_per_server(snapshot);
    let mut t = String::from("\r\n# Cluster\r\n");
    let masters = slots.iter().filter(|&&n| n > 0).count();
    let served: usize = slots.iter().sum();
    let _ = write!(t, "cluster_masters:{masters}\r\n");
    let _ = write!(t, "cluster_slots_served:{served}\r\n");
    let maps = &runtime.cluster_maps;
    let _ = write!(t, "cluster_slot_map_refreshes:{}\r\n", maps.refreshes());
    let _ = write!(t, "cluster_slot_map_failures:{}\r\n", maps.failures());
    for (i, kind) in REDIRECTIONS.iter().enumerate() {
        let n = runtime.stats.sum_u64(|c| &c.redirections[i]);
        let _ = write!(t, "cluster_redirections_{kind}:{n}\r\n");
    }
    for (i, n) in slots.iter().enumerate() {
        let name = &snapshot.config.servers[i].name;
        let _ = write!(t, "node{i}:addr={name},slots={n}\r\n");
    }
    t
}
