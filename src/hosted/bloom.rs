//! Bloom filters with RedisBloom's commands over plain Redis bitmaps: the
//! proxy hashes each item, the script derives each layer's bit positions
//! (it knows the layer sizes), so no module is needed on the servers.

use super::error::{positive, HostedError};
use super::plan::{key, number, Hosted, Plan};
use super::scripts;

const DEFAULT_ERROR: &str = "0.01";
const DEFAULT_CAPACITY: &str = "100";
const DEFAULT_EXPANSION: &str = "2";

/// Two 32-bit hashes of a Bloom filter item; bit i of a layer of m bits is
/// (h1 + i * h2) mod m (Kirsch-Mitzenmacher double hashing).
pub fn bloom_hashes(item: &[u8]) -> (u32, u32) {
    let h = xxhash_rust::xxh3::xxh3_128(item);
    let h1 = h as u32;
    let h2 = ((h >> 64) as u32) | 1;
    (h1, h2)
}

pub(super) fn plan(cmd: Hosted, name: &'static str, args: &[&[u8]]) -> Result<Plan, HostedError> {
    let meta = || vec![key("rs:bf:", args[0], ":meta")];
    Ok(match cmd {
        Hosted::BfReserve => {
            let error: f64 = std::str::from_utf8(args[1])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1.0);
            if !(error > 0.0 && error < 1.0) {
                return Err(HostedError::BloomErrorRate);
            }
            let capacity =
                positive(name, "capacity", args[2]).map_err(|_| HostedError::BloomCapacity)?;
            let expansion = match &args[3..] {
                [] => 2,
                [e, v] if e.eq_ignore_ascii_case(b"EXPANSION") => positive(name, "EXPANSION", v)?,
                [e] if e.eq_ignore_ascii_case(b"NONSCALING") => 1,
                _ => return Err(HostedError::BloomSyntax),
            };
            Plan::new(
                &scripts::BF_RESERVE,
                meta(),
                vec![args[1].to_vec(), number(capacity), number(expansion)],
            )
        }
        Hosted::BfAdd | Hosted::BfMadd => {
            let mut a = vec![
                key("rs:bf:", args[0], ":f"),
                b"1".to_vec(),
                DEFAULT_ERROR.into(),
                DEFAULT_CAPACITY.into(),
                DEFAULT_EXPANSION.into(),
            ];
            push_hashes(&mut a, &args[1..]);
            let mut p = Plan::new(&scripts::BF_ADD, meta(), a);
            p.first_of_array = cmd == Hosted::BfAdd;
            p
        }
        Hosted::BfExists | Hosted::BfMexists => {
            let mut a = vec![key("rs:bf:", args[0], ":f")];
            push_hashes(&mut a, &args[1..]);
            let mut p = Plan::new(&scripts::BF_EXISTS, meta(), a);
            p.first_of_array = cmd == Hosted::BfExists;
            p
        }
        _ => Plan::new(&scripts::BF_INFO, meta(), vec![]),
    })
}

fn push_hashes(out: &mut Vec<Vec<u8>>, items: &[&[u8]]) {
    for item in items {
        let (h1, h2) = bloom_hashes(item);
        out.push(number(h1 as u64));
        out.push(number(h2 as u64));
    }
}
