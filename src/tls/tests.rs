//! The files of a TLS setup: what each wrong one is reported as, when two
//! loads are the same, and handshakes between what they build.

use std::path::PathBuf;

use rustls::pki_types::ServerName;

use super::test_certs::{temp_dir, write, TestCa};
use super::*;

struct Files {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA, and a certificate it signed for 127.0.0.1 and localhost.
fn files(tag: &str) -> (TestCa, Files) {
    let dir = temp_dir(tag);
    let ca = TestCa::new("test CA");
    let leaf = ca.leaf(&["127.0.0.1", "localhost"]);
    let files = Files {
        ca: write(&dir, "ca.pem", &ca.pem()),
        cert: write(&dir, "cert.pem", &leaf.cert),
        key: write(&dir, "key.pem", &leaf.key),
        dir,
    };
    (ca, files)
}

fn acceptor_files(f: &Files) -> AcceptorFiles {
    AcceptorFiles {
        identity: KeyFiles {
            cert: f.cert.clone(),
            key: f.key.clone(),
        },
        client_ca: None,
    }
}

fn connector_files(f: &Files) -> ConnectorFiles {
    ConnectorFiles {
        ca: f.ca.clone(),
        identity: None,
        server_name: None,
    }
}

fn problem(e: TlsError) -> (Role, PathBuf, Problem) {
    match e {
        TlsError::File {
            role,
            path,
            problem,
        } => (role, path, problem),
        other => panic!("not a file error: {other}"),
    }
}

#[test]
fn each_wrong_file_is_named_with_what_is_wrong() {
    let (ca, f) = files("wrong");
    Acceptor::load(acceptor_files(&f)).expect("a good pair loads");

    let mut missing = acceptor_files(&f);
    missing.identity.cert = f.dir.join("nope.pem");
    let (role, path, p) = problem(Acceptor::load(missing).unwrap_err());
    assert_eq!((role, path), (Role::Cert, f.dir.join("nope.pem")));
    assert!(matches!(p, Problem::Read(_)), "{p}");

    let mut key_as_cert = acceptor_files(&f);
    key_as_cert.identity.cert = f.key.clone();
    let (role, _, p) = problem(Acceptor::load(key_as_cert).unwrap_err());
    assert_eq!(role, Role::Cert);
    assert!(matches!(p, Problem::NoCertificate), "{p}");

    let mut cert_as_key = acceptor_files(&f);
    cert_as_key.identity.key = f.cert.clone();
    let (role, _, p) = problem(Acceptor::load(cert_as_key).unwrap_err());
    assert_eq!(role, Role::Key);
    assert!(matches!(p, Problem::NoKey), "{p}");

    let other = ca.leaf(&["localhost"]);
    let mut mismatch = acceptor_files(&f);
    mismatch.identity.key = write(&f.dir, "other-key.pem", &other.key);
    let e = Acceptor::load(mismatch).unwrap_err();
    let text = e.to_string();
    let (role, _, p) = problem(e);
    assert_eq!(role, Role::Key);
    assert!(matches!(p, Problem::KeyMismatch { .. }), "{p}");
    assert!(
        text.contains("other-key.pem") && text.contains("cert.pem"),
        "{text}"
    );

    let garbage = write(
        &f.dir,
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    );
    let mut bad_ca = connector_files(&f);
    bad_ca.ca = garbage;
    let (role, _, p) = problem(Connector::load(bad_ca).unwrap_err());
    assert_eq!(role, Role::Ca);
    assert!(matches!(p, Problem::Pem(_)), "{p}");

    let mut dir_as_ca = connector_files(&f);
    dir_as_ca.ca = f.dir.clone();
    let (role, _, p) = problem(Connector::load(dir_as_ca).unwrap_err());
    assert_eq!(role, Role::Ca);
    assert!(
        matches!(p, Problem::NotRegularFile | Problem::Read(_)),
        "{p}"
    );

    let mut bad_name = connector_files(&f);
    bad_name.server_name = Some("not a name".into());
    assert!(matches!(
        Connector::load(bad_name).unwrap_err(),
        TlsError::ServerName(_)
    ));
}

/// A reload is a change when a file's content changed, even at the same path.
#[test]
fn loads_are_equal_when_the_files_held_the_same_bytes() {
    let (ca, f) = files("equal");
    let first = Acceptor::load(acceptor_files(&f)).unwrap();
    assert_eq!(first, Acceptor::load(acceptor_files(&f)).unwrap());
    let renewed = ca.leaf(&["127.0.0.1"]);
    write(&f.dir, "cert.pem", &renewed.cert);
    write(&f.dir, "key.pem", &renewed.key);
    assert_ne!(first, Acceptor::load(acceptor_files(&f)).unwrap());
    let debug = format!("{first:?}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn server_names_come_from_the_host_or_the_setting() {
    let (_, f) = files("names");
    let connector = Connector::load(connector_files(&f)).unwrap();
    assert!(matches!(
        connector.server_name("127.0.0.1").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        connector.server_name("[::1]").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert_eq!(
        connector.server_name("redis.internal").unwrap(),
        ServerName::try_from("redis.internal").unwrap()
    );
    let mut named = connector_files(&f);
    named.server_name = Some("localhost".into());
    let named = Connector::load(named).unwrap();
    assert_eq!(
        named.server_name("10.1.2.3").unwrap(),
        ServerName::try_from("localhost").unwrap()
    );
}

/// Both ends over an in-memory pipe: the client's result, the server's.
async fn handshake(
    acceptor: &Acceptor,
    connector: &Connector,
    name: &str,
) -> (Result<(), String>, Result<(), String>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = acceptor.acceptor();
    let client = async {
        // Closed at once: the server's read then ends, with EOF or its
        // verdict on the client's certificate.
        connector.handshake(name, a).await.map(drop)
    };
    let (client, server) = tokio::join!(client, async move {
        let mut s = server.accept(b).await?;
        // TLS 1.3: the server sees a refused client certificate only
        // after its own part is done; a read brings the verdict.
        let mut byte = [0u8; 1];
        tokio::io::AsyncReadExt::read(&mut s, &mut byte).await?;
        Ok::<_, std::io::Error>(())
    });
    (
        client.map_err(|e| e.to_string()),
        server.map_err(|e| e.to_string()),
    )
}

#[tokio::test]
async fn handshakes_check_the_name_the_ca_and_the_client_certificate() {
    let (ca, f) = files("handshake");
    let acceptor = Acceptor::load(acceptor_files(&f)).unwrap();
    let connector = Connector::load(connector_files(&f)).unwrap();
    let (client, _) = handshake(&acceptor, &connector, "127.0.0.1").await;
    assert_eq!(client, Ok(()));

    let (client, _) = handshake(&acceptor, &connector, "redis.example").await;
    let e = client.unwrap_err();
    assert!(
        e.contains("certificate not valid for name \"redis.example\""),
        "{e}"
    );

    let stranger = TestCa::new("another CA");
    let mut other_ca = connector_files(&f);
    other_ca.ca = write(&f.dir, "other-ca.pem", &stranger.pem());
    let (client, _) = handshake(&acceptor, &Connector::load(other_ca).unwrap(), "localhost").await;
    assert!(client.unwrap_err().contains("UnknownIssuer"));

    // Mutual TLS: no certificate is refused, one the CA signed is taken.
    let mut mutual = acceptor_files(&f);
    mutual.client_ca = Some(f.ca.clone());
    let mutual = Acceptor::load(mutual).unwrap();
    assert!(mutual.requires_client_certificate());
    let (_, server) = handshake(&mutual, &connector, "localhost").await;
    assert!(server.unwrap_err().contains("peer sent no certificates"));
    let client_leaf = ca.leaf(&["client"]);
    let mut with_cert = connector_files(&f);
    with_cert.identity = Some(KeyFiles {
        cert: write(&f.dir, "client.pem", &client_leaf.cert),
        key: write(&f.dir, "client-key.pem", &client_leaf.key),
    });
    let with_cert = Connector::load(with_cert).unwrap();
    let (client, server) = handshake(&mutual, &with_cert, "localhost").await;
    assert_eq!(client, Ok(()));
    // The client closed without a word: EOF, not a refusal.
    assert!(
        server
            .as_ref()
            .map_or_else(|e| !e.contains("certificate"), |_| true),
        "{server:?}"
    );
}
