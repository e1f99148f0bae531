//! Pools at run time: placement (key -> server), server health, and the
//! shared, swappable snapshot the workers route with.

pub mod health;
mod placement;
mod runtime;

pub use health::{FailureOutcome, FailurePolicy, ServerHealth};
pub use placement::Placement;
pub use runtime::{PoolChange, PoolRuntime, PoolSnapshot};
