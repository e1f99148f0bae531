//! Distributed locks: acquire with an owner token and a TTL (re-entrant for
//! the same owner, optionally waiting), release and extend only by the owner,
//! inspect the owner.

use super::error::{positive, HostedError};
use super::plan::{key, number, Hosted, Plan};
use super::scripts;

/// The longest LOCK.ACQUIRE ... WAIT: the client's pipeline is held while it
/// waits (as for Redis's own blocking commands), so it is bounded.
pub const MAX_WAIT_MS: u64 = 60_000;

const ACQUIRE_USAGE: &str = "LOCK.ACQUIRE name owner ttl_ms [WAIT ms]";

pub(super) fn plan(cmd: Hosted, name: &'static str, args: &[&[u8]]) -> Result<Plan, HostedError> {
    let lock = || vec![key("rs:lock:", args[0], "")];
    if cmd != Hosted::LockOwner && args[1].is_empty() {
        return Err(HostedError::EmptyOwner { command: name });
    }
    Ok(match cmd {
        Hosted::LockAcquire => {
            let ttl = positive(name, "ttl_ms", args[2])?;
            let wait_ms = match &args[3..] {
                [] => 0,
                [w, ms] if w.eq_ignore_ascii_case(b"WAIT") => std::str::from_utf8(ms)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&ms| ms <= MAX_WAIT_MS)
                    .ok_or(HostedError::BadWait {
                        command: name,
                        max: MAX_WAIT_MS,
                    })?,
                _ => {
                    return Err(HostedError::Syntax {
                        command: name,
                        usage: ACQUIRE_USAGE,
                    })
                }
            };
            let mut p = Plan::new(
                &scripts::LOCK_ACQUIRE,
                lock(),
                vec![args[1].to_vec(), number(ttl)],
            );
            p.wait_ms = wait_ms;
            p
        }
        Hosted::LockRelease => {
            let mut p = Plan::new(&scripts::LOCK_RELEASE, lock(), vec![args[1].to_vec()]);
            p.frees_lock = true;
            p
        }
        Hosted::LockExtend => {
            let ttl = positive(name, "ttl_ms", args[2])?;
            Plan::new(
                &scripts::LOCK_EXTEND,
                lock(),
                vec![args[1].to_vec(), number(ttl)],
            )
        }
        _ => Plan::new(&scripts::LOCK_OWNER, lock(), vec![]),
    })
}
