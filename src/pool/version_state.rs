//! The Redis version a server runs, as its HELLO or INFO tells it, and the
//! record of it that [`super::health::ServerHealth`] holds for every
//! worker to read. Libraries decide by the version which commands they may
//! send (BullMQ wants 7.0.8 for some), so the proxy reports its pool's
//! lowest rather than a constant.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::value::Value;

/// `major.minor.patch`; ordered as versions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedisVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

/// Set in every packed version, so 0 can mean "not known".
const KNOWN: u64 = 1 << 48;

impl RedisVersion {
    /// `7.0.15` (a missing patch reads as 0; what follows the patch's
    /// digits, as in `7.4.0-rc1`, is left out).
    pub fn parse(text: &str) -> Option<RedisVersion> {
        let mut parts = text.trim().splitn(3, '.');
        let mut number = |required: bool| -> Option<u16> {
            match parts.next() {
                Some(p) => {
                    let digits = p.len() - p.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    p[..digits].parse().ok()
                }
                None if required => None,
                None => Some(0),
            }
        };
        Some(RedisVersion {
            major: number(true)?,
            minor: number(true)?,
            patch: number(false)?,
        })
    }

    /// The version in a HELLO reply (RESP2's flat array or RESP3's map),
    /// when the server says it is Redis. Valkey 8 answers
    /// `server: valkey` with its own version there (8.x), which is no
    /// Redis version; its INFO keeps `redis_version` (7.2.4) for clients.
    pub fn from_hello(reply: &Value) -> Option<RedisVersion> {
        if !reply
            .field("server")?
            .as_str()?
            .eq_ignore_ascii_case("redis")
        {
            return None;
        }
        RedisVersion::parse(reply.field("version")?.as_str()?)
    }

    /// The `redis_version:` line of an INFO reply.
    pub fn from_info(text: &str) -> Option<RedisVersion> {
        text.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .and_then(RedisVersion::parse)
    }

    /// The feature level: servers that differ in it do not take the same
    /// commands.
    pub fn major_minor(self) -> (u16, u16) {
        (self.major, self.minor)
    }

    fn pack(self) -> u64 {
        KNOWN | u64::from(self.major) << 32 | u64::from(self.minor) << 16 | u64::from(self.patch)
    }

    fn unpack(packed: u64) -> Option<RedisVersion> {
        (packed & KNOWN != 0).then_some(RedisVersion {
            major: (packed >> 32) as u16,
            minor: (packed >> 16) as u16,
            patch: packed as u16,
        })
    }
}

impl fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A server's version as last learned, shared by every worker and carried
/// over by a reload like the server's health. Learned by the version
/// watcher ([`crate::version_watch`]) and by each RESP3 data connection's
/// `HELLO 3`; a Sentinel master keeps its old master's version until its
/// new one is learned.
#[derive(Debug, Default)]
pub struct VersionState {
    /// [`RedisVersion::pack`]ed; 0: not known yet.
    packed: AtomicU64,
}

impl VersionState {
    /// The version last learned.
    pub fn get(&self) -> Option<RedisVersion> {
        RedisVersion::unpack(self.packed.load(Ordering::Relaxed))
    }

    /// The server (`server`, of `pool`) said it runs `version`: logged the
    /// first time, and when it changes (an upgrade in place, a new master),
    /// by whichever worker or watcher learns it first.
    pub fn learn(&self, version: RedisVersion, pool: &str, server: &str) {
        let before = RedisVersion::unpack(self.packed.swap(version.pack(), Ordering::Relaxed));
        match before {
            Some(old) if old == version => {}
            Some(old) => {
                tracing::info!(
                    pool,
                    server,
                    "server {server} now runs Redis {version} (was {old})"
                )
            }
            None => tracing::info!(pool, server, "server {server} runs Redis {version}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u16, minor: u16, patch: u16) -> RedisVersion {
        RedisVersion {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parses_what_servers_say() {
        assert_eq!(RedisVersion::parse("7.0.15"), Some(v(7, 0, 15)));
        assert_eq!(RedisVersion::parse("255.255.255"), Some(v(255, 255, 255)));
        assert_eq!(RedisVersion::parse("7.4.0-rc1"), Some(v(7, 4, 0)));
        assert_eq!(RedisVersion::parse("6.2"), Some(v(6, 2, 0)));
        for bad in ["", "7", "x.y.z", "7.", ".1.2", "99999.0.0"] {
            assert_eq!(RedisVersion::parse(bad), None, "{bad:?}");
        }
        assert!(v(7, 0, 15) < v(7, 2, 0) && v(6, 2, 14) < v(7, 0, 0));
        assert_eq!(v(7, 0, 15).to_string(), "7.0.15");
    }

    #[test]
    fn reads_hello_in_both_protocols_and_info() {
        let resp2 = b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
        let resp3 = b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n";
        let valkey = b"%2\r\n$6\r\nserver\r\n$6\r\nvalkey\r\n$7\r\nversion\r\n$5\r\n8.1.1\r\n";
        let hello = |b: &[u8]| RedisVersion::from_hello(&Value::parse(b).unwrap().0);
        assert_eq!(hello(resp2), Some(v(7, 0, 15)));
        assert_eq!(hello(resp3), Some(v(7, 2, 4)));
        assert_eq!(hello(valkey), None, "not a Redis version");
        assert_eq!(hello(b"-ERR unknown command 'HELLO'\r\n"), None);
        let info = "# Server\r\nredis_version:6.2.14\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(RedisVersion::from_info(info), Some(v(6, 2, 14)));
        assert_eq!(RedisVersion::from_info("# Server\r\n"), None);
    }

    #[test]
    fn the_record_starts_unknown_and_keeps_the_last() {
        let state = VersionState::default();
        assert_eq!(state.get(), None);
        state.learn(v(7, 0, 15), "p", "s");
        assert_eq!(state.get(), Some(v(7, 0, 15)));
        state.learn(v(0, 0, 0), "p", "s");
        assert_eq!(state.get(), Some(v(0, 0, 0)), "0.0.0 is still known");
    }
}
