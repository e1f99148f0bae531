//! The two renderings of the counters: nutcracker's stats JSON (same names
//! and nesting, so its scrapers keep working) and the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::counters::{ServerCounters, GROUPS, LATENCY_BUCKETS_US};
use super::{POOL_STATS, RELOADS, RELOAD_FAILURES, SERVER_STATS};
use crate::pool::{PoolRuntime, ServerHealth};

fn server_value(h: &ServerHealth, name: &str) -> i64 {
    let s = &h.stats;
    let u = |f: fn(&ServerCounters) -> &std::sync::atomic::AtomicU64| s.sum_u64(f) as i64;
    let g = |f: fn(&ServerCounters) -> &std::sync::atomic::AtomicI64| s.sum_i64(f);
    match name {
        "server_eof" => u(|c| &c.server_eof),
        "server_err" => u(|c| &c.server_err),
        "server_timedout" => u(|c| &c.server_timedout),
        "server_connections" => g(|c| &c.server_connections),
        "server_ejected_at" if h.is_ejected() => h.ejected_at_us() as i64,
        "requests" => u(|c| &c.requests),
        "request_bytes" => u(|c| &c.request_bytes),
        "responses" => u(|c| &c.responses),
        "response_bytes" => u(|c| &c.response_bytes),
        "in_queue" => g(|c| &c.in_queue),
        "in_queue_bytes" => g(|c| &c.in_queue_bytes),
        "out_queue" => g(|c| &c.out_queue),
        "out_queue_bytes" => g(|c| &c.out_queue_bytes),
        _ => 0,
    }
}

fn pool_value(p: &PoolRuntime, name: &str) -> i64 {
    let s = &p.stats;
    match name {
        "client_eof" => s.sum_u64(|c| &c.client_eof) as i64,
        "client_err" => s.sum_u64(|c| &c.client_err) as i64,
        "client_connections" => p.client_count() as i64,
        "server_ejects" => s.sum_u64(|c| &c.server_ejects) as i64,
        "forward_error" => s.sum_u64(|c| &c.forward_error) as i64,
        "fragments" => s.sum_u64(|c| &c.fragments) as i64,
        _ => 0,
    }
}

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
    let mut out = format!(
        "{{\"service\":\"redshard\", \"source\":{}, \"version\":{}, \"uptime\":{uptime_s}, \"timestamp\":{now}, \"total_connections\":{total}, \"curr_connections\":{current}",
        json_string(&hostname()),
        json_string(env!("CARGO_PKG_VERSION"))
    );
    for pool in pools {
        let snap = pool.snapshot();
        let _ = write!(out, ", {}: {{", json_string(&pool.name));
        for (i, st) in POOL_STATS.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}\"{}\":{}", st.name, pool_value(pool, st.name));
        }
        for (server, health) in snap.config.servers.iter().zip(&snap.health) {
            let _ = write!(out, ", {}: {{", json_string(&server.name));
            for (i, st) in SERVER_STATS.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(
                    out,
                    "{sep}\"{}\":{}",
                    st.name,
                    server_value(health, st.name)
                );
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push_str("}\n");
    out
}

/// `# HELP` and `# TYPE` lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition.
pub fn prometheus(pools: &[Arc<PoolRuntime>], uptime_s: u64) -> String {
    let mut out = String::new();
    head(
        &mut out,
        "redshard_uptime_seconds",
        "gauge",
        "Seconds since redshard started.",
    );
    let _ = writeln!(out, "redshard_uptime_seconds {uptime_s}");
    head(
        &mut out,
        "redshard_reloads_total",
        "counter",
        "Config reloads applied.",
    );
    let _ = writeln!(
        out,
        "redshard_reloads_total {}",
        RELOADS.load(Ordering::Relaxed)
    );
    head(
        &mut out,
        "redshard_reload_failures_total",
        "counter",
        "Config reloads refused (invalid file, unusable listen address).",
    );
    let _ = writeln!(
        out,
        "redshard_reload_failures_total {}",
        RELOAD_FAILURES.load(Ordering::Relaxed)
    );

    for st in POOL_STATS {
        let (name, kind) = if st.name == "client_connections" {
            ("redshard_client_connections".to_string(), "gauge")
        } else {
            (format!("redshard_{}_total", st.name), "counter")
        };
        head(&mut out, &name, kind, st.help.trim_start_matches("# "));
        for pool in pools {
            let _ = writeln!(
                out,
                "{name}{{pool=\"{}\"}} {}",
                label(&pool.name),
                pool_value(pool, st.name)
            );
        }
    }
    head(
        &mut out,
        "redshard_commands_total",
        "counter",
        "Requests by how they were handled.",
    );
    for pool in pools {
        for (i, group) in GROUPS.iter().enumerate() {
            let n = pool.stats.sum_u64(|c| &c.commands[i]);
            let _ = writeln!(
                out,
                "redshard_commands_total{{pool=\"{}\",group=\"{group}\"}} {n}",
                label(&pool.name)
            );
        }
    }
    for st in SERVER_STATS {
        let gauge = matches!(
            st.name,
            "server_connections"
                | "in_queue"
                | "in_queue_bytes"
                | "out_queue"
                | "out_queue_bytes"
                | "server_ejected_at"
        );
        let name = if gauge {
            format!("redshard_{}", st.name)
        } else {
            format!("redshard_{}_total", st.name)
        };
        head(
            &mut out,
            &name,
            if gauge { "gauge" } else { "counter" },
            st.help.trim_start_matches("# "),
        );
        for pool in pools {
            let snap = pool.snapshot();
            for (server, health) in snap.config.servers.iter().zip(&snap.health) {
                let _ = writeln!(
                    out,
                    "{name}{{pool=\"{}\",server=\"{}\"}} {}",
                    label(&pool.name),
                    label(&server.name),
                    server_value(health, st.name)
                );
            }
        }
    }
    head(
        &mut out,
        "redshard_server_ejected",
        "gauge",
        "1 while the server is ejected from the ring.",
    );
    for pool in pools {
        let snap = pool.snapshot();
        for (server, health) in snap.config.servers.iter().zip(&snap.health) {
            let _ = writeln!(
                out,
                "redshard_server_ejected{{pool=\"{}\",server=\"{}\"}} {}",
                label(&pool.name),
                label(&server.name),
                health.is_ejected() as u8
            );
        }
    }
    head(
        &mut out,
        "redshard_request_duration_seconds",
        "histogram",
        "Time from sending a request to a server to its reply.",
    );
    for pool in pools {
        let snap = pool.snapshot();
        let mut cumulative = 0u64;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += snap
                .health
                .iter()
                .map(|h| h.stats.sum_u64(|c| &c.latency_buckets[i]))
                .sum::<u64>();
            let _ = writeln!(
                out,
                "redshard_request_duration_seconds_bucket{{pool=\"{}\",le=\"{}\"}} {cumulative}",
                label(&pool.name),
                *bound as f64 / 1e6
            );
        }
        let last = LATENCY_BUCKETS_US.len();
        cumulative += snap
            .health
            .iter()
            .map(|h| h.stats.sum_u64(|c| &c.latency_buckets[last]))
            .sum::<u64>();
        let sum_us: u64 = snap
            .health
            .iter()
            .map(|h| h.stats.sum_u64(|c| &c.latency_sum_us))
            .sum();
        let p = label(&pool.name);
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_bucket{{pool=\"{p}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_sum{{pool=\"{p}\"}} {}",
            sum_us as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "redshard_request_duration_seconds_count{{pool=\"{p}\"}} {cumulative}"
        );
    }
    out
}

/// Whether every pool has a live server (for /healthz).
pub fn healthy(pools: &[Arc<PoolRuntime>]) -> bool {
    pools.iter().all(|p| {
        let snap = p.snapshot();
        (0..snap.config.servers.len())
            .any(|i| snap.placement.is_live(i) && snap.health[i].may_connect().is_ok())
    })
}
