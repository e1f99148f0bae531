//! Bloom filters with RedisBloom's commands over plain Redis bitmaps: the
//! proxy hashes each item, the script derives each layer's bit positions
//! (it knows the layer sizes), so no module is needed on the servers.
//!
//! A filter is bounded by the pool's `bloom_max_bytes`, all its layers
//! together: BF.RESERVE refuses a first layer that does not fit, and a full
//! filter stacks a new layer only while the total still fits (past that its
//! last layer takes the items, and the false-positive rate rises above the
//! target). So every bit position a script sets is below its layer's size,
//! itself at most 2^32 bits, the most SETBIT reaches: BF.ADD cannot fail on
//! a filter BF.RESERVE accepted.

use super::error::{positive, HostedError};
use super::plan::{key, number, Hosted, Limits, Plan};
use super::scripts;

/// BF.ADD on a missing key makes RedisBloom's default filter.
const DEFAULT_ERROR: f64 = 0.01;
const DEFAULT_CAPACITY: u64 = 100;
const DEFAULT_EXPANSION: u64 = 2;

/// One layer's size for `capacity` items at `error`, as RedisBloom sizes it:
/// bits = ceil(n * -ln(p) / ln(2)^2), hashes = ceil(-ln(p) / ln(2)). In
/// floating point: an absurd reservation must still be measured to be
/// refused.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layer {
    bits: f64,
    hashes: f64,
}

impl Layer {
    fn new(capacity: u64, error: f64) -> Layer {
        let ln2 = std::f64::consts::LN_2;
        Layer {
            bits: (capacity as f64 * -error.ln() / (ln2 * ln2)).ceil(),
            hashes: (-error.ln() / ln2).ceil(),
        }
    }

    /// Bytes of its bitmap (saturating).
    fn bytes(&self) -> u64 {
        (self.bits / 8.0).ceil() as u64
    }

    /// Its size and hash count, as the scripts take them.
    fn args(&self) -> [Vec<u8>; 2] {
        [number(self.bits as u64), number(self.hashes as u64)]
    }
}

/// Two 32-bit hashes of a Bloom filter item; bit i of a layer of m bits is
/// (h1 + i * h2) mod m (Kirsch-Mitzenmacher double hashing).
pub fn bloom_hashes(item: &[u8]) -> (u32, u32) {
    let h = xxhash_rust::xxh3::xxh3_128(item);
    let h1 = h as u32;
    let h2 = ((h >> 64) as u32) | 1;
    (h1, h2)
}

pub(super) fn plan(
    cmd: Hosted,
    name: &'static str,
    args: &[&[u8]],
    limits: &Limits,
) -> Result<Plan, HostedError> {
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
                [] => DEFAULT_EXPANSION,
                [e, v] if e.eq_ignore_ascii_case(b"EXPANSION") => positive(name, "EXPANSION", v)?,
                [e] if e.eq_ignore_ascii_case(b"NONSCALING") => 1,
                _ => return Err(HostedError::BloomSyntax),
            };
            let layer = Layer::new(capacity, error);
            if layer.bytes() > limits.bloom_max_bytes {
                return Err(HostedError::BloomTooLarge {
                    capacity,
                    error: String::from_utf8_lossy(args[1]).into_owned(),
                    needed: layer.bytes(),
                    limit: limits.bloom_max_bytes,
                });
            }
            let [bits, hashes] = layer.args();
            Plan::new(
                &scripts::BF_RESERVE,
                meta(),
                vec![
                    args[1].to_vec(),
                    number(capacity),
                    number(expansion),
                    bits,
                    hashes,
                ],
            )
        }
        Hosted::BfAdd | Hosted::BfMadd => {
            let [bits, hashes] = Layer::new(DEFAULT_CAPACITY, DEFAULT_ERROR).args();
            let mut a = vec![
                key("rs:bf:", args[0], ":f"),
                b"1".to_vec(),
                DEFAULT_ERROR.to_string().into_bytes(),
                number(DEFAULT_CAPACITY),
                number(DEFAULT_EXPANSION),
                bits,
                hashes,
                number(limits.bloom_max_bytes),
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        bloom_max_bytes: 64 << 20,
    };

    #[test]
    fn the_default_filter_fits_the_smallest_limit() {
        // bloom_max_bytes is at least 1kb: BF.ADD on a missing key always
        // has room for the filter it makes.
        let layer = Layer::new(DEFAULT_CAPACITY, DEFAULT_ERROR);
        assert_eq!((layer.bits, layer.hashes, layer.bytes()), (959.0, 7.0, 120));
    }

    #[test]
    fn bf_reserve_is_sized_in_the_proxy_and_refused_over_the_limit() {
        let plan = Hosted::BfReserve
            .plan("bf.reserve", &[b"f", b"0.01", b"1000"], &LIMITS)
            .unwrap();
        assert_eq!(&plan.args[3..], &[b"9586".to_vec(), b"7".to_vec()]);
        let refused =
            Hosted::BfReserve.plan("bf.reserve", &[b"f", b"0.0000001", b"1000000000"], &LIMITS);
        match refused {
            Err(HostedError::BloomTooLarge { needed, limit, .. }) => {
                assert_eq!((needed, limit), (4_193_463_041, 64 << 20))
            }
            other => panic!("{other:?}"),
        }
        // The largest capacity at a tiny error rate: measured, not wrapped.
        let absurd = Hosted::BfReserve.plan(
            "bf.reserve",
            &[b"f", b"1e-300", b"9007199254740991"],
            &LIMITS,
        );
        assert!(matches!(absurd, Err(HostedError::BloomTooLarge { .. })));
    }
}
