//! The YAML file as written: pool name -> settings, every key optional, unknown
//! keys refused. Values are checked while they are read, so a bad value's
//! error carries its line from the YAML reader; a numeric key's type says its
//! range ([`super::bounded`]; README, "Config ranges", says why each).
//!
//! nutcracker reads every value as a string, so `timeout: "400"` and
//! `redis: "true"` work there; they work here too.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::bounded::{Count, Millis, Size, GIB, HOUR_MS, KIB, MIB};
use super::listen::ListenAddr;
use super::scalar::ScalarText;
use super::server::{parse_host_port, ServerAddr, ServerConfig};
use crate::distribution::Distribution;
use crate::hashkit::{Hash, HashTag};

/// The pools in file order, repeats included (they are refused later, with
/// their line).
pub(super) struct RawFile(pub Vec<(String, RawPool)>);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    #[serde(default, deserialize_with = "parsed")]
    pub listen: Option<ListenAddr>,
    #[serde(default, deserialize_with = "parsed")]
    pub hash: Option<Hash>,
    #[serde(default, deserialize_with = "hash_tag")]
    pub hash_tag: Option<HashTag>,
    #[serde(default, deserialize_with = "parsed")]
    pub distribution: Option<Distribution>,
    #[serde(default)]
    pub timeout: Option<Millis<0, HOUR_MS>>,
    #[serde(default)]
    pub backlog: Option<Count<u32, 0, 65_535>>,
    #[serde(default)]
    pub client_connections: Option<Count<u32, 0, 1_000_000>>,
    #[serde(default, deserialize_with = "boolean")]
    pub redis: Option<bool>,
    #[serde(default, deserialize_with = "parsed")]
    pub redis_auth: Option<String>,
    #[serde(default)]
    pub redis_db: Option<Count<u32, 0, 2_147_483_646>>,
    #[serde(default, deserialize_with = "boolean")]
    pub preconnect: Option<bool>,
    #[serde(default, deserialize_with = "boolean")]
    pub auto_eject_hosts: Option<bool>,
    #[serde(default)]
    pub server_connections: Option<Count<u32, 1, 256>>,
    #[serde(default)]
    pub server_retry_timeout: Option<Millis<0, HOUR_MS>>,
    #[serde(default)]
    pub server_failure_limit: Option<Count<u32, 0, 1_000>>,
    #[serde(default, deserialize_with = "boolean")]
    pub tcpkeepalive: Option<bool>,
    #[serde(default)]
    pub servers: Option<Vec<ServerEntry>>,
    // redshard's extensions; nutcracker has none of these.
    #[serde(default)]
    pub max_request_bytes: Option<Size<KIB, GIB>>,
    #[serde(default)]
    pub max_key_bytes: Option<Size<1, { 512 * MIB }>>,
    #[serde(default)]
    pub client_output_limit: Option<Size<KIB, GIB>>,
    #[serde(default)]
    pub max_reply_bytes: Option<Size<KIB, { 4 * GIB }>>,
    /// Per server, all workers together: past Redis's default `maxclients`
    /// (10,000) a server refuses connections anyway.
    #[serde(default)]
    pub max_dedicated_connections: Option<Count<u32, 1, 10_000>>,
    #[serde(default, deserialize_with = "parsed")]
    pub multi: Option<super::MultiMode>,
    #[serde(default, deserialize_with = "hosted_groups")]
    pub hosted: Option<Vec<crate::hosted::Group>>,
    /// A filter layer is one Redis string, whose bits SETBIT reaches only
    /// up to 512 MB; the filter BF.ADD makes on a missing key takes 120 bytes.
    #[serde(default)]
    pub bloom_max_bytes: Option<Size<KIB, { 512 * MIB }>>,
    #[serde(default, deserialize_with = "boolean")]
    pub allow_keys: Option<bool>,
    #[serde(default, deserialize_with = "boolean")]
    pub allow_flush: Option<bool>,
    #[serde(default)]
    pub users: Option<Vec<super::users::RawUser>>,
    #[serde(default, deserialize_with = "parsed")]
    pub redis_username: Option<String>,
    #[serde(default, deserialize_with = "parsed")]
    pub redis_hosted_username: Option<String>,
    #[serde(default, deserialize_with = "parsed")]
    pub redis_hosted_auth: Option<String>,
    #[serde(default)]
    pub max_auth_failures: Option<Count<u32, 1, 1_000>>,
    /// Redis Sentinels to ask for the masters' addresses: the servers are
    /// then named by master name.
    #[serde(default)]
    pub sentinels: Option<Vec<SentinelEntry>>,
    /// How often the sentinels are asked again, in case a `+switch-master`
    /// was missed; 10 ms is enough for any test, an hour is no refresh.
    #[serde(default)]
    pub sentinel_refresh_ms: Option<Millis<10, HOUR_MS>>,
    #[serde(default, deserialize_with = "parsed")]
    pub sentinel_auth: Option<String>,
    /// The servers are seeds of a Redis Cluster: keys go by hash slot to
    /// the master serving it, as the cluster's slot map says.
    #[serde(default, deserialize_with = "boolean")]
    pub cluster: Option<bool>,
    /// How often a cluster pool asks for the slot map again.
    #[serde(default)]
    pub cluster_refresh_ms: Option<Millis<100, HOUR_MS>>,
    #[serde(default, deserialize_with = "parsed")]
    pub read_from: Option<super::ReadFrom>,
    /// A replica further behind its master than this serves no reads.
    #[serde(default)]
    pub replica_max_lag_ms: Option<Millis<1, HOUR_MS>>,
    // TLS (super::tls checks these together): toward the clients ...
    #[serde(default, deserialize_with = "parsed")]
    pub tls_cert: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_key: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    // ... and toward the servers.
    #[serde(default, deserialize_with = "boolean")]
    pub tls: Option<bool>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_ca: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_client_cert: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_client_key: Option<std::path::PathBuf>,
    #[serde(default, deserialize_with = "parsed")]
    pub tls_server_name: Option<String>,
}

/// A `servers:` entry, parsed as it is read: an address, or a Sentinel
/// master name. Which of the two the pool takes is known once the whole
/// pool is read (`sentinels:` may come after `servers:`).
#[derive(Debug)]
pub(super) enum ServerEntry {
    Addr(ServerConfig),
    /// `"name:weight"`; `not_addr` says why it is no address, for the error
    /// in a pool without sentinels.
    Master {
        server: ServerConfig,
        not_addr: String,
    },
}

impl<'de> Deserialize<'de> for ServerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ServerEntryVisitor)
    }
}

impl ServerEntry {
    /// A server written as one line of text.
    fn from_text(text: &str) -> Result<ServerEntry, String> {
        match text.parse() {
            Ok(server) => Ok(ServerEntry::Addr(server)),
            Err(not_addr) => match ServerConfig::sentinel_master(text) {
                Ok(server) => Ok(ServerEntry::Master { server, not_addr }),
                Err(_) => Err(not_addr),
            },
        }
    }
}

/// A server with its replicas, written as a mapping (nutcracker has no
/// such form, so a nutcracker file never has one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerWithReplicas {
    server: String,
    #[serde(default)]
    replicas: Vec<SentinelEntry>,
}

/// A `servers:` entry: a line of text, or `{server: ..., replicas: [...]}`.
struct ServerEntryVisitor;

impl<'de> Visitor<'de> for ServerEntryVisitor {
    type Value = ServerEntry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"host:port:weight [name]\", or a mapping with 'server' and 'replicas'")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ServerEntry, E> {
        ServerEntry::from_text(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ServerEntry, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ServerEntry, A::Error> {
        let raw = ServerWithReplicas::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let mut entry = ServerEntry::from_text(&raw.server).map_err(de::Error::custom)?;
        let replicas: Vec<ServerAddr> = raw.replicas.into_iter().map(|r| r.0).collect();
        match &mut entry {
            ServerEntry::Addr(server) => server.replicas = replicas,
            ServerEntry::Master { .. } if !replicas.is_empty() => return Err(de::Error::custom(
                "a Sentinel master's replicas are the ones its sentinels list; remove 'replicas'",
            )),
            ServerEntry::Master { .. } => {}
        }
        Ok(entry)
    }
}

/// A `sentinels:` or `replicas:` entry, `"host:port"`.
#[derive(Debug)]
pub(super) struct SentinelEntry(pub ServerAddr);

impl<'de> Deserialize<'de> for SentinelEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(ScalarText)?;
        parse_host_port(&text)
            .map(SentinelEntry)
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pools;
        impl<'de> Visitor<'de> for Pools {
            type Value = RawFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of pool names to pool settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
                let mut pools: Vec<(String, RawPool)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let pool = map.next_value::<Option<RawPool>>()?.unwrap_or_default();
                    pools.push((name, pool));
                }
                Ok(RawFile(pools))
            }
        }
        d.deserialize_map(Pools)
    }
}

fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let text = d.deserialize_any(ScalarText)?;
    text.parse().map(Some).map_err(de::Error::custom)
}

fn hash_tag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HashTag>, D::Error> {
    let text = d.deserialize_any(ScalarText)?;
    match text.as_bytes() {
        [open, close] => Ok(Some(HashTag {
            open: *open,
            close: *close,
        })),
        _ => Err(de::Error::custom(format!(
            "'{text}' is not a valid hash tag; expected exactly two characters, e.g. \"{{}}\""
        ))),
    }
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match d.deserialize_any(ScalarText)?.as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        other => Err(de::Error::custom(format!(
            "'{other}' is not a boolean; expected true or false"
        ))),
    }
}

/// `hosted: [lock, redpacket, seckill, bloom]` (a YAML list of names).
fn hosted_groups<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<crate::hosted::Group>>, D::Error> {
    let names: Vec<String> = Vec::deserialize(d)?;
    names
        .iter()
        .map(|n| n.parse().map_err(de::Error::custom))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
