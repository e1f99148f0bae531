//! Every config error a user can make gets a message naming the file, the line,
//! the pool, the key and what was expected; valid nutcracker configs load with
//! nutcracker's defaults.

use std::path::Path;

use redshard::config::{Config, ConfigErrorKind, ListenAddr, ServerAddr};
use redshard::distribution::Distribution;
use redshard::hashkit::Hash;

const FILE: &str = "conf/test.yml";

fn error_of(yaml: &str) -> redshard::config::ConfigError {
    match Config::parse(yaml, Path::new(FILE)) {
        Ok(_) => panic!("config should be refused:\n{yaml}"),
        Err(e) => e,
    }
}

/// Asserts the rendered message: file and line up front, then pool, key and
/// every fragment.
fn assert_error(
    yaml: &str,
    line: usize,
    pool: Option<&str>,
    key: Option<&str>,
    fragments: &[&str],
) {
    let err = error_of(yaml);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{FILE}:{line}: ")),
        "line {line} expected: {msg}"
    );
    if let Some(p) = pool {
        assert!(msg.contains(&format!("pool '{p}'")), "pool {p}: {msg}");
    }
    if let Some(k) = key {
        assert!(msg.contains(&format!("key '{k}'")), "key {k}: {msg}");
    }
    for f in fragments {
        assert!(msg.contains(f), "'{f}' expected in: {msg}");
    }
}

const HEAD: &str = "alpha:\n  listen: 127.0.0.1:22121\n";

#[test]
fn unknown_key() {
    let yaml = format!("{HEAD}  hashh: md5\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("hashh"),
        &["unknown key `hashh`", "`hash_tag`"],
    );
}

#[test]
fn unknown_hash() {
    let yaml = format!("{HEAD}  hash: md6\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("hash"),
        &["'md6' is not a valid hash", "fnv1a_64", "xxh3"],
    );
}

#[test]
fn unknown_distribution() {
    let yaml = format!("{HEAD}  distribution: ring\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("distribution"),
        &["'ring'", "ketama, modula, random"],
    );
}

#[test]
fn hash_tag_not_two_characters() {
    for tag in ["\"{\"", "\"{{}\"", "\"\""] {
        let yaml = format!("{HEAD}  hash_tag: {tag}\n  servers:\n   - 127.0.0.1:7001:1\n");
        assert_error(
            &yaml,
            3,
            Some("alpha"),
            Some("hash_tag"),
            &["exactly two characters"],
        );
    }
}

#[test]
fn zero_weight() {
    let yaml = format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:0\n");
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("servers"),
        &["'127.0.0.1:7002:0' has a zero weight"],
    );
}

#[test]
fn duplicate_server_name() {
    let yaml = format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1 a\n   - 127.0.0.1:7002:1 b\n   - 127.0.0.1:7003:1 a\n");
    assert_error(
        &yaml,
        6,
        Some("alpha"),
        Some("servers"),
        &["same name 'a'", "servers 0 and 2"],
    );
    let err = error_of(&yaml);
    assert!(matches!(
        *err.kind,
        ConfigErrorKind::DuplicateServerName { .. }
    ));
}

#[test]
fn duplicate_server_address() {
    let yaml = format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1 a\n   - 127.0.0.1:7001:1 b\n");
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("servers"),
        &["same address '127.0.0.1:7001'"],
    );
    // Unnamed: the name is the address, so it is a duplicate name too.
    let yaml = format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1\n   - 127.0.0.1:7001:2\n");
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("servers"),
        &["'127.0.0.1:7001'"],
    );
}

#[test]
fn bad_addresses() {
    let cases = [
        ("127.0.0.1:70000:1", "invalid port"),
        ("127.0.0.1:7001", "missing the port or the weight"),
        (":7001:1", "empty host"),
        ("127.0.0.1:7001:x", "invalid weight"),
        ("redis host:7001:1 name", "spaces inside the address"),
    ];
    for (spec, want) in cases {
        let yaml = format!("{HEAD}  servers:\n   - {spec}\n");
        assert_error(&yaml, 4, Some("alpha"), Some("servers"), &[want]);
    }
    for (listen, want) in [
        ("127.0.0.1", "not a valid listen address"),
        ("127.0.0.1:0", "invalid port"),
        ("/tmp/s 0999", "invalid file permission"),
    ] {
        let yaml = format!("alpha:\n  listen: {listen}\n  servers:\n   - 127.0.0.1:7001:1\n");
        assert_error(&yaml, 2, Some("alpha"), Some("listen"), &[want]);
    }
}

#[test]
fn malformed_yaml() {
    let yaml = format!("{HEAD}  servers: [\n   - 127.0.0.1:7001:1\n");
    assert_error(&yaml, 4, None, None, &["malformed YAML"]);
    assert_error("\t- x\n", 1, None, None, &["malformed YAML"]);
}

#[test]
fn wrong_values() {
    let yaml = format!("{HEAD}  auto_eject_hosts: yes\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("auto_eject_hosts"),
        &["'yes' is not a boolean"],
    );
    let yaml = format!("{HEAD}  timeout: -5\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(&yaml, 3, Some("alpha"), Some("timeout"), &["negative"]);
    let yaml = format!("{HEAD}  server_connections: 0\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("server_connections"),
        &["cannot be 0"],
    );
    for key in [
        "client_output_limit",
        "max_reply_bytes",
        "max_request_bytes",
    ] {
        let yaml = format!("{HEAD}  {key}: 0\n  servers:\n   - 127.0.0.1:7001:1\n");
        assert_error(&yaml, 3, Some("alpha"), Some(key), &["is zero"]);
    }
}

#[test]
fn missing_parts_and_duplicates_across_pools() {
    assert_error(
        "alpha:\n  servers:\n   - 127.0.0.1:7001:1\n",
        1,
        Some("alpha"),
        None,
        &["'listen' is missing"],
    );
    assert_error(
        "alpha:\n  listen: 127.0.0.1:1\n",
        1,
        Some("alpha"),
        Some("servers"),
        &["missing or empty"],
    );
    let two = "a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:7001:1\nb:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:7001:1\n";
    assert_error(
        two,
        6,
        Some("b"),
        Some("listen"),
        &["pools 'a' and 'b' both listen on '127.0.0.1:1'"],
    );
    let twice = "a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:7001:1\na:\n  listen: 127.0.0.1:2\n  servers:\n   - 127.0.0.1:7001:1\n";
    assert_error(twice, 5, None, None, &["pool name 'a' appears twice"]);
    let err = error_of("");
    assert!(err.to_string().contains("has no pools"), "{err}");
}

#[test]
fn unreadable_file_names_the_file() {
    let err = Config::load("/nonexistent/redshard.yml").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("/nonexistent/redshard.yml: cannot read the file"),
        "{msg}"
    );
}

#[test]
fn nutcracker_defaults_and_every_key() {
    let minimal = Config::parse(
        "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:7001:1\n",
        Path::new(FILE),
    )
    .unwrap();
    let p = &minimal.pools[0];
    assert_eq!(p.hash, Hash::Fnv1a_64);
    assert_eq!(p.distribution, Distribution::Ketama);
    assert_eq!(p.hash_tag, None);
    assert_eq!(p.timeout_ms, None);
    assert_eq!(p.backlog, 512);
    assert_eq!(p.client_connections, 0);
    assert!(!p.redis && !p.preconnect && !p.auto_eject_hosts && !p.tcpkeepalive);
    assert_eq!((p.redis_db, p.redis_auth.as_deref()), (0, None));
    assert_eq!(p.server_connections, 1);
    assert_eq!(p.server_retry_timeout_ms, 30_000);
    assert_eq!(p.server_failure_limit, 2);

    let full = "p:\n  listen: /tmp/x.sock 0660\n  hash: murmur\n  hash_tag: \"$$\"\n  distribution: modula\n  timeout: \"400\"\n  backlog: 1024\n  client_connections: 100\n  redis: \"true\"\n  redis_auth: pw\n  redis_db: 3\n  preconnect: true\n  auto_eject_hosts: true\n  server_connections: 4\n  server_retry_timeout: 500\n  server_failure_limit: 5\n  tcpkeepalive: true\n  servers:\n   - 10.0.0.1:11211:2\n   - /tmp/r.sock:1 sock\n";
    let c = Config::parse(full, Path::new(FILE)).unwrap();
    let p = &c.pools[0];
    assert_eq!(
        p.listen,
        ListenAddr::Unix {
            path: "/tmp/x.sock".into(),
            perm: Some(0o660)
        }
    );
    assert_eq!(p.hash, Hash::Murmur);
    assert_eq!(p.hash_tag.map(|t| (t.open, t.close)), Some((b'$', b'$')));
    assert_eq!(p.distribution, Distribution::Modula);
    assert_eq!(p.timeout_ms, Some(400));
    assert_eq!(
        (p.backlog, p.client_connections, p.redis_db),
        (1024, 100, 3)
    );
    assert!(p.redis && p.preconnect && p.auto_eject_hosts && p.tcpkeepalive);
    assert_eq!(p.redis_auth.as_deref(), Some("pw"));
    assert_eq!(
        (
            p.server_connections,
            p.server_retry_timeout_ms,
            p.server_failure_limit
        ),
        (4, 500, 5)
    );
    assert_eq!(p.servers[0].name, "10.0.0.1");
    assert_eq!(p.servers[0].weight, 2);
    assert_eq!(p.servers[1].addr, ServerAddr::Unix("/tmp/r.sock".into()));
    assert_eq!(p.servers[1].name, "sock");
}

#[test]
fn shipped_configs_load() {
    for f in ["conf/nutcracker.yml", "conf/redshard.yml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}
