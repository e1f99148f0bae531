//! The one permission check of a request, once the command table has named
//! its command and the router its keys, before it goes anywhere: the
//! command (or subcommand) among the user's, each key among the user's
//! patterns, no plain write to the hosted state under `rs:` unless the user
//! holds `@admin`, and SORT's BY and GET only with every key allowed (they
//! read keys the request does not name), as Redis rules.
//!
//! Allocates nothing: the keys are found in the caller's scratch space (the
//! router's, on the request path), and a user with nothing to check returns
//! at once.

use super::rules::entry;
use super::users::Perms;
use crate::command::category::{Categories, ADMIN, PUBSUB, SCRIPTING, WRITE};
use crate::command::{key_positions, Action, CommandSpec};
use crate::hosted::namespace;
use crate::protocol::Request;

/// Why a request is refused. Data only: the texts are `ClientError`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The command (`get`, or `command|subcommand`) is not the user's.
    Command(&'static str),
    /// A key matches none of the user's patterns.
    Key,
    /// A plain write to hosted state: the key, and the hosted commands that
    /// write it.
    Hosted { key: Vec<u8>, writers: &'static str },
    /// SORT's `BY pattern` or `GET` for a user with key patterns.
    SortOption(&'static str),
}

/// Checks `req` (command `spec`) for a user with `perms`. `hosted`: the
/// command is one the pool hosts, which writes its own state. `scratch`:
/// room for the key positions.
#[inline]
pub fn check(
    perms: &Perms,
    spec: &'static CommandSpec,
    req: &Request<'_>,
    hosted: bool,
    scratch: &mut Vec<usize>,
) -> Result<(), Denied> {
    // Refused whatever the user (with the proxy's own reason).
    if perms.unrestricted || matches!(spec.action, Action::Refuse(_)) {
        return Ok(());
    }
    let sub = (req.argc() > 1).then(|| req.arg(1));
    let cmd = entry(spec, sub);
    // An @admin command that reaches the servers needs every @admin
    // command: SCRIPT FLUSH and KILL reach every server of the pool.
    let gated = cmd.categories.has(ADMIN) && !matches!(spec.action, Action::Local(_));
    if !perms.commands.has(cmd.id) || (gated && !perms.admin) {
        return Err(Denied::Command(cmd.name));
    }
    let patterns = perms.keys.is_some() && !spec.categories.has(PUBSUB);
    let protected = !perms.admin && !hosted && writes(spec, cmd.categories);
    if patterns || protected {
        // Keys the router cannot take (a bad count) are refused there.
        if key_positions(spec.keys, req, scratch).is_err() {
            return Ok(());
        }
        for &at in scratch.iter() {
            let key = req.arg(at);
            if patterns && !perms.key_ok(key) {
                return Err(Denied::Key);
            }
            if protected && namespace::is_hosted(key) && !namespace::consumer_may(spec.name, key) {
                return Err(Denied::Hosted {
                    key: key.to_vec(),
                    writers: namespace::writers(key),
                });
            }
        }
    }
    if perms.keys.is_some() && matches!(spec.name, "sort" | "sort_ro") {
        sort_options(req)?;
    }
    Ok(())
}

/// Whether a command may write its keys: `@write` (a container's
/// subcommand by its own `categories`: XGROUP CREATE ... MKSTREAM writes,
/// XGROUP HELP does not), and the script calls that are not read-only
/// (their keys are the ones they declare).
#[inline]
fn writes(spec: &CommandSpec, categories: Categories) -> bool {
    categories.has(WRITE)
        || (spec.categories.has(SCRIPTING) && matches!(spec.name, "eval" | "evalsha" | "fcall"))
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
/// [ALPHA] [STORE destination]: BY with a pattern, and GET, read keys the
/// request does not name.
fn sort_options(req: &Request<'_>) -> Result<(), Denied> {
    let mut i = 2;
    while i < req.argc() {
        let word = req.arg(i);
        if word.eq_ignore_ascii_case(b"limit") {
            i += 3;
            continue;
        }
        if i + 1 < req.argc() {
            if word.eq_ignore_ascii_case(b"by") && req.arg(i + 1).contains(&b'*') {
                return Err(Denied::SortOption("BY"));
            }
            if word.eq_ignore_ascii_case(b"get") {
                return Err(Denied::SortOption("GET"));
            }
            if word.eq_ignore_ascii_case(b"by") || word.eq_ignore_ascii_case(b"store") {
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
