//! `redshard dist`: the consistent-hash distribution test bench. Hashes N
//! synthetic keys (`key:0`, `key:1`, ...) and shows how evenly they spread;
//! with `--remove` / `--add` it also shows how many keys a change moves.

use std::io::Write;

use super::{find_server, ToolError};
use crate::config::{PoolConfig, ServerConfig};
use crate::distribution::Distribution;
use crate::pool::Placement;

#[derive(Debug, Clone)]
pub struct DistOptions {
    pub keys: u64,
    pub remove: Vec<String>,
    pub add: Vec<String>,
}

impl Default for DistOptions {
    fn default() -> Self {
        DistOptions {
            keys: 1_000_000,
            remove: Vec::new(),
            add: Vec::new(),
        }
    }
}

/// Keys per server of one ring.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub servers: Vec<ServerConfig>,
    pub keys: Vec<u64>,
}

impl Spread {
    fn total(&self) -> u64 {
        self.keys.iter().sum()
    }

    /// Population standard deviation of keys per server.
    pub fn stddev(&self) -> f64 {
        let n = self.keys.len() as f64;
        let mean = self.total() as f64 / n;
        let var = self
            .keys
            .iter()
            .map(|&k| (k as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        var.sqrt()
    }

    pub fn max_over_mean(&self) -> f64 {
        let mean = self.total() as f64 / self.keys.len() as f64;
        *self.keys.iter().max().unwrap_or(&0) as f64 / mean
    }
}

/// What a `--remove` / `--add` change does to the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    pub moved: u64,
    /// Keys that moved from one server to another where both are in both rings
    /// (ketama: zero; modula: most of them).
    pub moved_between_kept: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DistReport {
    pub keys: u64,
    pub before: Spread,
    pub after: Option<(Spread, Movement)>,
}

/// The pool after removing and adding servers.
fn changed_pool(pool: &PoolConfig, options: &DistOptions) -> Result<PoolConfig, ToolError> {
    let removed = options
        .remove
        .iter()
        .map(|s| find_server(pool, s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut changed = pool.clone();
    changed.servers = pool
        .servers
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, s)| s.clone())
        .collect();
    for spec in &options.add {
        let bad = |reason: String| ToolError::BadAdd {
            spec: spec.clone(),
            reason,
        };
        let server: ServerConfig = spec.parse().map_err(bad)?;
        if changed
            .servers
            .iter()
            .any(|s| s.name == server.name || (s.addr.is_some() && s.addr == server.addr))
        {
            return Err(bad(
                "the pool already has a server with that name or address".into(),
            ));
        }
        changed.servers.push(server);
    }
    if changed.servers.is_empty() {
        return Err(ToolError::BadAdd {
            spec: options.remove.join(" "),
            reason: "removing these leaves the pool without servers".into(),
        });
    }
    Ok(changed)
}

/// Hashes the keys through the pool (and the changed pool, if any).
pub fn measure(pool: &PoolConfig, options: &DistOptions) -> Result<DistReport, ToolError> {
    let changing = !options.remove.is_empty() || !options.add.is_empty();
    let after_pool = if changing {
        Some(changed_pool(pool, options)?)
    } else {
        None
    };
    let before = Placement::new(pool);
    let after = after_pool.as_ref().map(Placement::new);
    // For each server of the changed pool, its index in the original (if any).
    let after_origin: Vec<Option<usize>> = after_pool
        .iter()
        .flat_map(|p| p.servers.iter())
        .map(|s| pool.servers.iter().position(|o| o.name == s.name))
        .collect();
    let kept_before: Vec<bool> = pool
        .servers
        .iter()
        .map(|s| {
            after_pool
                .as_ref()
                .is_some_and(|p| p.servers.iter().any(|n| n.name == s.name))
        })
        .collect();

    let mut before_keys = vec![0u64; pool.servers.len()];
    let mut after_keys = vec![0u64; after_origin.len()];
    let (mut moved, mut moved_between_kept) = (0u64, 0u64);
    let mut key = Vec::with_capacity(32);
    for i in 0..options.keys {
        key.clear();
        write!(key, "key:{i}")?;
        let old = before
            .server_for(&key)
            .ok_or_else(|| ToolError::NoLiveServer(pool.name.clone()))?;
        before_keys[old] += 1;
        if let Some(after) = &after {
            let new = after
                .server_for(&key)
                .ok_or_else(|| ToolError::NoLiveServer(pool.name.clone()))?;
            after_keys[new] += 1;
            if after_origin[new] != Some(old) {
                moved += 1;
                if kept_before[old] && after_origin[new].is_some() {
                    moved_between_kept += 1;
                }
            }
        }
    }
    Ok(DistReport {
        keys: options.keys,
        before: Spread {
            servers: pool.servers.clone(),
            keys: before_keys,
        },
        after: after_pool.map(|p| {
            (
                Spread {
                    servers: p.servers,
                    keys: after_keys,
                },
                Movement {
                    moved,
                    moved_between_kept,
                },
            )
        }),
    })
}

const BAR_WIDTH: f64 = 40.0;

fn write_spread(
    out: &mut impl Write,
    title: &str,
    dist: Distribution,
    spread: &Spread,
) -> std::io::Result<()> {
    let total = spread.total().max(1) as f64;
    let total_weight: u64 = spread.servers.iter().map(|s| s.weight as u64).sum();
    let max = *spread.keys.iter().max().unwrap_or(&1) as f64;
    let width = spread
        .servers
        .iter()
        .map(|s| s.label().len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(out, "{title}")?;
    writeln!(
        out,
        "  {:>3}  {:<width$}  {:>6}  {:>9}  {:>7}  {:>8}",
        "#", "server", "weight", "keys", "share", "expected"
    )?;
    for (i, (server, &keys)) in spread.servers.iter().zip(&spread.keys).enumerate() {
        let expected = match dist {
            Distribution::Random => 1.0 / spread.servers.len() as f64,
            _ => server.weight as f64 / total_weight as f64,
        };
        let bar = "#".repeat((keys as f64 / max.max(1.0) * BAR_WIDTH).round() as usize);
        writeln!(
            out,
            "  {i:>3}  {:<width$}  {:>6}  {keys:>9}  {:>6.2}%  {:>7.2}%  {bar}",
            server.label(),
            server.weight,
            keys as f64 / total * 100.0,
            expected * 100.0,
        )?;
    }
    let mean = total / spread.keys.len() as f64;
    writeln!(
        out,
        "  stddev {:.1} keys ({:.2}% of the mean {:.1}); max/mean {:.4}",
        spread.stddev(),
        spread.stddev() / mean * 100.0,
        mean,
        spread.max_over_mean()
    )
}

/// Prints the report.
pub fn render(
    pool: &PoolConfig,
    options: &DistOptions,
    report: &DistReport,
    mut out: impl Write,
) -> std::io::Result<()> {
    let title = format!(
        "pool '{}': distribution {}, hash {}{}, {} servers, {} keys (key:0 .. key:{})",
        pool.name,
        pool.distribution,
        pool.hash,
        pool.hash_tag
            .map(|t| format!(", hash_tag \"{}{}\"", t.open as char, t.close as char))
            .unwrap_or_default(),
        pool.servers.len(),
        report.keys,
        report.keys.saturating_sub(1),
    );
    write_spread(&mut out, &title, pool.distribution, &report.before)?;
    if let Some((spread, movement)) = &report.after {
        let mut change = Vec::new();
        if !options.remove.is_empty() {
            change.push(format!("removing {}", options.remove.join(", ")));
        }
        if !options.add.is_empty() {
            change.push(format!("adding {}", options.add.join(", ")));
        }
        writeln!(out)?;
        write_spread(
            &mut out,
            &format!(
                "after {}: {} servers",
                change.join(" and "),
                spread.servers.len()
            ),
            pool.distribution,
            spread,
        )?;
        let keys = report.keys.max(1) as f64;
        writeln!(out)?;
        writeln!(
            out,
            "moved: {} of {} keys ({:.2}%); moved between servers in both rings: {} ({:.2}%)",
            movement.moved,
            report.keys,
            movement.moved as f64 / keys * 100.0,
            movement.moved_between_kept,
            movement.moved_between_kept as f64 / keys * 100.0,
        )?;
    }
    out.flush()
}
