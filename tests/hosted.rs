//! Hosted commands through redshard, with real backends and concurrent
//! clients: locks, red packets, flash sales, Bloom filters.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::servers::{pool_config, Conn, RedisServer, Redshard, Reply};

fn setup(n: usize) -> (Vec<RedisServer>, Redshard) {
    let s: Vec<RedisServer> = (0..n).map(|_| RedisServer::start()).collect();
    let p = Redshard::start(&pool_config(
        "alpha",
        &s.iter().collect::<Vec<_>>(),
        "  hash_tag: \"{}\"\n",
    ));
    (s, p)
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn locks_exclude_reenter_expire_and_wait() {
    let (s, p) = setup(3);
    // 20 tasks x 100 critical sections, each a GET then SET under the lock.
    let mut threads = Vec::new();
    for t in 0..20 {
        let port = p.port;
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::tcp(port);
            let owner = format!("host:{t}");
            for _ in 0..100 {
                assert_eq!(
                    int(c.cmd(&["LOCK.ACQUIRE", "counter", &owner, "5000", "WAIT", "10000"])),
                    1
                );
                let n: i64 = match c.cmd(&["GET", "counter:value"]) {
                    Reply::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
                    _ => 0,
                };
                assert_eq!(
                    c.cmd(&["SET", "counter:value", &(n + 1).to_string()]),
                    Reply::ok()
                );
                assert_eq!(int(c.cmd(&["LOCK.RELEASE", "counter", &owner])), 0);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let mut c = p.conn();
    assert_eq!(c.cmd(&["GET", "counter:value"]), Reply::bulk("2000"));

    // Re-entry counts up and down; another owner can neither release nor extend.
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "l", "a", "10000"])), 1);
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "l", "a", "10000"])), 2);
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "l", "b", "10000"])), 0);
    assert_eq!(int(c.cmd(&["LOCK.RELEASE", "l", "b"])), -1);
    assert_eq!(int(c.cmd(&["LOCK.EXTEND", "l", "b", "50000"])), 0);
    let Reply::Array(owner) = c.cmd(&["LOCK.OWNER", "l"]) else {
        panic!()
    };
    assert_eq!(
        (owner[0].clone(), owner[1].clone()),
        (Reply::bulk("a"), Reply::Int(2))
    );
    assert!(matches!(owner[2], Reply::Int(ms) if ms > 0 && ms <= 10000));
    assert_eq!(int(c.cmd(&["LOCK.EXTEND", "l", "a", "60000"])), 1);
    assert_eq!(int(c.cmd(&["LOCK.RELEASE", "l", "a"])), 1);
    assert_eq!(int(c.cmd(&["LOCK.RELEASE", "l", "a"])), 0);
    assert_eq!(c.cmd(&["LOCK.OWNER", "l"]), Reply::Nil);
    // TTL expiry frees the lock.
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "ttl", "a", "100"])), 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "ttl", "b", "1000"])), 1);
    // WAIT acquires as soon as the holder releases, and never blocks others.
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "w", "holder", "10000"])), 1);
    let port = p.port;
    // Timed from here: the release below comes 300 ms after this, however
    // late the waiter's thread starts.
    let started = Instant::now();
    let waiter = std::thread::spawn(move || {
        let mut c = Conn::tcp(port);
        let got = int(c.cmd(&["LOCK.ACQUIRE", "w", "waiter", "10000", "WAIT", "5000"]));
        (got, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(int(c.cmd(&["LOCK.RELEASE", "w", "holder"])), 0);
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got, 1);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1000),
        "{waited:?}"
    );
    // WAIT that runs out answers 0.
    assert_eq!(
        int(c.cmd(&["LOCK.ACQUIRE", "w", "other", "1000", "WAIT", "100"])),
        0
    );
    // The lock keys spread over the servers and can be read through the proxy.
    // The number first: fnv1a gives keys that differ only in their last byte
    // neighbouring hashes.
    let names: Vec<String> = (0..40).map(|i| format!("{i}:spread")).collect();
    for n in &names {
        c.cmd(&["LOCK.ACQUIRE", n, "x", "60000"]);
    }
    let holding = s
        .iter()
        .filter(|srv| {
            srv.keys()
                .iter()
                .any(|k| k.starts_with(b"rs:lock:{") && k.ends_with(b":spread}"))
        })
        .count();
    assert!(holding >= 2, "locks all on one server");
    assert_eq!(
        c.cmd(&["HGET", "rs:lock:{0:spread}", "owner"]),
        Reply::bulk("x")
    );
}

#[test]
fn red_packets_pay_out_exactly_once_per_user() {
    let (_s, p) = setup(3);
    let mut c = p.conn();
    assert!(c.cmd(&["REDPACKET.CREATE", "bad", "5", "10"]).is_error());
    assert!(c.cmd(&["REDPACKET.CREATE", "bad", "x", "10"]).is_error());
    assert!(c.cmd(&["REDPACKET.CREATE", "bad", "10", "0"]).is_error());
    assert_eq!(
        c.cmd(&["REDPACKET.CREATE", "rp", "10000", "100"]),
        Reply::ok()
    );
    assert!(
        c.cmd(&["REDPACKET.CREATE", "rp", "10000", "100"])
            .is_error(),
        "id exists"
    );
    assert_eq!(int(c.cmd(&["REDPACKET.GRAB", "rp"])), 100);
    assert_eq!(c.cmd(&["REDPACKET.GRAB", "nope"]), Reply::Nil);
    // 1000 openers, 20 connections at once.
    let won = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let threads: Vec<_> = (0..20)
        .map(|t| {
            let (port, won) = (p.port, won.clone());
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                for i in 0..50 {
                    let uid = format!("u{}", t * 50 + i);
                    match c.cmd(&["REDPACKET.OPEN", "rp", &uid]) {
                        Reply::Int(cents) => {
                            won.lock().unwrap().insert(uid, cents);
                        }
                        Reply::Nil => {}
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let won = won.lock().unwrap();
    assert_eq!(won.len(), 100, "exactly 100 winners");
    assert_eq!(won.values().sum::<i64>(), 10000);
    assert!(won.values().all(|&c| c >= 1));
    let (uid, cents) = won.iter().next().unwrap();
    assert_eq!(
        int(c.cmd(&["REDPACKET.OPEN", "rp", uid])),
        *cents,
        "opening again returns the same amount"
    );
    assert_eq!(c.cmd(&["REDPACKET.OPEN", "rp", "latecomer"]), Reply::Nil);
    let Reply::Array(records) = c.cmd(&["REDPACKET.RECORDS", "rp"]) else {
        panic!()
    };
    assert_eq!(records.len(), 100);
    for r in &records {
        let Reply::Array(pair) = r else { panic!() };
        let Reply::Bulk(u) = &pair[0] else { panic!() };
        assert_eq!(
            Some(&int(pair[1].clone())),
            won.get(&String::from_utf8(u.clone()).unwrap())
        );
    }
    let Reply::Array(info) = c.cmd(&["REDPACKET.INFO", "rp"]) else {
        panic!()
    };
    assert_eq!(
        &info[..4],
        &[
            Reply::Int(10000),
            Reply::Int(100),
            Reply::Int(0),
            Reply::Int(0)
        ]
    );
    assert!(matches!(info[4], Reply::Int(t) if t > 86000));
}

#[test]
fn flash_sale_never_oversells() {
    let (_s, p) = setup(3);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SECKILL.CREATE", "phone", "100"]), Reply::ok());
    let results = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let threads: Vec<_> = (0..20)
        .map(|t| {
            let (port, results) = (p.port, results.clone());
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                for i in 0..100 {
                    // Repeated uids: 2000 attempts by 1500 users.
                    let uid = format!("user{}", (t * 100 + i) % 1500);
                    let Reply::Status(s) = c.cmd(&["SECKILL.BUY", "phone", &uid]) else {
                        panic!()
                    };
                    results.lock().unwrap().push((uid, s));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let results = results.lock().unwrap();
    let winners: Vec<&String> = results
        .iter()
        .filter(|(_, s)| s == "OK")
        .map(|(u, _)| u)
        .collect();
    assert_eq!(winners.len(), 100, "exactly the stock sold");
    assert_eq!(
        winners.iter().collect::<HashSet<_>>().len(),
        100,
        "no uid twice"
    );
    assert!(results
        .iter()
        .all(|(_, s)| ["OK", "SOLD_OUT", "REJECTED", "DUPLICATE"].contains(&s.as_str())));
    let Reply::Array(info) = c.cmd(&["SECKILL.INFO", "phone"]) else {
        panic!()
    };
    let (stock, remaining, sold, admitted) = (
        int(info[0].clone()),
        int(info[1].clone()),
        int(info[2].clone()),
        int(info[3].clone()),
    );
    assert_eq!((stock, sold + remaining), (100, 100));
    assert!(
        admitted <= 120,
        "admission cap (ceil(1.2 x stock)) exceeded: {admitted}"
    );
    // The orders stream, read through the proxy (XLEN, XREADGROUP).
    assert_eq!(int(c.cmd(&["XLEN", "rs:sk:{phone}:orders"])), 100);
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "rs:sk:{phone}:orders", "persist", "0"]),
        Reply::ok()
    );
    let Reply::Array(streams) = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "persist",
        "w1",
        "COUNT",
        "1000",
        "STREAMS",
        "rs:sk:{phone}:orders",
        ">",
    ]) else {
        panic!()
    };
    let Reply::Array(stream) = &streams[0] else {
        panic!()
    };
    let Reply::Array(entries) = &stream[1] else {
        panic!()
    };
    assert_eq!(entries.len(), 100);
    // Not started yet; admission cap.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000)
        .to_string();
    assert_eq!(
        c.cmd(&["SECKILL.CREATE", "tv", "10", "START", &later]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["SECKILL.BUY", "tv", "a"]),
        Reply::Status("NOT_STARTED".into())
    );
    assert_eq!(
        c.cmd(&["SECKILL.CREATE", "cap", "10", "ADMIT", "3"]),
        Reply::ok()
    );
    let got: Vec<Reply> = (0..5)
        .map(|i| c.cmd(&["SECKILL.BUY", "cap", &format!("u{i}")]))
        .collect();
    assert_eq!(
        got.iter()
            .filter(|r| **r == Reply::Status("OK".into()))
            .count(),
        3
    );
    assert_eq!(
        got.iter()
            .filter(|r| **r == Reply::Status("REJECTED".into()))
            .count(),
        2
    );
    assert_eq!(
        c.cmd(&["SECKILL.BUY", "none", "a"]),
        Reply::Status("NO_SUCH_SALE".into())
    );
    assert_eq!(c.cmd(&["SECKILL.INFO", "none"]), Reply::Nil);
}

/// Checks, on the backend that holds them, that each child key expires with
/// `parent`: its PTTL no greater and within a few ms (both read in one
/// pipeline, parent first), and the same expiry instant where Redis has
/// PEXPIRETIME.
fn expire_together(servers: &[RedisServer], parent: &str, children: &[&str]) {
    let server = servers
        .iter()
        .find(|s| s.conn().cmd(&["EXISTS", parent]) == Reply::Int(1))
        .unwrap_or_else(|| panic!("{parent} is on no backend"));
    let mut c = server.conn();
    for child in children {
        c.send(&[b"PTTL", parent.as_bytes()]);
        c.send(&[b"PTTL", child.as_bytes()]);
        let (p, ch) = (int(c.read()), int(c.read()));
        assert!(p > 0 && ch > 0, "{parent}: {p} ms, {child}: {ch} ms");
        assert!(ch <= p, "{child} outlives {parent}: {ch} > {p} ms");
        assert!(p - ch <= 5, "{child} expires {} ms before {parent}", p - ch);
        if let Reply::Int(at) = c.cmd(&["PEXPIRETIME", parent]) {
            assert_eq!(int(c.cmd(&["PEXPIRETIME", child])), at, "{child}");
        }
    }
}

#[test]
fn child_keys_expire_with_their_parent_to_the_millisecond() {
    let (s, p) = setup(3);
    let mut c = p.conn();
    assert_eq!(
        c.cmd(&["REDPACKET.CREATE", "ttl", "1000", "10", "TTL", "100"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["SECKILL.CREATE", "ttl", "10", "TTL", "100"]),
        Reply::ok()
    );
    // Off the whole second, where a TTL copied in seconds rounds (to 100 s
    // from 99.7: the children outlived the parent by 300 ms).
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(
        c.cmd(&["REDPACKET.OPEN", "ttl", "u1"]),
        Reply::Int(1..=1000)
    ));
    assert_eq!(c.cmd(&["SECKILL.BUY", "ttl", "u1"]), Reply::ok());
    expire_together(
        &s,
        "rs:rp:{ttl}:meta",
        &["rs:rp:{ttl}:opened", "rs:rp:{ttl}:records"],
    );
    expire_together(
        &s,
        "rs:sk:{ttl}:meta",
        &["rs:sk:{ttl}:buyers", "rs:sk:{ttl}:orders"],
    );
}

#[test]
fn bloom_filters_have_no_false_negatives_and_grow() {
    let (s, p) = setup(3);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["BF.RESERVE", "seen", "0.01", "10000"]), Reply::ok());
    assert!(c.cmd(&["BF.RESERVE", "seen", "0.01", "10000"]).is_error());
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(500) {
        let items: Vec<String> = chunk.iter().map(|i| format!("item-{i}")).collect();
        let mut args = vec!["BF.MADD", "seen"];
        args.extend(items.iter().map(|s| s.as_str()));
        let Reply::Array(r) = c.cmd(&args) else {
            panic!()
        };
        assert_eq!(r.len(), items.len());
    }
    // No false negatives.
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<String> = chunk.iter().map(|i| format!("item-{i}")).collect();
        let mut args = vec!["BF.MEXISTS", "seen"];
        args.extend(items.iter().map(|s| s.as_str()));
        let Reply::Array(r) = c.cmd(&args) else {
            panic!()
        };
        assert!(r.iter().all(|x| *x == Reply::Int(1)), "a false negative");
    }
    // False positives at capacity within 1.5 x the error rate.
    let mut fp = 0;
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<String> = chunk.iter().map(|i| format!("other-{i}")).collect();
        let mut args = vec!["BF.MEXISTS", "seen"];
        args.extend(items.iter().map(|s| s.as_str()));
        let Reply::Array(r) = c.cmd(&args) else {
            panic!()
        };
        fp += r.iter().filter(|x| **x == Reply::Int(1)).count();
    }
    let rate = fp as f64 / 10_000.0;
    eprintln!("bloom: false-positive rate at capacity {rate:.4} (target 0.01)");
    assert!(rate <= 0.015, "false-positive rate {rate}");
    // BF.ADD on a missing key creates a filter with RedisBloom's defaults,
    // and it grows past its capacity of 100.
    assert_eq!(int(c.cmd(&["BF.ADD", "auto", "a"])), 1);
    assert_eq!(int(c.cmd(&["BF.ADD", "auto", "a"])), 0);
    assert_eq!(int(c.cmd(&["BF.EXISTS", "auto", "a"])), 1);
    assert_eq!(int(c.cmd(&["BF.EXISTS", "missing", "a"])), 0);
    for i in 0..350 {
        c.cmd(&["BF.ADD", "auto", &format!("x{i}")]);
    }
    for i in 0..350 {
        assert_eq!(int(c.cmd(&["BF.EXISTS", "auto", &format!("x{i}")])), 1);
    }
    let Reply::Array(info) = c.cmd(&["BF.INFO", "auto"]) else {
        panic!()
    };
    assert_eq!(info[4], Reply::bulk("Number of filters"));
    assert!(
        int(info[5].clone()) >= 2,
        "the filter should have grown: {info:?}"
    );
    assert_eq!(info[0], Reply::bulk("Capacity"));
    assert!(c
        .cmd(&["BF.INFO", "missing"])
        .error_text()
        .contains("not found"));
    // SCRIPT FLUSH on a backend in the middle: every command keeps working.
    for srv in &s {
        assert_eq!(srv.conn().cmd(&["SCRIPT", "FLUSH"]), Reply::ok());
    }
    assert_eq!(int(c.cmd(&["BF.EXISTS", "seen", "item-1"])), 1);
    assert_eq!(
        int(c.cmd(&["LOCK.ACQUIRE", "after-flush", "me", "1000"])),
        1
    );
    assert_eq!(c.cmd(&["SECKILL.CREATE", "after-flush", "1"]), Reply::ok());
    assert_eq!(
        c.cmd(&["REDPACKET.CREATE", "after-flush", "10", "2"]),
        Reply::ok()
    );
}

#[test]
fn a_disabled_group_passes_through_to_the_backend() {
    let s = RedisServer::start();
    let p = Redshard::start(&pool_config("alpha", &[&s], "  hosted: [lock]\n"));
    let mut c = p.conn();
    assert_eq!(int(c.cmd(&["LOCK.ACQUIRE", "x", "me", "1000"])), 1);
    // BF.* goes to Redis as it is (which, without RedisBloom, does not know it).
    let err = c.cmd(&["BF.ADD", "k", "v"]);
    assert!(err.error_text().contains("unknown command"), "{err:?}");
}

/// A hosted name is its keys' `{tag}`: one that is empty or closes the tag
/// at once would leave a script's keys on different servers, so it is
/// refused with a reason, for every family; a `}` further in still tags.
#[test]
fn a_name_that_cannot_be_a_tag_is_refused() {
    let (_s, p) = setup(3);
    let mut c = p.conn();
    let calls: [&[&str]; 6] = [
        &["SECKILL.CREATE", "", "10"],
        &["SECKILL.BUY", "}x", "u1"],
        &["REDPACKET.CREATE", "", "100", "3"],
        &["BF.MADD", "}", "a", "b"],
        &["BF.RESERVE", "", "0.01", "100"],
        &["LOCK.ACQUIRE", "}l", "me", "1000"],
    ];
    for call in calls {
        let err = c.cmd(call);
        assert!(
            err.error_text()
                .contains(": the name must not be empty or begin with '}'"),
            "{call:?}: {err:?}"
        );
    }
    assert_eq!(c.cmd(&["SECKILL.CREATE", "a}b", "2"]), Reply::ok());
    assert_eq!(c.cmd(&["SECKILL.BUY", "a}b", "u1"]), Reply::ok());
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// A lock's owner is the token that alone releases or extends it: an empty
/// one, which any client can send, is refused.
#[test]
fn a_lock_owner_cannot_be_empty() {
    let (_s, p) = setup(3);
    let mut c = p.conn();
    let calls: [&[&str]; 3] = [
        &["LOCK.ACQUIRE", "L", "", "1000"],
        &["LOCK.RELEASE", "L", ""],
        &["LOCK.EXTEND", "L", "", "1000"],
    ];
    for call in calls {
        let err = c.cmd(call);
        assert!(
            err.error_text().contains(": the owner must not be empty"),
            "{call:?}: {err:?}"
        );
    }
    assert_eq!(c.cmd(&["LOCK.OWNER", "L"]), Reply::Nil);
    assert_eq!(c.cmd(&["LOCK.ACQUIRE", "L", "me", "1000"]), Reply::Int(1));
}
