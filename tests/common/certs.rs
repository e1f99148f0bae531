//! Certificates made at test time with rcgen, written as PEM files: a CA,
//! a server certificate for 127.0.0.1 and localhost, a client certificate.
//! The CA itself is the unit tests' (src/tls/test_certs.rs), included here.
//! And the two ends that use them: a redis-server's TLS arguments, and a
//! rustls client for the tests' own connections.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[path = "../../src/tls/test_certs.rs"]
mod test_certs;

use super::servers::{temp_dir, Conn};
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

/// redis-server arguments to serve TLS only, on `port` (`--port 0`), with
/// `cert` and `key`, trusting clients (and cluster peers) signed by a CA in
/// `ca`.
pub fn tls_server_args(port: u16, (cert, key): (&Path, &Path), ca: &Path) -> Vec<String> {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    vec![
        "--tls-port".into(),
        port.to_string(),
        "--port".into(),
        "0".into(),
        "--tls-cert-file".into(),
        path(cert),
        "--tls-key-file".into(),
        path(key),
        "--tls-ca-cert-file".into(),
        path(ca),
    ]
}

/// A TLS connection by a rustls client checking `ca`, showing `identity`
/// when given; also the certificate the server showed (DER).
pub fn tls_conn(
    port: u16,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<(Conn, Vec<u8>), String> {
    let (stream, peer) = tls_stream(port, ca, identity)?;
    Ok((Conn::from_stream(stream), peer))
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// [`tls_conn`]'s stream itself.
pub fn tls_stream(
    port: u16,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<(TlsStream, Vec<u8>), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut session = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    while session.is_handshaking() {
        session
            .complete_io(&mut tcp)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let peer = session.peer_certificates().unwrap()[0].to_vec();
    Ok((rustls::StreamOwned::new(session, tcp), peer))
}
