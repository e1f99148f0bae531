//! A cluster pool's side of the slot map: its servers are the cluster's
//! masters as seen so far (each keeps its index for the pool's life, so
//! connections, health and counters stay put when slots move), and a
//! slot table names the one serving each slot. A new map or a `MOVED`
//! becomes a new snapshot, swapped in as a reload's is, so the epoch
//! barrier keeps each client's order across it.

use std::sync::Arc;

use super::placement::UNSERVED;
use super::runtime::PoolRuntime;
use super::snapshot::{carry_replicas, PoolSnapshot, Whereabouts};
use crate::cluster::{SlotMap, SLOTS};
use crate::config::{parse_host_port, ServerAddr, ServerConfig};

/// What a new slot map changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MapChange {
    /// Masters not seen before, now servers of the pool.
    pub new_nodes: Vec<String>,
    /// Slots now served by another master (or by none, or newly by one).
    pub slots_moved: usize,
    /// Masters whose replicas changed.
    pub replicas_changed: usize,
}

impl MapChange {
    pub fn any(&self) -> bool {
        *self != MapChange::default()
    }
}

impl PoolRuntime {
    /// The cluster's slot map as a node reported it. Masters not seen
    /// before join the pool's servers; a snapshot is swapped in only when
    /// something changed, so the periodic refresh costs the clients nothing.
    pub fn apply_slot_map(&self, map: &SlotMap) -> MapChange {
        let mut change = MapChange::default();
        self.snapshot.rcu(|current| {
            let (next, c) = with_map(current, map);
            change = c;
            match next {
                Some(next) => Arc::new(next),
                None => Arc::clone(current),
            }
        });
        if change.any() {
            self.announce();
        }
        change
    }

    /// A node answered `MOVED slot addr`: the slot is served there now.
    /// Returns that master's server index (the pool learns it if new).
    /// Nothing changes when the table says so already (the other requests
    /// sent before the first `MOVED` came back get one too).
    pub fn move_slot(&self, slot: u16, addr: &str) -> Option<usize> {
        let addr = parse_host_port(addr).ok()?;
        self.swap_for_node(&addr, |base, i| {
            let table = base.slots.as_ref();
            if table.and_then(|t| t.get(slot as usize)) == Some(&(i as u16)) {
                return None;
            }
            let mut table = table.map_or_else(|| vec![UNSERVED; SLOTS as usize], |t| t.to_vec());
            table[slot as usize] = i as u16;
            let mut w = base.whereabouts();
            w.slots = Some(table.into());
            let counts = (base.generation, base.moves, base.version + 1);
            let config = base.config.clone();
            Some(PoolSnapshot::build(config, base.health.clone(), w, counts))
        })
    }

    /// The server index of the master at `addr` (an `ASK` target), the
    /// pool learning it if new.
    pub fn cluster_node(&self, addr: &str) -> Option<usize> {
        let addr = parse_host_port(addr).ok()?;
        self.swap_for_node(&addr, |_, _| None)
    }

    /// Swaps in the snapshot that knows the master at `addr`, changed
    /// further by `then` (given that snapshot and the master's index;
    /// `None`: no further change); announces it only if anything changed.
    fn swap_for_node(
        &self,
        addr: &ServerAddr,
        then: impl Fn(&PoolSnapshot, usize) -> Option<PoolSnapshot>,
    ) -> Option<usize> {
        let mut index = None;
        let mut changed = false;
        self.snapshot.rcu(|current| {
            let (i, grown) = with_node(current, addr);
            index = Some(i);
            let next = then(grown.as_ref().unwrap_or(current), i).or(grown);
            changed = next.is_some();
            next.map_or_else(|| Arc::clone(current), Arc::new)
        });
        if changed {
            self.announce();
        }
        index
    }
}

/// `current` with `map` applied, or `None` when it changes nothing.
fn with_map(current: &PoolSnapshot, map: &SlotMap) -> (Option<PoolSnapshot>, MapChange) {
    let mut change = MapChange::default();
    let mut config = current.config.clone();
    let mut health = current.health.clone();
    let mut addrs = current.addrs.clone();
    // Each map node's server index, learning new ones.
    let mut index_of = Vec::with_capacity(map.nodes.len());
    for node in &map.nodes {
        let Ok(addr) = parse_host_port(&node.addr) else {
            index_of.push(None);
            continue;
        };
        let i = match addrs.iter().position(|a| a.as_ref() == Some(&addr)) {
            Some(i) => i,
            None => {
                change.new_nodes.push(addr.to_string());
                config.servers.push(node_config(&addr));
                health.push(Arc::default());
                addrs.push(Some(addr));
                config.servers.len() - 1
            }
        };
        index_of.push(Some(i));
    }
    if config.servers.len() > UNSERVED as usize {
        return (None, MapChange::default());
    }
    // Replicas: a master's from the map; none for a server that is no
    // master now (a demoted one, or a replica given as a seed).
    for (i, server) in config.servers.iter_mut().enumerate() {
        let listed = map
            .nodes
            .iter()
            .zip(&index_of)
            .find(|(_, at)| **at == Some(i))
            .map(|(n, _)| {
                n.replicas
                    .iter()
                    .filter_map(|r| parse_host_port(r).ok())
                    .collect()
            })
            .unwrap_or_default();
        if server.replicas != listed {
            server.replicas = listed;
            change.replicas_changed += 1;
        }
    }
    let table: Vec<u16> = (0..SLOTS)
        .map(|slot| {
            map.node_of(slot)
                .and_then(|n| index_of[n])
                .map_or(UNSERVED, |i| i as u16)
        })
        .collect();
    change.slots_moved = match &current.slots {
        Some(old) => old.iter().zip(&table).filter(|(a, b)| a != b).count(),
        None => table.iter().filter(|&&s| s != UNSERVED).count(),
    };
    if !change.any() {
        return (None, change);
    }
    let nodes_changed = !change.new_nodes.is_empty() || change.replicas_changed > 0;
    let replicas = carry_replicas(Some(current), &config);
    let whereabouts = Whereabouts {
        addrs,
        replicas,
        slots: Some(table.into()),
    };
    let moves = current.moves + u64::from(nodes_changed);
    let counts = (current.generation, moves, current.version + 1);
    let next = PoolSnapshot::build(config, health, whereabouts, counts);
    (Some(next), change)
}

/// The index of the master at `addr` in `current`, and the snapshot that
/// has it when it is new there.
fn with_node(current: &PoolSnapshot, addr: &ServerAddr) -> (usize, Option<PoolSnapshot>) {
    if let Some(i) = current.addrs.iter().position(|a| a.as_ref() == Some(addr)) {
        return (i, None);
    }
    let mut config = current.config.clone();
    config.servers.push(node_config(addr));
    let mut health = current.health.clone();
    health.push(Arc::default());
    let mut w = current.whereabouts();
    w.addrs.push(Some(addr.clone()));
    w.replicas.push(Vec::new());
    let counts = (current.generation, current.moves + 1, current.version + 1);
    let next = PoolSnapshot::build(config, health, w, counts);
    (next.config.servers.len() - 1, Some(next))
}

/// A master of the cluster as a server of the pool: named by its address.
fn node_config(addr: &ServerAddr) -> ServerConfig {
    ServerConfig {
        spec: format!("{addr}:1"),
        name: addr.to_string(),
        named: false,
        addr: Some(addr.clone()),
        weight: 1,
        replicas: Vec::new(),
    }
}
