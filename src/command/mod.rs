//! The command table: for each Redis 7 command, its arity, where its keys are,
//! and what the proxy does with it. One table drives routing, splitting,
//! local answers and refusals, so a command's treatment is visible in one line.
//! The router reads it; nothing here depends on a pool or a connection.

pub mod category;
pub mod subcommand;

use crate::protocol::Request;

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
    /// ACL WHOAMI (the other subcommands are refused).
    Acl,
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
    /// FLUSHDB, FLUSHALL: every server of the pool, OK when each says OK
    /// (only with `allow_flush`).
    Flush,
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
    /// (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE: on connections the client owns,
    /// to the server of each channel (every server for a pattern).
    Sub(SubCmd),
    /// PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB:
    /// asked of every server (NUMPAT of one: patterns are on all) and merged.
    Pubsub,
}

/// A subscription command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCmd {
    Subscribe(SubKind),
    Unsubscribe(SubKind),
}

/// The three kinds of subscription Redis keeps apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    /// SUBSCRIBE: a channel, on the server of its name.
    Channel,
    /// PSUBSCRIBE: a pattern, on every server (a message is published where
    /// its channel lives).
    Pattern,
    /// SSUBSCRIBE: a shard channel, on the server of its name, counted apart.
    Shard,
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
    /// Redis's ACL categories (`@read`, `@write`, ...), for users' rules.
    pub categories: Categories,
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

use self::category::*;
use crate::hosted::Hosted as H;
use Action::{
    Block as Bl, Forward, Hosted as Ho, Local as L, Refuse as R, Script, Split as S, Sub, Txn as Tx,
};
use Keys::{At, None as NoKey, Numkeys, Range, Streams, WithStore};

const fn c(name: &'static str, arity: i16, keys: Keys, action: Action, cats: u32) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        keys,
        action,
        categories: Categories::new(cats),
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
/// BITOP-like: every argument from 2 on is a key.
const FROM_2: Keys = Range {
    first: 2,
    last: -1,
    step: 1,
};
/// MSET-like: key, value, key, value...
const PAIRS: Keys = Range {
    first: 1,
    last: -1,
    step: 2,
};

/// Sorted by name for binary search. The last column is the command's ACL
/// categories, Redis 7.0's (the hosted commands: `@read` or `@write`, and
/// `@slow`).
#[rustfmt::skip]
static TABLE: &[CommandSpec] = &[
    c("acl", -2, NoKey, L(Local::Acl), SLOW | SUBS),
    c("append", 3, K1, Forward, WRITE | STRING | FAST),
    c("asking", 1, NoKey, R(Refusal::Cluster), FAST | CONNECTION),
    c("auth", -2, NoKey, L(Local::Auth), FAST | CONNECTION),
    c("bf.add", 3, K1, Ho(H::BfAdd), WRITE | SLOW),
    c("bf.exists", 3, K1, Ho(H::BfExists), READ | SLOW),
    c("bf.info", 2, K1, Ho(H::BfInfo), READ | SLOW),
    c("bf.madd", -3, K1, Ho(H::BfMadd), WRITE | SLOW),
    c("bf.mexists", -3, K1, Ho(H::BfMexists), READ | SLOW),
    c("bf.reserve", -4, K1, Ho(H::BfReserve), WRITE | SLOW),
    c("bgrewriteaof", 1, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("bgsave", -1, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("bitcount", -2, K1, Forward, READ | BITMAP | SLOW),
    c("bitfield", -2, K1, Forward, WRITE | BITMAP | SLOW),
    c("bitfield_ro", -2, K1, Forward, READ | BITMAP | FAST),
    c("bitop", -4, FROM_2, Forward, WRITE | BITMAP | SLOW),
    c("bitpos", -3, K1, Forward, READ | BITMAP | SLOW),
    c("blmove", 6, K12, Bl(BlockArg::Last), WRITE | LIST | SLOW | BLOCKING),
    c("blmpop", -5, NUMKEYS_AT_2, Bl(BlockArg::At(1)), WRITE | LIST | SLOW | BLOCKING),
    c("blpop", -3, BUT_LAST, Bl(BlockArg::Last), WRITE | LIST | SLOW | BLOCKING),
    c("brpop", -3, BUT_LAST, Bl(BlockArg::Last), WRITE | LIST | SLOW | BLOCKING),
    c("brpoplpush", 4, K12, Bl(BlockArg::Last), WRITE | LIST | SLOW | BLOCKING),
    c("bzmpop", -5, NUMKEYS_AT_2, Bl(BlockArg::At(1)), WRITE | SORTEDSET | SLOW | BLOCKING),
    c("bzpopmax", -3, BUT_LAST, Bl(BlockArg::Last), WRITE | SORTEDSET | FAST | BLOCKING),
    c("bzpopmin", -3, BUT_LAST, Bl(BlockArg::Last), WRITE | SORTEDSET | FAST | BLOCKING),
    c("client", -2, NoKey, L(Local::Client), SLOW | SUBS),
    c("cluster", -2, NoKey, R(Refusal::Cluster), SLOW | SUBS),
    c("command", -1, NoKey, Forward, SLOW | CONNECTION | SUBS),
    c("config", -2, NoKey, R(Refusal::Admin), SLOW | SUBS),
    c("copy", -3, K12, Forward, KEYSPACE | WRITE | SLOW),
    c("dbsize", 1, NoKey, Action::SumAll, KEYSPACE | READ | FAST),
    c("debug", -2, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("decr", 2, K1, Forward, WRITE | STRING | FAST),
    c("decrby", 3, K1, Forward, WRITE | STRING | FAST),
    c("del", -2, ALL, S(Split::Sum), KEYSPACE | WRITE | SLOW),
    c("discard", 1, NoKey, Tx(TxnCmd::Discard), FAST | TRANSACTION),
    c("dump", 2, K1, Forward, KEYSPACE | READ | SLOW),
    c("echo", 2, NoKey, L(Local::Echo), FAST | CONNECTION),
    c("eval", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("eval_ro", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("evalsha", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("evalsha_ro", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("exec", 1, NoKey, Tx(TxnCmd::Exec), SLOW | TRANSACTION),
    c("exists", -2, ALL, S(Split::Sum), KEYSPACE | READ | FAST),
    c("expire", -3, K1, Forward, KEYSPACE | WRITE | FAST),
    c("expireat", -3, K1, Forward, KEYSPACE | WRITE | FAST),
    c("expiretime", 2, K1, Forward, KEYSPACE | READ | FAST),
    c("failover", -1, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("fcall", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("fcall_ro", -3, NUMKEYS_AT_2, Forward, SLOW | SCRIPTING),
    c("flushall", -1, NoKey, Action::Keyspace(Keyspace::Flush), KEYSPACE | WRITE | SLOW | DANGEROUS),
    c("flushdb", -1, NoKey, Action::Keyspace(Keyspace::Flush), KEYSPACE | WRITE | SLOW | DANGEROUS),
    c("function", -2, NoKey, Action::Function, SLOW | SUBS),
    c("geoadd", -5, K1, Forward, WRITE | GEO | SLOW),
    c("geodist", -4, K1, Forward, READ | GEO | SLOW),
    c("geohash", -2, K1, Forward, READ | GEO | SLOW),
    c("geopos", -2, K1, Forward, READ | GEO | SLOW),
    c("georadius", -6, WithStore, Forward, WRITE | GEO | SLOW),
    c("georadius_ro", -6, K1, Forward, READ | GEO | SLOW),
    c("georadiusbymember", -5, WithStore, Forward, WRITE | GEO | SLOW),
    c("georadiusbymember_ro", -5, K1, Forward, READ | GEO | SLOW),
    c("geosearch", -7, K1, Forward, READ | GEO | SLOW),
    c("geosearchstore", -8, K12, Forward, WRITE | GEO | SLOW),
    c("get", 2, K1, Forward, READ | STRING | FAST),
    c("getbit", 3, K1, Forward, READ | BITMAP | FAST),
    c("getdel", 2, K1, Forward, WRITE | STRING | FAST),
    c("getex", -2, K1, Forward, WRITE | STRING | FAST),
    c("getrange", 4, K1, Forward, READ | STRING | SLOW),
    c("getset", 3, K1, Forward, WRITE | STRING | FAST),
    c("hdel", -3, K1, Forward, WRITE | HASH | FAST),
    c("hello", -1, NoKey, L(Local::Hello), FAST | CONNECTION),
    c("hexists", 3, K1, Forward, READ | HASH | FAST),
    c("hget", 3, K1, Forward, READ | HASH | FAST),
    c("hgetall", 2, K1, Forward, READ | HASH | SLOW),
    c("hincrby", 4, K1, Forward, WRITE | HASH | FAST),
    c("hincrbyfloat", 4, K1, Forward, WRITE | HASH | FAST),
    c("hkeys", 2, K1, Forward, READ | HASH | SLOW),
    c("hlen", 2, K1, Forward, READ | HASH | FAST),
    c("hmget", -3, K1, Forward, READ | HASH | FAST),
    c("hmset", -4, K1, Forward, WRITE | HASH | FAST),
    c("hrandfield", -2, K1, Forward, READ | HASH | SLOW),
    c("hscan", -3, K1, Forward, READ | HASH | SLOW),
    c("hset", -4, K1, Forward, WRITE | HASH | FAST),
    c("hsetnx", 4, K1, Forward, WRITE | HASH | FAST),
    c("hstrlen", 3, K1, Forward, READ | HASH | FAST),
    c("hvals", 2, K1, Forward, READ | HASH | SLOW),
    c("incr", 2, K1, Forward, WRITE | STRING | FAST),
    c("incrby", 3, K1, Forward, WRITE | STRING | FAST),
    c("incrbyfloat", 3, K1, Forward, WRITE | STRING | FAST),
    c("info", -1, NoKey, L(Local::Info), SLOW | DANGEROUS),
    c("keys", 2, NoKey, Action::Keyspace(Keyspace::Keys), KEYSPACE | READ | SLOW | DANGEROUS),
    c("lastsave", 1, NoKey, R(Refusal::Admin), ADMIN | FAST | DANGEROUS),
    c("latency", -2, NoKey, R(Refusal::Admin), SLOW | SUBS),
    c("lcs", -3, K12, Forward, READ | STRING | SLOW),
    c("lindex", 3, K1, Forward, READ | LIST | SLOW),
    c("linsert", 5, K1, Forward, WRITE | LIST | SLOW),
    c("llen", 2, K1, Forward, READ | LIST | FAST),
    c("lmove", 5, K12, Forward, WRITE | LIST | SLOW),
    c("lmpop", -4, NUMKEYS_AT_1, Forward, WRITE | LIST | SLOW),
    c("lock.acquire", -4, K1, Ho(H::LockAcquire), WRITE | SLOW),
    c("lock.extend", 4, K1, Ho(H::LockExtend), WRITE | SLOW),
    c("lock.owner", 2, K1, Ho(H::LockOwner), READ | SLOW),
    c("lock.release", 3, K1, Ho(H::LockRelease), WRITE | SLOW),
    c("lolwut", -1, NoKey, Forward, READ | FAST),
    c("lpop", -2, K1, Forward, WRITE | LIST | FAST),
    c("lpos", -3, K1, Forward, READ | LIST | SLOW),
    c("lpush", -3, K1, Forward, WRITE | LIST | FAST),
    c("lpushx", -3, K1, Forward, WRITE | LIST | FAST),
    c("lrange", 4, K1, Forward, READ | LIST | SLOW),
    c("lrem", 4, K1, Forward, WRITE | LIST | SLOW),
    c("lset", 4, K1, Forward, WRITE | LIST | SLOW),
    c("ltrim", 4, K1, Forward, WRITE | LIST | SLOW),
    c("memory", -2, K2, Forward, SLOW | SUBS),
    c("mget", -2, ALL, S(Split::Mget), READ | STRING | FAST),
    c("migrate", -6, NoKey, R(Refusal::Admin), KEYSPACE | WRITE | SLOW | DANGEROUS),
    c("module", -2, NoKey, R(Refusal::Admin), SLOW | SUBS),
    c("monitor", 1, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("move", 3, K1, R(Refusal::Keyspace), KEYSPACE | WRITE | FAST),
    c("mset", -3, PAIRS, S(Split::Mset), WRITE | STRING | SLOW),
    c("msetnx", -3, PAIRS, Forward, WRITE | STRING | SLOW),
    c("multi", 1, NoKey, Tx(TxnCmd::Multi), FAST | TRANSACTION),
    c("object", -2, K2, Forward, SLOW | SUBS),
    c("persist", 2, K1, Forward, KEYSPACE | WRITE | FAST),
    c("pexpire", -3, K1, Forward, KEYSPACE | WRITE | FAST),
    c("pexpireat", -3, K1, Forward, KEYSPACE | WRITE | FAST),
    c("pexpiretime", 2, K1, Forward, KEYSPACE | READ | FAST),
    c("pfadd", -2, K1, Forward, WRITE | HYPERLOGLOG | FAST),
    c("pfcount", -2, ALL, Forward, READ | HYPERLOGLOG | SLOW),
    c("pfdebug", 3, K2, R(Refusal::Admin), WRITE | HYPERLOGLOG | ADMIN | SLOW | DANGEROUS),
    c("pfmerge", -2, ALL, Forward, WRITE | HYPERLOGLOG | SLOW),
    c("pfselftest", 1, NoKey, R(Refusal::Admin), HYPERLOGLOG | ADMIN | SLOW | DANGEROUS),
    c("ping", -1, NoKey, L(Local::Ping), FAST | CONNECTION),
    c("psetex", 4, K1, Forward, WRITE | STRING | SLOW),
    c("psubscribe", -2, NoKey, Sub(SubCmd::Subscribe(SubKind::Pattern)), PUBSUB | SLOW),
    c("psync", -3, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("pttl", 2, K1, Forward, KEYSPACE | READ | FAST),
    c("publish", 3, K1, Forward, PUBSUB | FAST),
    c("pubsub", -2, NoKey, Action::Pubsub, SLOW | SUBS),
    c("punsubscribe", -1, NoKey, Sub(SubCmd::Unsubscribe(SubKind::Pattern)), PUBSUB | SLOW),
    c("quit", -1, NoKey, L(Local::Quit), FAST | CONNECTION),
    c("randomkey", 1, NoKey, Action::Keyspace(Keyspace::RandomKey), KEYSPACE | READ | SLOW),
    c("readonly", 1, NoKey, L(Local::ReadOnly), FAST | CONNECTION),
    c("readwrite", 1, NoKey, L(Local::ReadWrite), FAST | CONNECTION),
    c("redpacket.create", -4, K1, Ho(H::RpCreate), WRITE | SLOW),
    c("redpacket.grab", 2, K1, Ho(H::RpGrab), READ | SLOW),
    c("redpacket.info", 2, K1, Ho(H::RpInfo), READ | SLOW),
    c("redpacket.open", 3, K1, Ho(H::RpOpen), WRITE | SLOW),
    c("redpacket.records", 2, K1, Ho(H::RpRecords), READ | SLOW),
    c("rename", 3, K12, Forward, KEYSPACE | WRITE | SLOW),
    c("renamenx", 3, K12, Forward, KEYSPACE | WRITE | FAST),
    c("replconf", -1, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("replicaof", 3, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("reset", 1, NoKey, L(Local::Reset), FAST | CONNECTION),
    c("restore", -4, K1, Forward, KEYSPACE | WRITE | SLOW | DANGEROUS),
    c("restore-asking", -4, K1, R(Refusal::Cluster), KEYSPACE | WRITE | SLOW | DANGEROUS),
    c("role", 1, NoKey, R(Refusal::Cluster), ADMIN | FAST | DANGEROUS),
    c("rpop", -2, K1, Forward, WRITE | LIST | FAST),
    c("rpoplpush", 3, K12, Forward, WRITE | LIST | SLOW),
    c("rpush", -3, K1, Forward, WRITE | LIST | FAST),
    c("rpushx", -3, K1, Forward, WRITE | LIST | FAST),
    c("sadd", -3, K1, Forward, WRITE | SET | FAST),
    c("save", 1, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("scan", -2, NoKey, Action::Keyspace(Keyspace::Scan), KEYSPACE | READ | SLOW),
    c("scard", 2, K1, Forward, READ | SET | FAST),
    c("script", -2, NoKey, Script, SLOW | SUBS),
    c("sdiff", -2, ALL, Forward, READ | SET | SLOW),
    c("sdiffstore", -3, ALL, Forward, WRITE | SET | SLOW),
    c("seckill.buy", 3, K1, Ho(H::SkBuy), WRITE | SLOW),
    c("seckill.create", -3, K1, Ho(H::SkCreate), WRITE | SLOW),
    c("seckill.info", 2, K1, Ho(H::SkInfo), READ | SLOW),
    c("select", 2, NoKey, L(Local::Select), FAST | CONNECTION),
    c("set", -3, K1, Forward, WRITE | STRING | SLOW),
    c("setbit", 4, K1, Forward, WRITE | BITMAP | SLOW),
    c("setex", 4, K1, Forward, WRITE | STRING | SLOW),
    c("setnx", 3, K1, Forward, WRITE | STRING | FAST),
    c("setrange", 4, K1, Forward, WRITE | STRING | SLOW),
    c("shutdown", -1, NoKey, R(Refusal::Admin), ADMIN | SLOW | DANGEROUS),
    c("sinter", -2, ALL, Forward, READ | SET | SLOW),
    c("sintercard", -3, NUMKEYS_AT_1, Forward, READ | SET | SLOW),
    c("sinterstore", -3, ALL, Forward, WRITE | SET | SLOW),
    c("sismember", 3, K1, Forward, READ | SET | FAST),
    c("slaveof", 3, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("slowlog", -2, NoKey, R(Refusal::Admin), SLOW | SUBS),
    c("smembers", 2, K1, Forward, READ | SET | SLOW),
    c("smismember", -3, K1, Forward, READ | SET | FAST),
    c("smove", 4, K12, Forward, WRITE | SET | FAST),
    c("sort", -2, WithStore, Forward, WRITE | SET | SORTEDSET | LIST | SLOW | DANGEROUS),
    c("sort_ro", -2, K1, Forward, READ | SET | SORTEDSET | LIST | SLOW | DANGEROUS),
    c("spop", -2, K1, Forward, WRITE | SET | FAST),
    c("spublish", 3, K1, Forward, PUBSUB | FAST),
    c("srandmember", -2, K1, Forward, READ | SET | SLOW),
    c("srem", -3, K1, Forward, WRITE | SET | FAST),
    c("sscan", -3, K1, Forward, READ | SET | SLOW),
    c("ssubscribe", -2, NoKey, Sub(SubCmd::Subscribe(SubKind::Shard)), PUBSUB | SLOW),
    c("strlen", 2, K1, Forward, READ | STRING | FAST),
    c("subscribe", -2, NoKey, Sub(SubCmd::Subscribe(SubKind::Channel)), PUBSUB | SLOW),
    c("substr", 4, K1, Forward, READ | STRING | SLOW),
    c("sunion", -2, ALL, Forward, READ | SET | SLOW),
    c("sunionstore", -3, ALL, Forward, WRITE | SET | SLOW),
    c("sunsubscribe", -1, NoKey, Sub(SubCmd::Unsubscribe(SubKind::Shard)), PUBSUB | SLOW),
    c("swapdb", 3, NoKey, R(Refusal::Keyspace), KEYSPACE | WRITE | FAST | DANGEROUS),
    c("sync", 1, NoKey, R(Refusal::Cluster), ADMIN | SLOW | DANGEROUS),
    c("time", 1, NoKey, Forward, FAST),
    c("touch", -2, ALL, S(Split::Sum), KEYSPACE | READ | FAST),
    c("ttl", 2, K1, Forward, KEYSPACE | READ | FAST),
    c("type", 2, K1, Forward, KEYSPACE | READ | FAST),
    c("unlink", -2, ALL, S(Split::Sum), KEYSPACE | WRITE | FAST),
    c("unsubscribe", -1, NoKey, Sub(SubCmd::Unsubscribe(SubKind::Channel)), PUBSUB | SLOW),
    c("unwatch", 1, NoKey, Tx(TxnCmd::Unwatch), FAST | TRANSACTION),
    c("wait", 3, NoKey, R(Refusal::Cluster), SLOW | CONNECTION),
    c("waitaof", 4, NoKey, R(Refusal::Cluster), SLOW | CONNECTION),
    c("watch", -2, ALL, Tx(TxnCmd::Watch), FAST | TRANSACTION),
    c("xack", -4, K1, Forward, WRITE | STREAM | FAST),
    c("xadd", -5, K1, Forward, WRITE | STREAM | FAST),
    c("xautoclaim", -6, K1, Forward, WRITE | STREAM | FAST),
    c("xclaim", -6, K1, Forward, WRITE | STREAM | FAST),
    c("xdel", -3, K1, Forward, WRITE | STREAM | FAST),
    c("xgroup", -2, K2, Forward, SLOW | SUBS),
    c("xinfo", -2, K2, Forward, SLOW | SUBS),
    c("xlen", 2, K1, Forward, READ | STREAM | FAST),
    c("xpending", -3, K1, Forward, READ | STREAM | SLOW),
    c("xrange", -4, K1, Forward, READ | STREAM | SLOW),
    c("xread", -4, Streams, Bl(BlockArg::BlockOption), READ | STREAM | SLOW | BLOCKING),
    c("xreadgroup", -7, Streams, Bl(BlockArg::BlockOption), WRITE | STREAM | SLOW | BLOCKING),
    c("xrevrange", -4, K1, Forward, READ | STREAM | SLOW),
    c("xsetid", -3, K1, Forward, WRITE | STREAM | FAST),
    c("xtrim", -4, K1, Forward, WRITE | STREAM | SLOW),
    c("zadd", -4, K1, Forward, WRITE | SORTEDSET | FAST),
    c("zcard", 2, K1, Forward, READ | SORTEDSET | FAST),
    c("zcount", 4, K1, Forward, READ | SORTEDSET | FAST),
    c("zdiff", -3, NUMKEYS_AT_1, Forward, READ | SORTEDSET | SLOW),
    c("zdiffstore", -4, DEST_NUMKEYS_AT_2, Forward, WRITE | SORTEDSET | SLOW),
    c("zincrby", 4, K1, Forward, WRITE | SORTEDSET | FAST),
    c("zinter", -3, NUMKEYS_AT_1, Forward, READ | SORTEDSET | SLOW),
    c("zintercard", -3, NUMKEYS_AT_1, Forward, READ | SORTEDSET | SLOW),
    c("zinterstore", -4, DEST_NUMKEYS_AT_2, Forward, WRITE | SORTEDSET | SLOW),
    c("zlexcount", 4, K1, Forward, READ | SORTEDSET | FAST),
    c("zmpop", -4, NUMKEYS_AT_1, Forward, WRITE | SORTEDSET | SLOW),
    c("zmscore", -3, K1, Forward, READ | SORTEDSET | FAST),
    c("zpopmax", -2, K1, Forward, WRITE | SORTEDSET | FAST),
    c("zpopmin", -2, K1, Forward, WRITE | SORTEDSET | FAST),
    c("zrandmember", -2, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrange", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrangebylex", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrangebyscore", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrangestore", -5, K12, Forward, WRITE | SORTEDSET | SLOW),
    c("zrank", 3, K1, Forward, READ | SORTEDSET | FAST),
    c("zrem", -3, K1, Forward, WRITE | SORTEDSET | FAST),
    c("zremrangebylex", 4, K1, Forward, WRITE | SORTEDSET | SLOW),
    c("zremrangebyrank", 4, K1, Forward, WRITE | SORTEDSET | SLOW),
    c("zremrangebyscore", 4, K1, Forward, WRITE | SORTEDSET | SLOW),
    c("zrevrange", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrevrangebylex", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrevrangebyscore", -4, K1, Forward, READ | SORTEDSET | SLOW),
    c("zrevrank", 3, K1, Forward, READ | SORTEDSET | FAST),
    c("zscan", -3, K1, Forward, READ | SORTEDSET | SLOW),
    c("zscore", 3, K1, Forward, READ | SORTEDSET | FAST),
    c("zunion", -3, NUMKEYS_AT_1, Forward, READ | SORTEDSET | SLOW),
    c("zunionstore", -4, DEST_NUMKEYS_AT_2, Forward, WRITE | SORTEDSET | SLOW),
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
