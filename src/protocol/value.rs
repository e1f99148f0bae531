//! A complete reply decoded into a tree, for the few replies the proxy reads
//! itself rather than passing on (a cluster's slot map, a sentinel's answer).
//! Not for the request path: it allocates per element.

use std::str;

/// A decoded reply. RESP3's maps, sets and pushes keep their shape; the
/// scalar types the control replies never use (doubles, big numbers,
/// verbatim strings) are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Bool(bool),
    /// A double, big number or verbatim string, as its text.
    Text(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("the reply ends early")]
    Incomplete,
    #[error("malformed reply at byte {0}")]
    Malformed(usize),
    #[error("reply nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Nesting allowed: the control replies are a few levels deep, and a server
/// must not be able to exhaust the stack.
const MAX_DEPTH: usize = 32;

impl Value {
    /// Decodes the one reply at the start of `buf`; returns it and its length.
    pub fn parse(buf: &[u8]) -> Result<(Value, usize), ValueError> {
        let mut pos = 0;
        let v = parse_at(buf, &mut pos, 0)?;
        Ok((v, pos))
    }

    /// The elements of an array, set or push.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A string's bytes (bulk, simple or text).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) | Value::Text(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// A string, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| str::from_utf8(b).ok())
    }

    /// An integer, or a string holding one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            other => other.as_str()?.parse().ok(),
        }
    }

    /// The value under `key` in a map, or in a RESP2 flat array of
    /// key/value pairs (how RESP2 sends a map).
    pub fn field(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            Value::Array(items) => items
                .chunks_exact(2)
                .find(|pair| pair[0].as_str() == Some(key))
                .map(|pair| &pair[1]),
            _ => None,
        }
    }
}

fn line<'b>(buf: &'b [u8], pos: &mut usize) -> Result<&'b [u8], ValueError> {
    let start = *pos;
    let rest = buf.get(start..).ok_or(ValueError::Incomplete)?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(ValueError::Incomplete)?;
    *pos = start + end + 2;
    Ok(&rest[..end])
}

fn number(text: &[u8], at: usize) -> Result<i64, ValueError> {
    str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ValueError::Malformed(at))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Value, ValueError> {
    if depth > MAX_DEPTH {
        return Err(ValueError::TooDeep);
    }
    let at = *pos;
    let kind = *buf.get(at).ok_or(ValueError::Incomplete)?;
    *pos += 1;
    let head = line(buf, pos)?;
    Ok(match kind {
        b'+' => Value::Simple(text(head)),
        b'-' => Value::Error(text(head)),
        b':' => Value::Int(number(head, at)?),
        b'_' => Value::Null,
        b'#' => Value::Bool(head == b"t"),
        b',' | b'(' => Value::Text(text(head)),
        b'$' | b'=' | b'!' => {
            let len = number(head, at)?;
            if len < 0 {
                return Ok(Value::Null);
            }
            let len = len as usize;
            let body = buf.get(*pos..*pos + len).ok_or(ValueError::Incomplete)?;
            if buf.get(*pos + len..*pos + len + 2) != Some(b"\r\n") {
                return Err(ValueError::Malformed(*pos + len));
            }
            *pos += len + 2;
            match kind {
                b'$' => Value::Bulk(body.to_vec()),
                b'!' => Value::Error(text(body)),
                _ => Value::Text(text(body.get(4..).unwrap_or_default())),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = number(head, at)?;
            if n < 0 {
                return Ok(Value::Null);
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                items.push(parse_at(buf, pos, depth + 1)?);
            }
            Value::Array(items)
        }
        b'%' => {
            let n = number(head, at)?.max(0);
            let mut pairs = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                let k = parse_at(buf, pos, depth + 1)?;
                let v = parse_at(buf, pos, depth + 1)?;
                pairs.push((k, v));
            }
            Value::Map(pairs)
        }
        _ => return Err(ValueError::Malformed(at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Value {
        let (v, len) = Value::parse(s).unwrap();
        assert_eq!(len, s.len());
        v
    }

    #[test]
    fn scalars_and_aggregates() {
        assert_eq!(parse(b"+OK\r\n"), Value::Simple("OK".into()));
        assert_eq!(parse(b"-ERR x\r\n"), Value::Error("ERR x".into()));
        assert_eq!(parse(b":-7\r\n"), Value::Int(-7));
        assert_eq!(parse(b"$-1\r\n"), Value::Null);
        assert_eq!(parse(b"_\r\n"), Value::Null);
        assert_eq!(parse(b"$3\r\na\r\n\r\n"), Value::Bulk(b"a\r\n".to_vec()));
        let v = parse(b"*2\r\n$2\r\nid\r\n:5\r\n");
        assert_eq!(v.field("id"), Some(&Value::Int(5)));
        let m = parse(b"%1\r\n+port\r\n:6379\r\n");
        assert_eq!(m.field("port").and_then(Value::as_int), Some(6379));
        assert_eq!(parse(b"#t\r\n"), Value::Bool(true));
        assert_eq!(parse(b"=8\r\ntxt:abcd\r\n"), Value::Text("abcd".into()));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(Value::parse(b"*2\r\n:1\r\n"), Err(ValueError::Incomplete));
        assert_eq!(Value::parse(b"$5\r\nab\r\n"), Err(ValueError::Incomplete));
        assert_eq!(Value::parse(b"?\r\n"), Err(ValueError::Malformed(0)));
        let deep = "*1\r\n".repeat(100) + ":1\r\n";
        assert_eq!(Value::parse(deep.as_bytes()), Err(ValueError::TooDeep));
    }
}
