//! Pools that follow Redis Sentinel, with real processes: placement by master
//! name, what operators see (INFO, stats JSON, /metrics), a sentinel down,
//! no sentinel at all, `-READONLY` and the periodic question as the ways a
//! missed `+switch-master` is caught, and hot reload.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::sentinel::{role, Layout, ScriptedSentinel, Topology};
use common::servers::{eventually, free_port, wait_for_port, Conn, RedisServer, Redshard, Reply};

/// The proxy's INFO line for server `i` of its pool.
fn server_line(c: &mut Conn, i: usize) -> String {
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("server{i}:");
    info.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {info}"))
        .to_string()
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if !path.is_empty() {
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    }
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn small_topology() -> Topology {
    Topology::start(Layout {
        replicas: 1,
        ..Layout::default()
    })
}

#[test]
fn keys_go_to_the_master_of_their_name_and_operators_see_each_master() {
    let topology = small_topology();
    let (stats, metrics) = (free_port(), free_port());
    let proxy = Redshard::start_args(
        &topology.pool_config(""),
        &[
            "--workers",
            "2",
            "-s",
            &stats.to_string(),
            "-a",
            "127.0.0.1",
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
        ],
    );
    let config = redshard::config::Config::load(&proxy.config).unwrap();
    let placement = redshard::pool::Placement::new(&config.pools[0]);
    let mut c = proxy.conn();
    for i in 0..60 {
        let key = format!("k:{i}");
        assert_eq!(c.cmd(&["SET", &key, "v"]), Reply::ok());
        let home = placement.server_for(key.as_bytes()).unwrap();
        for (s, shard) in topology.shards.iter().enumerate() {
            let found = shard.servers[0].conn().cmd(&["EXISTS", &key]);
            assert_eq!(
                found,
                Reply::Int((s == home) as i64),
                "{key} on {}",
                shard.name
            );
        }
    }
    let master = topology.shards[1].servers[0].port;
    let line = server_line(&mut c, 1);
    assert_eq!(
        line,
        format!("server1:name=shard2,addr=127.0.0.1:{master},weight=1,role=master,failovers=0,state=live")
    );
    wait_for_port(stats, Duration::from_secs(5));
    let doc: serde_json::Value = serde_json::from_str(&get(stats, "")).unwrap();
    let shard2 = &doc["alpha"]["shard2"];
    assert_eq!(shard2["role"], "master");
    assert_eq!(shard2["address"], format!("127.0.0.1:{master}"));
    assert_eq!(shard2["state"], "live");
    assert_eq!(shard2["failovers"], 0);
    wait_for_port(metrics, Duration::from_secs(5));
    let text = get(metrics, "/metrics");
    let want = format!(
        "redshard_server_info{{pool=\"alpha\",server=\"shard2\",role=\"master\",address=\"127.0.0.1:{master}\",state=\"live\"}} 1"
    );
    assert!(text.contains(&want), "{want} missing from:\n{text}");
    assert!(text.contains("redshard_server_failovers_total{pool=\"alpha\",server=\"shard2\"} 0"));
}

/// One of three sentinels down from the start: the masters are found
/// through the others, and a failover announced by them is followed.
#[test]
fn one_sentinel_of_three_down_still_serves_and_follows_a_failover() {
    let mut topology = small_topology();
    topology.sentinels[0].kill();
    let proxy = Redshard::start(&topology.pool_config(""));
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
    let old = topology.shards[0].servers[0].port;
    let reply = topology.sentinels[1]
        .conn()
        .cmd(&["SENTINEL", "FAILOVER", "shard1"]);
    assert_eq!(reply, Reply::ok());
    let new = topology.shards[0].servers[1].port;
    let want = format!(
        "server0:name=shard1,addr=127.0.0.1:{new},weight=1,role=master,failovers=1,state=live"
    );
    eventually(Duration::from_secs(15), "the proxy follows", || {
        (server_line(&mut c, 0) == want).then_some(())
    });
    assert_eq!(role(new).as_deref(), Some("master"));
    assert_eq!(c.cmd(&["SET", "b", "2"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Reply::bulk("1"));
    assert!(!proxy.log_text().contains(&format!(
        "master moved from 127.0.0.1:{new} to 127.0.0.1:{old}"
    )));
}

#[test]
fn no_sentinel_answering_at_start_is_a_clear_error_and_the_proxy_serves_on() {
    let ports = [free_port(), free_port()];
    let config = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  sentinels:\n   - 127.0.0.1:{}\n   - 127.0.0.1:{}\n  servers:\n   - shard1:1\n",
        ports[0], ports[1]
    );
    let proxy = Redshard::start(&config);
    let mut c = proxy.conn();
    let error = c.cmd(&["SET", "k", "v"]).error_text().to_string();
    for p in ports {
        assert!(error.contains(&format!("127.0.0.1:{p}: ")), "{error}");
    }
    assert!(
        error.starts_with("ERR redshard: no address is known for master shard1: no sentinel gave an address for master 'shard1' (tried"),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
    assert!(proxy
        .log_text()
        .contains("no sentinel gave an address for master 'shard1'"));
    assert!(server_line(&mut c, 0)
        .ends_with("addr=-,weight=1,role=master,failovers=0,state=unresolved"));
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// A master and its replica, swapped behind the proxy's back: the sentinel
/// (scripted) says so only when asked, and publishes nothing.
fn swap(master: &RedisServer, replica: &RedisServer) {
    assert_eq!(replica.conn().cmd(&["REPLICAOF", "NO", "ONE"]), Reply::ok());
    let port = replica.port.to_string();
    assert_eq!(
        master.conn().cmd(&["REPLICAOF", "127.0.0.1", &port]),
        Reply::ok()
    );
}

fn replicated_pair() -> (RedisServer, RedisServer) {
    let a = RedisServer::start();
    let b = RedisServer::start_with(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    eventually(Duration::from_secs(10), "replica in sync", || {
        let mut c = a.conn();
        common::sentinel::info(&mut c, "replication")
            .contains("state=online")
            .then_some(())
    });
    (a, b)
}

/// A master and its replica, a scripted sentinel giving the master, and a
/// proxy asking it every `refresh_ms`, which has written through once; then
/// the two swapped and the sentinel saying so when asked.
fn swapped_behind_the_proxy(
    refresh_ms: u64,
) -> (RedisServer, RedisServer, ScriptedSentinel, Redshard, Conn) {
    let (a, b) = replicated_pair();
    let sentinel = ScriptedSentinel::start(a.port);
    let proxy = Redshard::start(&format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  sentinel_refresh_ms: {refresh_ms}\n  sentinels:\n   - 127.0.0.1:{}\n  servers:\n   - m:1\n",
        sentinel.port
    ));
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["SET", "before", "1"]), Reply::ok());
    swap(&a, &b);
    sentinel.set_master(b.port);
    (a, b, sentinel, proxy, c)
}

/// Without any message and with no periodic question for an hour, a
/// `-READONLY` makes the proxy ask again: the write that got it is
/// answered with it (never replayed), the next ones go to the new master.
#[test]
fn readonly_from_a_demoted_master_makes_the_proxy_ask_again() {
    let (_a, b, _sentinel, _proxy, mut c) = swapped_behind_the_proxy(3_600_000);
    let refused = c.cmd(&["SET", "refused", "1"]);
    assert!(refused.error_text().starts_with("READONLY"), "{refused:?}");
    eventually(Duration::from_secs(5), "a write accepted", || {
        (c.cmd(&["SET", "after", "1"]) == Reply::ok()).then_some(())
    });
    assert_eq!(b.conn().cmd(&["GET", "after"]), Reply::bulk("1"));
    assert_eq!(
        b.conn().cmd(&["EXISTS", "refused"]),
        Reply::Int(0),
        "never replayed"
    );
    assert!(server_line(&mut c, 0).contains(&format!(
        "addr=127.0.0.1:{},weight=1,role=master,failovers=1",
        b.port
    )));
}

/// A missed `+switch-master` is caught by the periodic question alone.
#[test]
fn the_periodic_question_catches_a_missed_switch() {
    let (_a, b, _sentinel, _proxy, mut c) = swapped_behind_the_proxy(50);
    let want = format!("addr=127.0.0.1:{}", b.port);
    eventually(Duration::from_secs(5), "the proxy moves", || {
        server_line(&mut c, 0).contains(&want).then_some(())
    });
    assert_eq!(c.cmd(&["SET", "y", "2"]), Reply::ok());
    assert_eq!(b.conn().cmd(&["GET", "y"]), Reply::bulk("2"));
}

/// A reload adds a master and replaces the sentinels: the new master is
/// found through the new sentinels, and a failover they announce is
/// followed (the watcher restarted with them).
#[test]
fn reload_adds_a_master_and_moves_to_other_sentinels() {
    let topology = small_topology();
    let one = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  sentinels:\n   - {}\n  servers:\n   - shard1:1\n",
        topology.sentinels[0].addr()
    );
    let proxy = Redshard::start(&one);
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    let two = format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  sentinel_refresh_ms: 500\n  sentinels:\n   - {}\n   - {}\n  servers:\n   - shard1:1\n   - shard2:1\n",
        topology.sentinels[1].addr(),
        topology.sentinels[2].addr()
    );
    proxy.write_config(&two);
    let shard2 = topology.shards[1].servers[0].port;
    let want = format!("server1:name=shard2,addr=127.0.0.1:{shard2},");
    eventually(
        Duration::from_secs(10),
        "shard2 found after the reload",
        || {
            let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
                return None;
            };
            String::from_utf8_lossy(&info).contains(&want).then_some(())
        },
    );
    let reply = topology.sentinels[2]
        .conn()
        .cmd(&["SENTINEL", "FAILOVER", "shard2"]);
    assert_eq!(reply, Reply::ok());
    let new = topology.shards[1].servers[1].port;
    let moved =
        format!("server1:name=shard2,addr=127.0.0.1:{new},weight=1,role=master,failovers=1,");
    eventually(Duration::from_secs(15), "the failover followed", || {
        server_line(&mut c, 1).starts_with(&moved).then_some(())
    });
    assert!(
        proxy.log_text().contains("+switch-master from sentinel")
            || proxy.log_text().contains("promoted")
    );
}

/// `redshard route` hashes the master names: the same keys go to the same
/// index as in a plain pool whose servers carry those names.
#[test]
fn route_places_by_master_name() {
    let dir = common::servers::temp_dir("route");
    let sentinel = dir.join("sentinel.yml");
    std::fs::write(
        &sentinel,
        "a:\n  listen: 127.0.0.1:1\n  sentinels:\n   - 127.0.0.1:2\n  servers:\n   - shard1:1\n   - shard2:2\n   - shard3:1\n",
    )
    .unwrap();
    let plain = dir.join("plain.yml");
    std::fs::write(
        &plain,
        "a:\n  listen: 127.0.0.1:1\n  servers:\n   - 10.0.0.1:6379:1 shard1\n   - 10.0.0.2:6379:2 shard2\n   - 10.0.0.3:6379:1 shard3\n",
    )
    .unwrap();
    let keys: String = (0..500).map(|i| format!("key:{i}\n")).collect();
    let route = |config: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_redshard"))
            .arg("-c")
            .arg(config)
            .arg("route")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(keys.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let (by_name, by_plain) = (route(&sentinel), route(&plain));
    assert_eq!(by_name.lines().count(), 500);
    assert_eq!(by_name, by_plain);
    let _ = std::fs::remove_dir_all(dir);
}

/// A connection to the address a master left fails after the move: that is
/// no failure of the server at the new address (here it would eject it).
#[test]
fn a_failure_at_the_old_address_is_not_held_against_the_new_one() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut a = RedisServer::start();
    let b = RedisServer::start();
    let sentinel = ScriptedSentinel::start(a.port);
    let stats = free_port();
    let proxy = Redshard::start_args(&format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n  sentinel_refresh_ms: 50\n  sentinels:\n   - 127.0.0.1:{}\n  servers:\n   - m:1\n",
        sentinel.port
    ), &["--workers", "1", "-s", &stats.to_string(), "-a", "127.0.0.1"]);
    let mut old = proxy.conn();
    assert_eq!(old.cmd(&["SET", "x", "1"]), Reply::ok());
    // A hangs with a request of `old` written to it; then the master moves.
    kill(Pid::from_raw(a.pid() as i32), Signal::SIGSTOP).unwrap();
    old.send(&[b"SET", b"y", b"1"]);
    // Written (awaiting its reply), not merely queued: a request still
    // queued when the master moves goes to the new one, by design.
    eventually(Duration::from_secs(5), "SET y written to A", || {
        let doc: serde_json::Value = serde_json::from_str(&get(stats, "")).ok()?;
        (doc["alpha"]["m"]["out_queue"].as_i64() == Some(1)).then_some(())
    });
    sentinel.set_master(b.port);
    let mut c = proxy.conn();
    let want = format!("addr=127.0.0.1:{}", b.port);
    eventually(Duration::from_secs(5), "the proxy moves", || {
        server_line(&mut c, 0).contains(&want).then_some(())
    });
    assert_eq!(c.cmd(&["SET", "z", "1"]), Reply::ok());
    // Now A dies under its connection.
    a.kill();
    let lost = old.read();
    assert!(lost.error_text().contains("server m"), "{lost:?}");
    for i in 0..20 {
        assert_eq!(c.cmd(&["SET", &format!("after:{i}"), "1"]), Reply::ok());
    }
    assert!(server_line(&mut c, 0).ends_with("state=live"));
    assert_eq!(
        b.conn().cmd(&["EXISTS", "y"]),
        Reply::Int(0),
        "never replayed"
    );
}
