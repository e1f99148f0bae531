//! The command table: for each Redis 7 command, its arity, where its keys are,
//! and what the proxy does with it. One table drives routing, splitting,
//! local answers and refusals, so a command's treatment is visible in one line.
//! The router reads it; nothing here depends on a pool or a connection.

pub mod category;
mod spec;
pub mod subcommand;
mod table;

pub use spec::{
    Action, BlockArg, CommandSpec, Keys, Keyspace, Local, Refusal, Split, SubCmd, SubKind, TxnCmd,
};
use table::TABLE;

use crate::protocol::Request;

/// A key count (`EVAL s 3 ...`) that is no number or larger than the
/// arguments given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadNumkeys;

/// Fills `out` with the argument positions of the request's keys, as the
/// command's entry says where they are.
pub fn key_positions(
    keys: Keys,
    req: &Request<'_>,
    out: &mut Vec<usize>,
) -> Result<(), BadNumkeys> {
    let argc = req.argc();
    out.clear();
    match keys {
        Keys::None => {}
        Keys::At(p) => {
            if (p as usize) < argc {
                out.push(p as usize);
            }
        }
        Keys::Range { first, last, step } => {
            let last = if last < 0 {
                argc as i64 + last as i64
            } else {
                last as i64
            };
            let mut p = first as i64;
            while p <= last && (p as usize) < argc {
                out.push(p as usize);
                p += step as i64;
            }
        }
        Keys::Numkeys { count_at, dest } => {
            let count_at = count_at as usize;
            let count = std::str::from_utf8(req.arg(count_at))
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or(BadNumkeys)?;
            if count > argc || count_at + 1 + count > argc {
                return Err(BadNumkeys);
            }
            if dest {
                out.push(1);
            }
            out.extend(count_at + 1..count_at + 1 + count);
        }
        Keys::Streams => {
            let streams = (1..argc).find(|&i| req.arg(i).eq_ignore_ascii_case(b"streams"));
            if let Some(at) = streams {
                let n = (argc - at - 1) / 2;
                out.extend(at + 1..at + 1 + n);
            }
        }
        Keys::WithStore => {
            out.push(1);
            for i in 2..argc.saturating_sub(1) {
                let word = req.arg(i);
                if word.eq_ignore_ascii_case(b"store") || word.eq_ignore_ascii_case(b"storedist") {
                    out.push(i + 1);
                }
            }
        }
    }
    Ok(())
}

/// Longest command name in the table.
const MAX_NAME: usize = 24;

/// Looks a command up by name, in any case. Allocates nothing.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = &lower[..name.len()];
    TABLE
        .binary_search_by(|spec| spec.name.as_bytes().cmp(lower))
        .ok()
        .map(|i| &TABLE[i])
}

/// Every command the proxy knows, in name order (for tools and tests that
/// go over all of them).
pub fn all() -> &'static [CommandSpec] {
    TABLE
}

/// The position of `spec` in [`all`], without a search: its address in the
/// table.
#[inline]
pub fn index(spec: &CommandSpec) -> usize {
    let at = (spec as *const CommandSpec as usize).wrapping_sub(TABLE.as_ptr() as usize)
        / std::mem::size_of::<CommandSpec>();
    if at < TABLE.len() && std::ptr::eq(&TABLE[at], spec) {
        at
    } else {
        // A copy, not the table's own line (tests build some).
        TABLE
            .binary_search_by(|c| c.name.cmp(spec.name))
            .unwrap_or(0)
    }
}

/// For the framer's key-size limit: whether argument 1 of `name` is a key.
pub fn first_arg_is_key(name: &[u8]) -> bool {
    lookup(name).is_some_and(|c| c.first_arg_is_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
        assert!(TABLE.iter().all(|c| c.name.len() <= MAX_NAME));
    }

    #[test]
    fn lookup_any_case() {
        assert_eq!(lookup(b"GET").unwrap().name, "get");
        assert_eq!(lookup(b"mGeT").unwrap().action, Action::Split(Split::Mget));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"").is_none());
        assert!(first_arg_is_key(b"set"));
        assert!(!first_arg_is_key(b"eval"));
        assert!(!first_arg_is_key(b"echo"));
    }

    #[test]
    fn arity() {
        let get = lookup(b"get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let set = lookup(b"set").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(5) && !set.arity_ok(2));
    }
}
