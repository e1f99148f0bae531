//! `redshard route`: which server holds each key read from standard input;
//! for a cluster pool, each key's slot and the master serving it, as the
//! cluster's slot map says now.

use std::io::{BufRead, Write};

use super::escape::unescape;
use super::{find_server, ToolError};
use crate::config::PoolConfig;
use crate::pool::{Placement, PoolSnapshot};

#[derive(Debug, Clone, Default)]
pub struct RouteOptions {
    /// Keys are written with `\xNN` escapes (as in the placement files).
    pub escaped: bool,
    /// Servers to leave out of the ring, as after an auto-eject.
    pub eject: Vec<String>,
}

/// Reads one key per line from `input` and writes `INDEX<TAB>SERVER<TAB>KEY`
/// for each. Returns the number of keys routed.
pub fn run(
    pool: &PoolConfig,
    options: &RouteOptions,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<u64, ToolError> {
    let ejected = options
        .eject
        .iter()
        .map(|s| find_server(pool, s))
        .collect::<Result<Vec<_>, _>>()?;
    let placement = Placement::with_live(pool, |i| !ejected.contains(&i));
    let labels: Vec<String> = pool.servers.iter().map(|s| s.label()).collect();
    let count = each_key(options.escaped, input, |key, text| {
        let index = placement
            .server_for(key)
            .ok_or_else(|| ToolError::NoLiveServer(pool.name.clone()))?;
        write_line(&mut out, format_args!("{index}\t{}", labels[index]), text)
    })?;
    out.flush()?;
    Ok(count)
}

/// A cluster pool's route: `SLOT<TAB>NODE<TAB>KEY` per key, by the slot
/// map in `snapshot` (as the cluster gave it); `-` for a slot no master
/// serves.
pub fn run_cluster(
    snapshot: &PoolSnapshot,
    escaped: bool,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<u64, ToolError> {
    let count = each_key(escaped, input, |key, text| {
        let slot = crate::cluster::slot(key);
        let node = snapshot
            .placement
            .server_for(key)
            .map_or("-", |i| snapshot.placement.label(i));
        write_line(&mut out, format_args!("{slot}\t{node}"), text)
    })?;
    out.flush()?;
    Ok(count)
}

/// Calls `each(key, line)` for every line of `input` (the key unescaped
/// when `escaped`); returns the number of lines.
fn each_key(
    escaped: bool,
    mut input: impl BufRead,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<(), ToolError>,
) -> Result<u64, ToolError> {
    let mut line = Vec::new();
    let mut count = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        count += 1;
        let mut text = line.as_slice();
        text = text.strip_suffix(b"\n").unwrap_or(text);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        let decoded;
        let key = if escaped {
            decoded = unescape(text).map_err(|reason| ToolError::BadKey {
                line: count as usize,
                reason,
            })?;
            decoded.as_slice()
        } else {
            text
        };
        each(key, text)?;
    }
    Ok(count)
}

/// `HEAD<TAB>KEY` and a newline.
fn write_line(
    out: &mut impl Write,
    head: std::fmt::Arguments<'_>,
    key: &[u8],
) -> Result<(), ToolError> {
    out.write_fmt(head)?;
    out.write_all(b"\t")?;
    out.write_all(key)?;
    out.write_all(b"\n")?;
    Ok(())
}
