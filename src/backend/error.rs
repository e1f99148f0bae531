//! Why a request to a server failed, as the client is told.

/// Why a request to a server failed. The text is what the client reads after
/// `ERR redshard: ` (rendered with the other client errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to server {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("server {server} is down ({cause}); next attempt in {retry_in_ms} ms")]
    Down {
        server: String,
        cause: String,
        retry_in_ms: u64,
    },
    /// The TLS handshake failed: the server's certificate (wrong CA, wrong
    /// name, expired), a client certificate it refused, or no TLS there.
    #[error("TLS handshake with server {server} failed: {detail}")]
    Tls { server: String, detail: String },
    #[error("server {server} timed out after {ms} ms")]
    TimedOut { server: String, ms: u64 },
    /// Worded so that nutcracker users' checks for "reset by peer" still match.
    #[error(
        "server {server} closed the connection with requests in flight (connection reset by peer)"
    )]
    Closed { server: String },
    #[error("{op} server {server}: {detail}")]
    Io {
        server: String,
        op: &'static str,
        detail: String,
    },
    #[error("server {server} sent a malformed reply: {detail}")]
    Malformed { server: String, detail: String },
    /// Only this request fails: the reply is discarded as it streams past.
    #[error("a reply from server {server} was larger than max_reply_bytes ({limit} bytes): the request failed, its reply was discarded")]
    TooLarge { server: String, limit: usize },
    /// The proxy reset the connection (its setup failed) with this request
    /// in flight.
    #[error("the connection to server {server} was reset ({cause}) with this request in flight: it may or may not have run")]
    Reset { server: String, cause: &'static str },
    #[error("server {server} closed new connections before answering anything")]
    Unanswered { server: String },
    #[error("server {server} is not keeping up: over {limit} bytes wait to be written to it")]
    Backlog { server: String, limit: usize },
    #[error("server {server} refused the connection setup (SELECT, or AUTH back to the pool's user after a hosted call): {reply}")]
    Handshake { server: String, reply: String },
    #[error("server {server} does not speak RESP3 (HELLO 3: {reply}); use RESP2 (HELLO 2) through this pool")]
    NoResp3 { server: String, reply: String },
    /// The server runs a script (`reply` is its BUSY text) and reads nothing
    /// more from this connection until it ends; `queued`: the request was
    /// already queued behind the script, and runs when the script ends.
    #[error("server {server} is busy running a script ({reply}){}", busy_detail(*.queued))]
    Busy {
        server: String,
        reply: String,
        queued: bool,
    },
    #[error("server {server} sent a reply nobody asked for")]
    Stray { server: String },
    #[error("all {max} dedicated connections to server {server} are in use (max_dedicated_connections); transactions, subscribers and blocking commands each need one")]
    NoDedicated { server: String, max: usize },
    #[error("the dedicated connection to server {server} was lost: what this client set up on it (a transaction, a subscription, a blocked call) is gone")]
    DedicatedLost { server: String },
    /// A Sentinel master moved (a failover) before this request was written
    /// to its old address; it goes to the new one unless already resent once.
    #[error(
        "master {server} moved to a new address (a Sentinel failover) before this request was sent"
    )]
    Moved { server: String },
    #[error("no address is known for master {server}: {why}")]
    Unresolved { server: String, why: String },
    #[error("no replica of server {server} can serve reads ({why}); read_from: prefer_replica reads from the master then")]
    NoReplica { server: String, why: String },
}

impl BackendError {
    /// Whether this counts against the server's health. An oversized reply
    /// is the request's doing, a refused HELLO 3 the protocol's and a busy
    /// server a script's, not the server's.
    pub(super) fn counts_against_server(&self) -> bool {
        !matches!(
            self,
            BackendError::TooLarge { .. }
                | BackendError::Reset { .. }
                | BackendError::Backlog { .. }
                | BackendError::Down { .. }
                | BackendError::NoResp3 { .. }
                | BackendError::Busy { .. }
                | BackendError::NoDedicated { .. }
                | BackendError::DedicatedLost { .. }
                | BackendError::Moved { .. }
                | BackendError::Unresolved { .. }
                | BackendError::NoReplica { .. }
        )
    }
}

fn busy_detail(queued: bool) -> &'static str {
    if queued {
        ": this request was queued behind the script; it runs when the script ends, its reply discarded; SCRIPT KILL through redshard stops the script"
    } else {
        ": this request was not sent; SCRIPT KILL through redshard stops the script"
    }
}
