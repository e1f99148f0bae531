//! The client side: connections to the servers check the server's
//! certificate against `tls_ca` and the name it was reached by (or
//! `tls_server_name`), and show a client certificate when one is given
//! (Redis's default `tls-auth-clients yes` asks for one).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use super::error::{Role, TlsError};
use super::files::{KeyFiles, KeyPair, PemFile};

/// Where the TLS material toward the servers is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorFiles {
    /// The CA the servers' certificates must chain to.
    pub ca: PathBuf,
    /// The certificate shown to servers that ask for one.
    pub identity: Option<KeyFiles>,
    /// The name every server's certificate is checked against, instead of
    /// the host it is reached at.
    pub server_name: Option<String>,
}

/// TLS toward the servers, loaded and checked. Cheap to clone. Equal to
/// another when the same files held the same bytes when each was loaded.
#[derive(Clone)]
pub struct Connector {
    files: ConnectorFiles,
    read: Arc<[PemFile]>,
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    pub fn load(files: ConnectorFiles) -> Result<Connector, TlsError> {
        let server_name = files.server_name.as_deref().map(name).transpose()?;
        let provider = super::provider();
        let ca = PemFile::read(Role::Ca, &files.ca)?;
        let roots = ca.ca_store()?;
        let mut read = vec![ca];
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots);
        let config = match &files.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (pair, [cert, key]) = KeyPair::read(
                    (Role::ClientCert, &identity.cert),
                    (Role::ClientKey, &identity.key),
                    &provider,
                )?;
                let config = builder
                    .with_client_auth_cert(pair.certs, pair.key)
                    .map_err(|e| cert.fail(super::error::Problem::BadCertificate(e.to_string())))?;
                read.extend([cert, key]);
                config
            }
        };
        Ok(Connector {
            files,
            read: read.into(),
            config: Arc::new(config),
            server_name,
        })
    }

    pub fn files(&self) -> &ConnectorFiles {
        &self.files
    }

    /// The name a server reached at `host` must have in its certificate:
    /// `tls_server_name` when set, else the host itself (a DNS name or an
    /// IP address).
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        match &self.server_name {
            Some(n) => Ok(n.clone()),
            None => name(host),
        }
    }

    /// The TLS handshake with the server reached at `host`, over `io`: its
    /// certificate must chain to `tls_ca` and name `host` (or
    /// `tls_server_name`). The one handshake of every connection to a
    /// server, the proxy's own questions included.
    pub async fn handshake<IO>(
        &self,
        host: &str,
        io: IO,
    ) -> Result<super::ClientStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name(host)?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, io)
            .await
            .map_err(TlsError::Handshake)
    }
}

/// A host as a TLS server name; `[::1]` as written in a config is an IP.
fn name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| TlsError::ServerName(host.to_string()))
}

impl PartialEq for Connector {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.read == other.read
    }
}

impl std::fmt::Debug for Connector {
    /// The files only: never key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("files", &self.files)
            .finish()
    }
}
