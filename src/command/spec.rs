//! What the command table says of a command: where its keys are, what
//! the proxy does with it, and the spec that holds both with its arity and
//! ACL categories.

use super::category::Categories;

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
