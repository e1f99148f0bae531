//! Fault injection against real backends: stalled (SIGSTOP), killed and
//! restarted, all down; a client that never reads; thousands of idle
//! connections; the file descriptor limit; malformed input. Every test is
//! bounded in time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::servers::{
    eventually, free_port, keys_on, rss_kib, Conn, RedisServer, Redshard, Reply,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn servers(n: usize) -> Vec<RedisServer> {
    common::servers::start_servers(n, &[])
}

fn proxy(servers: &[RedisServer], extra: &str) -> Redshard {
    common::servers::alpha_proxy(servers, extra)
}

/// Resumes a stopped process when dropped, whatever the test does.
struct Resume(Pid);
impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

fn server_state(c: &mut Conn, index: usize) -> String {
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("server{index}:")))
        .unwrap()
        .to_string();
    line.rsplit("state=").next().unwrap().to_string()
}

#[test]
fn sigstop_times_out_ejects_and_rejoins() {
    let s = servers(3);
    let p = proxy(
        &s,
        "  timeout: 300\n  auto_eject_hosts: true\n  server_failure_limit: 2\n  server_retry_timeout: 1000\n",
    );
    let victim = 1;
    let (victim_keys, other_keys) = keys_on(&p, victim, 50);
    let stop = Arc::new(AtomicBool::new(false));
    let other_failures = Arc::new(AtomicU64::new(0));
    let victim_errors = Arc::new(Mutex::new(Vec::<(Instant, Duration, String)>::new()));
    let mut threads = Vec::new();
    for t in 0..4 {
        let (stop, other_failures, victim_errors) =
            (stop.clone(), other_failures.clone(), victim_errors.clone());
        let (victim_keys, other_keys) = (victim_keys.clone(), other_keys.clone());
        let port = p.port;
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::tcp(port);
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let other = &other_keys[i % other_keys.len()];
                if c.cmd(&["SET", other, "v"]).is_error() {
                    other_failures.fetch_add(1, Ordering::Relaxed);
                }
                let k = &victim_keys[i % victim_keys.len()];
                let started = Instant::now();
                let r = c.cmd(&["GET", k]);
                if let Reply::Error(e) = r {
                    victim_errors
                        .lock()
                        .unwrap()
                        .push((started, started.elapsed(), e));
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    kill(Pid::from_raw(s[victim].pid() as i32), Signal::SIGSTOP).unwrap();
    let resume = Resume(Pid::from_raw(s[victim].pid() as i32));
    // Ejected after server_failure_limit timeouts.
    let mut info = p.conn();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_state(&mut info, victim) != "ejected" {
        assert!(Instant::now() < deadline, "not ejected within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ejected_after = stopped_at.elapsed();
    let ejected_at = Instant::now();
    // While ejected, its keys are served by the ring successor: a request
    // sent after the ejection never fails (one sent before may still time out).
    std::thread::sleep(Duration::from_millis(500));
    let late: Vec<String> = victim_errors
        .lock()
        .unwrap()
        .iter()
        .filter(|(started, _, _)| *started > ejected_at + Duration::from_millis(20))
        .map(|(_, _, e)| e.clone())
        .collect();
    assert!(
        late.is_empty(),
        "requests sent after the ejection failed: {late:?}"
    );
    // SIGCONT: it rejoins after server_retry_timeout.
    let resumed_at = Instant::now();
    drop(resume);
    while server_state(&mut info, victim) != "live" {
        assert!(
            resumed_at.elapsed() < Duration::from_secs(5),
            "not back within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let rejoined_after = resumed_at.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        other_failures.load(Ordering::Relaxed),
        0,
        "requests to healthy servers failed"
    );
    let errors = victim_errors.lock().unwrap();
    assert!(
        !errors.is_empty(),
        "the stalled server's requests should have failed"
    );
    for (_, took, text) in errors.iter() {
        assert!(
            *took < Duration::from_millis(300 + 700),
            "an error took {took:?}"
        );
        assert!(
            text.contains(&format!("127.0.0.1:{}", s[victim].port)),
            "{text}"
        );
    }
    eprintln!(
        "SIGSTOP -> ejected in {ejected_after:?}; {} requests failed; SIGCONT -> rejoined in {rejoined_after:?}",
        errors.len()
    );
    // Its keys are its own again.
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", &victim_keys[0], "back"]), Reply::ok());
    assert_eq!(
        s[victim].conn().cmd(&["GET", &victim_keys[0]]),
        Reply::bulk("back")
    );
}

#[test]
fn killed_backend_fails_fast_then_recovers_without_a_proxy_restart() {
    let mut s = servers(3);
    let p = proxy(&s, "  timeout: 500\n  server_retry_timeout: 300\n");
    let victim = 2;
    let (victim_keys, other_keys) = keys_on(&p, victim, 5);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", &victim_keys[0], "1"]), Reply::ok());
    let port = s[victim].port;
    kill(Pid::from_raw(s[victim].pid() as i32), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Errors, each immediate, naming the server.
    for _ in 0..20 {
        let started = Instant::now();
        let r = c.cmd(&["GET", &victim_keys[0]]);
        assert!(
            r.error_text().contains(&format!("127.0.0.1:{port}")),
            "{r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "slow error: {:?}",
            started.elapsed()
        );
        assert_eq!(c.cmd(&["SET", &other_keys[0], "x"]), Reply::ok());
    }
    // Restart on the same port: within a retry period it works again.
    s.remove(victim);
    let restarted = RedisServer::command(port)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _restarted = KillOnDrop(restarted);
    common::servers::wait_for_port(port, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if c.cmd(&["SET", &victim_keys[0], "2"]) == Reply::ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery within 5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.cmd(&["GET", &victim_keys[0]]), Reply::bulk("2"));
}

#[test]
fn all_backends_down_every_request_gets_a_clear_error() {
    let s = servers(2);
    let mut p = proxy(&s, "  timeout: 300\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n");
    drop(s);
    let mut c = p.conn();
    for i in 0..50 {
        let started = Instant::now();
        let r = c.cmd(&["GET", &format!("k{i}")]);
        assert!(r.is_error(), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let r = c.cmd(&["MGET", "a", "b", "c"]);
    assert!(r.is_error(), "{r:?}");
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert!(p.alive());
}

#[test]
fn a_client_that_never_reads_cannot_grow_the_proxy() {
    let s = servers(2);
    let p = proxy(&s, "  client_output_limit: 8mb\n");
    let mut setup = p.conn();
    let value = "v".repeat(16 * 1024);
    assert_eq!(setup.cmd(&["SET", "big", &value]), Reply::ok());
    let idle_rss = rss_kib(p.pid());
    // Pipeline GETs of a 16 KiB value without reading a byte: up to 1 GiB of
    // replies, for at most 5 seconds.
    let port = p.port;
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let batch: Vec<u8> = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(1000);
        let started = Instant::now();
        let mut sent = 0u64;
        while sent < (1u64 << 30) / 16 && started.elapsed() < Duration::from_secs(5) {
            match stream.write_all(&batch) {
                Ok(()) => sent += 1000,
                Err(_) => break, // the proxy stopped reading: back-pressure
            }
        }
        (sent, stream)
    });
    let mut peak = idle_rss;
    let mut other = p.conn();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        peak = peak.max(rss_kib(p.pid()));
        // Other clients are served meanwhile.
        assert_eq!(other.cmd(&["PING"]), Reply::Status("PONG".into()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (sent, stream) = writer.join().unwrap();
    drop(stream);
    eprintln!("slow client: {sent} GETs written; proxy RSS idle {idle_rss} KiB, peak {peak} KiB");
    assert!(
        sent < (1u64 << 30) / 16,
        "the proxy kept reading: {sent} requests"
    );
    assert!(
        peak < idle_rss + 64 * 1024,
        "RSS grew from {idle_rss} to {peak} KiB"
    );
}

#[test]
fn five_thousand_idle_connections_then_traffic_on_all() {
    raise_fd_limit(12_000);
    let s = servers(2);
    let p = proxy(&s, "");
    let mut conns: Vec<Conn> = (0..5000).map(|_| p.conn()).collect();
    std::thread::sleep(Duration::from_millis(200));
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&[b"SET", format!("idle:{i}:k").as_bytes(), b"1"]);
    }
    for c in conns.iter_mut() {
        assert_eq!(c.read(), Reply::ok());
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.cmd(&["GET", &format!("idle:{i}:k")]), Reply::bulk("1"));
    }
}

fn raise_fd_limit(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).unwrap();
    }
}

#[test]
fn malformed_frames_get_an_error_and_only_that_client_is_closed() {
    let s = servers(2);
    let p = proxy(&s, "");
    let mut bystander = p.conn();
    assert_eq!(bystander.cmd(&["SET", "k", "v"]), Reply::ok());
    let cases: [(&[u8], &str); 8] = [
        (b"*x\r\n", "invalid multibulk length"),
        (b"SET k \"v\r\n", "unbalanced quotes in request"),
        (b"*1\r\n$4\r\nPIN\r\n", "not followed by CRLF"),
        (b"*-1\r\n", "empty or null command array"),
        (b"*0\r\n", "empty or null command array"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "a TLS handshake on a port without TLS",
        ),
        (b"PING\x00\r\n", "NUL byte in an inline command"),
    ];
    for (input, want) in cases {
        let mut c = p.conn();
        c.send_raw(input);
        let r = c.read();
        let text = r.error_text();
        assert!(
            text.starts_with("ERR Protocol error: ") && text.contains(want),
            "{input:?}: {text}"
        );
        let (closed, _) = c.closed_within(Duration::from_secs(2));
        assert!(closed, "{input:?}: connection left open");
        assert_eq!(bystander.cmd(&["GET", "k"]), Reply::bulk("v"));
    }
    // Garbage typed as a line is an unknown command, as in Redis: an
    // error, and the connection goes on.
    let mut c = p.conn();
    c.send_raw(b"garbage in a line\r\n");
    assert_eq!(
        c.read().error_text(),
        "ERR unknown command 'garbage', with args beginning with: 'in' 'a' 'line' "
    );
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    // Replies due before the bad frame are still written, in order.
    let mut c = p.conn();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$4\r\nPING\r\n*x\r\n");
    assert_eq!(c.read(), Reply::ok());
    assert_eq!(c.read(), Reply::Status("PONG".into()));
    assert!(c.read().is_error());
    assert!(c.closed_within(Duration::from_secs(2)).0);
}

#[test]
fn requests_never_written_are_routed_again_after_the_ejection() {
    let mut s = servers(3);
    let p = proxy(
        &s,
        "  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n",
    );
    let victim = 0;
    let (victim_keys, _) = keys_on(&p, victim, 20);
    // Dead before any request: the first requests to it wait for a connect
    // that fails, so none of them was written. The failure ejects the server
    // and they go to the ring successor instead of failing.
    drop(s.remove(victim));
    let mut c = p.conn();
    let mut batch = Vec::new();
    for k in &victim_keys {
        batch.extend(common::servers::encode(&[b"SET", k.as_bytes(), b"moved"]));
    }
    c.send_raw(&batch);
    for k in &victim_keys {
        assert_eq!(c.read(), Reply::ok(), "{k}");
    }
    for k in &victim_keys {
        assert_eq!(c.cmd(&["GET", k]), Reply::bulk("moved"));
    }
    let on_others: usize = s.iter().map(|srv| srv.keys().len()).sum();
    assert_eq!(on_others, victim_keys.len());
}

/// A client of the proxy at the descriptor limit, with a bounded wait for
/// every answer: `Ok` once `SET` is served, `Err(error text)` when the
/// proxy turns it away; a silent proxy fails the test.
fn client_at_the_limit(port: u16, key: &str) -> Result<Conn, String> {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut c = Conn::from_tcp(stream);
    match c.try_call(&[b"SET", key.as_bytes(), b"v"]) {
        Ok(r) if r == Reply::ok() => Ok(c),
        Ok(r) if r.is_error() => {
            let text = r.error_text().to_string();
            assert!(
                c.closed_within(Duration::from_secs(3)).0,
                "a refused client is closed"
            );
            Err(text)
        }
        Ok(r) => panic!("{key}: unexpected reply {r:?}"),
        Err(e) => panic!("{key}: {e}: a client at the descriptor limit hangs"),
    }
}

/// The proxy's `redshard_client_fd_refusals_total` for pool `alpha`.
fn fd_refusals(metrics: u16) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let line = "redshard_client_fd_refusals_total{pool=\"alpha\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .unwrap_or_else(|| panic!("no {line} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn at_the_descriptor_limit_newcomers_get_an_error_and_the_others_are_served() {
    let s = servers(1);
    let config = common::servers::pool_config("alpha", &[&s[0]], "  preconnect: true\n");
    let metrics = free_port();
    let args = format!(
        "--workers 2 -s {} -a 127.0.0.1 --metrics {metrics}",
        free_port()
    );
    let args: Vec<&str> = args.split(' ').collect();
    let p = Redshard::start_fd_limited(&config, 64, &args);
    // Clients until the proxy has no descriptor left: the first one it
    // cannot take is told so, not left waiting.
    let mut held = Vec::new();
    let refusal = loop {
        assert!(held.len() < 100, "no refusal under a limit of 64");
        match client_at_the_limit(p.port, &format!("fd:{}", held.len())) {
            Ok(c) => held.push(c),
            Err(text) => break text,
        }
    };
    assert!(
        refusal.starts_with("ERR redshard: too many open files"),
        "{refusal}"
    );
    let mut refused: u64 = 1;
    // Newcomers keep getting the error at once, while the clients
    // already connected are served.
    for i in 0..20 {
        let reply = client_at_the_limit(p.port, &format!("more:{i}"));
        assert!(reply.is_err(), "served at the limit");
        refused += 1;
    }
    for (i, c) in held.iter_mut().enumerate() {
        assert_eq!(c.cmd(&["GET", &format!("fd:{i}")]), Reply::bulk("v"));
    }
    // Descriptors freed: newcomers are served again (once the proxy has
    // seen the clients leave). Each attempt is answered either way.
    held.truncate(held.len() - 5);
    let mut attempt = |key: &str| {
        let answer = client_at_the_limit(p.port, key);
        refused += u64::from(answer.is_err());
        answer.ok()
    };
    let mut fresh = eventually(Duration::from_secs(5), "a client served", || {
        attempt("fresh")
    });
    assert_eq!(fresh.cmd(&["GET", "fresh"]), Reply::bulk("v"));
    drop(fresh);
    // The episode: one warning with the limit and the way out, one line
    // when clients are accepted again, not a line per attempt.
    eventually(Duration::from_secs(5), "the end of the episode", || {
        attempt("after")?;
        let log = p.log_text();
        log.contains("accepting clients again").then_some(())
    });
    let log = p.log_text();
    let lines = log.lines().filter(|l| l.contains("Too many open files"));
    assert_eq!(lines.count(), 1, "{log}");
    assert!(log.contains("The limit is 64"), "{log}");
    assert!(log.contains("ulimit -n"), "{log}");
    assert_eq!(fd_refusals(metrics), refused);
}
