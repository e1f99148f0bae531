//! Pools at run time: placement (key -> server), server health (with the
//! Redis version each server runs), the shared, swappable snapshot the
//! workers route with (with the addresses of its Sentinel masters, which a
//! failover swaps, and each server's replicas), the version a pool reports
//! (its servers' lowest), and the pools' and servers' counters with the one
//! stats table that names them.
//!
//! The files stand in layers, each importing only from those below it, so
//! a change to one part of a snapshot cannot reach back into another:
//! `clock`; the per-server records `master_state`, `replica_state` and
//! `version_state`; `health`; `placement` (with the slot table);
//! `snapshot`; what a snapshot tells (`versions`); `runtime`;
//! what changes a snapshot (`master`, `replica`, `cluster`); and on top
//! `carry`, a reload, which carries parts of all of those over. One
//! exception stands: `counters`' stat tables read their owners (`runtime`,
//! `health`), which hold its counters.

mod carry;
mod client_list;
mod clock;
mod cluster;
mod cluster_maps;
pub mod counters;
pub mod health;
mod master;
mod master_state;
mod placement;
mod replica;
mod replica_state;
mod runtime;
mod snapshot;
pub mod stats_table;
mod version_state;
mod versions;
pub mod watchers;

pub use carry::PoolChange;
pub use client_list::ClientList;
pub use cluster::MapChange;
pub use cluster_maps::ClusterMaps;
pub use health::{FailureOutcome, FailurePolicy, ServerHealth};
pub use master::{Moved, ServerView};
pub use master_state::MasterState;
pub use placement::{Placement, SlotTable, UNSERVED};
pub use replica_state::{ReplicaProbe, ReplicaState};
pub use runtime::{Admission, PoolRuntime};
pub use snapshot::{PoolSnapshot, Replica};
pub use version_state::{RedisVersion, VersionState};
pub use versions::Versioned;
