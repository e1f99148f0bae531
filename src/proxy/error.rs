//! Every error a client sees, in one place: each variant's text is the wire
//! text after the `-`. Texts follow Redis where clients and their tests match
//! on them (NOAUTH, WRONGPASS, NOPROTO, "wrong number of arguments"), and
//! nutcracker where its users' tests do ("Client sent AUTH, but no password
//! is set"); the proxy's own say `redshard` and what to do.

use bytes::BytesMut;

use crate::auth::Denied;
use crate::backend::BackendError;
use crate::config::PoolConfig;
use crate::hashkit::HashTag;
use crate::hosted::HostedError;
use crate::protocol::{encode, ProtocolError};
use crate::route::RouteError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("ERR Protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    #[error("ERR redshard does not support '{command}': {reason}")]
    Unsupported {
        command: String,
        reason: &'static str,
    },
    #[error("{0}")]
    Route(Refusal),
    #[error("ERR redshard: {0}")]
    Backend(#[from] BackendError),
    #[error("ERR {0}")]
    Hosted(#[from] HostedError),
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR Client sent AUTH, but no password is set")]
    AuthWithoutPassword,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR DB index is out of range: through redshard only database {0} (the pool's redis_db) exists")]
    DbOutOfRange(u32),
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    #[error("ERR Protocol version is not an integer or out of range")]
    ProtoNotAnInteger,
    #[error("NOPROTO sorry, this protocol version is not supported")]
    NoProto,
    #[error("ERR Syntax error in HELLO option '{0}'")]
    HelloOption(String),
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    HelloAuthWithoutPassword,
    #[error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")]
    HelloNoAuth,
    #[error("ERR Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    #[error("ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.")]
    BadLibInfo,
    #[error("ERR Unrecognized option '{0}'")]
    UnrecognizedOption(String),
    #[error("ERR unknown subcommand '{0}'. Try CLIENT HELP.")]
    UnknownClientSubcommand(String),
    #[error("ERR redshard does not support 'client {0}': it would act on the proxy's shared server connections")]
    SharedClientSubcommand(String),
    /// nutcracker answers "Invalid argument" when a fragment fails, and its
    /// users' tests match on that; the part's own error follows.
    #[error("ERR Invalid argument: a part of the split command failed: {0}")]
    SplitPart(String),
    /// A server's SCAN reply whose cursor the proxy's cannot carry.
    #[error("ERR {0}")]
    Scan(crate::route::ScanError),
    #[error("ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")]
    SubscriberContext(String),
    #[error("ERR redshard: a server refused the subscription ({0}); the connection is closed, subscribe again")]
    SubscriptionRefused(String),
    #[error("ERR redshard: the pool's servers changed (a reload, an ejection or a rejoin), so some of this client's channels are published elsewhere now; the connection is closed, subscribe again")]
    SubscriptionMoved,
    #[error("ERR redshard: HELLO cannot change the protocol of a client with subscriptions; unsubscribe first")]
    HelloWhileSubscribed,
    /// A command queued in a one-server transaction whose key lives on
    /// another server.
    #[error("ERR '{command}' inside MULTI: its key lives on another server of pool '{pool}' than the transaction, which {pinned_by} fixed; a transaction runs on one server: give its keys the same hash tag (a MULTI without WATCH may also span servers with multi: per_server on the pool, atomic on each server only)")]
    TxnOtherServer {
        command: String,
        pinned_by: &'static str,
        pool: String,
    },
    /// A user's permissions refuse the request (Redis's texts, but for
    /// the hosted state's, which names the commands to use instead).
    #[error("{}", NoPermText(.0))]
    NoPerm(Denied),
    /// A cluster kept redirecting a request (its slot map is changing
    /// faster than the proxy follows).
    #[error("ERR redshard: the cluster redirected this request {hops} times (the last: {last}); its slots are moving, try again")]
    TooManyRedirects { hops: u8, last: String },
    #[error("ERR max number of clients reached")]
    MaxClients,
    /// The proxy is at its file descriptor limit: said to a client it
    /// accepted only to close it (see `proxy::accept`).
    #[error("ERR redshard: too many open files: the proxy is at its file descriptor limit (RLIMIT_NOFILE) and closes this connection; try again later")]
    OutOfDescriptors,
    #[error("ERR redshard: request refused: the proxy holds more than its --max-memory ({} MiB) of client and server buffers; requests over {} KiB are refused until there is room again", .limit >> 20, crate::memory::LARGE_REQUEST >> 10)]
    MemoryLimit { limit: usize },
    #[error("ERR redshard: connection closed: the proxy passed its --max-memory ({} MiB) of client and server buffers, and this client held the most of them", .limit >> 20)]
    Evicted { limit: usize },
}

impl ClientError {
    /// Writes the error reply.
    pub fn write(&self, out: &mut BytesMut) {
        encode::error(out, &self.to_string());
    }

    /// A refused route, with what the text needs to name.
    pub fn route(error: RouteError, command: &str, pool: &PoolConfig) -> ClientError {
        ClientError::Route(Refusal {
            error,
            command: command.to_string(),
            pool: pool.name.clone(),
            hash_tag: pool.hash_tag,
            cluster: pool.cluster.is_some(),
        })
    }

    /// Redis's wording for an unknown command, so clients recognise it,
    /// cut as Redis cuts it (`processCommand` in server.c): the name to 128
    /// bytes, then arguments while the list is under 128 bytes, the last
    /// cut to fill it; each also ends at a NUL byte (C's `%s`).
    pub fn unknown_command(args: &[&[u8]]) -> ClientError {
        const SHOWN: usize = 128;
        let c_str = |a: &[u8], max: usize| {
            let nul = a.iter().position(|&b| b == 0).unwrap_or(a.len());
            a[..nul.min(max)].to_vec()
        };
        let mut shown = Vec::new();
        for a in args.iter().skip(1) {
            if shown.len() >= SHOWN {
                break;
            }
            let room = SHOWN - shown.len();
            shown.push(b'\'');
            shown.extend(c_str(a, room));
            shown.extend_from_slice(b"' ");
        }
        ClientError::UnknownCommand {
            name: String::from_utf8_lossy(&c_str(args.first().copied().unwrap_or(b""), SHOWN))
                .into_owned(),
            args: String::from_utf8_lossy(&shown).into_owned(),
        }
    }
}

/// A command's name as Redis gives it in errors: `pubsub|numsub` for a
/// container command's subcommand.
pub fn full_name(name: &str, req: &crate::route::Request<'_>) -> String {
    const CONTAINERS: [&str; 12] = [
        "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
        "object", "pubsub", "script",
    ];
    if CONTAINERS.contains(&name) && req.argc() > 1 {
        format!("{name}|{}", lossy(req.arg(1)).to_ascii_lowercase())
    } else {
        name.to_string()
    }
}

/// At most 128 bytes of a client's argument, as text, for an error message.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

/// A request the router refused, with the names its message gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: RouteError,
    pub command: String,
    pub pool: String,
    pub hash_tag: Option<HashTag>,
    /// A cluster pool: Redis Cluster's own texts where it has them.
    pub cluster: bool,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, pool) = (&self.command, &self.pool);
        match &self.error {
            // Redis Cluster's texts, which cluster-aware code matches on.
            RouteError::NoServer if self.cluster => f.write_str("CLUSTERDOWN Hash slot not served"),
            RouteError::CrossSlot => f.write_str("CROSSSLOT Keys in request don't hash to the same slot"),
            RouteError::NoServer => write!(f, "ERR redshard: pool '{pool}' has no server to take this request"),
            RouteError::NoKeys => write!(
                f,
                "ERR '{name}' without keys cannot be routed: redshard runs a script on the server of its keys; pass at least one key"
            ),
            RouteError::BadNumkeys => write!(
                f,
                "ERR '{name}': the number of keys is not a valid count for the arguments given"
            ),
            RouteError::Arity => write!(f, "ERR wrong number of arguments for '{name}' command"),
            RouteError::ScriptSubcommand(sub) => write!(
                f,
                "ERR redshard does not support 'script {sub}': only SCRIPT LOAD, EXISTS, FLUSH and KILL, which go to every server"
            ),
            RouteError::FunctionSubcommand(sub) => write!(
                f,
                "ERR redshard does not support 'function {sub}': {}; FUNCTION KILL goes to every server",
                crate::route::Refusal::Admin.reason()
            ),
            RouteError::PubsubSubcommand(sub) => write!(
                f,
                "ERR redshard does not support 'pubsub {sub}': only PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB and HELP"
            ),
            RouteError::Scan(e) => write!(f, "ERR {e}"),
            RouteError::Ejected(server) => write!(
                f,
                "ERR redshard: SCAN walks every server of pool '{pool}' in turn, and server {server} is ejected after failing; retry this cursor once it is back"
            ),
            RouteError::KeysNotAllowed => write!(
                f,
                "ERR redshard does not support '{name}' on pool '{pool}': it needs the whole keyspace of every server; use SCAN, or set allow_keys: true on the pool (one KEYS on a large keyspace stalls every server while it runs)"
            ),
            RouteError::OtherDatabase => write!(
                f,
                "ERR redshard does not support '{name}' with DB: pool '{pool}' is one database of its servers, as SELECT and MOVE are refused"
            ),
            RouteError::FlushNotAllowed => write!(
                f,
                "ERR redshard does not support '{name}' on pool '{pool}': it empties every server of the pool; set allow_flush: true on the pool to allow it"
            ),
            RouteError::CrossServer => {
                write!(f, "ERR '{name}' needs all its keys on one server, but they live on different servers of pool '{pool}'; ")?;
                match self.hash_tag {
                    Some(t) => write!(
                        f,
                        "give them the same hash tag, e.g. {o}user1{c}:a and {o}user1{c}:b",
                        o = t.open as char,
                        c = t.close as char
                    ),
                    None => f.write_str(
                        "set hash_tag: \"{}\" on the pool and give them the same tag, e.g. {user1}:a and {user1}:b",
                    ),
                }
            }
        }
    }
}

/// The text of a permission refusal.
struct NoPermText<'a>(&'a Denied);

impl std::fmt::Display for NoPermText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Denied::Command(name) => write!(
                f,
                "NOPERM this user has no permissions to run the '{name}' command"
            ),
            Denied::Key => f.write_str(
                "NOPERM this user has no permissions to access one of the keys used as arguments",
            ),
            Denied::Hosted { key, writers } => write!(
                f,
                "NOPERM this user has no permissions to write '{}': keys under rs: are redshard's hosted state, written only by its hosted commands; use {writers}",
                lossy(key)
            ),
            Denied::SortOption(option) => write!(
                f,
                "ERR {option} option of SORT denied due to insufficient ACL permissions."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each text as redis-server 7.0 writes it for the same request.
    #[test]
    fn unknown_commands_read_as_redis_writes_them() {
        let text = |args: &[&[u8]]| ClientError::unknown_command(args).to_string();
        let (a, b) = (vec![b'a'; 100], vec![b'b'; 100]);
        assert_eq!(
            text(&[b"FOO", &a, &b, b"c"]),
            format!(
                "ERR unknown command 'FOO', with args beginning with: '{}' '{}' ",
                "a".repeat(100),
                "b".repeat(25)
            )
        );
        assert_eq!(
            text(&[&[b'F'; 200], b"x"]),
            format!(
                "ERR unknown command '{}', with args beginning with: 'x' ",
                "F".repeat(128)
            )
        );
        assert_eq!(
            text(&[b"FOO", b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", b"k"]),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' 'c' 'd' 'e' 'f' 'g' 'h' 'i' 'j' 'k' "
        );
        assert_eq!(
            text(&[b"", b"p\0q"]),
            "ERR unknown command '', with args beginning with: 'p' "
        );
        // Line ends become spaces on the wire (`encode::error`).
        let mut out = BytesMut::new();
        ClientError::unknown_command(&[b"FOO", b"x\r\ny"]).write(&mut out);
        assert_eq!(
            &out[..],
            b"-ERR unknown command 'FOO', with args beginning with: 'x  y' \r\n"
        );
    }
}
