//! The stats port (nutcracker's JSON), Prometheus metrics and /healthz, read
//! by real parsers while real traffic moves the counters; both ports under a
//! crowd of idle peers; the docker-compose file as far as this machine can
//! check it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::servers::{free_port, pool_config, RedisServer, Redshard, Reply};
use serde_json::Value;

/// redshard with its stats port and metrics endpoint on the given ports,
/// both answering.
fn start_observed(config: &str, workers: &str, stats_port: u16, metrics_port: u16) -> Redshard {
    let p = Redshard::start_args(
        config,
        &[
            "--workers",
            workers,
            "-s",
            &stats_port.to_string(),
            "-a",
            "127.0.0.1",
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
        ],
    );
    common::servers::wait_for_port(stats_port, Duration::from_secs(5));
    common::servers::wait_for_port(metrics_port, Duration::from_secs(5));
    p
}

fn stats(port: u16) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn metrics(port: u16) -> prometheus_parse::Scrape {
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    let lines = body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name} is not a number"),
    }
}

#[test]
fn stats_json_and_metrics_move_with_traffic_and_healthz_flips() {
    let servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let stats_port = free_port();
    let metrics_port = free_port();
    let refs: Vec<&RedisServer> = servers.iter().collect();
    let config = pool_config(
        "alpha",
        &refs,
        "  timeout: 300\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n",
    );
    let p = start_observed(&config, "2", stats_port, metrics_port);

    let before = stats(stats_port);
    for field in [
        "service",
        "source",
        "version",
        "uptime",
        "timestamp",
        "total_connections",
        "curr_connections",
    ] {
        assert!(before.get(field).is_some(), "top level lacks {field}");
    }
    let pool = &before["alpha"];
    for field in [
        "client_eof",
        "client_err",
        "client_connections",
        "server_ejects",
        "forward_error",
        "fragments",
    ] {
        assert!(pool[field].is_i64(), "pool lacks {field}");
    }
    let first_server = format!("127.0.0.1:{}", servers[0].port);
    for field in [
        "server_eof",
        "server_err",
        "server_timedout",
        "server_connections",
        "server_ejected_at",
        "requests",
        "request_bytes",
        "responses",
        "response_bytes",
        "in_queue",
        "in_queue_bytes",
        "out_queue",
        "out_queue_bytes",
    ] {
        assert!(pool[&first_server][field].is_i64(), "server lacks {field}");
    }

    // Traffic: plain commands, and MGETs that span the servers.
    let mut c = p.conn();
    for i in 0..200 {
        assert_eq!(c.cmd(&["SET", &format!("obs:{i}:k"), "v"]), Reply::ok());
    }
    let keys: Vec<String> = (0..30).map(|i| format!("obs:{i}:k")).collect();
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(|s| s.as_str()));
    for _ in 0..10 {
        assert!(matches!(c.cmd(&mget), Reply::Array(_)));
    }
    let after = stats(stats_port);
    let requests: i64 = servers
        .iter()
        .map(|s| {
            after["alpha"][&format!("127.0.0.1:{}", s.port)]["requests"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert!(requests >= 200 + 10, "requests did not move: {requests}");
    assert!(
        after["alpha"]["fragments"].as_i64().unwrap() >= 20,
        "fragments: {}",
        after["alpha"]["fragments"]
    );
    assert!(after["alpha"]["client_connections"].as_i64().unwrap() >= 1);
    assert!(
        after["total_connections"].as_i64().unwrap()
            > before["total_connections"].as_i64().unwrap()
    );

    let m = metrics(metrics_port);
    assert!(
        sample(
            &m,
            "redshard_commands_total",
            &[("pool", "alpha"), ("group", "forwarded")]
        ) >= 200.0
    );
    assert!(
        sample(
            &m,
            "redshard_commands_total",
            &[("pool", "alpha"), ("group", "split")]
        ) >= 10.0
    );
    assert!(sample(&m, "redshard_fragments_total", &[("pool", "alpha")]) >= 20.0);
    assert!(
        sample(
            &m,
            "redshard_requests_total",
            &[("pool", "alpha"), ("server", &first_server)]
        ) > 0.0
    );
    let hist = m
        .samples
        .iter()
        .find(|s| {
            s.metric == "redshard_request_duration_seconds" && s.labels.get("pool") == Some("alpha")
        })
        .expect("latency histogram");
    assert!(matches!(hist.value, prometheus_parse::Value::Histogram(_)));
    assert!(
        m.docs.contains_key("redshard_server_ejects_total"),
        "HELP lines"
    );
    assert_eq!(http_get(metrics_port, "/healthz").0, 200);

    // An ejection shows in both, and /healthz flips to 503 when all are down.
    drop(servers);
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0.. {
        let _ = c.cmd(&["GET", &format!("down:{i}")]);
        if http_get(metrics_port, "/healthz").0 == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never turned 503");
    }
    let down = stats(stats_port);
    assert!(down["alpha"]["server_ejects"].as_i64().unwrap() >= 1);
    let m = metrics(metrics_port);
    assert!(sample(&m, "redshard_server_ejects_total", &[("pool", "alpha")]) >= 1.0);
    assert_eq!(
        sample(
            &m,
            "redshard_server_ejected",
            &[("pool", "alpha"), ("server", &first_server)]
        ),
        1.0
    );
}

/// A GET that may find the port busy: `None` when the connection is closed
/// before a status line arrives.
fn try_http_get(port: u16, path: &str) -> Option<u16> {
    timed_get(port, path, Duration::from_secs(5)).0
}

/// The stats document, or `None` when the connection is closed without one.
fn try_stats(port: u16) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Retries `f` until it gives a value, for at most `timeout`.
fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One worker in front of one server, its stats and metrics ports answering.
fn observed_one_server() -> (RedisServer, Redshard, u16, u16) {
    let server = RedisServer::start();
    let (stats_port, metrics_port) = (free_port(), free_port());
    let p = start_observed(
        &pool_config("alpha", &[&server], ""),
        "1",
        stats_port,
        metrics_port,
    );
    (server, p, stats_port, metrics_port)
}

/// Counts the descriptors process `pid` has open.
fn fd_counter(pid: u32) -> impl Fn() -> usize {
    let dir = format!("/proc/{pid}/fd");
    move || std::fs::read_dir(&dir).unwrap().count()
}

#[test]
fn idle_peers_cannot_pin_descriptors_on_the_stats_and_metrics_ports() {
    const CAP: usize = redshard::stats::server::MAX_CONNECTIONS;
    const PEERS: usize = 300;
    let (_server, p, stats_port, metrics_port) = observed_one_server();
    let fds = fd_counter(p.pid());

    // Everything opened lazily (the backend connection) is open before the baseline.
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", "idle:k", "v"]), Reply::ok());
    stats(stats_port);
    metrics(metrics_port);
    let baseline = fds();
    // Each port may hold CAP connections; a few more for what comes and goes.
    let bound = baseline + 2 * CAP + 16;

    let mut peak = baseline;
    let mut idle = Vec::new();
    for port in [stats_port, metrics_port] {
        for i in 0..PEERS {
            idle.push((port, TcpStream::connect(("127.0.0.1", port)).unwrap()));
            if i % 25 == 0 {
                peak = peak.max(fds());
            }
        }
    }
    for _ in 0..25 {
        peak = peak.max(fds());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        peak <= bound,
        "{peak} descriptors open with {PEERS} idle peers per port (baseline {baseline})"
    );
    // The data path does not notice.
    assert_eq!(c.cmd(&["GET", "idle:k"]), Reply::bulk("v"));

    // The proxy ends every idle connection itself: the stats port after its
    // document, the metrics port after its request time.
    for (port, peer) in &mut idle {
        peer.set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut rest = Vec::new();
        match peer.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("an idle peer of port {port} was not closed: {e}"),
        }
        if *port == metrics_port {
            assert!(rest.is_empty(), "no request, no reply");
        }
    }
    drop(idle);
    eventually(
        Duration::from_secs(5),
        "descriptors back to the baseline",
        || (fds() <= baseline + 4).then_some(()),
    );
    let status = eventually(Duration::from_secs(5), "a fresh /metrics", || {
        try_http_get(metrics_port, "/metrics")
    });
    assert_eq!(status, 200);
    let doc = eventually(Duration::from_secs(5), "a fresh stats document", || {
        try_stats(stats_port)
    });
    assert!(doc["alpha"]["client_connections"].as_i64().unwrap() >= 1);
    assert_eq!(c.cmd(&["GET", "idle:k"]), Reply::bulk("v"));
}

/// The document with every value blanked: strings to `"_"`, numbers to `0`.
/// A value follows `":` directly; a nested object follows `": {`.
fn layout(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc.trim_end();
    while let Some(at) = rest.find("\":") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        if let Some(s) = rest.strip_prefix('"') {
            out.push_str("\"_\"");
            rest = &s[s.find('"').unwrap() + 1..];
        } else if rest.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            out.push('0');
            rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn stats_json_is_laid_out_as_nutcracker_lays_it_out() {
    // The sample is from nutcracker 0.5.0: pool "anchor", four servers.
    let sample = std::fs::read_to_string(common::shared_dir().join("nutcracker-stats-sample.json"))
        .expect("the nutcracker sample");
    let mut yml = String::from("anchor:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n");
    for port in 7001..=7004 {
        yml.push_str(&format!("   - 127.0.0.1:{port}:1\n"));
    }
    let config = redshard::config::Config::parse(&yml, std::path::Path::new("sample.yml")).unwrap();
    let pool = redshard::pool::PoolRuntime::new(config.pools[0].clone());
    let ours = redshard::stats::output::nutcracker_json(&[pool], 151);
    assert!(ours.ends_with("}}}\n"), "{ours}");
    assert_eq!(layout(&ours), layout(&sample));
}

#[test]
fn docker_compose_names_the_services_ports_and_config() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let services = doc["services"].as_mapping().unwrap();
    for name in ["redshard", "redis1", "redis2", "redis3"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let redshard = &doc["services"]["redshard"];
    let ports: Vec<String> = redshard["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        ports.iter().any(|p| p.ends_with("22121:22121")),
        "{ports:?}"
    );
    let volumes = format!("{:?}", redshard["volumes"]);
    assert!(volumes.contains("conf/docker.yml"), "{volumes}");
    // The mounted config loads, and names the three Redis services.
    let config = redshard::config::Config::load(root.join("conf/docker.yml")).unwrap();
    let hosts: Vec<String> = config.pools[0]
        .servers
        .iter()
        .map(|s| s.addr.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(hosts, vec!["redis1:6379", "redis2:6379", "redis3:6379"]);
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.matches("FROM ").count() >= 2,
        "a multi-stage build"
    );
    assert!(dockerfile.contains("cargo build --release"));
}

/// Raises this test process's descriptor limit to its hard limit, and says
/// how many idle peers it can hold with room to spare.
fn idle_peers_we_can_hold(want: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    // Other tests of this binary run side by side: leave them 256.
    let room = hard.saturating_sub(256) as usize;
    if room < want {
        eprintln!("descriptor limit {hard}: holding {room} idle peers, not {want}");
    }
    want.min(room)
}

/// One GET on a fresh connection, answered within `within` or `None`.
fn timed_get(port: u16, path: &str, within: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let status = (|| {
        let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), within).ok()?;
        s.set_read_timeout(Some(within)).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    })();
    (status, started.elapsed())
}

#[test]
fn healthz_answers_with_64_or_1000_idle_connections_held_open() {
    const CAP: usize = redshard::stats::server::MAX_CONNECTIONS;
    // Each answer on the first try, well inside the 2 s an idle peer is
    // given to send its request (so the crowd has not simply timed out).
    const WITHIN: Duration = Duration::from_secs(1);
    let (_server, p, stats_port, metrics_port) = observed_one_server();
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", "crowd:k", "v"]), Reply::ok());
    let fds = fd_counter(p.pid());
    metrics(metrics_port);
    // The proxy holds at most CAP per port whatever the crowd, so its own
    // descriptor limit is never the question.
    let bound = fds() + 2 * CAP + 16;
    for want in [CAP, 1000] {
        let peers = idle_peers_we_can_hold(want);
        assert!(peers > CAP || want == CAP, "too few descriptors for {want}");
        let idle: Vec<TcpStream> = (0..peers)
            .map(|_| TcpStream::connect(("127.0.0.1", metrics_port)).unwrap())
            .chain((0..peers).map(|_| TcpStream::connect(("127.0.0.1", stats_port)).unwrap()))
            .collect();
        let open = fds();
        assert!(
            open <= bound,
            "{open} descriptors with {peers} idle peers per port"
        );
        let mut slowest = Duration::ZERO;
        for round in 0..5 {
            for path in ["/healthz", "/metrics"] {
                let (status, took) = timed_get(metrics_port, path, WITHIN);
                slowest = slowest.max(took);
                assert_eq!(
                    status,
                    Some(200),
                    "{path} round {round} with {peers} idle peers held (took {took:?})"
                );
            }
            let doc = try_stats(stats_port);
            assert!(
                doc.is_some_and(|d| d["alpha"].is_object()),
                "stats round {round} with {peers} idle peers held"
            );
            assert_eq!(c.cmd(&["GET", "crowd:k"]), Reply::bulk("v"));
        }
        eprintln!("{peers} idle peers held per port: slowest answer {slowest:?}");
        drop(idle);
    }
}

#[test]
fn metrics_takes_a_bare_port_on_the_stats_address() {
    let server = RedisServer::start();
    let (stats_port, metrics_port) = (free_port(), free_port());
    let _p = Redshard::start_args(
        &pool_config("alpha", &[&server], ""),
        &[
            "--workers",
            "1",
            "-s",
            &stats_port.to_string(),
            "-a",
            "127.0.0.1",
            "--metrics",
            &metrics_port.to_string(),
        ],
    );
    let status = eventually(Duration::from_secs(5), "/healthz on the bare port", || {
        try_http_get(metrics_port, "/healthz")
    });
    assert_eq!(status, 200);
    assert_eq!(http_get(metrics_port, "/metrics").0, 200);
}
