//! A pool's `users:`: logging in (AUTH user pass, HELLO 3 AUTH, the real
//! client libraries), what each user may run and on which keys, the exact
//! NOPERM and WRONGPASS texts, a connection closed after too many failed
//! logins (counted in INFO and /metrics, logged with the client's address
//! and never the password), and a reload reaching clients already
//! connected. Real redis-server and redshard processes on loopback.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{clients_dir, require, run_script};
use common::servers::{alpha_proxy, free_port, pool_config, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `ops`'s password is given by its SHA-256 (of "ops-pw").
const USERS: &str = "  users:
   - {name: reader, password: r, commands: [\"+@read\"], keys: [\"app:*\"]}
   - {name: app, password: app-pw, commands: [\"+@all\", \"-@dangerous\"], keys: [\"app:*\"]}
   - name: ops
     password: \"sha256:e17304c364ead29fb2b55a09e7287d40873d79a2a2226f8fb6fcd25c9acce886\"
     commands: [\"+@all\"]
";

const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn info(c: &mut Conn) -> String {
    match c.cmd(&["INFO"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("INFO: {other:?}"),
    }
}

#[test]
fn a_read_only_user_reads_its_keys_and_nothing_else() {
    let s = [RedisServer::start(), RedisServer::start()];
    let p = alpha_proxy(&s, USERS);
    let mut c = p.conn();
    assert_eq!(
        c.cmd(&["GET", "app:1"]).error_text(),
        "NOAUTH Authentication required."
    );
    assert_eq!(c.cmd(&["AUTH", "reader", "r"]), Reply::ok());
    let mut admin = p.conn();
    assert_eq!(admin.cmd(&["AUTH", "ops", "ops-pw"]), Reply::ok());
    assert_eq!(admin.cmd(&["SET", "app:1", "v"]), Reply::ok());
    assert_eq!(admin.cmd(&["SET", "other", "secret"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "app:1"]), Reply::bulk("v"));
    assert_eq!(
        c.cmd(&["SET", "app:1", "x"]).error_text(),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    assert_eq!(c.cmd(&["GET", "other"]).error_text(), NOPERM_KEY);
    assert_eq!(c.cmd(&["MGET", "app:1", "other"]).error_text(), NOPERM_KEY);
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('GET', 'other')", "1", "app:1"])
            .error_text(),
        "NOPERM this user has no permissions to run the 'eval' command"
    );
    assert_eq!(
        c.cmd(&["SORT_RO", "app:1", "BY", "other*"]).error_text(),
        "ERR BY option of SORT denied due to insufficient ACL permissions."
    );
    assert_eq!(
        c.cmd(&["ACL", "WHOAMI"]).error_text(),
        "NOPERM this user has no permissions to run the 'acl|whoami' command"
    );
    // Nothing was written on any server.
    for srv in &s {
        let v = srv.conn().cmd(&["GET", "app:1"]);
        assert!(v == Reply::bulk("v") || v == Reply::Nil, "{v:?}");
    }
    assert_eq!(admin.cmd(&["ACL", "WHOAMI"]), Reply::bulk("ops"));
    // Refusals counted, as Redis names them.
    let text = info(&mut admin);
    assert!(text.contains("acl_access_denied_cmd:3\r\n"), "{text}");
    assert!(text.contains("acl_access_denied_key:3\r\n"), "{text}");
}

#[test]
fn hello_3_auth_and_a_user_of_each_kind() {
    let s = [RedisServer::start()];
    let p = alpha_proxy(&s, USERS);
    let mut c = p.conn();
    let Reply::Array(map) = c.cmd(&["HELLO", "3", "AUTH", "app", "app-pw"]) else {
        panic!()
    };
    assert!(map.len() >= 14);
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Reply::bulk("app"));
    assert_eq!(c.cmd(&["SET", "app:k", "1"]), Reply::ok());
    // @dangerous taken away: KEYS and SCRIPT FLUSH (@admin too) refused.
    assert!(c.cmd(&["KEYS", "*"]).error_text().starts_with("NOPERM"));
    assert_eq!(
        c.cmd(&["SCRIPT", "FLUSH"]).error_text(),
        "NOPERM this user has no permissions to run the 'script|flush' command"
    );
    let mut d = p.conn();
    assert_eq!(
        d.cmd(&["HELLO", "3", "AUTH", "app", "nope"]).error_text(),
        WRONGPASS
    );
    assert_eq!(
        d.cmd(&["AUTH", "nosuchuser", "app-pw"]).error_text(),
        WRONGPASS
    );
    // AUTH pass alone is `default`, which this pool does not define.
    assert_eq!(d.cmd(&["AUTH", "app-pw"]).error_text(), WRONGPASS);
    // The SHA-256 form, and a user holding @admin: SCRIPT FLUSH runs.
    let mut ops = p.conn();
    assert_eq!(ops.cmd(&["AUTH", "ops", "ops-pw"]), Reply::ok());
    assert_eq!(ops.cmd(&["SCRIPT", "FLUSH"]), Reply::ok());
}

#[test]
fn wrong_passwords_close_the_connection_and_are_counted_and_logged() {
    let s = [RedisServer::start()];
    let metrics = free_port();
    let stats = free_port().to_string();
    let config = pool_config("alpha", &[&s[0]], USERS);
    let p = Redshard::start_args(
        &config,
        &[
            "--workers",
            "1",
            "-s",
            &stats,
            "-a",
            "127.0.0.1",
            "--metrics",
            &metrics.to_string(),
        ],
    );
    let mut c = p.conn();
    let local = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    let client_addr = local.local_addr().unwrap().to_string();
    let mut c2 = Conn::from_tcp(local);
    for guess in ["guess-one", "guess-two"] {
        assert_eq!(c2.cmd(&["AUTH", "app", guess]).error_text(), WRONGPASS);
    }
    // The third (max_auth_failures' default) is answered, then the end.
    c2.send(&[b"AUTH", b"app", b"guess-three"]);
    c2.send(&[b"PING"]);
    let (closed, rest) = c2.closed_within(Duration::from_secs(5));
    assert!(closed, "still open after 3 failed logins");
    assert_eq!(
        rest,
        format!("-{WRONGPASS}\r\n").into_bytes(),
        "PING unanswered"
    );
    // Each failure logged with the client's address and the user, never
    // the password.
    p.wait_logged(&format!(
        "failed login from {client_addr} as app (3 of 3; closing"
    ));
    let log = p.log_text();
    assert!(!log.contains("guess-"), "a password in the log:\n{log}");
    // Counted in INFO and /metrics.
    assert_eq!(c.cmd(&["AUTH", "ops", "ops-pw"]), Reply::ok());
    assert!(info(&mut c).contains("acl_access_denied_auth:3\r\n"));
    let mut http = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    http.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    http.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("redshard_acl_access_denied_total{pool=\"alpha\",reason=\"auth\"} 3"),
        "{text}"
    );
}

#[test]
fn a_reload_reaches_connected_clients_at_their_next_command() {
    let s = [RedisServer::start()];
    let p = alpha_proxy(&s, USERS);
    let mut app = p.conn();
    assert_eq!(app.cmd(&["AUTH", "app", "app-pw"]), Reply::ok());
    let mut reader = p.conn();
    assert_eq!(reader.cmd(&["AUTH", "reader", "r"]), Reply::ok());
    assert_eq!(app.cmd(&["SET", "app:k", "1"]), Reply::ok());
    // app may now only read; reader's password changes.
    let changed = USERS
        .replace("[\"+@all\", \"-@dangerous\"]", "[\"+@read\"]")
        .replace("password: r,", "password: r2,");
    let reload = |text: &str| {
        let before = p.log_text().matches("config reloaded").count();
        p.write_config(&pool_config("alpha", &[&s[0]], text));
        kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();
        let started = Instant::now();
        while p.log_text().matches("config reloaded").count() == before {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    reload(&changed);
    assert_eq!(
        app.cmd(&["SET", "app:k", "2"]).error_text(),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    assert_eq!(app.cmd(&["GET", "app:k"]), Reply::bulk("1"));
    assert_eq!(
        reader.cmd(&["GET", "app:k"]).error_text(),
        "NOAUTH Authentication required."
    );
    assert_eq!(reader.cmd(&["AUTH", "reader", "r2"]), Reply::ok());
    assert_eq!(reader.cmd(&["GET", "app:k"]), Reply::bulk("1"));
    // A pool without users, then redis_auth turned on.
    reload("");
    let mut open = p.conn();
    assert_eq!(open.cmd(&["GET", "app:k"]), Reply::bulk("1"));
    reload("  redis_auth: now-needed\n");
    assert_eq!(
        open.cmd(&["GET", "app:k"]).error_text(),
        "NOAUTH Authentication required."
    );
    assert_eq!(open.cmd(&["AUTH", "now-needed"]), Reply::ok());
    assert_eq!(open.cmd(&["GET", "app:k"]), Reply::bulk("1"));
}

#[test]
fn a_refused_command_inside_multi_aborts_the_transaction() {
    let s = [RedisServer::start()];
    let p = alpha_proxy(&s, USERS);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["AUTH", "app", "app-pw"]), Reply::ok());
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["SET", "app:a", "1"]),
        Reply::Status("QUEUED".into())
    );
    assert_eq!(c.cmd(&["SET", "other", "1"]).error_text(), NOPERM_KEY);
    assert!(c.cmd(&["EXEC"]).error_text().starts_with("EXECABORT"));
    assert_eq!(
        s[0].conn().cmd(&["EXISTS", "app:a", "other"]),
        Reply::Int(0)
    );
}

#[test]
fn users_are_checked_by_dash_t_with_file_and_line() {
    let dir = common::servers::temp_dir("users-t");
    let path = dir.join("bad.yml");
    let text = "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  users:\n   - name: app\n     password: x\n     commands:\n       - \"+@read\"\n       - \"+@wrtie\"\n  servers:\n   - 127.0.0.1:6379:1\n";
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redshard"))
        .args(["-t", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:9: pool 'alpha', key 'users': user 'app': '@wrtie' is not a command category",
            path.display()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_libraries_log_in_with_username_and_password() {
    let s = [RedisServer::start(), RedisServer::start()];
    let p = alpha_proxy(&s, USERS);
    let args = [p.port.to_string(), "app".into(), "app-pw".into()];
    for venv in ["py-latest", "py4"] {
        let python = clients_dir().join(venv).join("bin/python");
        if require(&python) {
            run_script(&python, "users_check.py", &args, &[]);
        }
    }
    let modules = clients_dir().join("node/node_modules");
    if require(&modules.join("ioredis")) && require(&modules.join("redis")) {
        run_script(
            Path::new("node"),
            "users_check.js",
            &args,
            &[("NODE_PATH", modules)],
        );
    }
}
