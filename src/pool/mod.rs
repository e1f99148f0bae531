//! Pools at run time: placement (key -> server), server health, the shared,
//! swappable snapshot the workers route with (with the addresses of its
//! Sentinel masters, which a failover swaps, and each server's replicas),
//! and the pools' and servers' counters with the one stats table that
//! names them.

mod client_list;
mod cluster;
pub mod counters;
pub mod health;
mod master;
mod placement;
mod replica;
mod runtime;
pub mod stats_table;
pub mod watchers;

pub use client_list::ClientList;
pub use cluster::{ClusterMaps, MapChange, SlotTable, UNSERVED};
pub use health::{FailureOutcome, FailurePolicy, ServerHealth};
pub use master::{MasterState, Moved, ServerView};
pub use placement::Placement;
pub use replica::{Replica, ReplicaProbe, ReplicaState};
pub use runtime::{Admission, PoolChange, PoolRuntime, PoolSnapshot};
