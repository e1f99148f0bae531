//! The TLS handshake of an accepted client. It runs in the client's own
//! task, never in the accept loop, so a client that connects and says
//! nothing (or says it slowly) holds up nobody; it gets
//! [`HANDSHAKE_TIMEOUT`] to finish. A failed handshake (a plain-text
//! client, an unknown CA, no client certificate where one is required, a
//! timeout) closes that connection alone, is counted
//! (`redshard_client_tls_failures_total`)
//! and logged with the peer's address.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use super::listen::ClientStream;
use super::worker_pool::WorkerPool;
use crate::pool::counters::add;

/// How long a client has to complete its handshake: ample for any client
/// on a network that can carry Redis traffic, short enough that silent
/// connections do not pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `conn` after its TLS handshake, or `None` when it failed (said, counted).
/// A client that closes before sending a byte (a TCP health check, the
/// port probe of a load balancer) is no TLS failure: it counts as an EOF,
/// and only the debug log says so.
pub async fn handshake(
    conn: ClientStream,
    acceptor: TlsAcceptor,
    pool: &WorkerPool,
) -> Option<ClientStream> {
    let ClientStream::Tcp(tcp) = conn else {
        // The config allows TLS on TCP listeners only.
        tracing::error!(pool = %pool.runtime.name, "TLS on a connection that is not TCP: closed");
        return None;
    };
    let stats = pool.runtime.stats.shard(pool.index);
    let peer = tcp
        .peer_addr()
        .map_or_else(|e| format!("unknown ({e})"), |a| a.to_string());
    let started = Instant::now();
    let outcome = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut [0u8; 1])).await {
        Ok(Ok(0)) => {
            add(&stats.client_eof, 1);
            tracing::debug!(pool = %pool.runtime.name, peer = %peer, "client closed before its TLS handshake");
            return None;
        }
        Err(_) => Err(Failure::TimedOut),
        Ok(_) => {
            let left = HANDSHAKE_TIMEOUT.saturating_sub(started.elapsed());
            handshake_within(&acceptor, tcp, left).await
        }
    };
    match outcome {
        Ok(stream) => Some(ClientStream::Tls(Box::new(stream))),
        Err(why) => {
            add(&stats.client_tls_failures, 1);
            tracing::warn!(pool = %pool.runtime.name, peer = %peer, "TLS handshake with client failed: {why}");
            None
        }
    }
}

/// Why a client's handshake failed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    TimedOut,
    /// rustls's reason (or the socket's).
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TimedOut => write!(f, "no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()),
            Failure::Refused(why) => f.write_str(why),
        }
    }
}

/// The server side of a handshake over `io`, within `limit`.
async fn handshake_within<IO>(
    acceptor: &TlsAcceptor,
    io: IO,
    limit: Duration,
) -> Result<crate::tls::ServerStream<IO>, Failure>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit, acceptor.accept(io)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Failure::Refused(e.to_string())),
        Err(_) => Err(Failure::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{handshake_within, Failure};
    use crate::tls::test_certs::{temp_dir, write, TestCa};
    use crate::tls::{Acceptor, AcceptorFiles, KeyFiles};

    fn acceptor() -> tokio_rustls::TlsAcceptor {
        let dir = temp_dir("client-tls");
        let leaf = TestCa::new("ca").leaf(&["localhost"]);
        Acceptor::load(AcceptorFiles {
            identity: KeyFiles {
                cert: write(&dir, "cert.pem", &leaf.cert),
                key: write(&dir, "key.pem", &leaf.key),
            },
            client_ca: None,
        })
        .unwrap()
        .acceptor()
    }

    /// A client that connects and says nothing is given up on at the limit
    /// (the clock is paused: no real wait).
    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_given_up_on_at_the_limit() {
        let (_silent, ours) = tokio::io::duplex(1024);
        let started = tokio::time::Instant::now();
        let e = handshake_within(&acceptor(), ours, Duration::from_secs(10))
            .await
            .expect_err("no handshake");
        assert_eq!(e, Failure::TimedOut);
        assert_eq!(e.to_string(), "no handshake within 10 s");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    /// A plain-text client fails the handshake at once, with rustls's reason.
    #[tokio::test]
    async fn a_plain_text_client_fails_at_once() {
        let (mut plain, ours) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut plain, b"*1\r\n$4\r\nPING\r\n")
            .await
            .unwrap();
        let e = handshake_within(&acceptor(), ours, Duration::from_secs(10))
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("corrupt message"), "{e}");
    }
}
