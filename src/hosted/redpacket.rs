//! Red packets (WeChat hongbao): create a total in cents split into a count of
//! packets; GRAB checks that packets remain; OPEN takes one, idempotent per
//! user; INFO and RECORDS read the state.

use super::error::{positive, HostedError};
use super::plan::{key, number, Hosted, Plan, DEFAULT_TTL_S};
use super::scripts;

const CREATE_USAGE: &str = "REDPACKET.CREATE id total count [TTL seconds]";

pub(super) fn plan(cmd: Hosted, name: &'static str, args: &[&[u8]]) -> Result<Plan, HostedError> {
    let id = args[0];
    Ok(match cmd {
        Hosted::RpCreate => {
            let total = positive(name, "total", args[1])?;
            let count = positive(name, "count", args[2])?;
            if total < count {
                return Err(HostedError::TotalBelowCount {
                    command: name,
                    total,
                    count,
                });
            }
            let ttl = match &args[3..] {
                [] => DEFAULT_TTL_S,
                [t, v] if t.eq_ignore_ascii_case(b"TTL") => positive(name, "TTL", v)?,
                _ => {
                    return Err(HostedError::Syntax {
                        command: name,
                        usage: CREATE_USAGE,
                    })
                }
            };
            Plan::new(
                &scripts::RP_CREATE,
                keys(id),
                vec![number(total), number(count), number(ttl)],
            )
        }
        Hosted::RpGrab => Plan::new(&scripts::RP_GRAB, vec![key("rs:rp:", id, ":meta")], vec![]),
        Hosted::RpOpen => {
            // The amount is drawn in the script from this proxy-made number,
            // so the script stays deterministic.
            let random = number(fastrand::u64(..(1 << 31)));
            Plan::new(&scripts::RP_OPEN, keys(id), vec![args[1].to_vec(), random])
        }
        Hosted::RpInfo => Plan::new(&scripts::RP_INFO, vec![key("rs:rp:", id, ":meta")], vec![]),
        _ => Plan::new(
            &scripts::RP_RECORDS,
            vec![key("rs:rp:", id, ":records")],
            vec![],
        ),
    })
}

fn keys(id: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key("rs:rp:", id, ":meta"),
        key("rs:rp:", id, ":opened"),
        key("rs:rp:", id, ":records"),
    ]
}
