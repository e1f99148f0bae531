//! Where the proxy listens, and with what permissions. A unix socket has its
//! configured mode from the moment its path exists (it arrives there by a
//! rename, never created there with the umask's mode and chmod-ed after);
//! a reload that renames a pool but keeps its socket path keeps the socket;
//! the stats port binds where `-a` says, and without `-a` keeps
//! nutcracker's 0.0.0.0 with a warning in the log. Real redis-server and
//! redshard processes on loopback; every wait is bounded.

mod common;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::servers::{free_port, pool_config, temp_dir, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use notify::{Event, EventKind, RecursiveMode, Watcher};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A TCP pool (so the helper can wait for its port) and a unix pool named
/// `name` on `sock` with mode `perm`.
fn config(server: &RedisServer, name: &str, sock: &Path, perm: &str) -> String {
    let mut text = pool_config("alpha", &[server], "");
    text.push_str(&format!(
        "{name}:\n  listen: {} {perm}\n  redis: true\n  servers:\n   - 127.0.0.1:{}:1\n",
        sock.display(),
        server.port
    ));
    text
}

#[test]
fn a_unix_socket_has_its_mode_from_the_start() {
    let server = RedisServer::start();
    let dir = temp_dir("sock-mode");
    let sock = dir.join("r.sock");
    let (tx, rx) = std::sync::mpsc::channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(tx).unwrap();
    watcher.watch(&dir, RecursiveMode::NonRecursive).unwrap();
    let _proxy = Redshard::start(&config(&server, "beta", &sock, "0600"));
    wait_until("socket never appeared", || sock.exists());
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // What happened at the socket's path: a rename into place, no create.
    let mut at_path = Vec::new();
    while let Ok(event) = rx.recv_timeout(Duration::from_millis(300)) {
        let event = event.unwrap();
        if event.paths.iter().any(|p| p == &sock) {
            at_path.push(event.kind);
        }
    }
    assert!(
        !at_path.iter().any(|k| matches!(k, EventKind::Create(_))),
        "the socket was created at its path (with the umask's mode): {at_path:?}"
    );
    assert!(
        at_path.iter().any(|k| matches!(k, EventKind::Modify(_))),
        "{at_path:?}"
    );
    // Nothing left beside it, and it serves.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["r.sock"]);
    assert_eq!(
        Conn::unix(&sock).cmd(&["PING"]),
        Reply::Status("PONG".into())
    );
}

#[test]
fn a_reload_that_renames_a_pool_keeps_its_socket() {
    let server = RedisServer::start();
    let dir = temp_dir("sock-rename");
    let sock = dir.join("r.sock");
    let p = Redshard::start(&config(&server, "beta", &sock, "0660"));
    wait_until("socket never appeared", || sock.exists());
    let mut before = Conn::unix(&sock);
    assert_eq!(before.cmd(&["SET", "k", "1"]), Reply::ok());
    p.write_config(&config(&server, "gamma", &sock, "0660"));
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();
    wait_until("not reloaded", || {
        p.log_text().contains("pool 'beta' removed")
    });
    assert!(
        sock.exists(),
        "the renamed pool's socket is gone:\n{}",
        p.log_text()
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut after = Conn::unix(&sock);
    assert_eq!(after.cmd(&["GET", "k"]), Reply::bulk("1"));
    // Its mode changed alone: the socket stays too, with the new mode.
    p.write_config(&config(&server, "gamma", &sock, "0600"));
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();
    wait_until("not reloaded", || {
        p.log_text().matches("config reloaded").count() >= 2
    });
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(Conn::unix(&sock).cmd(&["GET", "k"]), Reply::bulk("1"));
}

/// Whether something accepts TCP connections on `host:port`.
fn accepts(host: &str, port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("{host}:{port}").parse().unwrap(),
        Duration::from_secs(1),
    )
    .is_ok()
}

#[test]
fn the_stats_port_binds_where_told_and_warns_without_a() {
    let server = RedisServer::start();
    let text = pool_config("alpha", &[&server], "");
    // -a 127.0.0.1: only there (127.0.0.2 is loopback too, another address).
    let stats = free_port();
    let metrics = free_port();
    let told = Redshard::start_args(
        &text,
        &[
            "--workers",
            "1",
            "-s",
            &stats.to_string(),
            "-a",
            "127.0.0.1",
            "--metrics",
            &metrics.to_string(),
        ],
    );
    wait_until("stats port not bound", || accepts("127.0.0.1", stats));
    assert!(accepts("127.0.0.1", metrics));
    assert!(!accepts("127.0.0.2", stats) && !accepts("127.0.0.2", metrics));
    assert!(!told.log_text().contains("no -a was given"));
    // Without -a: nutcracker's 0.0.0.0, and the log says so at warn level.
    let stats = free_port();
    let open = Redshard::start_args(&text, &["--workers", "1", "-s", &stats.to_string()]);
    wait_until("stats port not bound", || accepts("127.0.0.2", stats));
    let log = open.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("no -a was given"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(line.contains("WARN") && line.contains("0.0.0.0"), "{line}");
}

/// A second redshard given the address a running one listens on (a stale
/// process, two configs with one port) refuses to start, for TCP and for a
/// unix socket: before, SO_REUSEPORT let it bind beside the first and take
/// part of its clients, and a socket was renamed over the live one.
#[test]
fn a_second_process_cannot_listen_where_one_does() {
    let server = RedisServer::start();
    let dir = temp_dir("sock-twice");
    let sock = dir.join("r.sock");
    let first = Redshard::start(&config(&server, "beta", &sock, "0660"));
    wait_until("socket never appeared", || sock.exists());
    let tcp = pool_config("alpha", &[&server], "").replace("{port}", &first.port.to_string());
    let unix = format!(
        "beta:\n  listen: {}\n  redis: true\n  servers:\n   - 127.0.0.1:{}:1\n",
        sock.display(),
        server.port
    );
    for text in [tcp, unix] {
        let mut second = Redshard::spawn_args(&text, &["-s", &free_port().to_string()]);
        wait_until("the second proxy still runs", || !second.alive());
        assert!(
            second.log_text().contains("another process listens there"),
            "{}",
            second.log_text()
        );
    }
    assert_eq!(first.conn().cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        Conn::unix(&sock).cmd(&["PING"]),
        Reply::Status("PONG".into())
    );
}
