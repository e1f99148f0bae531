//! Each hosted command: its arguments checked, turned into one script call.

use super::scripts::{self, Script};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Lock,
    RedPacket,
    Seckill,
    Bloom,
}

impl Group {
    pub const ALL: [(Group, &'static str); 4] = [
        (Group::Lock, "lock"),
        (Group::RedPacket, "redpacket"),
        (Group::Seckill, "seckill"),
        (Group::Bloom, "bloom"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(g, _)| *g == self)
            .map(|(_, n)| *n)
            .unwrap_or("")
    }
}

impl std::str::FromStr for Group {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(g, _)| *g)
            .ok_or_else(|| format!("'{s}' is not a hosted command group; expected lock, redpacket, seckill or bloom"))
    }
}

/// The hosted commands, as named in the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosted {
    LockAcquire,
    LockRelease,
    LockExtend,
    LockOwner,
    RpCreate,
    RpGrab,
    RpOpen,
    RpInfo,
    RpRecords,
    SkCreate,
    SkBuy,
    SkInfo,
    BfReserve,
    BfAdd,
    BfMadd,
    BfExists,
    BfMexists,
    BfInfo,
}

impl Hosted {
    pub fn group(self) -> Group {
        use Hosted::*;
        match self {
            LockAcquire | LockRelease | LockExtend | LockOwner => Group::Lock,
            RpCreate | RpGrab | RpOpen | RpInfo | RpRecords => Group::RedPacket,
            SkCreate | SkBuy | SkInfo => Group::Seckill,
            BfReserve | BfAdd | BfMadd | BfExists | BfMexists | BfInfo => Group::Bloom,
        }
    }
}

/// One script call: which script, its keys and arguments, and how its reply
/// becomes the command's.
#[derive(Debug)]
pub struct Plan {
    pub script: &'static Script,
    pub keys: Vec<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    /// BF.ADD / BF.EXISTS: the script answers for a list; the command for one.
    pub first_of_array: bool,
    /// LOCK.ACQUIRE ... WAIT ms: retry while the answer is 0, up to this long.
    pub wait_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

fn positive(name: &str, what: &str, v: &[u8]) -> Result<u64, ParseError> {
    match std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) if n > 0 && n < (1 << 53) => Ok(n),
        _ => err(format!(
            "ERR {name}: {what} must be a positive integer, got '{}'",
            String::from_utf8_lossy(v)
        )),
    }
}

fn key(prefix: &str, tag: &[u8], suffix: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + tag.len() + suffix.len() + 2);
    k.extend_from_slice(prefix.as_bytes());
    k.push(b'{');
    k.extend_from_slice(tag);
    k.push(b'}');
    k.extend_from_slice(suffix.as_bytes());
    k
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Two 32-bit hashes of a Bloom filter item; bit i of a layer of m bits is
/// (h1 + i * h2) mod m (Kirsch-Mitzenmacher double hashing).
pub fn bloom_hashes(item: &[u8]) -> (u32, u32) {
    let h = xxhash_rust::xxh3::xxh3_128(item);
    let h1 = h as u32;
    let h2 = ((h >> 64) as u32) | 1;
    (h1, h2)
}

const DEFAULT_TTL_S: u64 = 86_400;
const BLOOM_DEFAULT_ERROR: &str = "0.01";
const BLOOM_DEFAULT_CAPACITY: &str = "100";
const BLOOM_DEFAULT_EXPANSION: &str = "2";

impl Hosted {
    /// Checks the arguments (after the command name) and plans the call.
    pub fn plan(self, name: &str, args: &[&[u8]]) -> Result<Plan, ParseError> {
        use Hosted::*;
        let plan = |script, keys: Vec<Vec<u8>>, args: Vec<Vec<u8>>| Plan {
            script,
            keys,
            args,
            first_of_array: false,
            wait_ms: 0,
        };
        let s = |v: &[u8]| v.to_vec();
        Ok(match self {
            LockAcquire => {
                let ttl = positive(name, "ttl_ms", args[2])?;
                let wait_ms = match &args[3..] {
                    [] => 0,
                    [w, ms] if w.eq_ignore_ascii_case(b"WAIT") => std::str::from_utf8(ms)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            ParseError(format!("ERR {name}: WAIT takes a number of milliseconds"))
                        })?,
                    _ => {
                        return err(format!(
                            "ERR {name}: syntax is LOCK.ACQUIRE name owner ttl_ms [WAIT ms]"
                        ))
                    }
                };
                let mut p = plan(
                    &scripts::LOCK_ACQUIRE,
                    vec![key("rs:lock:", args[0], "")],
                    vec![s(args[1]), ttl.to_string().into_bytes()],
                );
                p.wait_ms = wait_ms;
                p
            }
            LockRelease => plan(
                &scripts::LOCK_RELEASE,
                vec![key("rs:lock:", args[0], "")],
                vec![s(args[1])],
            ),
            LockExtend => {
                let ttl = positive(name, "ttl_ms", args[2])?;
                plan(
                    &scripts::LOCK_EXTEND,
                    vec![key("rs:lock:", args[0], "")],
                    vec![s(args[1]), ttl.to_string().into_bytes()],
                )
            }
            LockOwner => plan(
                &scripts::LOCK_OWNER,
                vec![key("rs:lock:", args[0], "")],
                vec![],
            ),
            RpCreate => {
                let total = positive(name, "total", args[1])?;
                let count = positive(name, "count", args[2])?;
                if total < count {
                    return err(format!("ERR {name}: total ({total} cents) must be at least count ({count}): every packet holds at least 1 cent"));
                }
                let ttl = match &args[3..] {
                    [] => DEFAULT_TTL_S,
                    [t, v] if t.eq_ignore_ascii_case(b"TTL") => positive(name, "TTL", v)?,
                    _ => {
                        return err(format!(
                            "ERR {name}: syntax is REDPACKET.CREATE id total count [TTL seconds]"
                        ))
                    }
                };
                plan(
                    &scripts::RP_CREATE,
                    rp_keys(args[0]),
                    vec![
                        total.to_string().into_bytes(),
                        count.to_string().into_bytes(),
                        ttl.to_string().into_bytes(),
                    ],
                )
            }
            RpGrab => plan(
                &scripts::RP_GRAB,
                vec![key("rs:rp:", args[0], ":meta")],
                vec![],
            ),
            RpOpen => {
                let random = fastrand::u32(..(1 << 31)).to_string().into_bytes();
                plan(
                    &scripts::RP_OPEN,
                    rp_keys(args[0]),
                    vec![s(args[1]), random],
                )
            }
            RpInfo => plan(
                &scripts::RP_INFO,
                vec![key("rs:rp:", args[0], ":meta")],
                vec![],
            ),
            RpRecords => plan(
                &scripts::RP_RECORDS,
                vec![key("rs:rp:", args[0], ":records")],
                vec![],
            ),
            SkCreate => {
                let stock = positive(name, "stock", args[1])?;
                // ADMIT defaults to ceil(1.2 * stock), in integers.
                let (mut start, mut admit, mut ttl) =
                    (0u64, (stock * 12).div_ceil(10), DEFAULT_TTL_S);
                let mut rest = &args[2..];
                while let [opt, value, tail @ ..] = rest {
                    match opt.to_ascii_uppercase().as_slice() {
                        b"START" => {
                            start = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).ok_or_else(|| {
                                ParseError(format!("ERR {name}: START takes a unix time in milliseconds"))
                            })?
                        }
                        b"ADMIT" => admit = positive(name, "ADMIT", value)?,
                        b"TTL" => ttl = positive(name, "TTL", value)?,
                        _ => return err(format!("ERR {name}: syntax is SECKILL.CREATE sku stock [START unix_ms] [ADMIT n] [TTL seconds]")),
                    }
                    rest = tail;
                }
                if !rest.is_empty() {
                    return err(format!("ERR {name}: syntax is SECKILL.CREATE sku stock [START unix_ms] [ADMIT n] [TTL seconds]"));
                }
                let n = |v: u64| v.to_string().into_bytes();
                plan(
                    &scripts::SK_CREATE,
                    sk_keys(args[0]),
                    vec![n(stock), n(start), n(admit), n(ttl)],
                )
            }
            SkBuy => plan(
                &scripts::SK_BUY,
                sk_keys(args[0]),
                vec![s(args[1]), s(args[0]), now_ms().to_string().into_bytes()],
            ),
            SkInfo => plan(
                &scripts::SK_INFO,
                vec![key("rs:sk:", args[0], ":meta")],
                vec![],
            ),
            BfReserve => {
                let error: f64 = std::str::from_utf8(args[1])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(-1.0);
                if !(error > 0.0 && error < 1.0) {
                    return err("ERR (0 < error rate range < 1)");
                }
                let capacity = positive(name, "capacity", args[2])
                    .map_err(|_| ParseError("ERR (capacity should be larger than 0)".into()))?;
                let expansion =
                    match &args[3..] {
                        [] => 2,
                        [e, v] if e.eq_ignore_ascii_case(b"EXPANSION") => {
                            positive(name, "EXPANSION", v)?
                        }
                        [e] if e.eq_ignore_ascii_case(b"NONSCALING") => 1,
                        _ => return err(
                            "ERR syntax error: BF.RESERVE key error_rate capacity [EXPANSION n]",
                        ),
                    };
                plan(
                    &scripts::BF_RESERVE,
                    vec![key("rs:bf:", args[0], ":meta")],
                    vec![
                        s(args[1]),
                        capacity.to_string().into_bytes(),
                        expansion.to_string().into_bytes(),
                    ],
                )
            }
            BfAdd | BfMadd => {
                let mut a = vec![
                    key("rs:bf:", args[0], ":f"),
                    b"1".to_vec(),
                    BLOOM_DEFAULT_ERROR.into(),
                    BLOOM_DEFAULT_CAPACITY.into(),
                    BLOOM_DEFAULT_EXPANSION.into(),
                ];
                push_hashes(&mut a, &args[1..]);
                let mut p = plan(&scripts::BF_ADD, vec![key("rs:bf:", args[0], ":meta")], a);
                p.first_of_array = self == BfAdd;
                p
            }
            BfExists | BfMexists => {
                let mut a = vec![key("rs:bf:", args[0], ":f")];
                push_hashes(&mut a, &args[1..]);
                let mut p = plan(
                    &scripts::BF_EXISTS,
                    vec![key("rs:bf:", args[0], ":meta")],
                    a,
                );
                p.first_of_array = self == BfExists;
                p
            }
            BfInfo => plan(
                &scripts::BF_INFO,
                vec![key("rs:bf:", args[0], ":meta")],
                vec![],
            ),
        })
    }
}

fn push_hashes(out: &mut Vec<Vec<u8>>, items: &[&[u8]]) {
    for item in items {
        let (h1, h2) = bloom_hashes(item);
        out.push(h1.to_string().into_bytes());
        out.push(h2.to_string().into_bytes());
    }
}

fn rp_keys(id: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key("rs:rp:", id, ":meta"),
        key("rs:rp:", id, ":opened"),
        key("rs:rp:", id, ":records"),
    ]
}

fn sk_keys(sku: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key("rs:sk:", sku, ":meta"),
        key("rs:sk:", sku, ":buyers"),
        key("rs:sk:", sku, ":orders"),
    ]
}
