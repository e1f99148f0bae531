//! Operator commands that read a config but run no proxy.

pub mod dist;
pub mod escape;
pub mod route;

use crate::config::{Config, PoolConfig};

/// The pool named `name`, or the first pool when no name is given.
pub fn select_pool<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> Result<&'a PoolConfig, ToolError> {
    match name {
        None => config.pools.first().ok_or(ToolError::NoPools),
        Some(n) => config.pool(n).ok_or_else(|| ToolError::UnknownPool {
            name: n.to_string(),
            known: config
                .pools
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Finds a server of `pool` by index, label, name, address or spec.
pub fn find_server(pool: &PoolConfig, what: &str) -> Result<usize, ToolError> {
    if let Ok(i) = what.parse::<usize>() {
        if i < pool.servers.len() {
            return Ok(i);
        }
    }
    pool.servers
        .iter()
        .position(|s| {
            s.name == what
                || s.label() == what
                || s.addr.as_ref().is_some_and(|a| a.to_string() == what)
                || s.spec == what
        })
        .ok_or_else(|| ToolError::UnknownServer {
            name: what.to_string(),
            pool: pool.name.clone(),
            known: pool
                .servers
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("the config has no pools")]
    NoPools,
    #[error("no pool named '{name}'; the config has: {known}")]
    UnknownPool { name: String, known: String },
    #[error("pool '{pool}' has no server '{name}'; it has: {known} (or give an index)")]
    UnknownServer {
        name: String,
        pool: String,
        known: String,
    },
    #[error("cannot add '{spec}': {reason}")]
    BadAdd { spec: String, reason: String },
    #[error("line {line}: {reason}")]
    BadKey { line: usize, reason: String },
    #[error("no live server for the key: every server of pool '{0}' is ejected")]
    NoLiveServer(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
