//! Reaching a server: TCP or a unix socket, then TLS when the pool says so,
//! within the connect timeout. Used by every connection of the backend
//! (shared, dedicated, and the short-lived side connections).

use super::error::BackendError;
use super::BackendSpec;
use crate::config::ServerAddr;

/// A connected socket, plain or TLS.
pub(super) enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    Tls(Box<crate::tls::ClientStream<tokio::net::TcpStream>>),
}

/// A connection to the server, within the connect timeout: TCP or unix,
/// and the TLS handshake when the pool asks for TLS.
pub(super) async fn connect(spec: &BackendSpec) -> Result<Stream, BackendError> {
    let Some(addr) = &spec.addr else {
        return Err(BackendError::Unresolved {
            server: spec.label.clone(),
            why: "the sentinels have not given its address".into(),
        });
    };
    let unreachable = |detail: String| BackendError::Unreachable {
        server: spec.label.clone(),
        detail,
    };
    let connect = async {
        match addr {
            ServerAddr::Tcp { host, port } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let stream = tokio::net::TcpStream::connect((bare, *port))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| unreachable(e.to_string()))?;
                match &spec.tls {
                    Some(tls) => tls_handshake(spec, tls, host, stream).await,
                    None => Ok(Stream::Tcp(stream)),
                }
            }
            ServerAddr::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(Stream::Unix)
                .map_err(|e| unreachable(e.to_string())),
        }
    };
    match tokio::time::timeout(spec.connect_timeout, connect).await {
        Ok(outcome) => outcome,
        Err(_) => Err(unreachable(format!(
            "timed out after {} ms{}",
            spec.connect_timeout.as_millis(),
            if spec.tls.is_some() {
                " (connecting or in the TLS handshake)"
            } else {
                ""
            }
        ))),
    }
}

/// The TLS handshake with the server reached at `host` (see
/// [`crate::tls::Connector::handshake`]).
async fn tls_handshake(
    spec: &BackendSpec,
    tls: &crate::tls::Connector,
    host: &str,
    stream: tokio::net::TcpStream,
) -> Result<Stream, BackendError> {
    match tls.handshake(host, stream).await {
        Ok(stream) => Ok(Stream::Tls(Box::new(stream))),
        Err(e) => Err(BackendError::Tls {
            server: spec.label.clone(),
            detail: e.to_string(),
        }),
    }
}
