//! Publish/subscribe through the proxy, against real redis-server processes:
//! channels on the server of their name, patterns on every server, the
//! subscriber's confirmations counted across servers, RESP2's subscriber
//! mode answered as Redis answers it, and every message exactly once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{clients_dir, require, run_script};
use common::servers::{alpha_proxy, keys_on, start_servers, Conn, RedisServer, Redshard, Reply};

/// Sends `commands` in one write; returns every byte that came back within
/// a short while (the replies of a subscriber are a stream, not one each).
fn exchange(c: &mut Conn, commands: &[&[&str]], want: usize) -> Vec<u8> {
    let mut batch = Vec::new();
    for args in commands {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        batch.extend(common::servers::encode(&args));
    }
    c.send_raw(&batch);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count_frames(&got) < want && Instant::now() < deadline {
        got.extend(c.read_raw());
    }
    got
}

/// Complete top-level frames in `buf`.
fn count_frames(buf: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some((_, len)) = common::servers::parse(&buf[at..]) {
        at += len;
        n += 1;
    }
    n
}

/// Channel names whose server (by the pool's hash) is `server`.
fn channels_on(p: &Redshard, server: usize, n: usize) -> Vec<String> {
    keys_on(p, server, n).0
}

/// The subscriber connections a server holds (CLIENT LIST flags with P).
fn subscriber_conns(server: &RedisServer) -> usize {
    let Reply::Bulk(list) = server.conn().cmd(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST")
    };
    String::from_utf8_lossy(&list)
        .lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('P')))
        })
        .count()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscriber_mode_answers_byte_for_byte_as_one_redis() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    // Channels on two different servers, so the counts must span them.
    let a = channels_on(&p, 0, 2);
    let b = channels_on(&p, 1, 1);
    let script: Vec<Vec<&str>> = vec![
        vec!["SUBSCRIBE", &a[0], &b[0]],
        vec!["GET", "k"],
        vec!["PING"],
        vec!["PING", "hi"],
        vec!["PUBSUB", "NUMSUB", &a[0]],
        vec!["PSUBSCRIBE", "news.*", "sport.*"],
        vec!["SUBSCRIBE", &a[1], &a[0]],
        vec!["UNSUBSCRIBE", &b[0], "never"],
        vec!["PUNSUBSCRIBE", "sport.*"],
        vec!["SSUBSCRIBE", &b[0]],
        vec!["SUNSUBSCRIBE", &b[0]],
        vec!["UNSUBSCRIBE", &a[0]],
        vec!["UNSUBSCRIBE", &a[1]],
        vec!["PUNSUBSCRIBE", "news.*"],
        vec!["UNSUBSCRIBE"],
        vec!["GET", "k"],
        vec!["SUBSCRIBE", &a[0]],
        vec!["RESET"],
        vec!["GET", "k"],
    ];
    let commands: Vec<&[&str]> = script.iter().map(|c| c.as_slice()).collect();
    // Frames: 2 + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1.
    let want = 23;
    let direct = exchange(&mut s[2].conn(), &commands, want);
    let proxied = exchange(&mut p.conn(), &commands, want);
    assert_eq!(
        count_frames(&direct),
        want,
        "{}",
        String::from_utf8_lossy(&direct)
    );
    assert_eq!(
        String::from_utf8_lossy(&proxied),
        String::from_utf8_lossy(&direct)
    );
}

/// Subscribes `c` and reads the confirmations (RESP2).
fn subscribe(c: &mut Conn, command: &str, names: &[String]) {
    let mut args = vec![command.as_bytes()];
    args.extend(names.iter().map(|n| n.as_bytes()));
    c.send(&args);
    for (i, name) in names.iter().enumerate() {
        let Reply::Array(frame) = c.read() else {
            panic!("a confirmation")
        };
        assert_eq!(frame[1], Reply::bulk(name), "{command} {i}");
    }
}

#[test]
fn ten_thousand_messages_from_four_publishers_reach_three_subscribers_once_in_order() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    // One channel per publisher, spread over the servers.
    let channels: Vec<String> = (0..4)
        .map(|i| channels_on(&p, i % 3, 2)[i / 3].clone())
        .collect();
    let per_publisher = 2500;
    // Each subscriber in a thread of its own, subscribed before any
    // message is published; one also listens by pattern, and gets each
    // message twice, as message and as pmessage.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let readers: Vec<_> = (0..3)
        .map(|k| {
            let (channels, ready_tx, port) = (channels.clone(), ready_tx.clone(), p.port);
            thread::spawn(move || {
                let mut c = Conn::tcp(port);
                subscribe(&mut c, "SUBSCRIBE", &channels);
                if k == 2 {
                    subscribe(&mut c, "PSUBSCRIBE", &["key:*".to_string()]);
                }
                ready_tx.send(()).unwrap();
                let kinds = if k == 2 { 2 } else { 1 };
                let mut next: HashMap<(String, usize), usize> = HashMap::new();
                for _ in 0..4 * per_publisher * kinds {
                    let Reply::Array(frame) = c.read() else {
                        panic!("a message")
                    };
                    let kind = match &frame[0] {
                        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                        other => panic!("{other:?}"),
                    };
                    let Some(Reply::Bulk(payload)) = frame.last() else {
                        panic!("payload")
                    };
                    let payload = String::from_utf8_lossy(payload).into_owned();
                    let (publisher, n) = payload.split_once(':').unwrap();
                    let publisher: usize = publisher.parse().unwrap();
                    let n: usize = n.parse().unwrap();
                    let expected = next.entry((kind.clone(), publisher)).or_default();
                    assert_eq!(
                        n, *expected,
                        "subscriber {k}: {kind} from publisher {publisher}"
                    );
                    *expected += 1;
                }
                next
            })
        })
        .collect();
    for _ in 0..3 {
        ready.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    let started = Instant::now();
    let publishers: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let ch = ch.clone();
            let port = p.port;
            thread::spawn(move || {
                let mut c = Conn::tcp(port);
                // Pipelined in batches, as a busy publisher does.
                for batch in 0..per_publisher / 100 {
                    let mut bytes = Vec::new();
                    for n in batch * 100..(batch + 1) * 100 {
                        let msg = format!("{i}:{n}");
                        bytes.extend(common::servers::encode(&[
                            b"PUBLISH",
                            ch.as_bytes(),
                            msg.as_bytes(),
                        ]));
                    }
                    c.send_raw(&bytes);
                    for _ in 0..100 {
                        assert_eq!(c.read(), Reply::Int(4), "publish {i}");
                    }
                }
            })
        })
        .collect();
    for t in publishers {
        t.join().unwrap();
    }
    for (k, t) in readers.into_iter().enumerate() {
        let next = t.join().unwrap();
        for publisher in 0..4 {
            assert_eq!(
                next[&("message".to_string(), publisher)],
                per_publisher,
                "subscriber {k}"
            );
        }
    }
    eprintln!(
        "10,000 messages to 3 subscribers (one also by pattern) in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_pattern_hears_channels_on_every_server() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let mut sub = p.conn();
    subscribe(&mut sub, "PSUBSCRIBE", &["key:*".to_string()]);
    wait_until("a pattern subscriber on every server", || {
        s.iter().all(|r| subscriber_conns(r) == 1)
    });
    let mut publisher = p.conn();
    for server in 0..3 {
        let ch = &channels_on(&p, server, 1)[0];
        assert_eq!(publisher.cmd(&["PUBLISH", ch, "hello"]), Reply::Int(1));
        assert_eq!(
            sub.read(),
            Reply::Array(vec![
                Reply::bulk("pmessage"),
                Reply::bulk("key:*"),
                Reply::bulk(ch),
                Reply::bulk("hello"),
            ]),
            "a message on server {server}'s channel"
        );
    }
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(1));
}

#[test]
fn pubsub_introspection_merges_the_servers() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let names: Vec<String> = (0..3).map(|i| channels_on(&p, i, 1)[0].clone()).collect();
    let mut subs: Vec<Conn> = (0..2)
        .map(|_| {
            let mut c = p.conn();
            subscribe(&mut c, "SUBSCRIBE", &names);
            c
        })
        .collect();
    subscribe(
        &mut subs[0],
        "PSUBSCRIBE",
        &["a*".to_string(), "b*".to_string()],
    );
    let mut c = p.conn();
    let mut args = vec!["PUBSUB", "NUMSUB"];
    args.extend(names.iter().map(|n| n.as_str()));
    args.push("nobody");
    let Reply::Array(counts) = c.cmd(&args) else {
        panic!("NUMSUB")
    };
    let mut want = Vec::new();
    for n in &names {
        want.extend([Reply::bulk(n), Reply::Int(2)]);
    }
    want.extend([Reply::bulk("nobody"), Reply::Int(0)]);
    assert_eq!(counts, want);
    let Reply::Array(mut channels) = c.cmd(&["PUBSUB", "CHANNELS"]) else {
        panic!("CHANNELS")
    };
    channels.sort_by_key(|r| format!("{r:?}"));
    let mut want: Vec<Reply> = names.iter().map(|n| Reply::bulk(n)).collect();
    want.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(channels, want);
    assert_eq!(c.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(2));
    assert!(c
        .cmd(&["PUBSUB", "NOPE"])
        .error_text()
        .contains("'pubsub nope'"));
}

#[test]
fn a_subscriber_that_leaves_frees_its_server_connections() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let all: Vec<String> = (0..3).map(|i| channels_on(&p, i, 1)[0].clone()).collect();
    let mut a = p.conn();
    subscribe(&mut a, "SUBSCRIBE", &all);
    let mut b = p.conn();
    subscribe(&mut b, "PSUBSCRIBE", &["x*".to_string()]);
    wait_until("two subscriber connections per server", || {
        s.iter().all(|r| subscriber_conns(r) == 2)
    });
    // Unsubscribing from everything gives the connections back...
    a.send(&[b"UNSUBSCRIBE"]);
    for _ in 0..3 {
        a.read();
    }
    assert_eq!(
        a.cmd(&["SET", "k", "v"]),
        Reply::ok(),
        "out of subscriber mode"
    );
    wait_until("one left per server", || {
        s.iter().all(|r| subscriber_conns(r) == 1)
    });
    // ... and so does leaving.
    drop(b);
    wait_until("none left", || s.iter().all(|r| subscriber_conns(r) == 0));
}

#[test]
fn a_lost_server_connection_closes_the_subscriber_with_the_reason() {
    let mut s = start_servers(2, &[]);
    let p = alpha_proxy(&s, "");
    let ch = channels_on(&p, 1, 1)[0].clone();
    let mut sub = p.conn();
    subscribe(&mut sub, "SUBSCRIBE", &[ch]);
    s[1].kill();
    let (closed, bytes) = sub.closed_within(Duration::from_secs(5));
    assert!(closed, "the subscriber is closed");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("-ERR redshard:"), "{text}");
    // The proxy serves on.
    assert_eq!(p.conn().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn subscriptions_inside_multi_and_past_the_dedicated_limit_are_refused() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "  max_dedicated_connections: 1\n");
    let mut c = p.conn();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert!(c
        .cmd(&["SUBSCRIBE", "a"])
        .error_text()
        .contains("inside MULTI"));
    assert!(c.cmd(&["EXEC"]).error_text().starts_with("EXECABORT"));
    let mut first = p.conn();
    subscribe(&mut first, "SUBSCRIBE", &["a".to_string()]);
    let refused = c.cmd(&["SUBSCRIBE", "b"]);
    assert!(
        refused.error_text().contains("max_dedicated_connections"),
        "{refused:?}"
    );
    // Refused, the client is not in subscriber mode.
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
}

/// Where `name` goes in the pool `config` describes.
fn placed(config: &str, name: &str) -> Option<usize> {
    let config = config.replace("{port}", "1");
    let config = redshard::config::Config::parse(&config, Path::new("test.yml")).unwrap();
    redshard::pool::Placement::new(&config.pools[0]).server_for(name.as_bytes())
}

#[test]
fn a_reload_that_moves_a_channel_closes_its_subscriber_only() {
    let s = start_servers(3, &[]);
    let two = common::servers::pool_config("alpha", &[&s[0], &s[1]], "");
    let three = common::servers::pool_config("alpha", &s.iter().collect::<Vec<_>>(), "");
    let find = |after: usize| {
        (0..)
            .map(|i| format!("ch:{i}"))
            .find(|c| placed(&two, c) == Some(0) && placed(&three, c) == Some(after))
            .unwrap()
    };
    let (moving, staying) = (find(2), find(0));
    let p = Redshard::start(&two);
    let mut moved = p.conn();
    subscribe(&mut moved, "SUBSCRIBE", &[moving]);
    let mut kept = p.conn();
    subscribe(&mut kept, "SUBSCRIBE", std::slice::from_ref(&staying));
    p.write_config(&three);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let (closed, bytes) = moved.closed_within(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed && text.contains("published elsewhere"), "{text}");
    let mut publisher = p.conn();
    assert_eq!(
        publisher.cmd(&["PUBLISH", &staying, "still here"]),
        Reply::Int(1)
    );
    let Reply::Array(frame) = kept.read() else {
        panic!("a message")
    };
    assert_eq!(frame[2], Reply::bulk("still here"));
}

#[test]
fn client_libraries_subscribe_and_receive_through_the_proxy() {
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let args = [p.port.to_string()];
    for venv in ["py-latest", "py4"] {
        let python = clients_dir().join(venv).join("bin/python");
        if require(&python) {
            run_script(&python, "pubsub_check.py", &args, &[]);
        }
    }
    let modules = clients_dir().join("node/node_modules");
    if require(&modules.join("ioredis")) && require(&modules.join("redis")) {
        run_script(
            Path::new("node"),
            "pubsub_check.js",
            &args,
            &[("NODE_PATH", modules)],
        );
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_at_its_output_limit() {
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "  client_output_limit: 1mb\n");
    let mut idle = p.conn();
    subscribe(&mut idle, "SUBSCRIBE", &["firehose".to_string()]);
    let mut publisher = p.conn();
    let payload = "x".repeat(64 << 10);
    // 32 MiB: far past twice the limit, whatever the sockets hold.
    let mut receivers = 1;
    for _ in 0..512 {
        let Reply::Int(n) = publisher.cmd(&["PUBLISH", "firehose", &payload]) else {
            panic!("PUBLISH")
        };
        receivers = n;
        if n == 0 {
            break;
        }
    }
    wait_until("the idle subscriber closed", || {
        p.log_text().contains("twice client_output_limit")
    });
    assert_eq!(
        receivers, 0,
        "the server forgot the subscriber once it was closed"
    );
    assert_eq!(p.conn().cmd(&["PING"]), Reply::Status("PONG".into()));
}
