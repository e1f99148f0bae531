//! `listen:` — "host:port", or "/path/to/socket [octal permissions]".

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Tcp { host: String, port: u16 },
    Unix { path: PathBuf, perm: Option<u32> },
}

impl ListenAddr {
    /// Whether both name the same socket (a unix socket whatever its mode).
    pub fn same_place(&self, other: &ListenAddr) -> bool {
        match (self, other) {
            (ListenAddr::Unix { path: a, .. }, ListenAddr::Unix { path: b, .. }) => a == b,
            _ => self == other,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ListenAddr::Unix { path, perm: None } => write!(f, "{}", path.display()),
            ListenAddr::Unix {
                path,
                perm: Some(p),
            } => write!(f, "{} {p:04o}", path.display()),
        }
    }
}

/// Parses a decimal port in 1..=65535 as nutcracker does (digits only).
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        if value.starts_with('/') {
            return match value.rsplit_once(' ') {
                None => Ok(ListenAddr::Unix {
                    path: value.into(),
                    perm: None,
                }),
                Some((path, perm)) => {
                    let perm = u32::from_str_radix(perm.trim(), 8)
                        .ok()
                        .filter(|&p| p <= 0o777)
                        .ok_or_else(|| {
                            format!(
                                "'{value}' has an invalid file permission '{perm}'; expected \"/path/to/socket [octal permissions]\", e.g. \"/tmp/redshard.sock 0666\""
                            )
                        })?;
                    Ok(ListenAddr::Unix {
                        path: path.trim_end().into(),
                        perm: Some(perm),
                    })
                }
            };
        }
        let (host, port) = value.rsplit_once(':').ok_or_else(|| {
            format!("'{value}' is not a valid listen address; expected \"host:port\" or \"/path/to/socket\"")
        })?;
        let port = parse_port(port).ok_or_else(|| {
            format!("'{value}' has an invalid port '{port}'; expected a number from 1 to 65535")
        })?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!(
                "'{value}' has an invalid host '{host}'; expected \"host:port\", e.g. \"127.0.0.1:22121\""
            ));
        }
        Ok(ListenAddr::Tcp {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            "127.0.0.1:22121".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 22121
            }
        );
        assert_eq!(
            "/tmp/gamma 0666".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix {
                path: "/tmp/gamma".into(),
                perm: Some(0o666)
            }
        );
        assert_eq!(
            "/tmp/gamma".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix {
                path: "/tmp/gamma".into(),
                perm: None
            }
        );
        for bad in [
            "localhost",
            "localhost:0",
            "localhost:70000",
            ":1",
            "/tmp/x 0999",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}
