//! Statistics. One table ([`counters`]) names every pool and server stat with
//! its kind and nutcracker's help text; from it come the per-worker counter
//! fields, `-D` (describe), nutcracker's stats JSON and the Prometheus text
//! ([`output`]), served on the stats and metrics ports ([`server`]).

pub mod counters;
pub mod output;
pub mod server;
pub mod table;

use std::sync::atomic::AtomicU64;

pub use counters::{POOL_STATS, SERVER_STATS};
pub use table::{Kind, Stat};

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
