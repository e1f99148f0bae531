//! The proxy-wide memory bound (`--max-memory`): clients each within their
//! own limits cannot together take the proxy past it, and a well-behaved
//! client beside them is not disturbed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::servers::{free_port, pool_config, rss_kib, RedisServer, Redshard, Reply};

/// What the proxy's RSS may exceed the bound by: its own code, stacks,
/// read chunks in flight and allocator slack.
const OVERHEAD_MIB: u64 = 64;

fn proxy(servers: &[&RedisServer], max_memory: &str) -> Redshard {
    let stats = free_port().to_string();
    let config = pool_config("alpha", servers, "");
    Redshard::start_args(
        &config,
        &[
            "--workers",
            "2",
            "-s",
            &stats,
            "-a",
            "127.0.0.1",
            "--max-memory",
            max_memory,
        ],
    )
}

/// Samples the proxy's RSS until stopped; the peak, in KiB.
fn rss_peak(pid: u32, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid));
            thread::sleep(Duration::from_millis(5));
        }
        peak.max(rss_kib(pid))
    })
}

/// A client that does what a well-behaved one does, SET then GET of its own
/// key, until stopped. Returns (requests, the slowest reply).
fn control(
    port: u16,
    stop: Arc<AtomicBool>,
) -> (thread::JoinHandle<(u64, Duration)>, Arc<AtomicU64>) {
    let done = Arc::new(AtomicU64::new(0));
    let count = done.clone();
    let handle = thread::spawn(move || {
        let mut conn = common::servers::Conn::tcp(port);
        let (mut n, mut slowest) = (0u64, Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let value = format!("v{n}");
            let started = Instant::now();
            let set = conn
                .try_call(&[b"SET", b"control:k", value.as_bytes()])
                .expect("the control client's SET got no reply");
            assert_eq!(set, Reply::ok(), "control SET");
            let got = conn
                .try_call(&[b"GET", b"control:k"])
                .expect("the control client's GET got no reply");
            assert_eq!(got, Reply::bulk(&value), "control GET");
            slowest = slowest.max(started.elapsed());
            n += 1;
            count.store(n, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(2));
        }
        (n, slowest)
    });
    (handle, done)
}

/// Lets the control client make `more` requests beyond those it has made.
fn control_runs(done: &AtomicU64, more: u64) {
    let target = done.load(Ordering::Relaxed) + more;
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "the control client stalled");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads until the proxy closes the connection; what it sent.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn partial_requests_of_many_clients_stay_within_max_memory() {
    let servers = [RedisServer::start(), RedisServer::start()];
    let proxy = proxy(&[&servers[0], &servers[1]], "128mb");
    let base = rss_kib(proxy.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = rss_peak(proxy.pid(), stop.clone());
    let (ctl, done) = control(proxy.port, stop.clone());

    // Eight clients each send most of a 60 MiB SET and then go idle: each
    // within max_request_bytes (64 MiB), 480 MiB together.
    const VALUE: usize = 60 << 20;
    let refused = Arc::new(AtomicU64::new(0));
    // Closed as the largest holder, and told so.
    let evicted = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = (0..8)
        .map(|i| {
            let port = proxy.port;
            let refused = refused.clone();
            let evicted = evicted.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let head = format!("*3\r\n$3\r\nSET\r\n$6\r\nbig:{i:02}\r\n${VALUE}\r\n");
                s.write_all(head.as_bytes()).unwrap();
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..VALUE / chunk.len() - 1 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
                s.shutdown(std::net::Shutdown::Write).ok();
                let answer = read_to_close(&mut s);
                let text = String::from_utf8_lossy(&answer);
                if text.starts_with("-ERR redshard: connection closed: the proxy passed its --max-memory (128 MiB)") {
                    evicted.fetch_add(1, Ordering::Relaxed);
                } else if !answer.is_empty() {
                    assert!(
                        text.starts_with("-ERR redshard: request refused: the proxy holds more than its --max-memory (128 MiB)"),
                        "{text}"
                    );
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for a in attackers {
        a.join().unwrap();
    }
    control_runs(&done, 50);
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let (requests, slowest) = ctl.join().unwrap();

    let held_now = rss_kib(proxy.pid());
    eprintln!(
        "rss: base {} MiB, peak {} MiB, after {} MiB; refused {}, evicted and told {}, control: {requests} requests, slowest {slowest:?}",
        base >> 10,
        peak >> 10,
        held_now >> 10,
        refused.load(Ordering::Relaxed),
        evicted.load(Ordering::Relaxed)
    );
    assert!(
        peak <= (128 + OVERHEAD_MIB) * 1024 + base,
        "RSS peaked at {} MiB with --max-memory 128mb",
        peak >> 10
    );
    assert!(
        refused.load(Ordering::Relaxed) >= 1,
        "no large request was refused"
    );
    // 480 MiB held against 128: some are closed as the largest holders,
    // and those are told so (before, they read a bare EOF).
    assert!(
        evicted.load(Ordering::Relaxed) >= 1,
        "no client was told it was closed for --max-memory"
    );
    assert!(
        slowest < Duration::from_secs(5),
        "the control client waited {slowest:?}"
    );
    // Every attacker was closed (refused, or evicted as the largest holder).
    let info = proxy.conn().cmd(&["INFO"]);
    let Reply::Bulk(info) = info else {
        panic!("INFO: {info:?}")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("max_memory:134217728"), "{info}");
}

#[test]
fn clients_that_never_read_stay_within_max_memory() {
    let server = RedisServer::start();
    let proxy = proxy(&[&server], "64mb");
    // A 1 MiB value that every attacker asks for again and again.
    let value = vec![b'v'; 1 << 20];
    let mut setup = proxy.conn();
    assert_eq!(setup.call(&[b"SET", b"blob", &value]), Reply::ok());
    let base = rss_kib(proxy.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = rss_peak(proxy.pid(), stop.clone());
    let (ctl, done) = control(proxy.port, stop.clone());

    // Four clients pipeline 200 GETs of it each and never read: 800 MiB of
    // replies, each client within its own output limit (32 MiB, twice that
    // before it is dropped).
    let mut attackers: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", proxy.port)).unwrap())
        .collect();
    let get = common::servers::encode(&[b"GET", b"blob"]);
    let burst: Vec<u8> = get.iter().copied().cycle().take(get.len() * 200).collect();
    for a in &mut attackers {
        a.write_all(&burst).unwrap();
    }
    // Until the proxy has dealt with them (each closed, evicted or over its
    // own hard limit, or stalled on its own output limit) and the control
    // client has run beside them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        control_runs(&done, 50);
        let info = proxy.conn().cmd(&["INFO"]);
        let Reply::Bulk(info) = info else {
            panic!("INFO: {info:?}")
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        let evicted = info
            .lines()
            .find_map(|l| l.strip_prefix("evicted_clients:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if evicted >= 2 || Instant::now() > deadline {
            eprintln!("{info}");
            assert!(evicted >= 2, "fewer than two clients evicted");
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let (requests, slowest) = ctl.join().unwrap();
    eprintln!(
        "rss: base {} MiB, peak {} MiB; control: {requests} requests, slowest {slowest:?}",
        base >> 10,
        peak >> 10
    );
    assert!(
        peak <= (64 + OVERHEAD_MIB) * 1024 + base,
        "RSS peaked at {} MiB with --max-memory 64mb",
        peak >> 10
    );
    assert!(
        slowest < Duration::from_secs(5),
        "the control client waited {slowest:?}"
    );
    drop(attackers);
}

#[test]
fn max_memory_is_checked_on_the_command_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redshard"))
        .args(["--max-memory", "1mb", "-t", "-c", "conf/nutcracker.yml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("below the least allowed, 16mb"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redshard"))
        .args(["--max-memory", "lots", "-t", "-c", "conf/nutcracker.yml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a size"));
}
