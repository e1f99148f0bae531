//! The Redis version the proxy reports in INFO and HELLO is what its
//! servers run (the lowest of them), not a constant: libraries gate
//! features on it (BullMQ wants 7.0.8 for some). Real redis-servers, and
//! stand-ins for the versions this machine does not have.

mod common;

use std::time::Duration;

use common::certs::{tls_server_args, Pki};
use common::cluster::Cluster;
use common::cluster_proxy::proxy_for;
use common::fake_redis::FakeRedis;
use common::sentinel::ScriptedSentinel;
use common::servers::{
    alpha_proxy, command_calls, eventually, free_port, info_field, start_servers, Conn,
    RedisServer, Redshard, Reply,
};

/// What the installed redis-server says it is (`redis-server --version`:
/// `Redis server v=7.0.15 sha=...`), checked against what a running one
/// says in its INFO.
fn installed_version(running: &RedisServer) -> String {
    let out = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .expect("redis-server --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .unwrap_or_else(|| panic!("no v= in {text}"))
        .to_string();
    let info = info_field(running, "server", "redis_version");
    assert_eq!(info.as_deref(), Some(version.as_str()));
    version
}

/// The `redis_version` of the proxy's INFO.
fn reported(c: &mut Conn) -> String {
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8(info).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or_else(|| panic!("no redis_version in {info}"))
        .to_string()
}

/// Waits (5 s at most) until the proxy's INFO reports `want`.
fn wait_reported(c: &mut Conn, want: &str) {
    eventually(
        Duration::from_secs(5),
        &format!("INFO reports {want}"),
        || (reported(c) == want).then_some(()),
    );
}

/// The `version` field of a HELLO reply (RESP2's array, RESP3's map).
fn hello_version(reply: Reply) -> String {
    let Reply::Array(fields) = reply else {
        panic!("HELLO: {reply:?}")
    };
    let at = fields
        .iter()
        .position(|f| *f == Reply::bulk("version"))
        .expect("a version field");
    match &fields[at + 1] {
        Reply::Bulk(v) => String::from_utf8(v.clone()).unwrap(),
        other => panic!("version: {other:?}"),
    }
}

#[test]
fn info_and_hello_report_what_the_servers_run() {
    let servers = start_servers(2, &[]);
    let version = installed_version(&servers[0]);
    let proxy = alpha_proxy(&servers, "");
    let mut c = proxy.conn();
    assert_eq!(reported(&mut c), version, "asked before the first client");
    assert_eq!(hello_version(c.cmd(&["HELLO"])), version);
    assert_eq!(hello_version(c.cmd(&["HELLO", "2"])), version);
    let mut resp3 = proxy.conn();
    assert_eq!(hello_version(resp3.cmd(&["HELLO", "3"])), version);
    // RESP3 data connections learn it again from their own HELLO 3:
    // nothing new, so nothing more logged.
    assert_eq!(resp3.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(resp3.cmd(&["GET", "k"]), Reply::bulk("v"));
    let log = proxy.log_text();
    for s in &servers {
        let line = format!("server 127.0.0.1:{} runs Redis {version}", s.port);
        assert_eq!(log.matches(&line).count(), 1, "{line} once:\n{log}");
    }
    assert!(!log.contains("different Redis versions"), "{log}");
}

/// Until a server answers the proxy reports Redis 7.0.0; a server down at
/// start is asked again until it answers.
#[test]
fn a_server_down_at_start_is_asked_when_it_is_back() {
    let mut server = RedisServer::start();
    let version = installed_version(&server);
    server.kill();
    let proxy = alpha_proxy(std::slice::from_ref(&server), "");
    let mut c = proxy.conn();
    assert_eq!(reported(&mut c), "7.0.0", "nothing known yet");
    server.restart();
    wait_reported(&mut c, &version);
}

/// A server without HELLO (as before Redis 6; here renamed away) is
/// asked `INFO server`; a user without INFO there leaves the version
/// unknown, said once in the log, and Redis 7.0.0 reported.
#[test]
fn a_server_without_hello_is_asked_info_server() {
    let server = RedisServer::start_with(&[
        "--rename-command",
        "HELLO",
        "",
        "--user",
        "blind",
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
        "-info",
    ]);
    let version = installed_version(&server);
    let blind_port = free_port();
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  servers:\n   - 127.0.0.1:{0}:1\n\
         blind:\n  listen: 127.0.0.1:{blind_port}\n  redis: true\n  redis_username: blind\n  redis_auth: pw\n  servers:\n   - 127.0.0.1:{0}:1\n",
        server.port
    );
    let proxy = Redshard::start(&config);
    wait_reported(&mut proxy.conn(), &version);
    proxy.wait_logged("cannot learn the Redis version of");
    // redis_auth is the clients' password too.
    let mut blind = Conn::tcp(blind_port);
    assert_eq!(blind.cmd(&["AUTH", "pw"]), Reply::ok());
    assert_eq!(reported(&mut blind), "7.0.0");
    let log = proxy.log_text();
    let why = "HELLO: ERR unknown command 'HELLO'";
    assert!(
        log.contains(why) && log.contains("INFO server: NOPERM"),
        "{log}"
    );
    assert_eq!(log.matches("cannot learn").count(), 1, "{log}");
}

/// Servers at different versions: the lowest is reported, and the mix is
/// warned of once. A Valkey server gives its own version in HELLO; its
/// INFO's redis_version is what counts.
#[test]
fn mixed_versions_report_the_lowest_and_valkey_its_redis_version() {
    let real = RedisServer::start();
    let version = installed_version(&real);
    let older = FakeRedis::start("redis", "6.2.14", "6.2.14");
    let valkey = FakeRedis::start("valkey", "8.1.1", "7.2.4");
    let valkey_port = free_port();
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  servers:\n   - 127.0.0.1:{}:1\n   - 127.0.0.1:{}:1\n\
         beta:\n  listen: 127.0.0.1:{valkey_port}\n  redis: true\n  servers:\n   - 127.0.0.1:{}:1\n",
        real.port, older.port, valkey.port
    );
    let proxy = Redshard::start(&config);
    let mut c = proxy.conn();
    wait_reported(&mut c, "6.2.14");
    assert_eq!(hello_version(c.cmd(&["HELLO", "3"])), "6.2.14");
    wait_reported(&mut Conn::tcp(valkey_port), "7.2.4");
    proxy.wait_logged("different Redis versions");
    let log = proxy.log_text();
    let mix = format!(
        "127.0.0.1:{} {version}, 127.0.0.1:{} 6.2.14); clients are told the lowest, 6.2.14",
        real.port, older.port
    );
    assert_eq!(log.matches("different Redis versions").count(), 1, "{log}");
    assert!(log.contains(&mix), "{mix}\n{log}");
}

/// A server a reload adds is asked at once; an older one lowers the
/// version reported, and one removed no longer counts.
#[test]
fn a_reload_adds_an_older_server_and_removes_it() {
    let real = RedisServer::start();
    let version = installed_version(&real);
    let older = FakeRedis::start("redis", "6.2.14", "6.2.14");
    let config = |ports: &[u16]| {
        let mut c = "alpha:\n  listen: 127.0.0.1:{port}\n  redis: true\n  servers:\n".to_string();
        for p in ports {
            c.push_str(&format!("   - 127.0.0.1:{p}:1\n"));
        }
        c
    };
    let proxy = Redshard::start(&config(&[real.port]));
    let mut c = proxy.conn();
    assert_eq!(reported(&mut c), version);
    let pid = nix::unistd::Pid::from_raw(proxy.pid() as i32);
    proxy.write_config(&config(&[real.port, older.port]));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_reported(&mut c, "6.2.14");
    proxy.wait_logged(&format!(
        "server 127.0.0.1:{} runs Redis 6.2.14",
        older.port
    ));
    proxy.write_config(&config(&[real.port]));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_reported(&mut c, &version);
}

/// A Sentinel master that moves is asked at its new address.
#[test]
fn a_sentinel_master_is_asked_where_it_moves() {
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let version = installed_version(&a);
    let sentinel = ScriptedSentinel::start(a.port);
    let proxy = Redshard::start(&format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  sentinel_refresh_ms: 50\n  sentinels:\n   - 127.0.0.1:{}\n  servers:\n   - m:1\n",
        sentinel.port
    ));
    let mut c = proxy.conn();
    wait_reported(&mut c, &version);
    assert!(command_calls(&a, "hello") >= 1);
    assert_eq!(
        command_calls(&b, "hello"),
        0,
        "not a server of the pool yet"
    );
    sentinel.set_master(b.port);
    eventually(Duration::from_secs(5), "the new master asked", || {
        (command_calls(&b, "hello") >= 1).then_some(())
    });
    assert_eq!(reported(&mut c), version);
}

/// A cluster pool asks the masters that serve slots.
#[test]
fn a_cluster_pool_asks_its_masters() {
    let cluster = Cluster::start(3, 0);
    let version = installed_version(cluster.live().next().unwrap().1);
    let proxy = proxy_for(&cluster, "");
    wait_reported(&mut proxy.conn(), &version);
    for (node, server) in cluster.live() {
        eventually(
            Duration::from_secs(5),
            &format!("node {node} asked"),
            || (command_calls(server, "hello") >= 1).then_some(()),
        );
    }
}

/// Servers that serve TLS only are asked over TLS, as the data
/// connections reach them.
#[test]
fn tls_servers_are_asked_over_tls() {
    let pki = Pki::new("version-tls");
    let port = free_port();
    let args = tls_server_args(port, (&pki.server_cert, &pki.server_key), &pki.ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _server = RedisServer::start_with(&[&args[..], &["--tls-auth-clients", "no"]].concat());
    let version = installed_version_of_binary();
    let proxy = Redshard::start(&format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  tls: true\n  tls_ca: {}\n  servers:\n   - 127.0.0.1:{port}:1\n",
        pki.ca.display()
    ));
    wait_reported(&mut proxy.conn(), &version);
}

/// `redis-server --version` alone (a TLS-only server takes no plain
/// connection to check it against).
fn installed_version_of_binary() -> String {
    let check = RedisServer::start();
    installed_version(&check)
}
