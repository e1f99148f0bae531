//! Certificates made at test time with rcgen, written as PEM files: a CA,
//! a server certificate for 127.0.0.1 and localhost, a client certificate.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use super::servers::temp_dir;

/// A CA and the files of the certificates it signed.
pub struct Pki {
    pub dir: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// For 127.0.0.1 and localhost.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// For a client (CN redshard-test-client).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = temp_dir(tag);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("redshard test CA {tag}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca = write(&dir, "ca.pem", &issuer.pem());
        let mut pki = Pki {
            issuer,
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
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].clone());
        params.use_authority_key_identifier_extension = true;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            write(&self.dir, &format!("{file}.pem"), &cert.pem()),
            write(&self.dir, &format!("{file}-key.pem"), &key.serialize_pem()),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
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
