//! The slot map a cluster reports: which master serves each slot, and its
//! replicas. Built from CLUSTER SHARDS (Redis 7) or CLUSTER SLOTS (older),
//! decoded into a [`Value`] first.

use super::SLOTS;
use crate::protocol::value::Value;

/// A slot no master serves.
pub const UNASSIGNED: u16 = u16::MAX;

/// A master and its replicas, by `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub addr: String,
    pub replicas: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// Masters in the order first seen.
    pub nodes: Vec<Node>,
    /// For each slot, its master's index in `nodes`, or [`UNASSIGNED`].
    slots: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotMapError {
    #[error("the node answered {0}")]
    Refused(String),
    #[error("unexpected shape of the slot map reply: {0}")]
    Shape(&'static str),
    /// A TLS pool, and the node announces only its plain port.
    #[error("node {0} announces no tls-port: a pool with tls: true reaches the nodes at their TLS ports, which a cluster announces with tls-cluster yes")]
    NoTlsPort(String),
    /// A plain pool, and the node serves TLS only.
    #[error("node {0} announces only a tls-port: it serves TLS only, so the pool needs tls: true")]
    OnlyTlsPort(String),
}

impl SlotMap {
    /// The master serving `slot`, as an index in `nodes`.
    pub fn node_of(&self, slot: u16) -> Option<usize> {
        match self.slots.get(slot as usize) {
            Some(&n) if n != UNASSIGNED => Some(n as usize),
            _ => None,
        }
    }

    /// Slots with no master.
    pub fn unassigned(&self) -> usize {
        self.slots.iter().filter(|&&n| n == UNASSIGNED).count()
    }

    /// Slots each master serves, in `nodes` order.
    pub fn slots_per_node(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes.len()];
        for &n in &self.slots {
            if n != UNASSIGNED {
                counts[n as usize] += 1;
            }
        }
        counts
    }

    /// From a CLUSTER SHARDS reply: per shard, `slots` (start/end pairs) and
    /// `nodes` (maps with ip or endpoint, port and/or tls-port, role,
    /// health). Each node by its `tls-port` when the pool reaches the
    /// nodes over TLS (`tls`), else by its `port`: Redis announces both
    /// whatever the connection asking (tests/data/cluster/tls-*.bin).
    pub fn from_shards(reply: &Value, tls: bool) -> Result<SlotMap, SlotMapError> {
        let shards = top_array(reply)?;
        let mut map = SlotMap::empty();
        for shard in shards {
            let ranges = shard
                .field("slots")
                .and_then(Value::as_array)
                .ok_or(SlotMapError::Shape("a shard without slots"))?;
            let nodes = shard
                .field("nodes")
                .and_then(Value::as_array)
                .ok_or(SlotMapError::Shape("a shard without nodes"))?;
            let mut master = None;
            let mut replicas = Vec::new();
            for node in nodes {
                let addr = shard_node_addr(node, tls)?;
                let online = node.field("health").and_then(Value::as_str) != Some("fail");
                match node.field("role").and_then(Value::as_str) {
                    Some("master") => master = Some(addr),
                    _ if online => replicas.push(addr),
                    _ => {}
                }
            }
            // A shard without a master (all failed) or without slots serves
            // nothing.
            let (Some(master), false) = (master, ranges.is_empty()) else {
                continue;
            };
            let index = map.add_node(master, replicas);
            for pair in ranges.chunks(2) {
                map.assign(pair, index)?;
            }
        }
        Ok(map)
    }

    /// From a CLUSTER SLOTS reply: per range, `[start, end, master, replica...]`
    /// where each node is `[ip, port, id, ...]`. The port is of the
    /// connection's kind: a node asked over TLS gives TLS ports (as in its
    /// `MOVED` and `ASK`).
    pub fn from_slots(reply: &Value) -> Result<SlotMap, SlotMapError> {
        let ranges = top_array(reply)?;
        let mut map = SlotMap::empty();
        for range in ranges {
            let items = range
                .as_array()
                .filter(|i| i.len() >= 3)
                .ok_or(SlotMapError::Shape("a slot range without a master"))?;
            let addr = |node: &Value| -> Result<String, SlotMapError> {
                let node = node
                    .as_array()
                    .filter(|n| n.len() >= 2)
                    .ok_or(SlotMapError::Shape("a node that is not [ip, port, ...]"))?;
                let host = node[0].as_str().unwrap_or_default();
                let port = node[1]
                    .as_int()
                    .ok_or(SlotMapError::Shape("a node port that is no number"))?;
                Ok(join(host, port))
            };
            let master = addr(&items[2])?;
            let replicas = items[3..].iter().map(addr).collect::<Result<_, _>>()?;
            let index = map.add_node(master, replicas);
            map.assign(&items[..2], index)?;
        }
        Ok(map)
    }

    fn empty() -> SlotMap {
        SlotMap {
            nodes: Vec::new(),
            slots: vec![UNASSIGNED; SLOTS as usize],
        }
    }

    /// The index of master `addr`, added if new (a master serving several
    /// ranges appears once per range in CLUSTER SLOTS).
    fn add_node(&mut self, addr: String, replicas: Vec<String>) -> u16 {
        if let Some(i) = self.nodes.iter().position(|n| n.addr == addr) {
            return i as u16;
        }
        self.nodes.push(Node { addr, replicas });
        (self.nodes.len() - 1) as u16
    }

    fn assign(&mut self, pair: &[Value], node: u16) -> Result<(), SlotMapError> {
        let bound = |v: Option<&Value>| {
            v.and_then(Value::as_int)
                .filter(|&s| (0..SLOTS as i64).contains(&s))
                .ok_or(SlotMapError::Shape("a slot range bound out of 0..16383"))
        };
        let (start, end) = (bound(pair.first())?, bound(pair.get(1))?);
        if start > end {
            return Err(SlotMapError::Shape(
                "a slot range that ends before it starts",
            ));
        }
        for s in start..=end {
            self.slots[s as usize] = node;
        }
        Ok(())
    }
}

fn top_array(reply: &Value) -> Result<&[Value], SlotMapError> {
    match reply {
        Value::Error(e) => Err(SlotMapError::Refused(e.clone())),
        Value::Array(items) => Ok(items),
        _ => Err(SlotMapError::Shape("not an array")),
    }
}

/// A CLUSTER SHARDS node's address: its endpoint (or ip) and its
/// tls-port (`tls`) or port.
fn shard_node_addr(node: &Value, tls: bool) -> Result<String, SlotMapError> {
    let host = ["endpoint", "ip"]
        .iter()
        .filter_map(|k| node.field(k).and_then(Value::as_str))
        .find(|h| !h.is_empty() && *h != "?")
        .ok_or(SlotMapError::Shape("a node without an address"))?;
    let port = |key| node.field(key).and_then(Value::as_int).filter(|p| *p > 0);
    match (tls, port("port"), port("tls-port")) {
        (false, Some(p), _) | (true, _, Some(p)) => Ok(join(host, p)),
        (true, Some(p), None) => Err(SlotMapError::NoTlsPort(join(host, p))),
        (false, None, Some(p)) => Err(SlotMapError::OnlyTlsPort(join(host, p))),
        (_, None, None) => Err(SlotMapError::Shape("a node without a port")),
    }
}

fn join(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
