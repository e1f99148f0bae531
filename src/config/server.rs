//! One entry of `servers:` — "host:port:weight [name]" or "/path/to/socket:weight [name]",
//! parsed from the end as nutcracker does, with its naming rules for the ring.

use std::fmt;
use std::path::PathBuf;

use super::listen::parse_port;

/// libmemcached compatibility: a server on this port is hashed by host alone.
const KETAMA_PORT: u16 = 11211;

/// The largest weight of one server: enough for any ratio between servers,
/// and with [`super::MAX_POOL_WEIGHT`] it keeps the modula table small.
pub const MAX_WEIGHT: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ServerAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The entry as written in the config.
    pub spec: String,
    /// The name hashed into the ketama ring: the explicit name; else
    /// "host:port" as written; else "host" when the port is 11211; for a unix
    /// socket "path:" (nutcracker appends the empty port's separator).
    pub name: String,
    /// Whether `name` was given explicitly in the entry.
    pub named: bool,
    /// Where the server is; `None` for a server named by its Sentinel master
    /// name (`"shard1:1"` in a pool with `sentinels:`), whose address is the
    /// master's as the sentinels say at run time.
    pub addr: Option<ServerAddr>,
    pub weight: u32,
    /// Its replicas, as the config lists them (`{server: ..., replicas:
    /// [...]}`); a Sentinel master's come from the sentinels instead.
    pub replicas: Vec<ServerAddr>,
}

impl ServerConfig {
    /// How this server is shown to operators: its name if given, else its address.
    pub fn label(&self) -> String {
        match &self.addr {
            Some(addr) if !self.named => addr.to_string(),
            _ => self.name.clone(),
        }
    }

    /// Named by a Sentinel master name: its address is found at run time.
    pub fn is_sentinel_master(&self) -> bool {
        self.addr.is_none()
    }

    /// A `servers:` entry of a pool with `sentinels:`: `"master-name:weight"`.
    /// The master name is what the ring hashes, so a failover, which changes
    /// the master's address, moves no key.
    pub fn sentinel_master(spec: &str) -> Result<ServerConfig, String> {
        let spec = spec.trim();
        let (name, weight_text) = spec
            .rsplit_once(':')
            .ok_or_else(|| format!("'{spec}' is not a Sentinel master entry; {MASTER_FORMAT}"))?;
        if name.is_empty() || spec.contains(char::is_whitespace) {
            return Err(format!(
                "'{spec}' has an empty or spaced master name; {MASTER_FORMAT}"
            ));
        }
        Ok(ServerConfig {
            spec: spec.to_string(),
            name: name.to_string(),
            named: true,
            addr: None,
            weight: parse_weight(spec, weight_text)?,
            replicas: Vec::new(),
        })
    }
}

const FORMAT: &str = "expected \"host:port:weight [name]\" or \"/path/to/socket:weight [name]\"";
/// The form of a server in a pool that follows Sentinel.
pub const MASTER_FORMAT: &str =
    "expected \"master-name:weight\", the name Sentinel monitors the master by, e.g. \"shard1:1\"";

/// A weight as nutcracker takes it: digits, 1 to [`MAX_WEIGHT`].
fn parse_weight(spec: &str, weight_text: &str) -> Result<u32, String> {
    let range = format!("expected a whole number from 1 to {MAX_WEIGHT}");
    if weight_text.is_empty() || !weight_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{spec}' has an invalid weight '{weight_text}'; {range}"
        ));
    }
    let weight = weight_text
        .parse::<u32>()
        .ok()
        .filter(|w| *w <= MAX_WEIGHT)
        .ok_or_else(|| format!("'{spec}': weight {weight_text} is out of range; {range}"))?;
    if weight == 0 {
        return Err(format!("'{spec}' has a zero weight; {range}"));
    }
    Ok(weight)
}

/// A sentinel's or a replica's address, `"host:port"`.
pub fn parse_host_port(text: &str) -> Result<ServerAddr, String> {
    let text = text.trim();
    let expected = "expected \"host:port\", e.g. \"127.0.0.1:26379\"";
    let (host, port_text) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("'{text}' is not an address; {expected}"))?;
    let port = parse_port(port_text)
        .ok_or_else(|| format!("'{text}' has an invalid port '{port_text}'; {expected}"))?;
    if host.is_empty() || text.contains(char::is_whitespace) {
        return Err(format!("'{text}' has an empty or spaced host; {expected}"));
    }
    Ok(ServerAddr::Tcp {
        host: host.to_string(),
        port,
    })
}

impl std::str::FromStr for ServerConfig {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (body, name) = match spec.rsplit_once(' ') {
            Some((body, name)) => (body.trim_end(), Some(name)),
            None => (spec, None),
        };
        if body.contains(char::is_whitespace) {
            return Err(format!("'{spec}' has spaces inside the address; {FORMAT}"));
        }
        let (addr_text, weight_text) = body
            .rsplit_once(':')
            .ok_or_else(|| format!("'{spec}' is not a valid server; {FORMAT}"))?;
        let weight = parse_weight(spec, weight_text)?;
        let (addr, default_name) = if addr_text.starts_with('/') {
            // nutcracker names an unnamed socket "path:" — it appends ':' and an
            // empty port — and that is the string its ring hashes.
            let name = &body[..addr_text.len() + 1];
            (ServerAddr::Unix(addr_text.into()), name)
        } else {
            let (host, port_text) = addr_text
                .rsplit_once(':')
                .ok_or_else(|| format!("'{spec}' is missing the port or the weight; {FORMAT}"))?;
            let port = parse_port(port_text).ok_or_else(|| {
                format!(
                    "'{spec}' has an invalid port '{port_text}'; expected a number from 1 to 65535"
                )
            })?;
            if host.is_empty() {
                return Err(format!("'{spec}' has an empty host; {FORMAT}"));
            }
            let name = if port == KETAMA_PORT { host } else { addr_text };
            (
                ServerAddr::Tcp {
                    host: host.to_string(),
                    port,
                },
                name,
            )
        };
        if name == Some("") {
            return Err(format!("'{spec}' has an empty name; {FORMAT}"));
        }
        Ok(ServerConfig {
            spec: spec.to_string(),
            name: name.unwrap_or(default_name).to_string(),
            named: name.is_some(),
            addr: Some(addr),
            weight,
            replicas: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServerConfig {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn naming_rules() {
        let s = parse("127.0.0.1:6379:1");
        assert_eq!(s.name, "127.0.0.1:6379");
        assert!(!s.named);
        assert_eq!(s.weight, 1);
        let s = parse("10.0.0.1:11211:3");
        assert_eq!(s.name, "10.0.0.1");
        assert_eq!(s.weight, 3);
        let s = parse("127.0.0.1:6380:2 shard-b");
        assert_eq!(s.name, "shard-b");
        assert!(s.named);
        assert_eq!(
            s.addr,
            Some(ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 6380
            })
        );
        let s = parse("/tmp/redis.sock:1");
        assert_eq!(s.name, "/tmp/redis.sock:");
        assert_eq!(s.addr, Some(ServerAddr::Unix("/tmp/redis.sock".into())));
        let s = parse("/tmp/redis.sock:5 sock1");
        assert_eq!((s.name.as_str(), s.weight), ("sock1", 5));
        let s = parse("localhost:06379:1");
        assert_eq!(s.name, "localhost:06379");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("127.0.0.1:6379:0", "zero weight"),
            ("127.0.0.1:6379:x", "invalid weight"),
            ("127.0.0.1:6379", "missing the port or the weight"),
            ("127.0.0.1:99999:1", "invalid port"),
            (":6379:1", "empty host"),
            ("127.0.0.1", "not a valid server"),
        ];
        for (spec, want) in cases {
            let err = spec.parse::<ServerConfig>().unwrap_err();
            assert!(err.contains(want), "{spec}: {err}");
        }
    }

    #[test]
    fn sentinel_masters_are_named_by_their_master_name() {
        let s = ServerConfig::sentinel_master("shard1:3").unwrap();
        assert_eq!((s.name.as_str(), s.weight, s.named), ("shard1", 3, true));
        assert!(s.is_sentinel_master() && s.label() == "shard1");
        for (spec, want) in [
            ("shard1", "not a Sentinel master entry"),
            (":1", "empty or spaced master name"),
            ("shard 1:1", "empty or spaced master name"),
            ("shard1:0", "zero weight"),
            ("shard1:x", "invalid weight"),
        ] {
            let err = ServerConfig::sentinel_master(spec).unwrap_err();
            assert!(err.contains(want), "{spec}: {err}");
        }
        assert!(parse_host_port("127.0.0.1:26379").is_ok());
        assert!(parse_host_port("127.0.0.1")
            .unwrap_err()
            .contains("not an address"));
        assert!(parse_host_port("h:0").unwrap_err().contains("invalid port"));
    }
}
