//! Statistics as the outside sees them. The one table that names every pool
//! and server stat with its kind and nutcracker's help text, and generates
//! the per-worker counters, lives with the pools that own the counters
//! ([`crate::pool::counters`]); from it come `-D` (describe), nutcracker's
//! stats JSON and the Prometheus text ([`output`]), served on the stats and
//! metrics ports ([`server`]). Facts about the running process for those
//! and for INFO are kept here too.

pub mod cluster;
pub mod output;
pub mod server;
pub mod slots;
mod text;

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Instant;

pub use crate::pool::counters::{POOL_STATS, SERVER_STATS};
pub use crate::pool::stats_table::{Kind, Stat};

/// Facts about the running proxy, for INFO and the stats.
#[derive(Debug)]
pub struct ProxyFacts {
    pub started: Instant,
    pub workers: usize,
    pub pools: usize,
}

static FACTS: OnceLock<ProxyFacts> = OnceLock::new();

/// Records the facts once, at start.
pub fn set_facts(facts: ProxyFacts) {
    let _ = FACTS.set(facts);
}

pub fn facts() -> Option<&'static ProxyFacts> {
    FACTS.get()
}

/// Seconds since the proxy started.
pub fn uptime_secs() -> u64 {
    FACTS.get().map_or(0, |f| f.started.elapsed().as_secs())
}

/// Config reloads applied.
pub static RELOADS: AtomicU64 = AtomicU64::new(0);
/// Config reloads refused (invalid file, unusable listen address).
pub static RELOAD_FAILURES: AtomicU64 = AtomicU64::new(0);

/// `-D`: the description nutcracker prints, with redshard's name.
pub fn describe() -> String {
    let mut out = format!(
        "This is redshard-{}\n\npool stats:\n",
        env!("CARGO_PKG_VERSION")
    );
    for st in POOL_STATS {
        out.push_str(&format!("  {:<20}\"{}\"\n", st.name, st.help));
    }
    out.push_str("\nserver stats:\n");
    for st in SERVER_STATS {
        out.push_str(&format!("  {:<20}\"{}\"\n", st.name, st.help));
    }
    out
}
