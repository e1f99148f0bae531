//! Config errors: each names the file, the line where known, the pool and key,
//! and what was expected.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub pool: Option<String>,
    pub key: Option<String>,
    pub kind: Box<ConfigErrorKind>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigErrorKind {
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// A device, pipe, socket or directory: it may never end, or never start.
    #[error("not read: not a regular file ({0}); expected a YAML file")]
    NotRegularFile(&'static str),
    #[error("not read: {size} bytes is larger than {limit}, the largest config file accepted")]
    TooLarge { size: u64, limit: String },
    /// YAML syntax, unknown keys and bad values, as the YAML reader reported them.
    #[error("{0}")]
    Yaml(String),
    #[error("has no pools; expected at least one pool name mapped to its settings")]
    NoPools,
    #[error("pool name '{0}' appears twice; pool names must be unique")]
    DuplicatePool(String),
    #[error("'listen' is missing; expected \"host:port\" or \"/path/to/socket [permissions]\"")]
    MissingListen,
    #[error("'servers' is missing or empty; expected a list of \"host:port:weight [name]\"")]
    NoServers,
    #[error("the servers' weights add up to {total}; at most {max} per pool")]
    TooMuchWeight { total: u64, max: u64 },
    #[error(
        "servers {first} and {second} have the same name '{name}'; each server needs its own name"
    )]
    DuplicateServerName {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("servers {first} and {second} have the same address '{addr}'; list each backend once")]
    DuplicateServerAddress {
        addr: String,
        first: usize,
        second: usize,
    },
    /// A `users:` entry that cannot be used; the text says which and why.
    #[error("{0}")]
    Users(String),
    #[error("'redis_username' needs 'redis_auth', the password of that user on the servers")]
    UsernameWithoutPassword,
    #[error("'redis_hosted_username' needs 'redis_username' and 'redis_auth': the hosted commands switch to their user and back to the pool's on each call")]
    HostedLoginWithoutUser,
    #[error("'redis_hosted_username' and 'redis_hosted_auth' go together (the user hosted commands run as, and its password)")]
    HostedLoginHalf,
    #[error("'sentinels' is empty; expected a list of \"host:port\" of Redis Sentinels")]
    NoSentinels,
    #[error("'{0}' applies only to a pool that follows Sentinel; add 'sentinels:' or remove it")]
    NoSentinelsFor(&'static str),
    #[error(
        "'cluster_refresh_ms' applies only to a cluster pool; add 'cluster: true' or remove it"
    )]
    NoClusterFor,
    #[error("a pool is either a Redis Cluster ('cluster: true') or follows Sentinel ('sentinels:'), not both")]
    ClusterWithSentinels,
    #[error("a Redis Cluster has only database 0; remove 'redis_db' or set it to 0")]
    ClusterDb,
    #[error("{0} in a cluster pool: its nodes and their replicas come from the cluster's slot map; list seed nodes as \"host:port:weight\"")]
    ClusterServer(String),
    #[error("sentinel '{0}' is listed twice; list each sentinel once")]
    DuplicateSentinel(String),
    #[error("'{0}' is an address, but this pool follows Sentinel ('sentinels'): its servers are named by master name; {format}", format = super::MASTER_FORMAT)]
    AddressInSentinelPool(String),
    #[error(
        "{0}; or, if it names a Sentinel master (\"name:weight\"), the pool needs 'sentinels:'"
    )]
    MasterWithoutSentinels(String),
    #[error("'{0}' is listed twice among the servers and their replicas; list each server once")]
    DuplicateReplica(String),
    #[error("read_from: replica, but server '{0}' has no replicas to read from; list them (- server: ... replicas: [host:port]) or use prefer_replica")]
    NoReplicas(String),
    /// A TLS file that cannot be used: missing, unreadable, not PEM, a key
    /// that is not the certificate's.
    #[error("{0}")]
    Tls(#[source] crate::tls::TlsError),
    /// TLS keys that do not go together.
    #[error("{0}")]
    TlsKeys(String),
    #[error("pools '{first}' and '{second}' both listen on '{addr}'; each pool needs its own listen address")]
    DuplicateListen {
        addr: String,
        first: String,
        second: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        match (&self.pool, &self.key) {
            (Some(p), Some(k)) => write!(f, "pool '{p}', key '{k}': ")?,
            (Some(p), None) => write!(f, "pool '{p}': ")?,
            (None, Some(k)) => write!(f, "key '{k}': ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.kind)
    }
}

impl ConfigError {
    pub(crate) fn new(file: &std::path::Path, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            pool: None,
            key: None,
            kind: Box::new(kind),
        }
    }

    pub(crate) fn in_pool(mut self, pool: &str) -> Self {
        self.pool = Some(pool.to_string());
        self
    }

    pub(crate) fn at_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    pub(crate) fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}
