//! Hosted commands: distributed locks, red packets, flash sales and Bloom
//! filters, each one Lua script run atomically on the server that owns its
//! hash tag (EVALSHA, EVAL when the server answers NOSCRIPT). Randomness and
//! time come from the proxy as arguments, so the scripts stay deterministic.
//!
//! Keys live in the reserved `rs:` namespace, always routed by their `{tag}`:
//! `rs:lock:{name}`, `rs:rp:{id}:meta|opened|records`,
//! `rs:sk:{sku}:meta|buyers|orders`, `rs:bf:{key}:meta` and `rs:bf:{key}:f<i>`.

mod call;
mod commands;
mod scripts;

pub use call::run;
pub use commands::{Group, Hosted, ParseError, Plan};
pub use scripts::Script;
