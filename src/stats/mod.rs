//! Statistics: nutcracker's names and descriptions, in one table that drives
//! `-D` (describe) and the stats output.

pub mod counters;
pub mod output;
pub mod server;

use std::sync::atomic::AtomicU64;

/// Config reloads applied.
pub static RELOADS: AtomicU64 = AtomicU64::new(0);
/// Config reloads refused (invalid file, unusable listen address).
pub static RELOAD_FAILURES: AtomicU64 = AtomicU64::new(0);

/// A statistic: its nutcracker name and description.
#[derive(Debug, Clone, Copy)]
pub struct StatName {
    pub name: &'static str,
    pub help: &'static str,
}

const fn s(name: &'static str, help: &'static str) -> StatName {
    StatName { name, help }
}

/// Per-pool statistics, in nutcracker's order.
pub const POOL_STATS: &[StatName] = &[
    s("client_eof", "# eof on client connections"),
    s("client_err", "# errors on client connections"),
    s("client_connections", "# active client connections"),
    s("server_ejects", "# times backend server was ejected"),
    s("forward_error", "# times we encountered a forwarding error"),
    s(
        "fragments",
        "# fragments created from a multi-vector request",
    ),
];

/// Per-server statistics, in nutcracker's order.
pub const SERVER_STATS: &[StatName] = &[
    s("server_eof", "# eof on server connections"),
    s("server_err", "# errors on server connections"),
    s("server_timedout", "# timeouts on server connections"),
    s("server_connections", "# active server connections"),
    s(
        "server_ejected_at",
        "timestamp when server was ejected in usec since epoch",
    ),
    s("requests", "# requests"),
    s("request_bytes", "total request bytes"),
    s("responses", "# responses"),
    s("response_bytes", "total response bytes"),
    s("in_queue", "# requests in incoming queue"),
    s("in_queue_bytes", "current request bytes in incoming queue"),
    s("out_queue", "# requests in outgoing queue"),
    s("out_queue_bytes", "current request bytes in outgoing queue"),
];

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
