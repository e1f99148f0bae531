//! Why a client's bytes are not a request: the one error of the framer and
//! of the inline splitter, which the proxy renders as `-ERR Protocol error:
//! <text>` before it closes the connection.

/// Input that cannot be framed; the texts Redis gives are Redis's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid multibulk length")]
    BadArrayLength,
    #[error("empty or null command array ('*0' or '*-1')")]
    EmptyArray,
    #[error("expected '$', got '{}'", *.0 as char)]
    ExpectedBulk(u8),
    #[error("invalid bulk length")]
    BadBulkLength,
    #[error("bulk string not followed by CRLF (its length does not match its data)")]
    MissingCrlf,
    /// Redis's text.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// Redis's text.
    #[error("too big inline request")]
    InlineTooBig,
    #[error("NUL byte in an inline command; send binary arguments in a RESP array")]
    InlineNul,
    #[error("a TLS handshake on a port without TLS; connect without TLS")]
    TlsHandshake,
    #[error("too many arguments ({0}, at most {1})")]
    TooManyArgs(u64, usize),
    #[error("request larger than max_request_bytes ({0} bytes)")]
    RequestTooLarge(usize),
    #[error("key larger than max_key_bytes ({0} bytes)")]
    KeyTooLarge(usize),
}
