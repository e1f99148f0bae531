//! TLS on both sides, with real processes: certificates made with rcgen at
//! test time; redis-cli --tls, redis-py ssl=True and a rustls client to the
//! proxy; redis-server with a tls-port behind it.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::certs::{first_cert_der, tls_conn, tls_server_args, tls_stream, Pki};
use common::clients::{clients_dir, require, run_script};
use common::servers::{free_port, keys_on, wait_for_port, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A redis-server serving TLS only (`--port 0`), with `pki`'s server
/// certificate; `auth_clients`: it requires a client certificate.
struct TlsRedis {
    _server: RedisServer,
    port: u16,
}

fn tls_redis(pki: &Pki, auth_clients: bool) -> TlsRedis {
    let port = free_port();
    let mut args = tls_server_args(port, (&pki.server_cert, &pki.server_key), &pki.ca);
    args.extend([
        "--tls-auth-clients".into(),
        if auth_clients { "yes" } else { "no" }.into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::start_with(&args);
    TlsRedis {
        _server: server,
        port,
    }
}

/// redis-cli against `port`; `tls` adds `--tls` and its options. Returns
/// whether it succeeded and what it printed (stdout, then stderr).
fn redis_cli(port: u16, tls: &[&str], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if !tls.is_empty() {
        cmd.arg("--tls").args(tls);
    }
    let out = cmd.args(args).output().expect("redis-cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // redis-cli exits 0 after printing a server's error reply.
    let ok = out.status.success() && !text.contains("ERR") && !text.contains("rror");
    (ok, text.trim().to_string())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// redis-cli's TLS options: trust `ca`, show `pki`'s client certificate.
fn with_client_cert<'a>(ca: &'a Path, pki: &'a Pki) -> [&'a str; 6] {
    [
        "--cacert",
        path(ca),
        "--cert",
        path(&pki.client_cert),
        "--key",
        path(&pki.client_key),
    ]
}

/// The ports a test proxy reports on.
#[derive(Clone, Copy)]
struct Observed {
    stats: u16,
    metrics: u16,
}

/// The proxy with a stats port and a metrics port of its own, `--workers`
/// given.
fn start_proxy(config: &str, workers: &str) -> (Redshard, Observed) {
    let ports = Observed {
        stats: free_port(),
        metrics: free_port(),
    };
    let proxy = Redshard::start_args(
        config,
        &[
            "--workers",
            workers,
            "-s",
            &ports.stats.to_string(),
            "-a",
            "127.0.0.1",
            "--metrics",
            &format!("127.0.0.1:{}", ports.metrics),
        ],
    );
    wait_for_port(ports.stats, Duration::from_secs(5));
    wait_for_port(ports.metrics, Duration::from_secs(5));
    (proxy, ports)
}

/// A server's stat, from the stats JSON.
fn server_stat(ports: Observed, pool: &str, server: &str, name: &str) -> i64 {
    use std::io::Read;
    let mut s = TcpStream::connect(("127.0.0.1", ports.stats)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json[pool][server][name]
        .as_i64()
        .unwrap_or_else(|| panic!("no {name} in {}", json[pool][server]))
}

/// A pool's failed TLS handshakes with clients, from /metrics.
fn tls_failures(ports: Observed, pool: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", ports.metrics)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let line = format!("redshard_client_tls_failures_total{{pool=\"{pool}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in:\n{text}"))
        .parse()
        .unwrap()
}

fn wait_logged(proxy: &Redshard, text: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.log_text().matches(text).count() < times {
        assert!(
            Instant::now() < deadline,
            "'{text}' not logged {times}x:\n{}",
            proxy.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn servers_yaml(ports: &[u16]) -> String {
    let mut s = "  servers:\n".to_string();
    for p in ports {
        s.push_str(&format!("   - 127.0.0.1:{p}:1\n"));
    }
    s
}

/// TLS clients (redis-cli --tls, redis-py ssl=True) through a TLS pool, and
/// plain clients through a plain pool beside it, to the same plain servers;
/// a plain-text client on the TLS port is refused and counted, alone.
#[test]
fn tls_and_plain_pools_side_by_side_to_plain_servers() {
    let pki = Pki::new("side-by-side");
    let servers = [RedisServer::start(), RedisServer::start()];
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let plain_port = free_port();
    let config = format!(
        "secure:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls_cert: {}\n  tls_key: {}\n{}\
         plain:\n  listen: 127.0.0.1:{plain_port}\n  redis: true\n{}",
        path(&pki.server_cert),
        path(&pki.server_key),
        servers_yaml(&ports),
        servers_yaml(&ports),
    );
    let (proxy, stats) = start_proxy(&config, "2");
    wait_for_port(plain_port, Duration::from_secs(5));
    let tls = ["--cacert", path(&pki.ca)];

    let (ok, out) = redis_cli(proxy.port, &tls, &["SET", "k:tls", "over-tls"]);
    assert!(ok && out == "OK", "{out}");
    let (ok, out) = redis_cli(plain_port, &[], &["GET", "k:tls"]);
    assert!(ok && out == "over-tls", "{out}");
    let (ok, out) = redis_cli(plain_port, &[], &["SET", "k:plain", "plain"]);
    assert!(ok && out == "OK", "{out}");
    let (ok, out) = redis_cli(proxy.port, &tls, &["GET", "k:plain"]);
    assert!(ok && out == "plain", "{out}");

    let python = clients_dir().join("py-latest/bin/python");
    if require(&python) {
        run_script(
            &python,
            "tls_check.py",
            &[proxy.port.to_string(), path(&pki.ca).to_string()],
            &[],
        );
    }

    // Plain text on the TLS port: closed, counted, logged with its address.
    let mut plain_on_tls = Conn::tcp(proxy.port);
    plain_on_tls.send(&[b"PING"]);
    let (closed, _) = plain_on_tls.closed_within(Duration::from_secs(5));
    assert!(closed, "a plain-text client on the TLS port is closed");
    wait_logged(&proxy, "TLS handshake with client failed", 1);
    assert!(
        proxy.log_text().contains("peer=127.0.0.1:"),
        "{}",
        proxy.log_text()
    );
    assert_eq!(tls_failures(stats, "secure"), 1);
    assert_eq!(tls_failures(stats, "plain"), 0);
    let (ok, out) = redis_cli(proxy.port, &tls, &["GET", "k:tls"]);
    assert!(ok && out == "over-tls", "still serving: {out}");
}

/// A reply of many TLS records, larger than the sockets' buffers, crosses
/// both TLS legs whole to a client that reads it slowly, twice over one
/// connection.
#[test]
fn a_large_reply_to_a_slow_reader_arrives_whole() {
    use std::io::{Read, Write};
    let pki = Pki::new("large");
    let server = tls_redis(&pki, false);
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls_cert: {}\n  tls_key: {}\n  tls: true\n  tls_ca: {}\n{}",
        path(&pki.server_cert),
        path(&pki.server_key),
        path(&pki.ca),
        servers_yaml(&[server.port])
    );
    let (proxy, _) = start_proxy(&config, "1");
    let size = 16 << 20;
    let big = vec![b'x'; size];
    let mut c = tls_conn(proxy.port, &pki.ca, None).unwrap().0;
    assert_eq!(c.call(&[b"SET", b"big", &big]), Reply::ok());
    let (mut s, _) = tls_stream(proxy.port, &pki.ca, None).unwrap();
    let want = format!("${size}\r\n").len() + size + 2;
    for round in 0..2 {
        s.write_all(b"GET big\r\n").unwrap();
        s.flush().unwrap();
        let mut got = 0;
        let mut chunk = [0u8; 16 << 10];
        while got < want {
            let n = s
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("round {round}: {got} of {want} bytes, then {e}"));
            assert!(n > 0, "closed after {got} of {want} bytes");
            got += n;
            std::thread::sleep(Duration::from_micros(500));
        }
        assert_eq!(got, want);
    }
}

/// Plain clients through the proxy to servers that serve TLS only: the
/// shared connections, a client's own (MULTI) and the short-lived side
/// connections (SCRIPT KILL) all speak TLS.
#[test]
fn plain_clients_reach_tls_only_servers() {
    let pki = Pki::new("tls-servers");
    let servers = [tls_redis(&pki, false), tls_redis(&pki, false)];
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let config = format!(
        // The default user holds @admin here, for SCRIPT KILL.
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  timeout: 3000\n  users: [{{name: default, commands: [\"+@all\"]}}]\n  tls: true\n  tls_ca: {}\n{}",
        path(&pki.ca),
        servers_yaml(&ports)
    );
    let (proxy, _) = start_proxy(&config, "2");
    let mut c = proxy.conn();
    let (on0, on1) = keys_on(&proxy, 0, 3);
    for k in on0.iter().chain(&on1) {
        assert_eq!(c.cmd(&["SET", k, k]), Reply::ok());
    }
    let mut mget = vec!["MGET"];
    mget.extend(on0.iter().chain(&on1).map(String::as_str));
    let Reply::Array(values) = c.cmd(&mget) else {
        panic!("MGET")
    };
    let want: Vec<Reply> = on0.iter().chain(&on1).map(|k| Reply::bulk(k)).collect();
    assert_eq!(values, want);
    // Each key is where the ring says, read straight from its server over TLS.
    let tls = ["--cacert", path(&pki.ca)];
    let (ok, out) = redis_cli(ports[0], &tls, &["GET", &on0[0]]);
    assert!(ok && out == on0[0], "{out}");

    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["INCR", &on0[1]]).clone(),
        Reply::Status("QUEUED".into())
    );
    let exec = c.cmd(&["EXEC"]);
    assert!(matches!(exec, Reply::Array(_)), "{exec:?}");

    let kill = c.cmd(&["SCRIPT", "KILL"]);
    assert!(
        kill.error_text().starts_with("NOTBUSY"),
        "SCRIPT KILL reached the servers on TLS side connections: {kill:?}"
    );
}

/// Mutual TLS on both sides: the listener requires a client certificate
/// signed by tls_client_ca; the servers require one too (Redis's default
/// tls-auth-clients yes), which tls_client_cert gives.
#[test]
fn mutual_tls_on_both_sides() {
    let pki = Pki::new("mutual");
    let server = tls_redis(&pki, true);
    let no_cert_port = free_port();
    let config = format!(
        "mutual:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  timeout: 3000\n  tls_cert: {cert}\n  tls_key: {key}\n  tls_client_ca: {ca}\n  tls: true\n  tls_ca: {ca}\n  tls_client_cert: {ccert}\n  tls_client_key: {ckey}\n{servers}\
         nocert:\n  listen: 127.0.0.1:{no_cert_port}\n  redis: true\n  timeout: 3000\n  tls: true\n  tls_ca: {ca}\n{servers}",
        cert = path(&pki.server_cert),
        key = path(&pki.server_key),
        ca = path(&pki.ca),
        ccert = path(&pki.client_cert),
        ckey = path(&pki.client_key),
        servers = servers_yaml(&[server.port]),
    );
    let (proxy, stats) = start_proxy(&config, "1");
    let with_cert = with_client_cert(&pki.ca, &pki);
    let (ok, out) = redis_cli(proxy.port, &with_cert, &["SET", "m", "1"]);
    assert!(ok && out == "OK", "{out}");
    let (ok, out) = redis_cli(proxy.port, &with_cert, &["GET", "m"]);
    assert!(ok && out == "1", "{out}");

    // No client certificate: refused, counted; the proxy serves on.
    let (ok, out) = redis_cli(proxy.port, &["--cacert", path(&pki.ca)], &["GET", "m"]);
    assert!(!ok && !out.contains('1'), "refused: {out}");
    wait_logged(&proxy, "peer sent no certificates", 1);
    assert_eq!(tls_failures(stats, "mutual"), 1);
    // A certificate from another CA: refused too.
    let stranger = Pki::new("mutual-stranger");
    let (ok, out) = redis_cli(
        proxy.port,
        &with_client_cert(&pki.ca, &stranger),
        &["GET", "m"],
    );
    assert!(!ok, "a certificate of another CA is refused: {out}");
    let python = clients_dir().join("py-latest/bin/python");
    if require(&python) {
        run_script(
            &python,
            "tls_check.py",
            &[
                proxy.port.to_string(),
                path(&pki.ca).to_string(),
                path(&pki.client_cert).to_string(),
                path(&pki.client_key).to_string(),
            ],
            &[],
        );
    }

    // A pool that shows no certificate to a server that requires one.
    let reply = Conn::tcp(no_cert_port).cmd(&["GET", "m"]);
    let text = reply.error_text();
    assert!(
        text.contains(&format!("server 127.0.0.1:{}", server.port)) && text.contains("Certificate"),
        "{text}"
    );
    eprintln!("no client certificate for a server that requires one: {text}");
    let (ok, out) = redis_cli(proxy.port, &with_cert, &["GET", "m"]);
    assert!(ok && out == "1", "{out}");
}

/// A server certificate from an unknown CA, or for another name, is a
/// clear error naming the server, counted against it; the proxy's other
/// pools serve on.
#[test]
fn wrong_ca_or_wrong_name_is_a_clear_error() {
    let pki = Pki::new("wrong");
    let stranger = Pki::new("wrong-stranger");
    let server = tls_redis(&pki, false);
    let (bad_ca_port, bad_name_port) = (free_port(), free_port());
    let servers = servers_yaml(&[server.port]);
    let config = format!(
        "good:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls: true\n  tls_ca: {ca}\n{servers}\
         badca:\n  listen: 127.0.0.1:{bad_ca_port}\n  redis: true\n  tls: true\n  tls_ca: {other}\n{servers}\
         badname:\n  listen: 127.0.0.1:{bad_name_port}\n  redis: true\n  tls: true\n  tls_ca: {ca}\n  tls_server_name: redis.example\n{servers}",
        ca = path(&pki.ca),
        other = path(&stranger.ca),
    );
    let (proxy, stats) = start_proxy(&config, "1");
    wait_for_port(bad_name_port, Duration::from_secs(5));
    let label = format!("127.0.0.1:{}", server.port);
    let reply = Conn::tcp(bad_ca_port).cmd(&["GET", "k"]);
    assert_eq!(
        reply.error_text(),
        format!("ERR redshard: TLS handshake with server {label} failed: invalid peer certificate: UnknownIssuer")
    );
    let reply = Conn::tcp(bad_name_port).cmd(&["GET", "k"]);
    let text = reply.error_text();
    assert!(
        text.starts_with(&format!("ERR redshard: TLS handshake with server {label} failed: invalid peer certificate: certificate not valid for name \"redis.example\"")),
        "{text}"
    );
    assert!(server_stat(stats, "badca", &label, "server_err") >= 1);
    assert!(server_stat(stats, "badname", &label, "server_err") >= 1);
    let mut good = proxy.conn();
    assert_eq!(good.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(good.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(server_stat(stats, "good", &label, "server_err"), 0);
}

/// A reload re-reads the certificate: a new connection gets the new one,
/// one made before keeps working on the old; a reload with a broken
/// certificate is refused and the one in force serves on.
#[test]
fn a_reload_renews_the_certificate_for_new_connections() {
    let pki = Pki::new("reload");
    let server = RedisServer::start();
    let (cert, key) = (pki.dir.join("listen.pem"), pki.dir.join("listen-key.pem"));
    std::fs::copy(&pki.server_cert, &cert).unwrap();
    std::fs::copy(&pki.server_key, &key).unwrap();
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls_cert: {}\n  tls_key: {}\n{}",
        path(&cert),
        path(&key),
        servers_yaml(&[server.port])
    );
    let (proxy, _) = start_proxy(&config, "2");
    let (mut old, first) = tls_conn(proxy.port, &pki.ca, None).unwrap();
    assert_eq!(first, first_cert_der(&pki.server_cert));
    assert_eq!(old.cmd(&["SET", "r", "1"]), Reply::ok());

    let (renewed_cert, renewed_key) = pki.leaf("renewed", &["127.0.0.1"]);
    std::fs::copy(&renewed_cert, &cert).unwrap();
    std::fs::copy(&renewed_key, &key).unwrap();
    let pid = Pid::from_raw(proxy.pid() as i32);
    kill(pid, Signal::SIGHUP).unwrap();
    wait_logged(&proxy, "options changed [listen_tls]", 1);
    let (mut new, second) = tls_conn(proxy.port, &pki.ca, None).unwrap();
    assert_eq!(second, first_cert_der(&renewed_cert), "the new certificate");
    assert_ne!(first, second);
    assert_eq!(new.cmd(&["GET", "r"]), Reply::bulk("1"));
    assert_eq!(
        old.cmd(&["INCR", "r"]),
        Reply::Int(2),
        "the old connection serves on"
    );

    std::fs::write(&cert, "not a certificate\n").unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    wait_logged(&proxy, "refused", 1);
    let log = proxy.log_text();
    assert!(
        log.contains("redshard.yml:4: pool 'alpha', key 'tls_cert'")
            && log.contains("listen.pem: holds no certificate"),
        "{log}"
    );
    let (mut after, third) = tls_conn(proxy.port, &pki.ca, None).unwrap();
    assert_eq!(third, second, "the certificate in force serves on");
    assert_eq!(after.cmd(&["GET", "r"]), Reply::bulk("2"));
}

/// A client that connects and says nothing holds up nobody: the handshake
/// runs in the client's own task, and a silent client is closed at the
/// handshake timeout (10 s), counted. One worker, so one accept loop.
#[test]
fn a_silent_client_does_not_hold_up_others() {
    let pki = Pki::new("silent");
    let server = RedisServer::start();
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls_cert: {}\n  tls_key: {}\n{}",
        path(&pki.server_cert),
        path(&pki.server_key),
        servers_yaml(&[server.port])
    );
    let (proxy, stats) = start_proxy(&config, "1");
    let mut silent = Conn::tcp(proxy.port);
    let silent_since = Instant::now();
    for i in 0..3 {
        // Each handshake within the client's 3 s read timeout.
        let (mut c, _) = tls_conn(proxy.port, &pki.ca, None)
            .unwrap_or_else(|e| panic!("client {i} held up by a silent one: {e}"));
        assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    }
    let (closed, _) = silent.closed_within(Duration::from_secs(15));
    let after = silent_since.elapsed();
    assert!(closed, "the silent client is closed");
    assert!(
        after >= Duration::from_secs(9),
        "at the handshake timeout: {after:?}"
    );
    wait_logged(&proxy, "no handshake within 10 s", 1);
    assert_eq!(tls_failures(stats, "alpha"), 1);
}

/// `redshard -t` checks the TLS keys and files, with file:line errors.
#[test]
fn the_config_check_reads_and_checks_the_tls_files() {
    let pki = Pki::new("check");
    let dir = &pki.dir;
    let check = |body: &str| -> (bool, String) {
        let file = dir.join("redshard.yml");
        std::fs::write(&file, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_redshard"))
            .arg("-t")
            .arg("-c")
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    let file = dir.join("redshard.yml");
    let f = file.display();
    let head = "p:\n  listen: 127.0.0.1:22121\n  redis: true\n";
    let servers = "  servers:\n   - 127.0.0.1:6379:1\n";
    let (cert, key, ca) = (path(&pki.server_cert), path(&pki.server_key), path(&pki.ca));

    // Relative paths are the config file's neighbours.
    let ok = format!("{head}  tls_cert: server.pem\n  tls_key: server-key.pem\n  tls_client_ca: ca.pem\n  tls: true\n  tls_ca: ca.pem\n  tls_client_cert: client.pem\n  tls_client_key: client-key.pem\n{servers}");
    let (passed, err) = check(&ok);
    assert!(passed, "{err}");

    let cases: Vec<(String, String)> = vec![
        (
            format!("{head}  tls_cert: nope.pem\n  tls_key: {key}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_cert': {}: cannot read it: No such file or directory", dir.join("nope.pem").display()),
        ),
        (
            format!("{head}  tls_cert: {cert}\n  tls_key: {}\n{servers}", path(&pki.client_key)),
            format!("{f}:5: pool 'p', key 'tls_key': {}: the private key does not belong to the certificate in {cert}", path(&pki.client_key)),
        ),
        (
            format!("{head}  tls_cert: {key}\n  tls_key: {key}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_cert': {key}: holds no certificate"),
        ),
        (
            format!("{head}  tls_cert: {cert}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_cert': needs tls_key, the certificate's private key"),
        ),
        (
            format!("p:\n  listen: /tmp/redshard-tls-check.sock\n  redis: true\n  tls_cert: {cert}\n  tls_key: {key}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_cert': TLS toward clients needs a TCP listen address; /tmp/redshard-tls-check.sock is a unix socket"),
        ),
        (
            format!("{head}  tls_client_ca: {ca}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_client_ca': needs tls_cert and tls_key"),
        ),
        (
            format!("{head}  tls_ca: {ca}\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls_ca': is for TLS toward the servers, which needs tls: true"),
        ),
        (
            format!("{head}  tls: true\n{servers}"),
            format!("{f}:4: pool 'p', key 'tls': tls: true needs tls_ca"),
        ),
        (
            format!("{head}  tls: true\n  tls_ca: {ca}\n  tls_client_key: {key}\n{servers}"),
            format!("{f}:6: pool 'p', key 'tls_client_key': needs tls_client_cert"),
        ),
        (
            format!("{head}  tls: true\n  tls_ca: {ca}\n  servers:\n   - 127.0.0.1:6379:1\n   - /tmp/redis.sock:1\n"),
            format!("{f}:8: pool 'p', key 'servers': server '/tmp/redis.sock:1' is a unix socket; Redis serves TLS on TCP only (tls-port)"),
        ),
        (
            format!("{head}  tls: true\n  tls_ca: {ca}\n  tls_server_name: not a name\n{servers}"),
            format!("{f}:6: pool 'p', key 'tls_server_name': 'not a name' is not a valid TLS server name"),
        ),
    ];
    for (body, want) in cases {
        let (passed, err) = check(&body);
        assert!(!passed, "refused:\n{body}");
        assert!(
            err.starts_with(&format!("redshard: {want}")),
            "want: {want}\ngot:  {err}\n{body}"
        );
    }
}
