//! The YAML file as written: pool name -> settings, every key optional, unknown
//! keys refused. Values are checked while they are read, so a bad value's
//! error carries its line from the YAML reader.
//!
//! nutcracker reads every value as a string, so `timeout: "400"` and
//! `redis: "true"` work there; they work here too.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::listen::ListenAddr;
use super::server::ServerConfig;
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
    #[serde(default, deserialize_with = "number")]
    pub timeout: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub backlog: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub client_connections: Option<u32>,
    #[serde(default, deserialize_with = "boolean")]
    pub redis: Option<bool>,
    #[serde(default, deserialize_with = "parsed")]
    pub redis_auth: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub redis_db: Option<u32>,
    #[serde(default, deserialize_with = "boolean")]
    pub preconnect: Option<bool>,
    #[serde(default, deserialize_with = "boolean")]
    pub auto_eject_hosts: Option<bool>,
    #[serde(default, deserialize_with = "number")]
    pub server_connections: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub server_retry_timeout: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub server_failure_limit: Option<u32>,
    #[serde(default, deserialize_with = "boolean")]
    pub tcpkeepalive: Option<bool>,
    #[serde(default)]
    pub servers: Option<Vec<ServerEntry>>,
    // redshard's extensions; nutcracker has none of these.
    #[serde(default, deserialize_with = "size")]
    pub max_request_bytes: Option<u64>,
    #[serde(default, deserialize_with = "size")]
    pub max_key_bytes: Option<u64>,
    #[serde(default, deserialize_with = "size")]
    pub client_output_limit: Option<u64>,
    #[serde(default, deserialize_with = "size")]
    pub max_reply_bytes: Option<u64>,
    #[serde(default, deserialize_with = "hosted_groups")]
    pub hosted: Option<Vec<crate::hosted::Group>>,
    #[serde(default, deserialize_with = "bloom_size")]
    pub bloom_max_bytes: Option<u64>,
}

/// A `servers:` entry, parsed as it is read.
#[derive(Debug)]
pub(super) struct ServerEntry(pub ServerConfig);

impl<'de> Deserialize<'de> for ServerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(ScalarText)?;
        text.parse().map(ServerEntry).map_err(de::Error::custom)
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

/// Any YAML scalar as the text nutcracker would see.
struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value (a string or number)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
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

/// A size in bytes: a number, or a number with a unit as in redis.conf
/// (`64mb`, `512kb`, `1gb`; k/m/g are powers of 1000, kb/mb/gb of 1024).
fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = d.deserialize_any(ScalarText)?;
    parse_size(&text).map(Some).map_err(de::Error::custom)
}

/// `bloom_max_bytes`: a size within its range.
fn bloom_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = d.deserialize_any(ScalarText)?;
    let range = super::defaults::BLOOM_MAX_BYTES_RANGE;
    match parse_size(&text) {
        Ok(v) if range.contains(&v) => Ok(Some(v)),
        Ok(_) => Err(de::Error::custom(format!(
            "'{text}' is out of range; expected a size from 1kb to 512mb (a filter layer is one Redis string, whose bits SETBIT reaches only up to 512 MB)"
        ))),
        Err(e) => Err(de::Error::custom(e)),
    }
}

pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = t.split_at(digits);
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "'{text}' is not a size; expected bytes, e.g. 1048576 or 1mb"
            ))
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size; expected bytes, e.g. 1048576 or 1mb"))?;
    match n.checked_mul(mult) {
        Some(0) => Err(format!(
            "'{text}' is zero; expected a size of at least 1 byte"
        )),
        Some(v) => Ok(v),
        None => Err(format!("'{text}' is too large")),
    }
}

fn number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Num<T>(PhantomData<T>);
    impl<T: TryFrom<u64>> Num<T> {
        fn fit<E: de::Error>(v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
        }
    }
    impl<T: TryFrom<u64>> Visitor<'_> for Num<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of 0 or more")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Self::fit(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            match u64::try_from(v) {
                Ok(v) => Self::fit(v),
                Err(_) => Err(E::custom(format!(
                    "{v} is negative; expected a whole number of 0 or more"
                ))),
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom(format!(
                    "'{v}' is not a number; expected a whole number of 0 or more"
                )));
            }
            v.parse::<u64>()
                .map_err(|_| E::custom(format!("'{v}' is too large")))
                .and_then(Self::fit)
        }
    }
    d.deserialize_any(Num(PhantomData)).map(Some)
}
