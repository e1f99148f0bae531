//! Reading the PEM files of a TLS setup: within a size bound, regular files
//! only (a FIFO named by mistake would hang `redshard -t`), parsed with
//! pki-types' PEM reader.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::error::{Problem, Role, TlsError};

/// The largest PEM file read: Debian's whole CA bundle is about 220 KB.
pub const MAX_PEM_BYTES: u64 = 4 << 20;

/// A file as read. Its bytes are kept, so a reload can tell a renewed
/// certificate at the same path from an unchanged one.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PemFile {
    pub role: Role,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl PemFile {
    pub fn read(role: Role, path: &Path) -> Result<PemFile, TlsError> {
        let fail = |problem| TlsError::file(role, path, problem);
        let file = std::fs::File::open(path).map_err(|e| fail(Problem::Read(e)))?;
        let meta = file.metadata().map_err(|e| fail(Problem::Read(e)))?;
        if !meta.is_file() {
            return Err(fail(Problem::NotRegularFile));
        }
        let mut bytes = Vec::new();
        file.take(MAX_PEM_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(Problem::Read(e)))?;
        if bytes.len() as u64 > MAX_PEM_BYTES {
            return Err(fail(Problem::TooLarge {
                limit: MAX_PEM_BYTES,
            }));
        }
        Ok(PemFile {
            role,
            path: path.to_path_buf(),
            bytes,
        })
    }

    pub fn fail(&self, problem: Problem) -> TlsError {
        TlsError::file(self.role, &self.path, problem)
    }

    /// Every certificate in the file, in order (a chain: the end entity first).
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(pem_problem(e)))?;
        if certs.is_empty() {
            return Err(self.fail(Problem::NoCertificate));
        }
        Ok(certs)
    }

    /// The first private key in the file.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.bytes).map_err(|e| {
            self.fail(match e {
                pem::Error::NoItemsFound => Problem::NoKey,
                e => pem_problem(e),
            })
        })
    }

    /// A trust store of every certificate in the file.
    pub fn ca_store(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in self.certificates()? {
            roots
                .add(cert)
                .map_err(|e| self.fail(Problem::BadCa(e.to_string())))?;
        }
        Ok(roots)
    }
}

fn pem_problem(e: pem::Error) -> Problem {
    match e {
        pem::Error::NoItemsFound => Problem::NoCertificate,
        e => Problem::Pem(e.to_string()),
    }
}

/// A certificate chain and the file of its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A certificate chain and its private key, checked to belong together.
pub(super) struct KeyPair {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl KeyPair {
    /// Reads both files and checks that the key is usable and is the
    /// certificate's: rustls would refuse a mismatch too, but without
    /// saying which file is wrong.
    pub fn read(
        (cert_role, cert_path): (Role, &Path),
        (key_role, key_path): (Role, &Path),
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<(KeyPair, [PemFile; 2]), TlsError> {
        let cert_file = PemFile::read(cert_role, cert_path)?;
        let key_file = PemFile::read(key_role, key_path)?;
        let certs = cert_file.certificates()?;
        let key = key_file.private_key()?;
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| key_file.fail(Problem::BadKey(e.to_string())))?;
        let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(key_file.fail(Problem::KeyMismatch {
                    cert: cert_path.to_path_buf(),
                }))
            }
            Err(e) => return Err(cert_file.fail(Problem::BadCertificate(e.to_string()))),
        }
        Ok((KeyPair { certs, key }, [cert_file, key_file]))
    }
}
