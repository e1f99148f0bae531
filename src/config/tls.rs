//! A pool's TLS keys, checked together and loaded: the files are read and
//! parsed with the config (so `-t`, start and every reload see a missing
//! file, a bad PEM or a key that is not the certificate's), and what they
//! held becomes part of the pool's config (so a reload that reads renewed
//! files is a change).
//!
//! Relative paths are taken from the config file's directory, so a config
//! and its certificates can move together and `-t` run from anywhere
//! checks the files the proxy will read.

use std::path::{Path, PathBuf};

use super::error::ConfigErrorKind;
use super::listen::ListenAddr;
use super::schema::RawPool;
use super::server::{ServerAddr, ServerConfig};
use crate::tls::{Acceptor, AcceptorFiles, Connector, ConnectorFiles, KeyFiles, Role, TlsError};

/// The TLS keys as written.
pub(super) struct TlsKeys {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    tls: Option<bool>,
    ca: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    server_name: Option<String>,
}

/// A pool's TLS, loaded: toward its clients and toward its servers.
#[derive(Debug, Default)]
pub(super) struct PoolTls {
    pub listen: Option<Acceptor>,
    pub backend: Option<Connector>,
}

/// Why the TLS keys were refused: the key to blame, and a text to find
/// under it (a server entry).
pub(super) struct Refused {
    pub key: &'static str,
    pub needle: Option<String>,
    pub kind: ConfigErrorKind,
}

fn refuse(key: &'static str, why: String) -> Refused {
    Refused {
        key,
        needle: None,
        kind: ConfigErrorKind::TlsKeys(why),
    }
}

impl TlsKeys {
    /// Takes the TLS keys out of `raw`.
    pub fn take(raw: &mut RawPool) -> TlsKeys {
        TlsKeys {
            cert: raw.tls_cert.take(),
            key: raw.tls_key.take(),
            client_ca: raw.tls_client_ca.take(),
            tls: raw.tls.take(),
            ca: raw.tls_ca.take(),
            client_cert: raw.tls_client_cert.take(),
            client_key: raw.tls_client_key.take(),
            server_name: raw.tls_server_name.take(),
        }
    }

    /// Checks that the keys go together, then loads the files (relative
    /// paths from `dir`).
    pub fn load(
        self,
        listen: &ListenAddr,
        servers: &[ServerConfig],
        dir: &Path,
    ) -> Result<PoolTls, Refused> {
        let at = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
        let listen_files = self.listen_files(listen)?;
        let backend_files = self.backend_files()?;
        let listen = listen_files
            .map(|f| {
                Acceptor::load(AcceptorFiles {
                    identity: KeyFiles {
                        cert: at(f.identity.cert),
                        key: at(f.identity.key),
                    },
                    client_ca: f.client_ca.map(at),
                })
            })
            .transpose()
            .map_err(file_refused)?;
        let backend = backend_files
            .map(|f| {
                Connector::load(ConnectorFiles {
                    ca: at(f.ca),
                    identity: f.identity.map(|i| KeyFiles {
                        cert: at(i.cert),
                        key: at(i.key),
                    }),
                    server_name: f.server_name,
                })
            })
            .transpose()
            .map_err(file_refused)?;
        if let Some(connector) = &backend {
            check_servers(connector, servers)?;
        }
        Ok(PoolTls { listen, backend })
    }

    fn listen_files(&self, listen: &ListenAddr) -> Result<Option<AcceptorFiles>, Refused> {
        let Some(identity) = pair(&self.cert, &self.key, ("tls_cert", "tls_key"))? else {
            return match self.client_ca {
                Some(_) => Err(refuse(
                    "tls_client_ca",
                    "needs tls_cert and tls_key: clients check the proxy's certificate before it asks for theirs".into(),
                )),
                None => Ok(None),
            };
        };
        if let ListenAddr::Unix { path, .. } = listen {
            return Err(refuse(
                "tls_cert",
                format!(
                    "TLS toward clients needs a TCP listen address; {} is a unix socket",
                    path.display()
                ),
            ));
        }
        Ok(Some(AcceptorFiles {
            identity,
            client_ca: self.client_ca.clone(),
        }))
    }

    fn backend_files(&self) -> Result<Option<ConnectorFiles>, Refused> {
        let server_keys = [
            ("tls_ca", self.ca.is_some()),
            ("tls_client_cert", self.client_cert.is_some()),
            ("tls_client_key", self.client_key.is_some()),
            ("tls_server_name", self.server_name.is_some()),
        ];
        if self.tls != Some(true) {
            return match server_keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(refuse(
                    key,
                    "is for TLS toward the servers, which needs tls: true".into(),
                )),
                None => Ok(None),
            };
        }
        let Some(ca) = self.ca.clone() else {
            return Err(refuse(
                "tls",
                "tls: true needs tls_ca, the CA certificate(s) the servers' certificates are signed by (for a public CA, Debian's bundle: /etc/ssl/certs/ca-certificates.crt)".into(),
            ));
        };
        let identity = pair(
            &self.client_cert,
            &self.client_key,
            ("tls_client_cert", "tls_client_key"),
        )?;
        Ok(Some(ConnectorFiles {
            ca,
            identity,
            server_name: self.server_name.clone(),
        }))
    }
}

/// A certificate and its key, given both or neither (`keys` name them).
fn pair(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    (cert_key, key_key): (&'static str, &'static str),
) -> Result<Option<KeyFiles>, Refused> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(refuse(
            cert_key,
            format!("needs {key_key}, the certificate's private key"),
        )),
        (None, Some(_)) => Err(refuse(
            key_key,
            format!("needs {cert_key}, the certificate (chain) it belongs to"),
        )),
        (Some(cert), Some(key)) => Ok(Some(KeyFiles {
            cert: cert.clone(),
            key: key.clone(),
        })),
    }
}

/// Every server can be reached with TLS: a TCP address whose host is a
/// valid name to check its certificate against (or `tls_server_name`).
fn check_servers(connector: &Connector, servers: &[ServerConfig]) -> Result<(), Refused> {
    for s in servers {
        // A Sentinel master's address comes later: its name is checked
        // when its connection is made.
        let why = match &s.addr {
            None => continue,
            Some(ServerAddr::Unix(_)) => {
                "is a unix socket; Redis serves TLS on TCP only (tls-port)".to_string()
            }
            Some(ServerAddr::Tcp { host, .. }) => match connector.server_name(host) {
                Ok(_) => continue,
                Err(e) => format!("{e}; set tls_server_name to the name in its certificate"),
            },
        };
        return Err(Refused {
            key: "servers",
            needle: Some(s.spec.clone()),
            kind: ConfigErrorKind::TlsKeys(format!("server '{}' {why}", s.spec)),
        });
    }
    Ok(())
}

fn file_refused(e: TlsError) -> Refused {
    let key = match e.role() {
        Some(Role::Cert) => "tls_cert",
        Some(Role::Key) => "tls_key",
        Some(Role::ClientCa) => "tls_client_ca",
        Some(Role::Ca) => "tls_ca",
        Some(Role::ClientCert) => "tls_client_cert",
        Some(Role::ClientKey) => "tls_client_key",
        None => "tls_server_name",
    };
    Refused {
        key,
        needle: None,
        kind: ConfigErrorKind::Tls(e),
    }
}
