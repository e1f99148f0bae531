//! Flash sales (seckill): create stock, a start time and an admission cap;
//! BUY checks all of them and the duplicate buyer in one script and appends
//! the order to the sale's stream.

use super::error::{positive, HostedError};
use super::plan::{key, number, Hosted, Plan, DEFAULT_TTL_S};
use super::scripts;

const CREATE_USAGE: &str = "SECKILL.CREATE sku stock [START unix_ms] [ADMIT n] [TTL seconds]";

pub(super) fn plan(cmd: Hosted, name: &'static str, args: &[&[u8]]) -> Result<Plan, HostedError> {
    let sku = args[0];
    Ok(match cmd {
        Hosted::SkCreate => {
            let stock = positive(name, "stock", args[1])?;
            // ADMIT defaults to ceil(1.2 * stock), in integers.
            let (mut start, mut admit, mut ttl) = (0u64, (stock * 12).div_ceil(10), DEFAULT_TTL_S);
            let syntax = HostedError::Syntax {
                command: name,
                usage: CREATE_USAGE,
            };
            let mut rest = &args[2..];
            while let [opt, value, tail @ ..] = rest {
                match opt.to_ascii_uppercase().as_slice() {
                    b"START" => {
                        start = std::str::from_utf8(value)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or(HostedError::BadStart { command: name })?
                    }
                    b"ADMIT" => admit = positive(name, "ADMIT", value)?,
                    b"TTL" => ttl = positive(name, "TTL", value)?,
                    _ => return Err(syntax),
                }
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(syntax);
            }
            Plan::new(
                &scripts::SK_CREATE,
                keys(sku),
                vec![number(stock), number(start), number(admit), number(ttl)],
            )
        }
        Hosted::SkBuy => Plan::new(
            &scripts::SK_BUY,
            keys(sku),
            vec![args[1].to_vec(), sku.to_vec(), number(now_ms())],
        ),
        _ => Plan::new(&scripts::SK_INFO, vec![key("rs:sk:", sku, ":meta")], vec![]),
    })
}

fn keys(sku: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key("rs:sk:", sku, ":meta"),
        key("rs:sk:", sku, ":buyers"),
        key("rs:sk:", sku, ":orders"),
    ]
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
