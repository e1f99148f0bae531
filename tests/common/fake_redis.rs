//! A stand-in for a server the machine does not have (another Redis
//! version, Valkey): it answers `HELLO` and `INFO` with the replies it is
//! given, `PING` with `PONG`, anything else with `+OK`. Stops on drop.

use std::sync::Arc;

use super::scripted::{command_name, Scripted};

pub struct FakeRedis {
    pub port: u16,
    _server: Scripted,
}

impl FakeRedis {
    /// A server that names itself `server` at `version` in HELLO, and has
    /// `redis_version` in INFO.
    pub fn start(server: &str, version: &str, redis_version: &str) -> FakeRedis {
        let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
        let hello = format!(
            "*4\r\n{}{}{}{}",
            bulk("server"),
            bulk(server),
            bulk("version"),
            bulk(version)
        );
        let info = bulk(&format!("# Server\r\nredis_version:{redis_version}\r\n"));
        let scripted = Scripted::start(Arc::new(move |args| {
            match command_name(args).as_str() {
                "HELLO" => hello.clone(),
                "INFO" => info.clone(),
                "PING" => "+PONG\r\n".to_string(),
                _ => "+OK\r\n".to_string(),
            }
            .into_bytes()
        }));
        FakeRedis {
            port: scripted.port,
            _server: scripted,
        }
    }
}
