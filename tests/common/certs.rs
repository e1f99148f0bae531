//! Certificates made at test time with rcgen, written as PEM files: a CA,
//! a server certificate for 127.0.0.1 and localhost, a client certificate.
//! The CA itself is the unit tests' (src/tls/test_certs.rs), included here.

use std::path::{Path, PathBuf};

#[path = "../../src/tls/test_certs.rs"]
mod test_certs;

use super::servers::temp_dir;
use test_certs::{write, TestCa};

/// A CA and the files of the certificates it signed.
pub struct Pki {
    pub dir: PathBuf,
    ca_signer: TestCa,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// For 127.0.0.1 and localhost.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// For a client (redshard-test-client).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = temp_dir(tag);
        let ca_signer = TestCa::new(&format!("redshard test CA {tag}"));
        let ca = write(&dir, "ca.pem", &ca_signer.pem());
        let mut pki = Pki {
            ca_signer,
            ca,
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
            dir,
        };
        (pki.server_cert, pki.server_key) = pki.leaf("server", &["127.0.0.1", "localhost"]);
        (pki.client_cert, pki.client_key) = pki.leaf("client", &["redshard-test-client"]);
        pki
    }

    /// A new certificate for `names` signed by this CA, written as
    /// `<file>.pem` and `<file>-key.pem`.
    pub fn leaf(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let leaf = self.ca_signer.leaf(names);
        (
            write(&self.dir, &format!("{file}.pem"), &leaf.cert),
            write(&self.dir, &format!("{file}-key.pem"), &leaf.key),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The DER of the first certificate in a PEM file.
pub fn first_cert_der(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}
