//! Which file of a TLS setup failed, and what is wrong with it; or how a
//! handshake with a server failed.

use std::path::PathBuf;

/// What a file is for, so the config can name the key that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The listener's certificate chain.
    Cert,
    /// The listener's private key.
    Key,
    /// The CA the clients' certificates must chain to (mutual TLS).
    ClientCa,
    /// The CA the servers' certificates must chain to.
    Ca,
    /// The certificate the proxy shows to servers that ask for one.
    ClientCert,
    /// Its private key.
    ClientKey,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {problem}", path.display())]
    File {
        role: Role,
        path: PathBuf,
        problem: Problem,
    },
    #[error("'{0}' is not a valid TLS server name; expected a DNS name or an IP address")]
    ServerName(String),
    /// The handshake with a server failed (its certificate refused, or
    /// ours); rustls's own words.
    #[error("{0}")]
    Handshake(#[source] std::io::Error),
}

impl TlsError {
    pub(super) fn file(role: Role, path: &std::path::Path, problem: Problem) -> TlsError {
        TlsError::File {
            role,
            path: path.to_path_buf(),
            problem,
        }
    }

    /// The file that failed, if a file did.
    pub fn role(&self) -> Option<Role> {
        match self {
            TlsError::File { role, .. } => Some(*role),
            TlsError::ServerName(_) | TlsError::Handshake(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("not read: not a regular file; expected a PEM file")]
    NotRegularFile,
    #[error("not read: larger than {limit} bytes; expected a PEM file")]
    TooLarge { limit: u64 },
    #[error("not valid PEM: {0}")]
    Pem(String),
    #[error("holds no certificate; expected PEM \"-----BEGIN CERTIFICATE-----\" blocks")]
    NoCertificate,
    #[error("holds no private key; expected an unencrypted PEM \"-----BEGIN PRIVATE KEY-----\" (PKCS#8), \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block")]
    NoKey,
    #[error("the private key is not usable: {0}")]
    BadKey(String),
    #[error("the certificate is not usable: {0}")]
    BadCertificate(String),
    #[error("a certificate in it is not usable as a CA: {0}")]
    BadCa(String),
    #[error("the private key does not belong to the certificate in {}", .cert.display())]
    KeyMismatch { cert: PathBuf },
}
