//! A RESP2 connection for the proxy's own questions: to a sentinel
//! (GET-MASTER-ADDR-BY-NAME, SUBSCRIBE) or to a Redis server (ROLE, INFO
//! replication, CLUSTER SHARDS, HELLO for its version). Plain TCP, or TLS
//! with the pool's [`Connector`] (the same certificate checks as its data
//! connections), or a unix socket.
//! Whole replies, decoded into [`Value`]s: these are a few small replies a
//! second, not the request path.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{PoolConfig, ServerAddr};
use crate::protocol::framer::parse_i64;
use crate::protocol::{encode, ReplySkipper};
use crate::tls::Connector;

/// The largest reply taken (SENTINEL REPLICAS of a master with many
/// replicas is a few KB).
const MAX_REPLY: usize = 1 << 20;
/// Aggregates nest this deep at most in the replies asked for.
const MAX_DEPTH: u8 = 8;

/// A decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Status(String),
    Error(String),
    Int(i64),
    /// `None`: the null bulk.
    Bulk(Option<Vec<u8>>),
    /// `None`: the null array.
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The text of a bulk or status reply.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Status(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// The elements of a (non-null) array.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(items)) => Some(items),
            _ => None,
        }
    }
}

/// What a link reads and writes: a TCP stream, or TLS over one.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// How a link reaches and logs in to a server: as the pool's data
/// connections do (`tls`, `redis_username`, `redis_auth`), or as a
/// sentinel asks (its password only, plain TCP).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ServerLogin {
    pub user: Option<String>,
    pub password: Option<String>,
    /// `tls: true`: its TLS files (a reload that changes them restarts
    /// whoever holds this).
    pub tls: Option<Connector>,
}

impl ServerLogin {
    /// The login of `pool`'s data connections.
    pub fn of(pool: &PoolConfig) -> ServerLogin {
        ServerLogin {
            user: pool.redis_username.clone(),
            password: pool.redis_auth.clone(),
            tls: pool.backend_tls.clone(),
        }
    }

    /// A password only, over plain TCP (a sentinel's `auth`).
    pub fn password(password: Option<String>) -> ServerLogin {
        ServerLogin {
            password,
            ..ServerLogin::default()
        }
    }
}

/// An open connection, with its read buffer.
pub(crate) struct Link {
    stream: Box<dyn Io>,
    buf: BytesMut,
    skipper: ReplySkipper,
    /// Bound on a connect, and on each call's reply.
    limit: Duration,
}

impl Link {
    /// Connects within `limit` (and with TLS, does the handshake within it
    /// too), then logs in with the password (and user) if `login` has one.
    pub async fn open(
        addr: &ServerAddr,
        login: &ServerLogin,
        limit: Duration,
    ) -> Result<Link, String> {
        let tls = login.tls.as_ref();
        let reach = async {
            match addr {
                ServerAddr::Tcp { host, port } => connect(host, *port, tls).await,
                // As the data connections: a unix socket is local, no TLS.
                ServerAddr::Unix(path) => match tokio::net::UnixStream::connect(path).await {
                    Ok(stream) => Ok(Box::new(stream) as Box<dyn Io>),
                    Err(e) => Err(e.to_string()),
                },
            }
        };
        let stream = match tokio::time::timeout(limit, reach).await {
            Ok(stream) => stream?,
            Err(_) if tls.is_some() => {
                let ms = limit.as_millis();
                return Err(format!("connect and TLS handshake timed out after {ms} ms"));
            }
            Err(_) => return Err(format!("connect timed out after {} ms", limit.as_millis())),
        };
        let mut link = Link {
            stream,
            buf: BytesMut::with_capacity(4096),
            skipper: ReplySkipper::with_limit(MAX_REPLY),
            limit,
        };
        if let Some(password) = &login.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &login.user {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            if let Value::Error(e) = link.call(&args).await? {
                return Err(format!("AUTH refused: {e}"));
            }
        }
        Ok(link)
    }

    /// Sends a command and waits (within the link's limit) for its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        self.send(args).await?;
        match tokio::time::timeout(self.limit, self.next()).await {
            Ok(reply) => reply,
            Err(_) => Err(format!("no reply within {} ms", self.limit.as_millis())),
        }
    }

    /// Sends a command without waiting for a reply (SUBSCRIBE).
    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = BytesMut::new();
        encode::command(&mut out, args.iter().copied());
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| e.to_string())?;
        // TLS may hold the record back until flushed.
        self.stream.flush().await.map_err(|e| e.to_string())
    }

    /// Sends a command and decodes its reply (within the link's limit)
    /// into a [`tree`](crate::protocol::value::Value): for the nested
    /// replies of CLUSTER SHARDS and CLUSTER SLOTS.
    pub async fn call_tree(
        &mut self,
        args: &[&[u8]],
    ) -> Result<crate::protocol::value::Value, String> {
        self.send(args).await?;
        let raw = match tokio::time::timeout(self.limit, self.next_raw()).await {
            Ok(reply) => reply?,
            Err(_) => return Err(format!("no reply within {} ms", self.limit.as_millis())),
        };
        crate::protocol::value::Value::parse(&raw)
            .map(|(v, _)| v)
            .map_err(|e| format!("a reply it could not read: {e}"))
    }

    /// The next reply or pushed message, however long it takes.
    pub async fn next(&mut self) -> Result<Value, String> {
        let raw = self.next_raw().await?;
        decode(&raw, 0)
            .map(|(v, _)| v)
            .ok_or_else(|| "a reply it could not read".to_string())
    }

    /// The next reply's bytes.
    async fn next_raw(&mut self) -> Result<BytesMut, String> {
        loop {
            match self.skipper.next_reply(&self.buf) {
                Ok(Some(len)) => return Ok(self.buf.split_to(len)),
                Ok(None) => {}
                Err(e) => return Err(format!("a malformed reply: {e}")),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err("closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// A TCP connection to `host:port` (`[::1]` as a config writes it), then
/// the TLS handshake when `tls` is given.
async fn connect(host: &str, port: u16, tls: Option<&Connector>) -> Result<Box<dyn Io>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    match tls.handshake(host, tcp).await {
        Ok(stream) => Ok(Box::new(stream)),
        Err(e) => Err(format!("TLS handshake failed: {e}")),
    }
}

/// Decodes the complete reply at the start of `b`; its value and length.
fn decode(b: &[u8], depth: u8) -> Option<(Value, usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    let line = &b[1..end];
    let text = || String::from_utf8_lossy(line).into_owned();
    let after = end + 2;
    match *b.first()? {
        b'+' => Some((Value::Status(text()), after)),
        b'-' => Some((Value::Error(text()), after)),
        b':' => Some((Value::Int(parse_i64(line)?), after)),
        b'$' => {
            let n = parse_i64(line)?;
            if n < 0 {
                return Some((Value::Bulk(None), after));
            }
            let body_end = after.checked_add(usize::try_from(n).ok()?)?;
            let body = b.get(after..body_end)?.to_vec();
            Some((Value::Bulk(Some(body)), body_end + 2))
        }
        b'*' if depth < MAX_DEPTH => {
            let n = parse_i64(line)?;
            if n < 0 {
                return Some((Value::Array(None), after));
            }
            let mut items = Vec::new();
            let mut pos = after;
            for _ in 0..n {
                let (item, used) = decode(b.get(pos..)?, depth + 1)?;
                items.push(item);
                pos += used;
            }
            Some((Value::Array(Some(items)), pos))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_replies_the_watcher_reads() {
        let bytes = b"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$-1\r\n";
        let (v, used) = decode(bytes, 0).unwrap();
        assert_eq!(used, bytes.len());
        let items = v.items().unwrap();
        assert_eq!(items[1].text().as_deref(), Some("+switch-master"));
        assert_eq!(items[2], Value::Bulk(None));
        assert_eq!(decode(b"*-1\r\n", 0).unwrap().0, Value::Array(None));
        assert_eq!(decode(b":42\r\n", 0).unwrap().0, Value::Int(42));
        assert_eq!(
            decode(b"-ERR no\r\n", 0).unwrap().0,
            Value::Error("ERR no".into())
        );
        assert_eq!(decode(b"%1\r\n", 0), None, "RESP3 is not spoken here");
        let deep = "*1\r\n".repeat(20) + ":1\r\n";
        assert_eq!(decode(deep.as_bytes(), 0), None, "bounded nesting");
    }
}
