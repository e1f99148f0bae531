//! TLS from files: a listener's certificate and key (and the CA its
//! clients' certificates must chain to) become an [`Acceptor`]; the CA that
//! signed the servers' certificates (and a client certificate for servers
//! that ask for one) become a [`Connector`]. Both are checked when built, so
//! a config that names a missing, unreadable or mismatched file is refused
//! at load (`-t`, start, reload) with the file and what is wrong with it,
//! never at the first connection.
//!
//! This module knows no client and no pool: it turns paths into rustls
//! configs and says which file failed ([`Role`]). rustls with the `ring`
//! provider, always passed explicitly, so nothing depends on a process-wide
//! default provider.
//!
//! - `files`: reading a PEM file within a size bound, its certificates, its
//!   private key, a CA store.
//! - `acceptor`: the server side, for the proxy's listeners.
//! - `connector`: the client side, for connections to the servers, and the
//!   name each server's certificate is checked against.
//! - `error`: which file and what is wrong with it.

mod acceptor;
mod connector;
mod error;
mod files;

use std::sync::Arc;

pub use acceptor::{Acceptor, AcceptorFiles};
pub use connector::{Connector, ConnectorFiles};
pub use error::{Problem, Role, TlsError};
pub use files::{KeyFiles, MAX_PEM_BYTES};

/// A TLS connection the proxy accepted.
pub type ServerStream<IO> = tokio_rustls::server::TlsStream<IO>;
/// A TLS connection the proxy opened to a server.
pub type ClientStream<IO> = tokio_rustls::client::TlsStream<IO>;

/// The one crypto provider: ring (see Cargo.toml for why). rustls 0.23.48
/// marks it deprecated because ring has no post-quantum key exchange
/// (X25519MLKEM768): the price of not building aws-lc; X25519 and the
/// NIST curves remain, as in TLS stacks before 2024.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
pub(crate) mod test_certs;
#[cfg(test)]
mod tests;
