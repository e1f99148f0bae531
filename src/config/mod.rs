//! The pool configuration: nutcracker 0.5.0's YAML file, loaded unchanged, with
//! nutcracker's defaults, checked with errors that name file, line, pool and key.

mod bounded;
mod cluster;
mod error;
mod file;
mod listen;
mod locate;
mod scalar;
mod schema;
mod sentinel;
mod server;
mod tls;
mod users;

pub use bounded::show_size;
pub use cluster::ClusterConfig;
pub use error::{ConfigError, ConfigErrorKind};
pub use file::{read_file, MAX_FILE_BYTES};
pub use listen::ListenAddr;
pub use sentinel::SentinelConfig;
pub use server::{parse_host_port, ServerAddr, ServerConfig, MASTER_FORMAT};

/// A size as the config writes one (`64mb`, `512kb`, bytes), for the command line too.
pub fn parse_size(text: &str) -> Result<u64, String> {
    bounded::parse_size(text)
}

use std::path::{Path, PathBuf};

use crate::distribution::Distribution;
use crate::hashkit::{Hash, HashTag};
use bounded::Bounded;
use schema::{RawFile, RawPool, ServerEntry};

/// The most a pool's weights may add up to: modula gives each server
/// `weight` slots, so this bounds its table (4 MB), and ketama's u32 sum of
/// weights cannot overflow.
pub const MAX_POOL_WEIGHT: u64 = 1_000_000;

/// nutcracker's defaults for keys a pool leaves out.
pub mod defaults {
    use crate::distribution::Distribution;
    use crate::hashkit::Hash;

    pub const HASH: Hash = Hash::Fnv1a_64;
    pub const DISTRIBUTION: Distribution = Distribution::Ketama;
    pub const BACKLOG: u32 = 512;
    pub const SERVER_CONNECTIONS: u32 = 1;
    pub const SERVER_RETRY_TIMEOUT_MS: u64 = 30_000;
    pub const SERVER_FAILURE_LIMIT: u32 = 2;

    // redshard's extensions.
    pub const MAX_REQUEST_BYTES: usize = 64 << 20;
    pub const MAX_KEY_BYTES: usize = 1 << 20;
    pub const CLIENT_OUTPUT_LIMIT: usize = 32 << 20;
    /// Redis's own proto-max-bulk-len.
    pub const MAX_REPLY_BYTES: usize = 512 << 20;
    /// Room for 56 million items at a 1% error rate: ample for one filter,
    /// and a mistyped BF.RESERVE cannot take a server's memory.
    pub const BLOOM_MAX_BYTES: u64 = 64 << 20;
    /// Room for a few hundred blocked workers and subscribers per server,
    /// far below Redis's `maxclients` (10,000).
    pub const MAX_DEDICATED_CONNECTIONS: u32 = 256;
    /// Failed logins before a client connection is closed: room for a
    /// typo, none for guessing at line rate.
    pub const MAX_AUTH_FAILURES: u32 = 3;
    /// How often the sentinels are asked again when no `+switch-master`
    /// came: a missed message is caught within a second, at the cost of one
    /// small question per master per second to one sentinel.
    pub const SENTINEL_REFRESH_MS: u64 = 1_000;
    /// A replica a second behind its master serves no reads: a client that
    /// wrote and reads again a moment later mostly sees its write.
    pub const REPLICA_MAX_LAG_MS: u64 = 1_000;
    /// A cluster's slot map is asked again this often, besides after every
    /// MOVED: a change no request has met yet (a failover of a master
    /// whose keys are idle) is seen within two seconds.
    pub const CLUSTER_REFRESH_MS: u64 = 2_000;
}

/// A loaded, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub pools: Vec<PoolConfig>,
}

/// One pool, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    pub name: String,
    pub listen: ListenAddr,
    pub hash: Hash,
    pub hash_tag: Option<HashTag>,
    pub distribution: Distribution,
    /// Per-request timeout in ms; `None` waits forever (nutcracker's default).
    pub timeout_ms: Option<u64>,
    pub backlog: u32,
    /// Most client connections at once; 0 means no limit.
    pub client_connections: u32,
    /// `false` means memcached protocol in nutcracker; redshard serves Redis only.
    pub redis: bool,
    pub redis_auth: Option<String>,
    pub redis_db: u32,
    pub preconnect: bool,
    pub auto_eject_hosts: bool,
    pub server_connections: u32,
    pub server_retry_timeout_ms: u64,
    pub server_failure_limit: u32,
    pub tcpkeepalive: bool,
    pub servers: Vec<ServerConfig>,
    /// Largest request accepted; a larger one is refused at its header.
    pub max_request_bytes: usize,
    /// Largest key accepted (the argument after the command name).
    pub max_key_bytes: usize,
    /// Reply bytes a client may leave unread before the proxy stops reading
    /// its requests; also the most bytes queued for one server connection.
    pub client_output_limit: usize,
    /// Largest single reply taken from a server: a larger one fails its
    /// request and resets that server connection instead of being buffered.
    pub max_reply_bytes: usize,
    /// Hosted command groups this pool runs (the others pass through).
    pub hosted: Vec<crate::hosted::Group>,
    /// Largest Bloom filter, all its layers together: BF.RESERVE refuses a
    /// larger one, and a filter stops growing layers before it passes this.
    pub bloom_max_bytes: u64,
    /// Connections a client may own (transaction, subscriber, blocking
    /// call), per server, all workers together.
    pub max_dedicated_connections: u32,
    /// How a MULTI whose keys span servers runs.
    pub multi: MultiMode,
    /// KEYS and RANDOMKEY go to every server (off: refused, as one KEYS on
    /// a large keyspace stalls every server while it runs).
    pub allow_keys: bool,
    /// FLUSHDB and FLUSHALL go to every server (off: refused, as one of
    /// them empties every server of the pool).
    pub allow_flush: bool,
    /// Who may log in and what each may do: `users:`, or without it the one
    /// `default` user whose password is `redis_auth`.
    pub users: std::sync::Arc<crate::auth::Users>,
    /// The Redis ACL user the proxy logs in to the servers as, with
    /// `redis_auth` as its password.
    pub redis_username: Option<String>,
    /// The Redis ACL user (and its password) hosted commands run as, on the
    /// same connections: so the servers can let only them write `rs:` keys,
    /// which a client's own script then cannot, whatever keys it names.
    pub redis_hosted_login: Option<(String, String)>,
    /// Failed logins a client connection gets before it is closed.
    pub max_auth_failures: u32,
    /// The sentinels this pool follows; its servers are then named by
    /// master name and found through them.
    pub sentinel: Option<SentinelConfig>,
    /// The servers are seeds of a Redis Cluster, which places the keys.
    pub cluster: Option<ClusterConfig>,
    /// Where read commands go.
    pub read_from: ReadFrom,
    /// A replica further behind its master than this serves no reads.
    pub replica_max_lag_ms: u64,
    // TLS (`tls_*` keys, src/config/tls.rs): the files are read with the
    // config, so these hold what they held then.
    /// TLS toward clients: the listener's certificate (`tls_cert`,
    /// `tls_key`) and, for mutual TLS, the clients' CA (`tls_client_ca`).
    pub listen_tls: Option<crate::tls::Acceptor>,
    /// TLS toward the servers (`tls: true`, `tls_ca`, `tls_client_cert`,
    /// `tls_client_key`, `tls_server_name`).
    pub backend_tls: Option<crate::tls::Connector>,
}

/// Where a pool's read commands go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadFrom {
    /// To the master, with everything else (nutcracker's behaviour).
    #[default]
    Master,
    /// To a replica of the key's master that can serve; none can: an error.
    Replica,
    /// To a replica that can serve, else to the master.
    PreferReplica,
}

impl std::str::FromStr for ReadFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "master" => Ok(ReadFrom::Master),
            "replica" => Ok(ReadFrom::Replica),
            "prefer_replica" => Ok(ReadFrom::PreferReplica),
            _ => Err(format!(
                "'{s}' is not a place to read from; expected master, replica or prefer_replica"
            )),
        }
    }
}

impl std::fmt::Display for ReadFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadFrom::Master => "master",
            ReadFrom::Replica => "replica",
            ReadFrom::PreferReplica => "prefer_replica",
        })
    }
}

/// How a transaction whose keys live on several servers is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiMode {
    /// Refused: every key of a transaction must be on one server (the
    /// first key's), as one MULTI/EXEC there. Atomic, as on one Redis.
    #[default]
    SameServer,
    /// Without WATCH, one MULTI/EXEC per server, EXEC's replies merged in
    /// the order the commands were queued: atomic on each server, not
    /// across them.
    PerServer,
}

impl std::str::FromStr for MultiMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "same_server" => Ok(MultiMode::SameServer),
            "per_server" => Ok(MultiMode::PerServer),
            _ => Err(format!(
                "'{s}' is not a transaction mode; expected same_server or per_server"
            )),
        }
    }
}

impl Config {
    /// Reads (within [`MAX_FILE_BYTES`]) and checks `file`.
    pub fn load(file: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let file = file.as_ref();
        Config::from_bytes(&read_file(file)?, file)
    }

    /// Checks `bytes` as the contents of `file`: UTF-8, then [`Config::parse`].
    pub fn from_bytes(bytes: &[u8], file: &Path) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            ConfigError::new(file, ConfigErrorKind::Io(e))
        })?;
        Config::parse(text, file)
    }

    /// Checks `text` as the contents of `file` (which is only named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Err(ConfigError::new(file, ConfigErrorKind::NoPools));
        }
        let raw: RawFile = read_yaml(text, file)?;
        if raw.0.is_empty() {
            return Err(ConfigError::new(file, ConfigErrorKind::NoPools));
        }
        let mut pools: Vec<PoolConfig> = Vec::with_capacity(raw.0.len());
        for (name, pool) in raw.0 {
            if pools.iter().any(|p| p.name == name) {
                let line = locate::nth_top_level_line(text, &name, 1);
                return Err(
                    ConfigError::new(file, ConfigErrorKind::DuplicatePool(name)).at_line(line)
                );
            }
            pools.push(build_pool(name, pool, text, file)?);
        }
        check_listen_unique(&pools, text, file)?;
        Ok(Config {
            file: file.to_path_buf(),
            pools,
        })
    }

    pub fn pool(&self, name: &str) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.name == name)
    }
}

fn read_yaml(text: &str, file: &Path) -> Result<RawFile, ConfigError> {
    let de = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let mut pool = None;
        let mut key = None;
        let mut item = None;
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Map { key: k } if pool.is_none() => {
                    pool = Some(k.clone())
                }
                serde_path_to_error::Segment::Map { key: k } if key.is_none() => {
                    key = Some(k.clone())
                }
                serde_path_to_error::Segment::Seq { index } => item = Some(*index),
                _ => {}
            }
        }
        let inner = err.into_inner();
        // The reader's position is that of the event it read last: for a bad
        // value often the line before it, for a syntax error the exact spot.
        // The located key (or list entry) line fixes the first case.
        let reader_line = inner.location().map(|l| l.line());
        let key_line = match (&pool, &key) {
            (Some(p), Some(k)) => locate::line_of_item(text, p, k, item),
            _ => None,
        };
        let line = key_line.max(reader_line);
        let mut message = inner.to_string();
        // The line is shown up front, the path as pool and key.
        if let Some(at) = message.find(" at line ") {
            let end = message[at..].find(',').map_or(message.len(), |n| at + n);
            message.replace_range(at..end, "");
        }
        if message.contains("while parsing") || message.contains("while scanning") {
            message = format!("malformed YAML: {message}");
        }
        message = message.replace("unknown field", "unknown key").replace(
            "struct RawPool",
            "the pool's settings (a mapping of keys to values)",
        );
        // The reader prefixes the path of the enclosing mapping ("alpha: ",
        // "alpha.servers: "); pool and key say that already.
        if let (Some(p), Some((prefix, rest))) = (&pool, message.split_once(": ")) {
            if prefix == p || prefix.starts_with(&format!("{p}.")) {
                message = rest.to_string();
            }
        }
        let mut e = ConfigError::new(file, ConfigErrorKind::Yaml(message)).at_line(line);
        e.pool = pool;
        e.key = key;
        e
    })
}

fn build_pool(
    name: String,
    mut raw: RawPool,
    text: &str,
    file: &Path,
) -> Result<PoolConfig, ConfigError> {
    let tls_keys = tls::TlsKeys::take(&mut raw);
    let fail = |kind: ConfigErrorKind, key: Option<&str>, needle: Option<&str>| {
        let line = locate::line_in_pool(text, &name, key, needle);
        let e = ConfigError::new(file, kind).in_pool(&name).at_line(line);
        match key {
            Some(k) => e.at_key(k),
            None => e,
        }
    };
    let listen = raw
        .listen
        .take()
        .ok_or_else(|| fail(ConfigErrorKind::MissingListen, None, None))?;
    let sentinel = sentinel::sentinel_config(&raw, &fail)?;
    let servers = server_list(raw.servers.take(), sentinel.is_some(), &fail)?;
    let total_weight: u64 = servers.iter().map(|s| u64::from(s.weight)).sum();
    if total_weight > MAX_POOL_WEIGHT {
        let kind = ConfigErrorKind::TooMuchWeight {
            total: total_weight,
            max: MAX_POOL_WEIGHT,
        };
        return Err(fail(kind, Some("servers"), None));
    }
    check_unique_servers(&servers, &fail)?;
    let cluster = cluster::cluster_config(&raw, &servers, &fail)?;
    check_replicas(
        &servers,
        raw.read_from.unwrap_or_default(),
        // A Sentinel master's replicas come from the sentinels, a cluster
        // master's from the slot map.
        sentinel.is_some() || raw.cluster == Some(true),
        &fail,
    )?;
    let redis_auth = raw.redis_auth.filter(|a| !a.is_empty());
    if raw.redis_username.is_some() && redis_auth.is_none() {
        let kind = ConfigErrorKind::UsernameWithoutPassword;
        return Err(fail(kind, Some("redis_username"), None));
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let tls = tls_keys
        .load(&listen, &servers, dir)
        .map_err(|r| fail(r.kind, Some(r.key), r.needle.as_deref()))?;
    let redis_hosted_login = match (raw.redis_hosted_username, raw.redis_hosted_auth) {
        (None, None) => None,
        (Some(user), Some(pass)) if raw.redis_username.is_some() => Some((user, pass)),
        (Some(_), Some(_)) => {
            let kind = ConfigErrorKind::HostedLoginWithoutUser;
            return Err(fail(kind, Some("redis_hosted_username"), None));
        }
        (user, _) => {
            let kind = ConfigErrorKind::HostedLoginHalf;
            let key = if user.is_some() {
                "redis_hosted_username"
            } else {
                "redis_hosted_auth"
            };
            return Err(fail(kind, Some(key), None));
        }
    };
    let users = match raw.users {
        None => crate::auth::Users::implicit(redis_auth.as_deref()),
        Some(list) => {
            let specs: Vec<crate::auth::UserSpec> = list.into_iter().map(Into::into).collect();
            crate::auth::Users::build(&specs).map_err(|e| {
                fail(
                    ConfigErrorKind::Users(e.message),
                    Some("users"),
                    Some(&e.near),
                )
            })?
        }
    };
    Ok(PoolConfig {
        listen,
        hash: raw.hash.unwrap_or(defaults::HASH),
        hash_tag: raw.hash_tag,
        distribution: raw.distribution.unwrap_or(defaults::DISTRIBUTION),
        timeout_ms: raw.timeout.map(Bounded::get).filter(|&t| t > 0),
        backlog: raw.backlog.map_or(defaults::BACKLOG, Bounded::get),
        client_connections: raw.client_connections.map_or(0, Bounded::get),
        // A Redis Cluster speaks only Redis.
        redis: raw.redis.unwrap_or(cluster.is_some()),
        redis_auth,
        redis_db: raw.redis_db.map_or(0, Bounded::get),
        preconnect: raw.preconnect.unwrap_or(false),
        // A cluster fails over by itself: its slots are not re-placed.
        auto_eject_hosts: raw.auto_eject_hosts.unwrap_or(false) && cluster.is_none(),
        server_connections: raw
            .server_connections
            .map_or(defaults::SERVER_CONNECTIONS, Bounded::get),
        server_retry_timeout_ms: raw
            .server_retry_timeout
            .map_or(defaults::SERVER_RETRY_TIMEOUT_MS, Bounded::get),
        server_failure_limit: raw
            .server_failure_limit
            .map_or(defaults::SERVER_FAILURE_LIMIT, Bounded::get),
        tcpkeepalive: raw.tcpkeepalive.unwrap_or(false),
        servers,
        max_request_bytes: raw
            .max_request_bytes
            .map_or(defaults::MAX_REQUEST_BYTES, Bounded::get),
        max_key_bytes: raw
            .max_key_bytes
            .map_or(defaults::MAX_KEY_BYTES, Bounded::get),
        hosted: raw
            .hosted
            .unwrap_or_else(|| crate::hosted::Group::ALL.iter().map(|(g, _)| *g).collect()),
        client_output_limit: raw
            .client_output_limit
            .map_or(defaults::CLIENT_OUTPUT_LIMIT, Bounded::get),
        max_reply_bytes: raw
            .max_reply_bytes
            .map_or(defaults::MAX_REPLY_BYTES, Bounded::get),
        bloom_max_bytes: raw
            .bloom_max_bytes
            .map_or(defaults::BLOOM_MAX_BYTES, |v| v.get() as u64),
        max_dedicated_connections: raw
            .max_dedicated_connections
            .map_or(defaults::MAX_DEDICATED_CONNECTIONS, Bounded::get),
        multi: raw.multi.unwrap_or_default(),
        allow_keys: raw.allow_keys.unwrap_or(false),
        allow_flush: raw.allow_flush.unwrap_or(false),
        users: std::sync::Arc::new(users),
        redis_username: raw.redis_username,
        redis_hosted_login,
        max_auth_failures: raw
            .max_auth_failures
            .map_or(defaults::MAX_AUTH_FAILURES, Bounded::get),
        sentinel,
        cluster,
        read_from: raw.read_from.unwrap_or_default(),
        replica_max_lag_ms: raw
            .replica_max_lag_ms
            .map_or(defaults::REPLICA_MAX_LAG_MS, Bounded::get),
        listen_tls: tls.listen,
        backend_tls: tls.backend,
        name,
    })
}

/// An error in one pool, at a key (and a text under it).
pub(super) type Fail<'a> = dyn Fn(ConfigErrorKind, Option<&str>, Option<&str>) -> ConfigError + 'a;

/// Each server's name once, and each address once.
fn check_unique_servers(servers: &[ServerConfig], fail: &Fail<'_>) -> Result<(), ConfigError> {
    for (second, s) in servers.iter().enumerate() {
        let earlier = &servers[..second];
        if let Some(first) = earlier.iter().position(|o| o.name == s.name) {
            let kind = ConfigErrorKind::DuplicateServerName {
                name: s.name.clone(),
                first,
                second,
            };
            return Err(fail(kind, Some("servers"), Some(&s.spec)));
        }
        let same_addr = |o: &ServerConfig| o.addr.is_some() && o.addr == s.addr;
        if let (Some(first), Some(addr)) = (earlier.iter().position(same_addr), &s.addr) {
            let kind = ConfigErrorKind::DuplicateServerAddress {
                addr: addr.to_string(),
                first,
                second,
            };
            return Err(fail(kind, Some("servers"), Some(&s.spec)));
        }
    }
    Ok(())
}

/// Each replica listed once, none a server too; with `read_from: replica`
/// in a pool without sentinels, every server has one.
fn check_replicas(
    servers: &[ServerConfig],
    read_from: ReadFrom,
    follows_sentinel: bool,
    fail: &Fail<'_>,
) -> Result<(), ConfigError> {
    let mut seen: Vec<&ServerAddr> = servers.iter().filter_map(|s| s.addr.as_ref()).collect();
    for s in servers {
        for r in &s.replicas {
            if seen.contains(&r) {
                let kind = ConfigErrorKind::DuplicateReplica(r.to_string());
                return Err(fail(kind, Some("servers"), Some(&r.to_string())));
            }
            seen.push(r);
        }
        if read_from == ReadFrom::Replica && !follows_sentinel && s.replicas.is_empty() {
            let kind = ConfigErrorKind::NoReplicas(s.label());
            return Err(fail(kind, Some("read_from"), None));
        }
    }
    Ok(())
}

/// The `servers:` entries, each in the form the pool takes: addresses, or
/// master names when the pool follows Sentinel.
fn server_list(
    entries: Option<Vec<ServerEntry>>,
    follows_sentinel: bool,
    fail: &Fail<'_>,
) -> Result<Vec<ServerConfig>, ConfigError> {
    let entries = entries.unwrap_or_default();
    if entries.is_empty() {
        return Err(fail(ConfigErrorKind::NoServers, Some("servers"), None));
    }
    entries
        .into_iter()
        .map(|entry| match (entry, follows_sentinel) {
            (ServerEntry::Addr(s), false) => Ok(s),
            (ServerEntry::Master { server, .. }, true) => Ok(server),
            (ServerEntry::Addr(s), true) => {
                let kind = ConfigErrorKind::AddressInSentinelPool(s.spec.clone());
                Err(fail(kind, Some("servers"), Some(&s.spec)))
            }
            (ServerEntry::Master { server, not_addr }, false) => {
                let kind = ConfigErrorKind::MasterWithoutSentinels(not_addr);
                Err(fail(kind, Some("servers"), Some(&server.spec)))
            }
        })
        .collect()
}

fn check_listen_unique(pools: &[PoolConfig], text: &str, file: &Path) -> Result<(), ConfigError> {
    for (i, p) in pools.iter().enumerate() {
        if let Some(first) = pools[..i].iter().find(|o| o.listen == p.listen) {
            let kind = ConfigErrorKind::DuplicateListen {
                addr: p.listen.to_string(),
                first: first.name.clone(),
                second: p.name.clone(),
            };
            let line = locate::line_in_pool(text, &p.name, Some("listen"), None);
            return Err(ConfigError::new(file, kind)
                .in_pool(&p.name)
                .at_key("listen")
                .at_line(line));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A default outside its key's range would be a value the file cannot say.
    #[test]
    fn every_default_is_within_its_range() {
        use defaults::*;
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:1\n  backlog: {BACKLOG}\n  server_connections: {SERVER_CONNECTIONS}\n  server_retry_timeout: {SERVER_RETRY_TIMEOUT_MS}\n  server_failure_limit: {SERVER_FAILURE_LIMIT}\n  max_request_bytes: {MAX_REQUEST_BYTES}\n  max_key_bytes: {MAX_KEY_BYTES}\n  client_output_limit: {CLIENT_OUTPUT_LIMIT}\n  max_reply_bytes: {MAX_REPLY_BYTES}\n  servers:\n   - 127.0.0.1:2:1\n"
        );
        let written = Config::parse(&yaml, Path::new("d.yml")).unwrap_or_else(|e| panic!("{e}"));
        let left_out = "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:1\n";
        let left_out = Config::parse(left_out, Path::new("d.yml")).unwrap();
        assert_eq!(written.pools, left_out.pools);
    }
}
