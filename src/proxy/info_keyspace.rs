//! `INFO keyspace` through the proxy: every live server is asked for its
//! `# Keyspace` section, and the client gets one line for the pool's db with
//! the servers' figures combined — counts summed, `avg_ttl` averaged over
//! the keys that expire. Plain `INFO` stays the proxy's own (no round trip,
//! so it answers whatever the servers do); the section comes when asked for
//! by name, or with `INFO all` / `INFO everything`
//! ([`crate::route::info_asks_servers`]).

use bytes::BytesMut;

use super::local::ClientState;
use crate::pool::PoolRuntime;
use crate::pool::PoolSnapshot;
use crate::protocol::{encode, Proto};
use crate::route::Request;

/// What comes before the keyspace section: the proxy's own sections, unless
/// the request asks for nothing but the keyspace.
pub fn head(req: &Request<'_>, snapshot: &PoolSnapshot, runtime: &PoolRuntime) -> String {
    if req
        .args()
        .skip(1)
        .all(|s| s.eq_ignore_ascii_case(b"keyspace"))
    {
        String::new()
    } else {
        ClientState::info_text(snapshot, runtime)
    }
}

/// The client's INFO reply: `head` (the proxy's own sections, or nothing),
/// then the servers' keyspace sections (`parts`, their INFO replies)
/// combined for db `db`. `None` when a part is not an INFO text.
pub fn merge(head: &str, parts: &[&[u8]], db: u32, proto: Proto, out: &mut BytesMut) -> Option<()> {
    let prefix = format!("db{db}:");
    let mut sum = DbLine::default();
    for part in parts {
        let text = info_text(part)?;
        let line = text.split("\r\n").find_map(|l| l.strip_prefix(&prefix));
        if let Some(fields) = line {
            sum.add(fields);
        }
    }
    let mut t = String::with_capacity(head.len() + 96);
    t.push_str(head);
    if !head.is_empty() {
        t.push_str("\r\n");
    }
    t.push_str("# Keyspace\r\n");
    if sum.keys() > 0 {
        t.push_str(&prefix);
        sum.write(&mut t);
        t.push_str("\r\n");
    }
    encode::text(out, &t, proto);
    Some(())
}

/// The text of a bulk (`$`) or verbatim (`=`, `txt:`) string reply.
fn info_text(reply: &[u8]) -> Option<&str> {
    let kind = *reply.first()?;
    let line = reply.iter().position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(&reply[1..line]).ok()?.parse().ok()?;
    let body = reply.get(line + 2..line + 2 + len)?;
    let body = match kind {
        b'$' => body,
        b'=' => body.get(4..)?,
        _ => return None,
    };
    std::str::from_utf8(body).ok()
}

/// One db's figures, summed over servers: `(name, value)` in the first
/// server's order; `avg_ttl` kept as a total over the expiring keys.
#[derive(Debug, Default)]
struct DbLine {
    fields: Vec<(String, u64)>,
}

impl DbLine {
    /// Adds a server's `keys=1,expires=0,avg_ttl=0` (any other integer
    /// field, such as Redis 7.4's `subexpiry`, is summed too).
    fn add(&mut self, line: &str) {
        let pairs: Vec<(&str, u64)> = line
            .split(',')
            .filter_map(|f| f.split_once('='))
            .filter_map(|(k, v)| Some((k, v.trim().parse().ok()?)))
            .collect();
        let expires = pairs
            .iter()
            .find(|(k, _)| *k == "expires")
            .map_or(0, |p| p.1);
        for (name, value) in pairs {
            // avg_ttl is summed as ttl x expiring keys, divided on output.
            let value = if name == "avg_ttl" {
                value.saturating_mul(expires)
            } else {
                value
            };
            match self.fields.iter_mut().find(|(k, _)| k == name) {
                Some((_, total)) => *total = total.saturating_add(value),
                None => self.fields.push((name.to_string(), value)),
            }
        }
    }

    fn get(&self, name: &str) -> u64 {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or(0, |f| f.1)
    }

    fn keys(&self) -> u64 {
        self.get("keys")
    }

    fn write(&self, out: &mut String) {
        let expires = self.get("expires");
        for (i, (name, value)) in self.fields.iter().enumerate() {
            let value = match name.as_str() {
                "avg_ttl" => value.checked_div(expires).unwrap_or(0),
                _ => *value,
            };
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{name}={value}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(head: &str, parts: &[&[u8]], proto: Proto) -> Vec<u8> {
        let mut out = BytesMut::new();
        merge(head, parts, 0, proto, &mut out).expect("INFO texts");
        out.to_vec()
    }

    fn bulk(text: &str) -> Vec<u8> {
        format!("${}\r\n{text}\r\n", text.len()).into_bytes()
    }

    fn verbatim(text: &str) -> Vec<u8> {
        format!("={}\r\ntxt:{text}\r\n", text.len() + 4).into_bytes()
    }

    #[test]
    fn counts_are_summed_and_avg_ttl_weighed_by_expiring_keys() {
        let a = bulk("# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=1000\r\ndb3:keys=5\r\n");
        let b = verbatim("# Keyspace\r\ndb0:keys=20,expires=3,avg_ttl=3000\r\n");
        let empty = bulk("# Keyspace\r\n");
        assert_eq!(
            run("", &[&a, &b, &empty], Proto::Resp2),
            bulk("# Keyspace\r\ndb0:keys=30,expires=4,avg_ttl=2500\r\n")
        );
        assert_eq!(
            run("# Server\r\nx:1\r\n", &[&a], Proto::Resp3),
            verbatim("# Server\r\nx:1\r\n\r\n# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=1000\r\n")
        );
    }

    #[test]
    fn an_empty_db_has_no_line_and_other_replies_are_not_merged() {
        let empty = bulk("# Keyspace\r\n");
        assert_eq!(
            run("", &[&empty, &empty], Proto::Resp2),
            bulk("# Keyspace\r\n")
        );
        let mut out = BytesMut::new();
        assert!(merge("", &[b":1\r\n"], 0, Proto::Resp2, &mut out).is_none());
    }
}
