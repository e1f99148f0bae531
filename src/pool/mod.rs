//! Pools at run time: placement (key -> server) and the shared, swappable
//! snapshot the workers route with.

mod placement;
mod runtime;

pub use placement::Placement;
pub use runtime::{PoolRuntime, PoolSnapshot};
