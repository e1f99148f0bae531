//! The command table: for each Redis 7 command, its arity, where its keys are,
//! and what the proxy does with it. One table drives routing, splitting,
//! local answers and refusals, so a command's treatment is visible in one line.
//! The router reads it; nothing here depends on a pool or a connection.

/// Where a command's keys are, by argument position (0 is the command name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// No key: any live server can answer (or the proxy does).
    None,
    /// One key at this position; a shorter command has no key.
    At(u8),
    /// Keys from `first` to `last` (negative: from the end) every `step`.
    Range { first: u8, last: i8, step: u8 },
    /// A key count at `count_at`, then that many keys; with `dest`, the
    /// argument at position 1 is a key too (ZUNIONSTORE dest numkeys k...).
    Numkeys { count_at: u8, dest: bool },
    /// XREAD / XREADGROUP: the first half of the arguments after STREAMS.
    Streams,
    /// SORT, GEORADIUS...: the key at 1, plus the key after STORE / STOREDIST.
    WithStore,
}

/// How a command that spans servers is split and its replies merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// MGET: values in key order.
    Mget,
    /// MSET: OK when every part is OK.
    Mset,
    /// DEL, UNLINK, EXISTS, TOUCH: the counts summed.
    Sum,
}

/// Commands the proxy answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Ping,
    Echo,
    Quit,
    Select,
    Auth,
    Hello,
    Client,
    Info,
    Reset,
    /// READONLY / READWRITE: whether this connection's reads may go to
    /// replicas (`read_from`).
    ReadOnly,
    ReadWrite,
}

/// Commands over the whole keyspace of every server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyspace {
    /// SCAN: one server at a time, the server's index folded into the cursor.
    Scan,
    /// KEYS: every server, the arrays concatenated (only with `allow_keys`).
    Keys,
    /// RANDOMKEY: every server, one of their keys (only with `allow_keys`).
    RandomKey,
}

/// Why a command is refused (the connection stays open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Needs the whole keyspace of every server.
    Keyspace,
    /// Server administration.
    Admin,
    /// MULTI/EXEC/WATCH: a transaction cannot span servers.
    Transaction,
    /// Publish/subscribe.
    PubSub,
    /// Blocking commands would stall a server connection shared by clients.
    Blocking,
    /// Cluster and replication commands.
    Cluster,
    /// Connection state that cannot be shared through the proxy.
    Connection,
}

impl Refusal {
    /// The reason given to the client, after `'<cmd>' is not supported: `.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Keyspace => {
                "it needs the whole keyspace of every server; run it on each server directly"
            }
            Refusal::Admin => "it administers a server; run it on each server directly",
            Refusal::Transaction => {
                "transactions cannot span servers; use EVAL with keys that share a hash tag"
            }
            Refusal::PubSub => "publish/subscribe is not proxied; connect to a server directly",
            Refusal::Blocking => {
                "blocking commands would stall a server connection shared by many clients"
            }
            Refusal::Cluster => "cluster and replication commands are not proxied",
            Refusal::Connection => {
                "it changes connection state that the proxy's shared server connections cannot carry"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sent to the server of its keys, which must all be on one server.
    Forward,
    /// Split across servers and merged.
    Split(Split),
    /// Answered by the proxy.
    Local(Local),
    /// SCRIPT LOAD / EXISTS / FLUSH / KILL: sent to every server of the pool.
    Script,
    /// FUNCTION KILL: sent to every server of the pool; the other FUNCTION
    /// subcommands administer a server and are refused.
    Function,
    /// DBSIZE: sent to every server, the counts summed.
    SumAll,
    /// SCAN, KEYS, RANDOMKEY.
    Keyspace(Keyspace),
    /// A hosted command (a script run on the server of its tag); passed
    /// through unchanged when the pool disables its group.
    Hosted(crate::hosted::Hosted),
    /// Refused with an error naming the command.
    Refuse(Refusal),
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH: on a connection the client
    /// owns, on the server of the transaction's keys.
    Txn(TxnCmd),
    /// A command that may block (its timeout where `BlockArg` says): sent
    /// on a connection of the client's own, so nobody waits behind it.
    Block(BlockArg),
}

/// The transaction commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCmd {
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
}

/// Where a blocking command says how long it may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockArg {
    /// The last argument, in seconds (BLPOP k1 k2 5).
    Last,
    /// This argument, in seconds (BLMPOP 5 2 k1 k2 LEFT).
    At(u8),
    /// `BLOCK ms` among the options (XREAD, XREADGROUP); without it the
    /// command does not block.
    BlockOption,
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Lower case, as Redis names commands in its errors.
    pub name: &'static str,
    /// Redis arity: n means exactly n arguments (with the name), -n at least n.
    pub arity: i16,
    pub keys: Keys,
    pub action: Action,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    /// Whether argument 1 is a key (for the key-size limit).
    pub fn first_arg_is_key(&self) -> bool {
        match self.keys {
            Keys::At(p) => p == 1,
            Keys::Range { first, .. } => first == 1,
            Keys::Numkeys { dest, .. } => dest,
            Keys::WithStore => true,
            Keys::None | Keys::Streams => false,
        }
    }
}

use crate::hosted::Hosted as H;
use Action::{
    Block as Bl, Forward, Hosted as Ho, Local as L, Refuse as R, Script, Split as S, Txn as Tx,
};
use Keys::{At, None as NoKey, Numkeys, Range, Streams, WithStore};

const fn c(name: &'static str, arity: i16, keys: Keys, action: Action) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        keys,
        action,
    }
}

const K1: Keys = At(1);
const K2: Keys = At(2);
/// Every argument from 1 on is a key.
const ALL: Keys = Range {
    first: 1,
    last: -1,
    step: 1,
};
/// EVAL-like: a key count at 2, then the keys.
const NUMKEYS_AT_2: Keys = Numkeys {
    count_at: 2,
    dest: false,
};
/// ZUNION-like: a key count at 1, then the keys.
const NUMKEYS_AT_1: Keys = Numkeys {
    count_at: 1,
    dest: false,
};
/// ZUNIONSTORE-like: a destination key, a key count at 2, then the keys.
const DEST_NUMKEYS_AT_2: Keys = Numkeys {
    count_at: 2,
    dest: true,
};
/// BLPOP-like: every argument from 1 on but the last (the timeout) is a key.
const BUT_LAST: Keys = Range {
    first: 1,
    last: -2,
    step: 1,
};
/// Keys at 1 and 2 (source and destination).
const K12: Keys = Range {
    first: 1,
    last: 2,
    step: 1,
};

/// Sorted by name for binary search.
static TABLE: &[CommandSpec] = &[
    c("acl", -2, NoKey, R(Refusal::Admin)),
    c("append", 3, K1, Forward),
    c("asking", 1, NoKey, R(Refusal::Cluster)),
    c("auth", -2, NoKey, L(Local::Auth)),
    c("bf.add", 3, K1, Ho(H::BfAdd)),
    c("bf.exists", 3, K1, Ho(H::BfExists)),
    c("bf.info", 2, K1, Ho(H::BfInfo)),
    c("bf.madd", -3, K1, Ho(H::BfMadd)),
    c("bf.mexists", -3, K1, Ho(H::BfMexists)),
    c("bf.reserve", -4, K1, Ho(H::BfReserve)),
    c("bgrewriteaof", 1, NoKey, R(Refusal::Admin)),
    c("bgsave", -1, NoKey, R(Refusal::Admin)),
    c("bitcount", -2, K1, Forward),
    c("bitfield", -2, K1, Forward),
    c("bitfield_ro", -2, K1, Forward),
    c(
        "bitop",
        -4,
        Range {
            first: 2,
            last: -1,
            step: 1,
        },
        Forward,
    ),
    c("bitpos", -3, K1, Forward),
    c("blmove", 6, K12, Bl(BlockArg::Last)),
    c("blmpop", -5, NUMKEYS_AT_2, Bl(BlockArg::At(1))),
    c("blpop", -3, BUT_LAST, Bl(BlockArg::Last)),
    c("brpop", -3, BUT_LAST, Bl(BlockArg::Last)),
    c("brpoplpush", 4, K12, Bl(BlockArg::Last)),
    c("bzmpop", -5, NUMKEYS_AT_2, Bl(BlockArg::At(1))),
    c("bzpopmax", -3, BUT_LAST, Bl(BlockArg::Last)),
    c("bzpopmin", -3, BUT_LAST, Bl(BlockArg::Last)),
    c("client", -2, NoKey, L(Local::Client)),
    c("cluster", -2, NoKey, R(Refusal::Cluster)),
    c("command", -1, NoKey, Forward),
    c("config", -2, NoKey, R(Refusal::Admin)),
    c("copy", -3, K12, Forward),
    c("dbsize", 1, NoKey, Action::SumAll),
    c("debug", -2, NoKey, R(Refusal::Admin)),
    c("decr", 2, K1, Forward),
    c("decrby", 3, K1, Forward),
    c("del", -2, ALL, S(Split::Sum)),
    c("discard", 1, NoKey, Tx(TxnCmd::Discard)),
    c("dump", 2, K1, Forward),
    c("echo", 2, NoKey, L(Local::Echo)),
    c("eval", -3, NUMKEYS_AT_2, Forward),
    c("eval_ro", -3, NUMKEYS_AT_2, Forward),
    c("evalsha", -3, NUMKEYS_AT_2, Forward),
    c("evalsha_ro", -3, NUMKEYS_AT_2, Forward),
    c("exec", 1, NoKey, Tx(TxnCmd::Exec)),
    c("exists", -2, ALL, S(Split::Sum)),
    c("expire", -3, K1, Forward),
    c("expireat", -3, K1, Forward),
    c("expiretime", 2, K1, Forward),
    c("failover", -1, NoKey, R(Refusal::Cluster)),
    c("fcall", -3, NUMKEYS_AT_2, Forward),
    c("fcall_ro", -3, NUMKEYS_AT_2, Forward),
    c("flushall", -1, NoKey, R(Refusal::Keyspace)),
    c("flushdb", -1, NoKey, R(Refusal::Keyspace)),
    c("function", -2, NoKey, Action::Function),
    c("geoadd", -5, K1, Forward),
    c("geodist", -4, K1, Forward),
    c("geohash", -2, K1, Forward),
    c("geopos", -2, K1, Forward),
    c("georadius", -6, WithStore, Forward),
    c("georadius_ro", -6, K1, Forward),
    c("georadiusbymember", -5, WithStore, Forward),
    c("georadiusbymember_ro", -5, K1, Forward),
    c("geosearch", -7, K1, Forward),
    c("geosearchstore", -8, K12, Forward),
    c("get", 2, K1, Forward),
    c("getbit", 3, K1, Forward),
    c("getdel", 2, K1, Forward),
    c("getex", -2, K1, Forward),
    c("getrange", 4, K1, Forward),
    c("getset", 3, K1, Forward),
    c("hdel", -3, K1, Forward),
    c("hello", -1, NoKey, L(Local::Hello)),
    c("hexists", 3, K1, Forward),
    c("hget", 3, K1, Forward),
    c("hgetall", 2, K1, Forward),
    c("hincrby", 4, K1, Forward),
    c("hincrbyfloat", 4, K1, Forward),
    c("hkeys", 2, K1, Forward),
    c("hlen", 2, K1, Forward),
    c("hmget", -3, K1, Forward),
    c("hmset", -4, K1, Forward),
    c("hrandfield", -2, K1, Forward),
    c("hscan", -3, K1, Forward),
    c("hset", -4, K1, Forward),
    c("hsetnx", 4, K1, Forward),
    c("hstrlen", 3, K1, Forward),
    c("hvals", 2, K1, Forward),
    c("incr", 2, K1, Forward),
    c("incrby", 3, K1, Forward),
    c("incrbyfloat", 3, K1, Forward),
    c("info", -1, NoKey, L(Local::Info)),
    c("keys", 2, NoKey, Action::Keyspace(Keyspace::Keys)),
    c("lastsave", 1, NoKey, R(Refusal::Admin)),
    c("latency", -2, NoKey, R(Refusal::Admin)),
    c("lcs", -3, K12, Forward),
    c("lindex", 3, K1, Forward),
    c("linsert", 5, K1, Forward),
    c("llen", 2, K1, Forward),
    c("lmove", 5, K12, Forward),
    c("lmpop", -4, NUMKEYS_AT_1, Forward),
    c("lock.acquire", -4, K1, Ho(H::LockAcquire)),
    c("lock.extend", 4, K1, Ho(H::LockExtend)),
    c("lock.owner", 2, K1, Ho(H::LockOwner)),
    c("lock.release", 3, K1, Ho(H::LockRelease)),
    c("lolwut", -1, NoKey, Forward),
    c("lpop", -2, K1, Forward),
    c("lpos", -3, K1, Forward),
    c("lpush", -3, K1, Forward),
    c("lpushx", -3, K1, Forward),
    c("lrange", 4, K1, Forward),
    c("lrem", 4, K1, Forward),
    c("lset", 4, K1, Forward),
    c("ltrim", 4, K1, Forward),
    c("memory", -2, K2, Forward),
    c("mget", -2, ALL, S(Split::Mget)),
    c("migrate", -6, NoKey, R(Refusal::Admin)),
    c("module", -2, NoKey, R(Refusal::Admin)),
    c("monitor", 1, NoKey, R(Refusal::Admin)),
    c("move", 3, K1, R(Refusal::Keyspace)),
    c(
        "mset",
        -3,
        Range {
            first: 1,
            last: -1,
            step: 2,
        },
        S(Split::Mset),
    ),
    c(
        "msetnx",
        -3,
        Range {
            first: 1,
            last: -1,
            step: 2,
        },
        Forward,
    ),
    c("multi", 1, NoKey, Tx(TxnCmd::Multi)),
    c("object", -2, K2, Forward),
    c("persist", 2, K1, Forward),
    c("pexpire", -3, K1, Forward),
    c("pexpireat", -3, K1, Forward),
    c("pexpiretime", 2, K1, Forward),
    c("pfadd", -2, K1, Forward),
    c("pfcount", -2, ALL, Forward),
    c("pfdebug", 3, K2, R(Refusal::Admin)),
    c("pfmerge", -2, ALL, Forward),
    c("pfselftest", 1, NoKey, R(Refusal::Admin)),
    c("ping", -1, NoKey, L(Local::Ping)),
    c("psetex", 4, K1, Forward),
    c("psubscribe", -2, NoKey, R(Refusal::PubSub)),
    c("psync", -3, NoKey, R(Refusal::Cluster)),
    c("pttl", 2, K1, Forward),
    c("publish", 3, K1, Forward),
    c("pubsub", -2, NoKey, R(Refusal::PubSub)),
    c("punsubscribe", -1, NoKey, R(Refusal::PubSub)),
    c("quit", -1, NoKey, L(Local::Quit)),
    c("randomkey", 1, NoKey, Action::Keyspace(Keyspace::RandomKey)),
    c("readonly", 1, NoKey, L(Local::ReadOnly)),
    c("readwrite", 1, NoKey, L(Local::ReadWrite)),
    c("redpacket.create", -4, K1, Ho(H::RpCreate)),
    c("redpacket.grab", 2, K1, Ho(H::RpGrab)),
    c("redpacket.info", 2, K1, Ho(H::RpInfo)),
    c("redpacket.open", 3, K1, Ho(H::RpOpen)),
    c("redpacket.records", 2, K1, Ho(H::RpRecords)),
    c("rename", 3, K12, Forward),
    c("renamenx", 3, K12, Forward),
    c("replconf", -1, NoKey, R(Refusal::Cluster)),
    c("replicaof", 3, NoKey, R(Refusal::Cluster)),
    c("reset", 1, NoKey, L(Local::Reset)),
    c("restore", -4, K1, Forward),
    c("restore-asking", -4, K1, R(Refusal::Cluster)),
    c("role", 1, NoKey, R(Refusal::Cluster)),
    c("rpop", -2, K1, Forward),
    c("rpoplpush", 3, K12, Forward),
    c("rpush", -3, K1, Forward),
    c("rpushx", -3, K1, Forward),
    c("sadd", -3, K1, Forward),
    c("save", 1, NoKey, R(Refusal::Admin)),
    c("scan", -2, NoKey, Action::Keyspace(Keyspace::Scan)),
    c("scard", 2, K1, Forward),
    c("script", -2, NoKey, Script),
    c("sdiff", -2, ALL, Forward),
    c("sdiffstore", -3, ALL, Forward),
    c("seckill.buy", 3, K1, Ho(H::SkBuy)),
    c("seckill.create", -3, K1, Ho(H::SkCreate)),
    c("seckill.info", 2, K1, Ho(H::SkInfo)),
    c("select", 2, NoKey, L(Local::Select)),
    c("set", -3, K1, Forward),
    c("setbit", 4, K1, Forward),
    c("setex", 4, K1, Forward),
    c("setnx", 3, K1, Forward),
    c("setrange", 4, K1, Forward),
    c("shutdown", -1, NoKey, R(Refusal::Admin)),
    c("sinter", -2, ALL, Forward),
    c("sintercard", -3, NUMKEYS_AT_1, Forward),
    c("sinterstore", -3, ALL, Forward),
    c("sismember", 3, K1, Forward),
    c("slaveof", 3, NoKey, R(Refusal::Cluster)),
    c("slowlog", -2, NoKey, R(Refusal::Admin)),
    c("smembers", 2, K1, Forward),
    c("smismember", -3, K1, Forward),
    c("smove", 4, K12, Forward),
    c("sort", -2, WithStore, Forward),
    c("sort_ro", -2, K1, Forward),
    c("spop", -2, K1, Forward),
    c("spublish", 3, K1, Forward),
    c("srandmember", -2, K1, Forward),
    c("srem", -3, K1, Forward),
    c("sscan", -3, K1, Forward),
    c("ssubscribe", -2, NoKey, R(Refusal::PubSub)),
    c("strlen", 2, K1, Forward),
    c("subscribe", -2, NoKey, R(Refusal::PubSub)),
    c("substr", 4, K1, Forward),
    c("sunion", -2, ALL, Forward),
    c("sunionstore", -3, ALL, Forward),
    c("sunsubscribe", -1, NoKey, R(Refusal::PubSub)),
    c("swapdb", 3, NoKey, R(Refusal::Keyspace)),
    c("sync", 1, NoKey, R(Refusal::Cluster)),
    c("time", 1, NoKey, Forward),
    c("touch", -2, ALL, S(Split::Sum)),
    c("ttl", 2, K1, Forward),
    c("type", 2, K1, Forward),
    c("unlink", -2, ALL, S(Split::Sum)),
    c("unsubscribe", -1, NoKey, R(Refusal::PubSub)),
    c("unwatch", 1, NoKey, Tx(TxnCmd::Unwatch)),
    c("wait", 3, NoKey, R(Refusal::Cluster)),
    c("waitaof", 4, NoKey, R(Refusal::Cluster)),
    c("watch", -2, ALL, Tx(TxnCmd::Watch)),
    c("xack", -4, K1, Forward),
    c("xadd", -5, K1, Forward),
    c("xautoclaim", -6, K1, Forward),
    c("xclaim", -6, K1, Forward),
    c("xdel", -3, K1, Forward),
    c("xgroup", -2, K2, Forward),
    c("xinfo", -2, K2, Forward),
    c("xlen", 2, K1, Forward),
    c("xpending", -3, K1, Forward),
    c("xrange", -4, K1, Forward),
    c("xread", -4, Streams, Bl(BlockArg::BlockOption)),
    c("xreadgroup", -7, Streams, Bl(BlockArg::BlockOption)),
    c("xrevrange", -4, K1, Forward),
    c("xsetid", -3, K1, Forward),
    c("xtrim", -4, K1, Forward),
    c("zadd", -4, K1, Forward),
    c("zcard", 2, K1, Forward),
    c("zcount", 4, K1, Forward),
    c("zdiff", -3, NUMKEYS_AT_1, Forward),
    c("zdiffstore", -4, DEST_NUMKEYS_AT_2, Forward),
    c("zincrby", 4, K1, Forward),
    c("zinter", -3, NUMKEYS_AT_1, Forward),
    c("zintercard", -3, NUMKEYS_AT_1, Forward),
    c("zinterstore", -4, DEST_NUMKEYS_AT_2, Forward),
    c("zlexcount", 4, K1, Forward),
    c("zmpop", -4, NUMKEYS_AT_1, Forward),
    c("zmscore", -3, K1, Forward),
    c("zpopmax", -2, K1, Forward),
    c("zpopmin", -2, K1, Forward),
    c("zrandmember", -2, K1, Forward),
    c("zrange", -4, K1, Forward),
    c("zrangebylex", -4, K1, Forward),
    c("zrangebyscore", -4, K1, Forward),
    c("zrangestore", -5, K12, Forward),
    c("zrank", 3, K1, Forward),
    c("zrem", -3, K1, Forward),
    c("zremrangebylex", 4, K1, Forward),
    c("zremrangebyrank", 4, K1, Forward),
    c("zremrangebyscore", 4, K1, Forward),
    c("zrevrange", -4, K1, Forward),
    c("zrevrangebylex", -4, K1, Forward),
    c("zrevrangebyscore", -4, K1, Forward),
    c("zrevrank", 3, K1, Forward),
    c("zscan", -3, K1, Forward),
    c("zscore", 3, K1, Forward),
    c("zunion", -3, NUMKEYS_AT_1, Forward),
    c("zunionstore", -4, DEST_NUMKEYS_AT_2, Forward),
];

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
