//! The tests' own RESP client, independent of the proxy's code: a blocking
//! connection (TCP, Unix socket or TLS) and a small reply parser.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A reply, decoded by the test's own small parser (independent of the proxy's).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    /// Any RESP3 type, kept as its raw line for the tests that look at it.
    Other(String),
}

impl Reply {
    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    pub fn error_text(&self) -> &str {
        match self {
            Reply::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// A blocking raw-RESP connection with a read timeout.
pub struct Conn {
    stream: Box<dyn ReadWrite>,
    buf: Vec<u8>,
}

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Conn {
    pub fn tcp(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    /// A connection, or `None` when nothing accepts on `port`.
    pub fn try_tcp(port: u16) -> Option<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.set_nodelay(true).ok()?;
        Some(Conn::from_tcp(stream))
    }

    /// Wraps a connected stream as it is (its timeouts are the caller's).
    pub fn from_tcp(stream: TcpStream) -> Conn {
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    /// Wraps any connected stream (a TLS one, say).
    pub fn from_stream(stream: impl Read + Write + 'static) -> Conn {
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    pub fn unix(path: &std::path::Path) -> Conn {
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        let bytes = encode(args);
        self.send_raw(&bytes);
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }

    /// `call` with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.call(&a)
    }

    pub fn read(&mut self) -> Reply {
        self.read_both().0
    }

    /// `call` that reports a failed write, a timed-out read or a closed
    /// connection instead of panicking.
    pub fn try_call(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        self.try_send_raw(&encode(args))?;
        self.try_read()
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    /// The next reply, or why there is none: the read timed out (the
    /// stream's read timeout) or the connection closed.
    pub fn try_read(&mut self) -> Result<Reply, String> {
        loop {
            if let Some((reply, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed while waiting for a reply".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("no reply: {e}")),
            }
        }
    }

    /// The next reply's exact bytes (to check RESP3 types byte for byte).
    pub fn read_raw(&mut self) -> Vec<u8> {
        self.read_both().1
    }

    fn read_both(&mut self) -> (Reply, Vec<u8>) {
        loop {
            if let Some((reply, used)) = parse(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..used).collect();
                return (reply, raw);
            }
            let mut chunk = [0u8; 65536];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("read reply (timed out?)");
            assert!(n > 0, "connection closed while waiting for a reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True when the server closes the connection within `timeout` (after any
    /// bytes still to read, which are returned).
    pub fn closed_within(&mut self, timeout: Duration) -> (bool, Vec<u8>) {
        let deadline = Instant::now() + timeout;
        let mut rest = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (true, rest),
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, rest),
                Err(_) => return (false, rest),
            }
        }
        (false, rest)
    }
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let at = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..at], at + 2))
}

/// Parses one reply; `None` when incomplete.
pub fn parse(buf: &[u8]) -> Option<(Reply, usize)> {
    let (head, used) = line(buf)?;
    let text = String::from_utf8_lossy(&head[1..]).into_owned();
    match head.first()? {
        b'+' => Some((Reply::Status(text), used)),
        b'-' => Some((Reply::Error(text), used)),
        b':' => Some((Reply::Int(text.parse().ok()?), used)),
        b'$' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                return Some((Reply::Nil, used));
            }
            let end = used + n as usize;
            if buf.len() < end + 2 {
                return None;
            }
            Some((Reply::Bulk(buf[used..end].to_vec()), end + 2))
        }
        b'*' | b'%' | b'~' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                return Some((Reply::Nil, used));
            }
            let count = if head[0] == b'%' { n * 2 } else { n };
            let mut items = Vec::new();
            let mut pos = used;
            for _ in 0..count {
                let (item, u) = parse(&buf[pos..])?;
                items.push(item);
                pos += u;
            }
            Some((Reply::Array(items), pos))
        }
        b'_' => Some((Reply::Nil, used)),
        _ => Some((
            Reply::Other(String::from_utf8_lossy(head).into_owned()),
            used,
        )),
    }
}
