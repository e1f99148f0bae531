//! The server side: the proxy's listener shows its certificate and, for
//! mutual TLS, asks every client for one that chains to `client_ca`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::error::{Problem, Role, TlsError};
use super::files::{KeyFiles, KeyPair, PemFile};

/// Where a listener's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorFiles {
    pub identity: KeyFiles,
    /// Clients must present a certificate signed by a CA in this file.
    pub client_ca: Option<PathBuf>,
}

/// A listener's TLS setup, loaded and checked. Cheap to clone. Equal to
/// another when the same files held the same bytes when each was loaded.
#[derive(Clone)]
pub struct Acceptor {
    files: AcceptorFiles,
    read: Arc<[PemFile]>,
    config: Arc<ServerConfig>,
}

impl Acceptor {
    pub fn load(files: AcceptorFiles) -> Result<Acceptor, TlsError> {
        let provider = super::provider();
        let (pair, [cert, key]) = KeyPair::read(
            (Role::Cert, &files.identity.cert),
            (Role::Key, &files.identity.key),
            &provider,
        )?;
        let mut read = vec![cert, key];
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions");
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let ca = PemFile::read(Role::ClientCa, path)?;
                let roots = ca.ca_store()?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| ca.fail(Problem::BadCa(e.to_string())))?;
                read.push(ca);
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(pair.certs, pair.key)
            .map_err(|e| read[0].fail(Problem::BadCertificate(e.to_string())))?;
        Ok(Acceptor {
            files,
            read: read.into(),
            config: Arc::new(config),
        })
    }

    pub fn files(&self) -> &AcceptorFiles {
        &self.files
    }

    /// Whether clients must show a certificate (mutual TLS).
    pub fn requires_client_certificate(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// What performs the handshake of one accepted connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

impl PartialEq for Acceptor {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.read == other.read
    }
}

impl std::fmt::Debug for Acceptor {
    /// The files only: never key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("files", &self.files)
            .finish()
    }
}
