//! The two renderings of the counters: nutcracker's stats JSON (same names,
//! nesting and layout, so its scrapers keep working) and the Prometheus text
//! format. Both walk the stats table; only what nutcracker lacks (reloads,
//! command groups, ejection flag, latency histogram) is written out here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::text::{head, label};
use super::{Stat, POOL_STATS, RELOADS, RELOAD_FAILURES, SERVER_STATS};
use crate::pool::counters::{PoolCounters, ServerCounters, DENIALS, GROUPS, LATENCY_BUCKETS_US};
use crate::pool::{PoolRuntime, ServerHealth};

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// nutcracker's stats document, byte for byte in its layout: each value
/// written as `"name":value, ` and each nesting closed by rewriting the
/// trailing separator, as `nc_stats.c` does, so that tools which parse it by
/// hand (not only JSON parsers) keep working.
struct Document(String);

impl Document {
    fn open() -> Document {
        Document(String::from("{"))
    }

    fn string(&mut self, name: &str, value: &str) {
        let _ = write!(self.0, "\"{name}\":{}, ", json_string(value));
    }

    fn number(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "\"{name}\":{value}, ");
    }

    fn begin(&mut self, key: &str) {
        let _ = write!(self.0, "{}: {{", json_string(key));
    }

    /// `, ` after a value, or `,` after a nested object, becomes `},`.
    fn end(&mut self) {
        let keep = self
            .0
            .strip_suffix(", ")
            .or_else(|| self.0.strip_suffix(','))
            .map_or(self.0.len(), str::len);
        self.0.truncate(keep);
        self.0.push_str("},");
    }

    fn close(mut self) -> String {
        self.end();
        self.0.pop(); // the `,` after the last nesting
        self.0.push('\n');
        self.0
    }
}

/// nutcracker's stats document.
pub fn nutcracker_json(pools: &[Arc<PoolRuntime>], uptime_s: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let total: u64 = pools
        .iter()
        .map(|p| p.stats.sum_u64(|c| &c.total_connections))
        .sum();
    let current: usize = pools.iter().map(|p| p.client_count()).sum();
    let mut doc = Document::open();
    doc.string("service", "redshard");
    doc.string("source", &hostname());
    doc.string("version", env!("CARGO_PKG_VERSION"));
    doc.number("uptime", uptime_s);
    doc.number("timestamp", now);
    doc.number("total_connections", total);
    doc.number("curr_connections", current);
    for pool in pools {
        doc.begin(&pool.name);
        for st in POOL_STATS {
            doc.number(st.name, (st.read)(pool));
        }
        let snap = pool.snapshot();
        for (i, (server, health)) in snap.config.servers.iter().zip(&snap.health).enumerate() {
            doc.begin(&server.name);
            for st in SERVER_STATS {
                doc.number(st.name, (st.read)(health));
            }
            // What nutcracker has no word for, only where it applies: a
            // plain pool's document stays nutcracker's.
            let view = snap.view(i);
            if view.sentinel || !snap.replicas[i].is_empty() {
                doc.string("role", view.role);
                doc.string("address", &view.addr);
                doc.string("state", view.state);
                doc.number("failovers", view.failovers);
            }
            for (r, replica) in snap.replicas[i].iter().enumerate() {
                let view = snap.replica_view(i, r);
                doc.begin(&view.addr);
                doc.string("role", view.role);
                doc.string("state", view.state);
                doc.number("lag_ms", view.lag_ms.map_or(-1, |l| l as i64));
                for st in SERVER_STATS {
                    doc.number(st.name, (st.read)(&replica.health));
                }
                doc.end();
            }
            doc.end();
        }
        doc.end();
    }
    doc.close()
}

/// A stat's HELP and TYPE lines; returns its Prometheus name.
fn stat_head<O>(out: &mut String, st: &Stat<O>) -> String {
    let name = st.prometheus_name();
    head(out, &name, st.kind.prometheus_type(), st.prometheus_help());
    name
}

/// The Prometheus text exposition.
pub fn prometheus(pools: &[Arc<PoolRuntime>], uptime_s: u64) -> String {
    let mut out = String::new();
    process(&mut out, uptime_s);
    for st in POOL_STATS {
        let name = stat_head(&mut out, st);
        for pool in pools {
            let p = label(&pool.name);
            let _ = writeln!(out, "{name}{{pool=\"{p}\"}} {}", (st.read)(pool));
        }
    }
    commands(&mut out, pools);
    access_denied(&mut out, pools);
    refused_clients(&mut out, pools);
    super::cluster::prometheus(&mut out, pools);
    for st in SERVER_STATS {
        let name = stat_head(&mut out, st);
        per_server(&mut out, pools, &name, st.read);
    }
    head(
        &mut out,
        "redshard_server_ejected",
        "gauge",
        "1 while the server is ejected from the ring.",
    );
    per_server(&mut out, pools, "redshard_server_ejected", |h| {
        h.is_ejected() as i64
    });
    head(
        &mut out,
        "redshard_server_failovers_total",
        "counter",
        "Sentinel failovers followed: times the server's master moved to another address.",
    );
    per_server(&mut out, pools, "redshard_server_failovers_total", |h| {
        h.master.failovers() as i64
    });
    server_info(&mut out, pools);
    latency(&mut out, pools);
    out
}

/// The process's own metrics: uptime, reloads and the memory bound.
fn process(out: &mut String, uptime_s: u64) {
    let memory = crate::memory::budget();
    let metrics = [
        (
            "redshard_uptime_seconds",
            "gauge",
            "Seconds since redshard started.",
            uptime_s,
        ),
        (
            "redshard_reloads_total",
            "counter",
            "Config reloads applied.",
            RELOADS.load(Ordering::Relaxed),
        ),
        (
            "redshard_reload_failures_total",
            "counter",
            "Config reloads refused (invalid file, unusable listen address).",
            RELOAD_FAILURES.load(Ordering::Relaxed),
        ),
        (
            "redshard_memory_held_bytes",
            "gauge",
            "Bytes held in client and server buffers, counted against --max-memory.",
            memory.total() as u64,
        ),
        (
            "redshard_memory_limit_bytes",
            "gauge",
            "The proxy-wide memory bound (--max-memory).",
            memory.limit() as u64,
        ),
        (
            "redshard_memory_evictions_total",
            "counter",
            "Clients closed because the proxy passed --max-memory (the largest holder first).",
            memory.evictions(),
        ),
    ];
    for (name, kind, help, value) in metrics {
        head(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// A pool counter that is not in the stats table: its name, help, field.
type Extra = (&'static str, &'static str, fn(&PoolCounters) -> &AtomicU64);

/// Clients lost at the door, per pool: failed TLS handshakes, and clients
/// turned away for want of file descriptors.
fn refused_clients(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    let counters: [Extra; 2] = [
        (
            "redshard_client_tls_failures_total",
            "TLS handshakes with clients that failed or timed out.",
            |c| &c.client_tls_failures,
        ),
        (
            "redshard_client_fd_refusals_total",
            "Clients told the proxy is out of file descriptors and closed at once.",
            |c| &c.fd_refusals,
        ),
    ];
    for (name, help, counter) in counters {
        head(out, name, "counter", help);
        for pool in pools {
            let p = label(&pool.name);
            let n = pool.stats.sum_u64(counter);
            let _ = writeln!(out, "{name}{{pool=\"{p}\"}} {n}");
        }
    }
}

/// Requests by how they were handled, per pool.
fn commands(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    head(
        out,
        "redshard_commands_total",
        "counter",
        "Requests by how they were handled.",
    );
    for pool in pools {
        let p = label(&pool.name);
        for (i, group) in GROUPS.iter().enumerate() {
            let n = pool.stats.sum_u64(|c| &c.commands[i]);
            let _ = writeln!(
                out,
                "redshard_commands_total{{pool=\"{p}\",group=\"{group}\"}} {n}"
            );
        }
    }
}

/// Failed logins and refused requests, by reason.
fn access_denied(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    head(
        out,
        "redshard_acl_access_denied_total",
        "counter",
        "Failed logins (auth) and requests a user's permissions refused (cmd, key).",
    );
    for pool in pools {
        let p = label(&pool.name);
        for (i, reason) in DENIALS.iter().enumerate() {
            let n = pool.stats.sum_u64(|c| &c.acl_denied[i]);
            let _ = writeln!(
                out,
                "redshard_acl_access_denied_total{{pool=\"{p}\",reason=\"{reason}\"}} {n}"
            );
        }
    }
}

/// One sample of `name` per server of every pool.
fn per_server(
    out: &mut String,
    pools: &[Arc<PoolRuntime>],
    name: &str,
    value: impl Fn(&ServerHealth) -> i64,
) {
    for pool in pools {
        let snap = pool.snapshot();
        let p = label(&pool.name);
        for (server, health) in snap.config.servers.iter().zip(&snap.health) {
            let s = label(&server.name);
            let _ = writeln!(
                out,
                "{name}{{pool=\"{p}\",server=\"{s}\"}} {}",
                value(health)
            );
        }
    }
}

/// Each server's role, address and state, as labels of a constant 1.
fn server_info(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    head(
        out,
        "redshard_server_info",
        "gauge",
        "A server's role, address now and state (live, down, ejected, unresolved, failing_over); always 1.",
    );
    for pool in pools {
        let snap = pool.snapshot();
        let p = label(&pool.name);
        for (i, server) in snap.config.servers.iter().enumerate() {
            let views = std::iter::once(snap.view(i))
                .chain((0..snap.replicas[i].len()).map(|r| snap.replica_view(i, r)));
            for v in views {
                let _ = writeln!(
                    out,
                    "redshard_server_info{{pool=\"{p}\",server=\"{}\",role=\"{}\",address=\"{}\",state=\"{}\"}} 1",
                    label(&server.name),
                    v.role,
                    label(&v.addr),
                    v.state
                );
            }
        }
    }
    replica_metrics(out, pools);
}

/// Each replica's reads and lag, one family after the other.
fn replica_metrics(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    let families: [(&str, &str, &str, ReplicaValue); 2] = [
        (
            "redshard_replica_reads_total",
            "counter",
            "Reads sent to a replica (read_from).",
            |h, _| h.stats.sum_u64(|c| &c.requests) as i64,
        ),
        (
            "redshard_replica_lag_milliseconds",
            "gauge",
            "How far behind its master a replica was last seen (-1: not answering).",
            |_, v| v.lag_ms.map_or(-1, |l| l as i64),
        ),
    ];
    for (name, kind, help, value) in families {
        head(out, name, kind, help);
        for pool in pools {
            let snap = pool.snapshot();
            let p = label(&pool.name);
            for (i, server) in snap.config.servers.iter().enumerate() {
                for (r, replica) in snap.replicas[i].iter().enumerate() {
                    let v = snap.replica_view(i, r);
                    let _ = writeln!(
                        out,
                        "{name}{{pool=\"{p}\",server=\"{}\",address=\"{}\"}} {}",
                        label(&server.name),
                        label(&v.addr),
                        value(&replica.health, &v)
                    );
                }
            }
        }
    }
}

/// A replica's value for a metric, from its health and its view.
type ReplicaValue = fn(&ServerHealth, &crate::pool::ServerView) -> i64;

/// The request latency histogram, per pool (its servers' buckets summed).
fn latency(out: &mut String, pools: &[Arc<PoolRuntime>]) {
    head(
        out,
        "redshard_request_duration_seconds",
        "histogram",
        "Time from sending a request to a server to its reply.",
    );
    for pool in pools {
        let snap = pool.snapshot();
        let total = |f: &dyn Fn(&ServerCounters) -> &AtomicU64| -> u64 {
            snap.health.iter().map(|h| h.stats.sum_u64(f)).sum()
        };
        let p = label(&pool.name);
        let mut cumulative = 0u64;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += total(&|c| &c.latency_buckets[i]);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "redshard_request_duration_seconds_bucket{{pool=\"{p}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += total(&|c| &c.latency_buckets[LATENCY_BUCKETS_US.len()]);
        let sum_s = total(&|c| &c.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_bucket{{pool=\"{p}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_sum{{pool=\"{p}\"}} {sum_s}"
        );
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_count{{pool=\"{p}\"}} {cumulative}"
        );
    }
}

/// Whether every pool has a live server (for /healthz).
pub fn healthy(pools: &[Arc<PoolRuntime>]) -> bool {
    pools.iter().all(|p| {
        let snap = p.snapshot();
        (0..snap.config.servers.len()).any(|i| {
            snap.placement.is_live(i)
                && snap.addrs[i].is_some()
                && snap.health[i].may_connect().is_ok()
        })
    })
}
