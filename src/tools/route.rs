//! `redshard route`: which server holds each key read from standard input.

use std::io::{BufRead, Write};

use super::escape::unescape;
use super::{find_server, ToolError};
use crate::config::PoolConfig;
use crate::pool::Placement;

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
    mut input: impl BufRead,
    mut out: impl Write,
) -> Result<u64, ToolError> {
    let ejected = options
        .eject
        .iter()
        .map(|s| find_server(pool, s))
        .collect::<Result<Vec<_>, _>>()?;
    let placement = Placement::with_live(pool, |i| !ejected.contains(&i));
    let labels: Vec<String> = pool.servers.iter().map(|s| s.label()).collect();
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
        let key = if options.escaped {
            decoded = unescape(text).map_err(|reason| ToolError::BadKey {
                line: count as usize,
                reason,
            })?;
            decoded.as_slice()
        } else {
            text
        };
        let index = placement
            .server_for(key)
            .ok_or_else(|| ToolError::NoLiveServer(pool.name.clone()))?;
        write!(out, "{index}\t{}\t", labels[index])?;
        out.write_all(text)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(count)
}
