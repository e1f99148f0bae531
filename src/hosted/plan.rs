//! The hosted commands as the command table names them, their groups, and the
//! plan each becomes (one script call), with what the groups' planners share.

use super::scripts::Script;

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

/// The pool's limits on what hosted commands may make on its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest Bloom filter, all layers together, in bytes.
    pub bloom_max_bytes: u64,
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
    /// LOCK.RELEASE: an answer of 0 means the lock is free, and one of its
    /// waiters is woken (its key is the plan's first).
    pub frees_lock: bool,
}

impl Plan {
    pub(super) fn new(script: &'static Script, keys: Vec<Vec<u8>>, args: Vec<Vec<u8>>) -> Plan {
        Plan {
            script,
            keys,
            args,
            first_of_array: false,
            wait_ms: 0,
            frees_lock: false,
        }
    }
}

/// `prefix{tag}suffix`: a hosted key, routed by its tag.
pub(super) fn key(prefix: &str, tag: &[u8], suffix: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + tag.len() + suffix.len() + 2);
    k.extend_from_slice(prefix.as_bytes());
    k.push(b'{');
    k.extend_from_slice(tag);
    k.push(b'}');
    k.extend_from_slice(suffix.as_bytes());
    k
}

pub(super) fn number(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Default life of a red packet or a flash sale, in seconds.
pub(super) const DEFAULT_TTL_S: u64 = 86_400;
