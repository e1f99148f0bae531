//! Hot reload under load: servers added and removed, weights and hash
//! changed, invalid files refused, listeners moved, 100 reloads without a
//! leak; triggered by SIGHUP, by replacing the file, by writing it in place
//! and by a change made while the proxy was still starting.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::servers::{free_port, rss_kib, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redshard::config::Config;
use redshard::pool::Placement;

/// A pool config listening on `port` with `servers` as (server, weight).
/// `port` may be "{port}", which the start helper fills in.
fn config(port: impl std::fmt::Display, hash: &str, servers: &[(&RedisServer, u32)]) -> String {
    let mut s = format!("alpha:\n  listen: 127.0.0.1:{port}\n  redis: true\n  hash: {hash}\n  timeout: 2000\n  servers:\n");
    for (srv, w) in servers {
        s.push_str(&format!("   - 127.0.0.1:{}:{w}\n", srv.port));
    }
    s
}

/// Replaces the file as editors do: write a new one, rename it over.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn info(c: &mut Conn) -> String {
    let Reply::Bulk(b) = c.cmd(&["INFO"]) else {
        panic!()
    };
    String::from_utf8(b).unwrap()
}

/// Waits until INFO shows `pool_line_part` (the reload has been applied).
fn wait_applied(c: &mut Conn, part: &str) -> Duration {
    let started = Instant::now();
    while !info(c).contains(part) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "reload not applied: {part}\n{}",
            info(c)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

/// Waits until the log contains `want`.
fn wait_logged(p: &Redshard, want: &str) {
    p.wait_logged(want)
}

/// Keys written through the proxy land where the file's ring says.
fn assert_placement(p: &Redshard, c: &mut Conn, servers: &[&RedisServer], tag: &str) {
    let config = Config::load(&p.config).unwrap();
    let pool = &config.pools[0];
    let placement = Placement::new(pool);
    for i in 0..60 {
        let key = format!("probe:{tag}:{i}:k");
        assert_eq!(c.cmd(&["SET", &key, "1"]), Reply::ok());
        let index = placement.server_for(key.as_bytes()).unwrap();
        let port: u16 = pool.servers[index]
            .addr
            .as_ref()
            .unwrap()
            .to_string()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let srv = servers.iter().find(|s| s.port == port).unwrap();
        assert_eq!(
            srv.conn().cmd(&["GET", &key]),
            Reply::bulk("1"),
            "{tag}: {key} not on server {index}"
        );
    }
}

struct Load {
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Several clients pipelining SET/GET batches until stopped.
fn load(port: u16, clients: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let threads = (0..clients)
        .map(|t| {
            let (stop, errors, done) = (stop.clone(), errors.clone(), done.clone());
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut batch = Vec::new();
                    for i in 0..20 {
                        let k = format!("load:{t}:{}:k", (n + i) % 500);
                        batch.extend(common::servers::encode(&[b"SET", k.as_bytes(), b"v"]));
                        batch.extend(common::servers::encode(&[b"GET", k.as_bytes()]));
                    }
                    c.send_raw(&batch);
                    for _ in 0..40 {
                        match c.read() {
                            Reply::Error(e) => {
                                eprintln!("load error: {e}");
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    n += 20;
                }
            })
        })
        .collect();
    Load {
        stop,
        errors,
        done,
        threads,
    }
}

impl Load {
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join()
                .expect("a load client failed (dropped connection?)");
        }
        (
            self.done.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn add_remove_reweigh_rehash_under_load_without_errors() {
    let s: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s[0], 1), (&s[1], 1), (&s[2], 1)]),
        &["--workers", "2"],
    );
    let port = p.port;
    let all: Vec<&RedisServer> = s.iter().collect();
    let mut c = p.conn();
    let load = load(p.port, 4);
    std::thread::sleep(Duration::from_millis(200));
    let pid = Pid::from_raw(p.pid() as i32);

    // Add a fourth server (SIGHUP).
    std::fs::write(
        &p.config,
        config(
            port,
            "fnv1a_64",
            &[(&s[0], 1), (&s[1], 1), (&s[2], 1), (&s[3], 1)],
        ),
    )
    .unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let took = wait_applied(&mut c, "servers=4");
    eprintln!("SIGHUP -> new ring in use after {took:?}");
    assert_placement(&p, &mut c, &all, "added");

    // Remove one (file replaced by rename; the watcher picks it up).
    replace(
        &p.config,
        &config(port, "fnv1a_64", &[(&s[0], 1), (&s[1], 1), (&s[3], 1)]),
    );
    let took = wait_applied(&mut c, "servers=3");
    eprintln!("rename -> new ring in use after {took:?}");
    assert_placement(&p, &mut c, &all, "removed");

    // Change weights.
    replace(
        &p.config,
        &config(port, "fnv1a_64", &[(&s[0], 3), (&s[1], 1), (&s[3], 2)]),
    );
    wait_applied(&mut c, "weight=3");
    assert_placement(&p, &mut c, &all, "weights");

    // Change the hash.
    replace(
        &p.config,
        &config(port, "murmur", &[(&s[0], 3), (&s[1], 1), (&s[3], 2)]),
    );
    wait_applied(&mut c, "hash=murmur");
    assert_placement(&p, &mut c, &all, "hash");

    std::thread::sleep(Duration::from_millis(200));
    let (done, errors) = load.finish();
    assert!(done > 1000, "too little load: {done}");
    assert_eq!(errors, 0, "error replies under reload");
}

#[test]
fn invalid_config_is_refused_and_the_old_one_keeps_serving() {
    let s: Vec<RedisServer> = (0..2).map(|_| RedisServer::start()).collect();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s[0], 1), (&s[1], 1)]),
        &["--workers", "1", "--no-watch"],
    );
    let good = config(p.port, "fnv1a_64", &[(&s[0], 1), (&s[1], 1)]);
    let mut c = p.conn();
    let pid = Pid::from_raw(p.pid() as i32);
    for (bad, want) in [
        ("alpha:\n\t- x\n", "malformed YAML"),
        (
            &*good.replace("timeout:", "timeoutt:"),
            "unknown key `timeoutt`",
        ),
        (
            &*good.replace(&format!("{}:1\n", s[1].port), &format!("{}:0\n", s[1].port)),
            "zero weight",
        ),
    ] {
        std::fs::write(&p.config, bad).unwrap();
        kill(pid, Signal::SIGHUP).unwrap();
        wait_logged(&p, want);
        assert_eq!(c.cmd(&["SET", "still", "here"]), Reply::ok());
        assert!(info(&mut c).contains("servers=2"));
    }
    let log = p.log_text();
    assert!(
        log.contains("redshard.yml:5: pool 'alpha', key 'timeoutt'"),
        "{log}"
    );
}

#[test]
fn an_out_of_range_value_is_refused_at_reload_and_the_old_config_keeps_serving() {
    let s: Vec<RedisServer> = (0..2).map(|_| RedisServer::start()).collect();
    let mut p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s[0], 1), (&s[1], 1)]),
        &["--workers", "1", "--no-watch"],
    );
    let good = config(p.port, "fnv1a_64", &[(&s[0], 1), (&s[1], 1)]);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", "before", "1"]), Reply::ok());
    let pid = Pid::from_raw(p.pid() as i32);
    // (Far above the bound, yet small enough that a build without it
    // applies the value instead of aborting: the test fails, not the machine.)
    let bad = good.replace("  servers:\n", "  server_connections: 100000\n  servers:\n");
    std::fs::write(&p.config, &bad).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    wait_logged(&p, "reload (SIGHUP) refused");
    let log = p.log_text();
    assert!(
        log.contains(
            "redshard.yml:6: pool 'alpha', key 'server_connections': 100000 is out of range"
        ),
        "{log}"
    );
    assert!(!log.contains("config reloaded"), "{log}");
    assert!(p.alive());
    assert_eq!(c.cmd(&["GET", "before"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["SET", "still", "here"]), Reply::ok());
    assert!(info(&mut c).contains("servers=2"));
    // A fresh client is served by the old config too.
    assert_eq!(p.conn().cmd(&["GET", "still"]), Reply::bulk("here"));
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn a_hundred_reloads_under_load_leak_nothing() {
    let s: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s[0], 1), (&s[1], 1), (&s[2], 1)]),
        &["--workers", "2", "--no-watch"],
    );
    let three = config(p.port, "fnv1a_64", &[(&s[0], 1), (&s[1], 1), (&s[2], 1)]);
    let four = config(
        p.port,
        "fnv1a_64",
        &[(&s[0], 1), (&s[1], 1), (&s[2], 1), (&s[3], 2)],
    );
    let load = load(p.port, 3);
    std::thread::sleep(Duration::from_millis(300));
    let (fds_before, rss_before) = (fd_count(p.pid()), rss_kib(p.pid()));
    let pid = Pid::from_raw(p.pid() as i32);
    let mut c = p.conn();
    for i in 0..100 {
        let (text, want) = if i % 2 == 0 {
            (&four, "servers=4")
        } else {
            (&three, "servers=3")
        };
        std::fs::write(&p.config, text).unwrap();
        kill(pid, Signal::SIGHUP).unwrap();
        wait_applied(&mut c, want);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (done, errors) = load.finish();
    std::thread::sleep(Duration::from_millis(300));
    let (fds_after, rss_after) = (fd_count(p.pid()), rss_kib(p.pid()));
    eprintln!("100 reloads: fds {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB, {done} replies, {errors} errors");
    assert_eq!(errors, 0);
    // The load clients are gone now: fewer fds than before, never more.
    assert!(
        fds_after <= fds_before + 4,
        "fd leak: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS grew: {rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn sighup_and_rename_trigger_no_watch_ignores_the_file_and_listen_moves() {
    let s = RedisServer::start();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s, 1)]),
        &["--workers", "1", "--no-watch"],
    );
    let port = p.port;
    let mut c = p.conn();
    replace(&p.config, &config(port, "murmur", &[(&s, 1)]));
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        info(&mut c).contains("hash=fnv1a_64"),
        "--no-watch reloaded on a file change"
    );
    // One after the other: two signals sent at once may be handled in
    // either order (each goes to whichever thread the kernel picks).
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGUSR2).unwrap();
    wait_logged(&p, "SIGUSR2 received (no action)");
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGUSR1).unwrap();
    wait_applied(&mut c, "hash=murmur");
    // A new listen address: opened before the old one closes; clients stay.
    let new_port = free_port();
    std::fs::write(&p.config, config(new_port, "murmur", &[(&s, 1)])).unwrap();
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();
    common::servers::wait_for_port(new_port, Duration::from_secs(5));
    let mut d = Conn::tcp(new_port);
    assert_eq!(d.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        c.cmd(&["PING"]),
        Reply::Status("PONG".into()),
        "an existing client was dropped"
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "old listener still open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_file_watch_reloads_on_rename() {
    let s = RedisServer::start();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s, 1)]),
        &["--workers", "1"],
    );
    let port = p.port;
    let mut c = p.conn();
    replace(&p.config, &config(port, "jenkins", &[(&s, 1)]));
    let took = wait_applied(&mut c, "hash=jenkins");
    eprintln!("file replaced -> applied in {took:?}");
    assert!(
        p.log_text().contains("(inotify on its directory)"),
        "the watch mode is logged:\n{}",
        p.log_text()
    );
}

#[test]
fn a_file_grown_past_4_mib_is_refused_by_the_watch_and_by_sighup() {
    let s = RedisServer::start();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s, 1)]),
        &["--workers", "1"],
    );
    let mut c = p.conn();
    // A valid config whose comments take it past the bound.
    let mut big = config(p.port, "jenkins", &[(&s, 1)]);
    big.push_str(&format!("# {}\n", "x".repeat(4 << 20)));
    replace(&p.config, &big);
    wait_logged(&p, "reload (config file changed) refused");
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGHUP).unwrap();
    wait_logged(&p, "reload (SIGHUP) refused");
    let log = p.log_text();
    assert_eq!(log.matches("is larger than 4mb").count(), 2, "{log}");
    assert!(info(&mut c).contains("hash=fnv1a_64"));
    assert_eq!(c.cmd(&["SET", "still", "here"]), Reply::ok());
}

/// Successful reloads the file watch made, as logged.
fn watch_reloads(p: &Redshard) -> usize {
    p.log_text()
        .matches("config reloaded (config file changed)")
        .count()
}

#[test]
fn an_in_place_write_reloads_and_the_same_bytes_do_not() {
    let s: Vec<RedisServer> = (0..2).map(|_| RedisServer::start()).collect();
    let p = Redshard::start_args(
        &config("{port}", "fnv1a_64", &[(&s[0], 1)]),
        &["--workers", "1"],
    );
    let mut c = p.conn();
    let jenkins = config(p.port, "jenkins", &[(&s[0], 1)]);
    // Truncate and write: the same inode, so only the content tells.
    std::fs::write(&p.config, &jenkins).unwrap();
    wait_applied(&mut c, "hash=jenkins");
    // A new file with the same bytes is not a change...
    replace(&p.config, &jenkins);
    // ...and the next real change still is. (Had a truncation been read on
    // its own, that empty file was refused, not counted.)
    std::fs::write(
        &p.config,
        config(p.port, "jenkins", &[(&s[0], 1), (&s[1], 1)]),
    )
    .unwrap();
    // Its own log line, written after the swap: once it is there, so is any
    // reload the same bytes could have caused (one task, in order).
    wait_logged(&p, "(config file changed): pool 'alpha': servers added");
    assert!(info(&mut c).contains("servers=2"));
    assert_eq!(watch_reloads(&p), 2, "{}", p.log_text());
}

/// A change made while redshard starts, before its watch exists, is applied:
/// the watch compares the file with the bytes that were loaded, not with
/// what it finds when it begins. The delays sweep the start-up (load,
/// listeners, watch); whichever step the change lands in, the result is the
/// same.
#[test]
fn a_change_made_while_starting_is_applied() {
    const DELAYS_MS: [u64; 8] = [0, 1, 2, 5, 10, 20, 40, 80];
    let s: Vec<RedisServer> = (0..2).map(|_| RedisServer::start()).collect();
    let all: Vec<&RedisServer> = s.iter().collect();
    for delay_ms in DELAYS_MS {
        let p = Redshard::spawn_args(
            &config("{port}", "fnv1a_64", &[(&s[0], 1)]),
            &["--workers", "1"],
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        // By rename: a start-up read never sees half a file.
        replace(
            &p.config,
            &config(p.port, "fnv1a_64", &[(&s[0], 1), (&s[1], 1)]),
        );
        common::servers::wait_for_port(p.port, Duration::from_secs(10));
        let mut c = p.conn();
        wait_applied(&mut c, "servers=2");
        assert_placement(&p, &mut c, &all, &format!("start+{delay_ms}ms"));
    }
}
