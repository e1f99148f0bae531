//! Key -> hash tag -> hash -> distribution -> server index, as nutcracker's
//! `server_pool_idx` does it, or in a cluster pool key -> slot -> server by
//! the slot table; and what the router needs to know of the pool besides:
//! its servers' names and layout, and whether whole-keyspace commands may
//! run.

use std::sync::Arc;

use crate::cluster::SLOTS;
use crate::config::PoolConfig;
use crate::distribution::{Ring, RingMember};
use crate::hashkit::{extract_hash_tag, Hash, HashTag};

/// The key namespace reserved for the hosted commands' keys.
pub const RESERVED_PREFIX: &[u8] = b"rs:";
const BRACES: HashTag = HashTag {
    open: b'{',
    close: b'}',
};

/// For each slot, the config index of the server serving it, or
/// [`UNSERVED`].
pub type SlotTable = Arc<[u16]>;

/// A slot no known master serves.
pub const UNSERVED: u16 = u16::MAX;

/// Where a pool's keys go, given which of its servers are live.
#[derive(Debug, Clone)]
pub struct Placement {
    hash: Hash,
    tag: Option<HashTag>,
    /// Servers in the config, live or not (nutcracker skips hashing when 1).
    server_count: usize,
    /// Which servers take keys (the others are ejected).
    live: Vec<bool>,
    ring: Ring,
    /// Each server's name as errors show it, by config index.
    labels: Vec<String>,
    /// Fingerprint of the server list (names, addresses, order) and db.
    layout: u32,
    /// `allow_keys`: KEYS and RANDOMKEY go to every server.
    allow_keys: bool,
    /// `allow_flush`: FLUSHDB and FLUSHALL go to every server.
    allow_flush: bool,
    /// A cluster pool's slot table (`None` for a ring): keys go by slot,
    /// and keys that must be together must share a slot.
    slots: Option<SlotTable>,
}

impl Placement {
    /// Placement with every server of `pool` live.
    pub fn new(pool: &PoolConfig) -> Placement {
        Placement::with_live(pool, |_| true)
    }

    /// Placement over the servers for which `is_live(index)` holds, as after
    /// ejecting the others.
    pub fn with_live(pool: &PoolConfig, is_live: impl Fn(usize) -> bool) -> Placement {
        let live: Vec<RingMember<'_>> = pool
            .servers
            .iter()
            .enumerate()
            .filter(|(i, _)| is_live(*i))
            .map(|(index, s)| RingMember {
                index,
                name: s.name.as_bytes(),
                weight: s.weight,
            })
            .collect();
        Placement {
            hash: pool.hash,
            tag: pool.hash_tag,
            server_count: pool.servers.len(),
            live: (0..pool.servers.len()).map(&is_live).collect(),
            ring: Ring::build(pool.distribution, &live),
            labels: pool.servers.iter().map(|s| s.label()).collect(),
            layout: layout_fingerprint(pool),
            allow_keys: pool.allow_keys,
            allow_flush: pool.allow_flush,
            slots: None,
        }
    }

    /// A cluster pool's placement: a key goes to the master serving its
    /// slot in `slots` (none before the cluster said); a server is live
    /// while it serves a slot, so commands for every server reach each
    /// master once.
    pub fn cluster(pool: &PoolConfig, slots: Option<SlotTable>) -> Placement {
        let table: SlotTable = slots.unwrap_or_else(|| vec![UNSERVED; SLOTS as usize].into());
        let mut live = vec![false; pool.servers.len()];
        for &s in table.iter() {
            if let Some(l) = live.get_mut(s as usize) {
                *l = true;
            }
        }
        Placement {
            hash: pool.hash,
            tag: None,
            server_count: pool.servers.len(),
            live,
            ring: Ring::build(pool.distribution, &[]),
            labels: pool.servers.iter().map(|s| s.label()).collect(),
            // A cluster pool's servers only grow, each index naming one
            // node for the pool's life (reloads keep them): a cursor stays
            // good when masters come and go, and the walk skips those that
            // serve nothing now.
            layout: Hash::Fnv1a_32.hash(b"redis cluster"),
            allow_keys: pool.allow_keys,
            allow_flush: pool.allow_flush,
            slots: Some(table),
        }
    }

    /// Whether keys go by a cluster's slots.
    pub fn is_cluster(&self) -> bool {
        self.slots.is_some()
    }

    /// The group `key` is in, and the server of that group: keys of one
    /// group may go in one request. A ring's group is the server; a
    /// cluster's, the slot (a node refuses keys of two slots together).
    #[inline]
    pub fn group_for(&self, key: &[u8]) -> Option<(u32, usize)> {
        match &self.slots {
            Some(table) => {
                let slot = crate::cluster::slot(key);
                let s = table[slot as usize];
                (s != UNSERVED).then_some((u32::from(slot), s as usize))
            }
            None => self.server_for(key).map(|s| (s as u32, s)),
        }
    }

    /// Server `index`'s name as errors show it.
    pub fn label(&self, index: usize) -> &str {
        self.labels.get(index).map_or("?", String::as_str)
    }

    /// A fingerprint of which servers the pool has, in which order, at
    /// which addresses, and of its db: a SCAN cursor carries it, so one made
    /// before a reload that changed any of these is refused. Ejections do
    /// not change it.
    pub fn layout(&self) -> u32 {
        self.layout
    }

    /// Whether KEYS and RANDOMKEY may go to every server (`allow_keys`).
    pub fn allows_keys(&self) -> bool {
        self.allow_keys
    }

    /// Whether FLUSHDB and FLUSHALL may go to every server (`allow_flush`).
    pub fn allows_flush(&self) -> bool {
        self.allow_flush
    }

    /// Servers in the pool's config, live or not.
    pub fn server_count(&self) -> usize {
        self.server_count
    }

    /// Whether server `index` takes keys.
    pub fn is_live(&self, index: usize) -> bool {
        self.live.get(index).copied().unwrap_or(false)
    }

    /// The hash a key's placement uses: of its hash tag if it has one; 0 for an
    /// empty key.
    #[inline]
    pub fn hash_key(&self, key: &[u8]) -> u32 {
        let key = if key.starts_with(RESERVED_PREFIX) {
            // redshard's own keys (hosted commands) always go by their {tag},
            // whatever the pool's hash_tag, so a script's keys share a server.
            extract_hash_tag(key, BRACES)
        } else {
            match self.tag {
                Some(tag) => extract_hash_tag(key, tag),
                None => key,
            }
        };
        if key.is_empty() {
            0
        } else {
            self.hash.hash(key)
        }
    }

    /// Index (in config order) of the server for `key`; `None` when no server
    /// is live.
    #[inline]
    pub fn server_for(&self, key: &[u8]) -> Option<usize> {
        if let Some(table) = &self.slots {
            let s = table[crate::cluster::slot(key) as usize];
            return (s != UNSERVED).then_some(s as usize);
        }
        if self.server_count == 1 {
            return (!self.ring.is_empty()).then_some(0);
        }
        self.ring.dispatch(self.hash_key(key))
    }
}

/// FNV-1a over the db and each server's name and address, each field ended
/// by a byte that cannot occur in it. A Sentinel master counts by its name
/// alone: a failover moves its data with it.
fn layout_fingerprint(pool: &PoolConfig) -> u32 {
    let mut text = format!("{}\0", pool.redis_db).into_bytes();
    for s in &pool.servers {
        text.extend_from_slice(s.name.as_bytes());
        text.push(b'\0');
        if let Some(addr) = &s.addr {
            text.extend_from_slice(addr.to_string().as_bytes());
        }
        text.push(b'\n');
    }
    Hash::Fnv1a_32.hash(&text)
}
