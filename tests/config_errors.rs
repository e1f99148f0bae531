//! Every config error a user can make gets a message naming the file, the line,
//! the pool, the key and what was expected; valid nutcracker configs load with
//! nutcracker's defaults.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    assert_eq!(
        p.servers[1].addr,
        Some(ServerAddr::Unix("/tmp/r.sock".into()))
    );
    assert_eq!(p.servers[1].name, "sock");
}

#[test]
fn shipped_configs_load() {
    for f in ["conf/nutcracker.yml", "conf/redshard.yml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A pool with `extra` keys and one server of weight `weight`.
fn pool_with(extra: &str, weight: u64) -> String {
    format!("{HEAD}{extra}  servers:\n   - 127.0.0.1:7001:{weight}\n")
}

#[test]
fn every_numeric_key_is_refused_outside_its_range_with_the_range() {
    // (key, first value refused, fragments of the range the error names)
    let cases = [
        ("server_connections", "1000000000", "from 1 to 256"),
        ("server_connections", "257", "from 1 to 256"),
        ("timeout", "3600001", "from 0 to 3600000 ms"),
        ("server_retry_timeout", "3600001", "from 0 to 3600000 ms"),
        ("server_failure_limit", "1001", "from 0 to 1000"),
        ("backlog", "65536", "from 0 to 65535"),
        ("client_connections", "1000001", "from 0 to 1000000"),
        ("redis_db", "2147483647", "from 0 to 2147483646"),
        ("max_request_bytes", "1073741825", "from 1kb to 1gb"),
        ("max_request_bytes", "1023", "from 1kb to 1gb"),
        ("max_key_bytes", "513mb", "from 1 to 512mb"),
        ("client_output_limit", "2gb", "from 1kb to 1gb"),
        ("max_reply_bytes", "5gb", "from 1kb to 4gb"),
    ];
    for (key, value, range) in cases {
        let yaml = pool_with(&format!("  {key}: {value}\n"), 1);
        assert_error(
            &yaml,
            3,
            Some("alpha"),
            Some(key),
            &[&format!("{value} is out of range"), range],
        );
    }
    // A weight is checked where the server is written.
    let yaml = pool_with("", 10_001);
    assert_error(
        &yaml,
        4,
        Some("alpha"),
        Some("servers"),
        &["weight 10001 is out of range", "from 1 to 10000"],
    );
}

#[test]
fn every_numeric_key_at_the_ends_of_its_range_loads() {
    let high = "  server_connections: 256\n  timeout: 3600000\n  server_retry_timeout: 3600000\n  server_failure_limit: 1000\n  backlog: 65535\n  client_connections: 1000000\n  redis_db: 2147483646\n  max_request_bytes: 1gb\n  max_key_bytes: 512mb\n  client_output_limit: 1gb\n  max_reply_bytes: 4gb\n";
    let c = Config::parse(&pool_with(high, 10_000), Path::new(FILE)).unwrap();
    let p = &c.pools[0];
    assert_eq!(p.server_connections, 256);
    assert_eq!(p.servers[0].weight, 10_000);
    assert_eq!(p.max_reply_bytes as u64, 4 << 30);
    let low = "  server_connections: 1\n  timeout: 0\n  server_retry_timeout: 0\n  server_failure_limit: 0\n  backlog: 0\n  client_connections: 0\n  redis_db: 0\n  max_request_bytes: 1kb\n  max_key_bytes: 1\n  client_output_limit: 1kb\n  max_reply_bytes: 1kb\n";
    let c = Config::parse(&pool_with(low, 1), Path::new(FILE)).unwrap();
    assert_eq!(c.pools[0].timeout_ms, None);
    assert_eq!(c.pools[0].max_key_bytes, 1);
}

#[test]
fn the_weights_of_a_pool_are_bounded_together() {
    // modula gives each server `weight` slots: a million at most.
    let mut yaml = format!("{HEAD}  servers:\n");
    for i in 0..101 {
        yaml.push_str(&format!("   - 127.0.0.1:{}:10000\n", 7000 + i));
    }
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("servers"),
        &["weights add up to 1010000", "at most 1000000"],
    );
}

/// `redshard -t -c FILE` under a 1 GiB address-space limit (a reader
/// without a bound fails on that limit instead of taking the machine's
/// memory); its exit status, output and how long it took.
fn test_conf_limited(file: &Path) -> (bool, String, Duration) {
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" -t -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_redshard"))
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, started.elapsed())
}

#[test]
fn a_config_file_over_4_mib_or_not_a_file_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("redshard-conf-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A valid config, padded with comments past 4 MiB.
    let big = dir.join("big.yml");
    let mut text = pool_with("", 1);
    let pad = format!("# {}\n", "x".repeat(1021));
    while text.len() <= 4 << 20 {
        text.push_str(&pad);
    }
    std::fs::write(&big, &text).unwrap();
    let msg = Config::load(&big).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}: ", big.display())) && msg.contains("larger than 4mb"),
        "{msg}"
    );
    // Just under the bound loads.
    text.truncate((4 << 20) - pad.len());
    std::fs::write(&big, &text).unwrap();
    Config::load(&big).unwrap_or_else(|e| panic!("{e}"));

    // A device reports size 0 and never ends; a directory is no file.
    let (ok, out, took) = test_conf_limited(Path::new("/dev/zero"));
    assert!(!ok, "-t -c /dev/zero: {out}");
    assert!(out.contains("not a regular file"), "{out}");
    assert!(out.contains("syntax is invalid"), "{out}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    for (path, what) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (dir.as_path(), "not a regular file"),
    ] {
        let msg = Config::load(path).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}: ", path.display())) && msg.contains(what),
            "{msg}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const SENTINELS: &str = "  sentinels:\n   - 127.0.0.1:26379\n   - 127.0.0.1:26380\n";

#[test]
fn a_sentinel_pool_loads_with_its_defaults() {
    let yaml = format!("{HEAD}{SENTINELS}  servers:\n   - shard1:1\n   - shard2:3\n");
    let config = Config::parse(&yaml, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    let p = &config.pools[0];
    let s = p.sentinel.as_ref().unwrap();
    assert_eq!(s.sentinels.len(), 2);
    assert_eq!((s.refresh_ms, s.auth.as_deref()), (1000, None));
    assert_eq!(p.servers[1].name, "shard2");
    assert_eq!((p.servers[1].weight, p.servers[1].addr.as_ref()), (3, None));
    // Keys given, in any order: servers before sentinels too.
    let yaml = format!("{HEAD}  servers:\n   - shard1:1\n  sentinel_auth: pw\n  sentinel_refresh_ms: 250\n{SENTINELS}");
    let config = Config::parse(&yaml, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    let s = config.pools[0].sentinel.as_ref().unwrap();
    assert_eq!((s.refresh_ms, s.auth.as_deref()), (250, Some("pw")));
}

#[test]
fn sentinel_keys_are_checked_with_file_and_line() {
    // An address among master names, and a master name without sentinels.
    let yaml = format!("{HEAD}{SENTINELS}  servers:\n   - shard1:1\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        8,
        Some("alpha"),
        Some("servers"),
        &["'127.0.0.1:7001:1' is an address", "\"master-name:weight\""],
    );
    let yaml = format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1\n   - shard1:1\n");
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("servers"),
        &["missing the port or the weight", "needs 'sentinels:'"],
    );
    // The sentinels themselves.
    let yaml = format!("{HEAD}  sentinels: []\n  servers:\n   - shard1:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("sentinels"),
        &["'sentinels' is empty"],
    );
    let yaml = format!("{HEAD}  sentinels:\n   - 127.0.0.1\n  servers:\n   - shard1:1\n");
    assert_error(
        &yaml,
        4,
        Some("alpha"),
        Some("sentinels"),
        &["'127.0.0.1' is not an address", "host:port"],
    );
    let yaml = format!(
        "{HEAD}  sentinels:\n   - 127.0.0.1:1\n   - 127.0.0.1:1\n  servers:\n   - shard1:1\n"
    );
    assert_error(
        &yaml,
        4,
        Some("alpha"),
        Some("sentinels"),
        &["sentinel '127.0.0.1:1' is listed twice"],
    );
    // Settings of a pool that follows no sentinel, and out of range.
    let yaml = format!("{HEAD}  sentinel_auth: pw\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("sentinel_auth"),
        &["applies only to a pool that follows Sentinel"],
    );
    let yaml = format!("{HEAD}{SENTINELS}  sentinel_refresh_ms: 5\n  servers:\n   - shard1:1\n");
    assert_error(
        &yaml,
        6,
        Some("alpha"),
        Some("sentinel_refresh_ms"),
        &["from 10 to 3600000 ms"],
    );
    // Master names are server names: each once.
    let yaml = format!("{HEAD}{SENTINELS}  servers:\n   - shard1:1\n   - shard1:2\n");
    assert_error(
        &yaml,
        8,
        Some("alpha"),
        Some("servers"),
        &["same name 'shard1'"],
    );
}

#[test]
fn test_conf_checks_a_sentinel_pool() {
    let dir = std::env::temp_dir().join(format!("redshard-sentinel-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yml");
    let run = |yaml: &str| {
        std::fs::write(&file, yaml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_redshard"))
            .args(["-t", "-c", file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = run(&format!(
        "{HEAD}  redis: true\n{SENTINELS}  servers:\n   - shard1:1\n"
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&format!("{HEAD}{SENTINELS}  servers:\n   - shard1:0\n"));
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("s.yml:7: pool 'alpha', key 'servers': 'shard1:0' has a zero weight"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn replicas_and_read_from_load_and_are_checked_with_file_and_line() {
    let yaml = format!(
        "{HEAD}  read_from: prefer_replica\n  replica_max_lag_ms: 250\n  servers:\n   - server: 127.0.0.1:7001:1 a\n     replicas: [127.0.0.1:7002, 127.0.0.1:7003]\n   - 127.0.0.1:7004:1 b\n"
    );
    let config = Config::parse(&yaml, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    let p = &config.pools[0];
    assert_eq!(p.read_from, redshard::config::ReadFrom::PreferReplica);
    assert_eq!(p.replica_max_lag_ms, 250);
    assert_eq!(p.servers[0].replicas.len(), 2);
    assert_eq!(p.servers[0].name, "a");
    assert!(p.servers[1].replicas.is_empty());
    // Left out: reads go to masters, as in nutcracker.
    let plain = Config::parse(
        &format!("{HEAD}  servers:\n   - 127.0.0.1:7001:1\n"),
        Path::new(FILE),
    )
    .unwrap();
    assert_eq!(plain.pools[0].read_from, redshard::config::ReadFrom::Master);
    assert_eq!(plain.pools[0].replica_max_lag_ms, 1000);

    let yaml = format!("{HEAD}  read_from: slaves\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("read_from"),
        &["'slaves' is not a place to read from", "prefer_replica"],
    );
    let yaml = format!("{HEAD}  read_from: replica\n  servers:\n   - 127.0.0.1:7001:1 a\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("read_from"),
        &["server 'a' has no replicas"],
    );
    let yaml = format!(
        "{HEAD}  servers:\n   - server: 127.0.0.1:7001:1\n     replicas: [127.0.0.1:7001]\n"
    );
    assert_error(
        &yaml,
        4,
        Some("alpha"),
        Some("servers"),
        &["'127.0.0.1:7001' is listed twice"],
    );
    let yaml = format!(
        "{HEAD}  servers:\n   - server: 127.0.0.1:7001:1\n     replica: [127.0.0.1:7002]\n"
    );
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("servers"),
        &["unknown key `replica`"],
    );
    let yaml = format!(
        "{HEAD}{SENTINELS}  servers:\n   - server: shard1:1\n     replicas: [127.0.0.1:7002]\n"
    );
    assert_error(
        &yaml,
        7,
        Some("alpha"),
        Some("servers"),
        &["its sentinels list"],
    );
    let yaml = format!("{HEAD}  replica_max_lag_ms: 0\n  servers:\n   - 127.0.0.1:7001:1\n");
    assert_error(
        &yaml,
        3,
        Some("alpha"),
        Some("replica_max_lag_ms"),
        &["cannot be 0"],
    );
}

#[test]
fn hosted_login_needs_the_pools_own_and_both_halves() {
    let servers = "  servers:\n   - 127.0.0.1:7001:1\n";
    let yaml = format!(
        "{HEAD}  redis_auth: pw\n  redis_hosted_username: h\n  redis_hosted_auth: hp\n{servers}"
    );
    assert_error(
        &yaml,
        4,
        Some("alpha"),
        Some("redis_hosted_username"),
        &["needs 'redis_username' and 'redis_auth'"],
    );
    let yaml =
        format!("{HEAD}  redis_auth: pw\n  redis_username: u\n  redis_hosted_auth: hp\n{servers}");
    assert_error(
        &yaml,
        5,
        Some("alpha"),
        Some("redis_hosted_auth"),
        &["go together"],
    );
}
