//! Pools at run time. For now: placement, the pure function from a key to the
//! server that holds it.

mod placement;

pub use placement::Placement;
