//! The sentinel messages the watcher acts on, read from the Pub/Sub channels
//! every sentinel publishes its events on (the Redis Sentinel docs, "Pub/Sub
//! messages"). Pure: bytes in, event out.
//!
//! - `+switch-master <master> <old-ip> <old-port> <new-ip> <new-port>`: the
//!   failover is over; the master is at its new address.
//! - `+failover-state-send-slaveof-noone slave <ip:port> <ip> <port> @
//!   <master> <m-ip> <m-port>`: the leader chose the replica to promote and
//!   sends it `REPLICAOF NO ONE` at its next tick (tens of ms later). From
//!   here the old master must take no more writes: they would be lost when
//!   it becomes a replica.
//! - `-failover-abort-... master <master> <ip> <port>`: that failover ended
//!   without a promotion.

use crate::config::ServerAddr;
use crate::link::Value;

/// The channels subscribed to on every sentinel.
pub(crate) const CHANNELS: [&str; 5] = [
    "+switch-master",
    "+failover-state-send-slaveof-noone",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
    "-failover-abort-not-elected",
];

/// What a sentinel said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The master is now at `to`.
    Switched { master: String, to: ServerAddr },
    /// The replica at `candidate` is about to be promoted; `from` is the
    /// master's address now.
    Promoting {
        master: String,
        from: ServerAddr,
        candidate: ServerAddr,
    },
    /// The failover of the master ended without a promotion.
    Aborted { master: String },
}

/// The event in a Pub/Sub `message` (`None` for anything else, such as the
/// confirmations of SUBSCRIBE).
pub(crate) fn parse(message: &Value) -> Option<Event> {
    let [kind, channel, payload] = message.items()? else {
        return None;
    };
    if kind.text()? != "message" {
        return None;
    }
    let channel = channel.text()?;
    let payload = payload.text()?;
    let words: Vec<&str> = payload.split_whitespace().collect();
    let addr = |host: &str, port: &str| {
        Some(ServerAddr::Tcp {
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    };
    match (channel.as_str(), words.as_slice()) {
        ("+switch-master", [master, _, _, host, port]) => Some(Event::Switched {
            master: master.to_string(),
            to: addr(host, port)?,
        }),
        (
            "+failover-state-send-slaveof-noone",
            ["slave", _, host, port, "@", master, m_host, m_port],
        ) => Some(Event::Promoting {
            master: master.to_string(),
            from: addr(m_host, m_port)?,
            candidate: addr(host, port)?,
        }),
        (channel, ["master", master, ..]) if channel.starts_with("-failover-abort") => {
            Some(Event::Aborted {
                master: master.to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: &str, payload: &str) -> Value {
        let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        Value::Array(Some(vec![bulk("message"), bulk(channel), bulk(payload)]))
    }

    fn addr(port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn reads_the_events_sentinel_publishes() {
        let m = message("+switch-master", "shard1 127.0.0.1 7001 127.0.0.1 7002");
        assert_eq!(
            parse(&m),
            Some(Event::Switched {
                master: "shard1".into(),
                to: addr(7002)
            })
        );
        let m = message(
            "+failover-state-send-slaveof-noone",
            "slave 127.0.0.1:7003 127.0.0.1 7003 @ shard1 127.0.0.1 7001",
        );
        assert_eq!(
            parse(&m),
            Some(Event::Promoting {
                master: "shard1".into(),
                from: addr(7001),
                candidate: addr(7003)
            })
        );
        let m = message(
            "-failover-abort-no-good-slave",
            "master shard1 127.0.0.1 7001",
        );
        assert_eq!(
            parse(&m),
            Some(Event::Aborted {
                master: "shard1".into()
            })
        );
    }

    #[test]
    fn ignores_what_it_does_not_act_on() {
        let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        let confirm = Value::Array(Some(vec![
            bulk("subscribe"),
            bulk("+switch-master"),
            Value::Int(1),
        ]));
        assert_eq!(parse(&confirm), None);
        assert_eq!(parse(&message("+switch-master", "shard1 x")), None);
        assert_eq!(
            parse(&message("+switch-master", "s 1.1.1.1 1 2.2.2.2 notaport")),
            None
        );
        assert_eq!(
            parse(&message("+sdown", "master shard1 127.0.0.1 7001")),
            None
        );
    }
}
