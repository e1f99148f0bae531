//! Redis Cluster, as the proxy needs it: the slot of a key, the slot map a
//! cluster reports (CLUSTER SHARDS, or CLUSTER SLOTS before Redis 7), and
//! the redirections its nodes answer with. Pure: no I/O, no clock. (The
//! watcher that asks a pool's nodes is `cluster_watch`.)

pub mod map;
pub mod redirect;
pub mod slot;

pub use map::{Node, SlotMap, SlotMapError};
pub use redirect::{Redirect, RedirectKind};
pub use slot::{slot, SLOTS};
