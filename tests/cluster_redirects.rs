//! Cluster redirections beyond plain requests. A hosted call whose slot is
//! half migrated (TRYAGAIN) is tried again a few times, then gets the
//! cluster's word; once the slot has moved it follows MOVED. On the
//! connections a client owns: a blocking call whose
//! slot moves (before it reaches the node, or while it waits there) is sent
//! again where the node says, on a new connection of the client's own;
//! a transaction runs on its slot's master, and one the cluster redirects
//! mid-way gets the redirection and `EXECABORT`, with the slot map asked
//! for, so the client's next try runs; keys of two masters in one
//! transaction are refused as Redis refuses keys of several slots. A SCAN
//! walk goes on across a failover.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::cluster_proxy::{proxy_for, redirections};
use common::resharding::{asking_calls, SlotMigration};
use common::servers::{wait_blocked, Reply};

/// Periodic refresh off: the proxy's slot table is stale until a node
/// redirects it.
const NO_REFRESH: &str = "  cluster_refresh_ms: 3600000\n";

/// Another master than `of`.
fn other_master(cluster: &Cluster, of: usize) -> usize {
    *cluster
        .current_masters()
        .iter()
        .find(|&&m| m != of)
        .expect("a second master")
}

/// BLPOP `key` through the proxy on a thread of its own; its reply.
fn blpop(proxy_port: u16, key: &'static str, seconds: u32) -> std::thread::JoinHandle<Reply> {
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let waiting = std::thread::spawn(move || {
        let mut c = common::servers::Conn::tcp(proxy_port);
        c.send(&[b"BLPOP", key.as_bytes(), seconds.to_string().as_bytes()]);
        sent_tx.send(()).unwrap();
        c.read()
    });
    sent_rx.recv().unwrap();
    waiting
}

fn popped(key: &str, value: &str) -> Reply {
    Reply::Array(vec![Reply::bulk(key), Reply::bulk(value)])
}

#[test]
fn a_blocking_pop_sent_while_its_slot_migrates_follows_ask() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, NO_REFRESH);
    let key = "queue{ask}";
    let slot = cluster.keyslot(key);
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);
    let migration = SlotMigration::begin(&cluster, slot, from, to);
    let asked_before = asking_calls(&cluster);

    // The source no longer has the (absent) key: it answers ASK, and the
    // call must wait on the importing node.
    let waiting = blpop(proxy.port, key, 20);
    wait_blocked(&cluster.nodes[to], 1);
    assert!(
        asking_calls(&cluster) > asked_before,
        "ASKING sent to the importing node"
    );
    let pushed = proxy.conn().cmd(&["LPUSH", key, "hello"]);
    assert!(matches!(pushed, Reply::Int(_)), "LPUSH: {pushed:?}");
    assert_eq!(waiting.join().unwrap(), popped(key, "hello"));
    migration.finish();

    // The client's next requests go on as usual.
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["SET", key, "v"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", key]), Reply::bulk("v"));
    let r = redirections(&proxy);
    eprintln!("blocking call across ASK: {r:?}");
    assert!(r.ask >= 1, "ASK counted: {r:?}");
}

#[test]
fn a_blocking_pop_waiting_when_its_slot_moves_is_served_by_the_new_master() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, NO_REFRESH);
    let key = "queue{moved}";
    let slot = cluster.keyslot(key);
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);

    let waiting = blpop(proxy.port, key, 30);
    wait_blocked(&cluster.nodes[from], 1);
    // The slot (empty) moves while the call waits: the old master sends
    // the blocked client MOVED.
    let migration = SlotMigration::begin(&cluster, slot, from, to);
    migration.finish();
    wait_blocked(&cluster.nodes[to], 1);

    let pushed = proxy.conn().cmd(&["LPUSH", key, "there"]);
    assert!(matches!(pushed, Reply::Int(_)), "LPUSH: {pushed:?}");
    assert_eq!(waiting.join().unwrap(), popped(key, "there"));
    let r = redirections(&proxy);
    eprintln!("blocking call across MOVED: {r:?}");
    assert!(r.moved >= 1, "MOVED counted: {r:?}");
}

#[test]
fn a_blocking_pop_times_out_as_redis_does() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, "");
    let started = std::time::Instant::now();
    let reply = proxy.conn().cmd(&["BLPOP", "empty{t}", "1"]);
    assert_eq!(reply, Reply::Nil);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
}

#[test]
fn a_transaction_runs_on_its_slots_master() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, "");
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["SET", "{acct}:a", "1"]),
        Reply::Status("QUEUED".into())
    );
    assert_eq!(c.cmd(&["INCR", "{acct}:a"]), Reply::Status("QUEUED".into()));
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::ok(), Reply::Int(2)])
    );
    let slot = cluster.keyslot("{acct}:a");
    let owner = cluster.master_of(slot);
    assert_eq!(
        cluster.nodes[owner].conn().cmd(&["GET", "{acct}:a"]),
        Reply::bulk("2")
    );
}

#[test]
fn a_transaction_redirected_mid_way_is_aborted_and_the_next_try_runs() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, NO_REFRESH);
    let key = "{txn}:k";
    let slot = cluster.keyslot(key);
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);
    // The slot moves behind the proxy's back.
    SlotMigration::begin(&cluster, slot, from, to).finish();

    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    let queued = c.cmd(&["SET", key, "1"]);
    assert!(
        queued.is_error() && queued.error_text().starts_with("MOVED "),
        "queued: {queued:?}"
    );
    let exec = c.cmd(&["EXEC"]);
    assert!(
        exec.is_error() && exec.error_text().starts_with("EXECABORT"),
        "EXEC: {exec:?}"
    );
    assert_eq!(cluster.nodes[to].conn().cmd(&["GET", key]), Reply::Nil);

    // The MOVED asked for the slot map: the next try goes to the new master.
    common::servers::eventually(
        Duration::from_secs(5),
        "a transaction on the new master",
        || {
            assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
            let queued = c.cmd(&["SET", key, "2"]);
            let exec = c.cmd(&["EXEC"]);
            (queued == Reply::Status("QUEUED".into())).then_some(exec)
        },
    );
    assert_eq!(
        cluster.nodes[to].conn().cmd(&["GET", key]),
        Reply::bulk("2")
    );
}

#[test]
fn a_transaction_over_two_masters_is_refused_as_crossslot() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, "");
    let first = "{acct}:a";
    let owner = cluster.master_of(cluster.keyslot(first));
    let elsewhere = (0..1000)
        .map(|i| format!("other:{i}"))
        .find(|k| cluster.master_of(cluster.keyslot(k)) != owner)
        .expect("a key of another master");
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", first, "1"]), Reply::Status("QUEUED".into()));
    let refused = c.cmd(&["SET", &elsewhere, "2"]);
    assert_eq!(
        refused,
        Reply::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    let exec = c.cmd(&["EXEC"]);
    assert!(exec.error_text().starts_with("EXECABORT"), "EXEC: {exec:?}");
    assert_eq!(cluster.nodes[owner].conn().cmd(&["GET", first]), Reply::Nil);
}

/// `INFO errorstats`' count of replies starting with `code` on a node.
fn errors_of(cluster: &Cluster, node: usize, code: &str) -> u64 {
    common::servers::info_field(
        &cluster.nodes[node],
        "errorstats",
        &format!("errorstat_{code}"),
    )
    .and_then(|v| v.strip_prefix("count=").map(|n| n.parse().unwrap()))
    .unwrap_or(0)
}

#[test]
fn a_hosted_call_on_a_half_migrated_slot_tries_again_then_follows_the_move() {
    let cluster = Cluster::start(3, 0);
    let proxy = proxy_for(&cluster, NO_REFRESH);
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["REDPACKET.CREATE", "p1", "1000", "5"]), Reply::ok());
    assert!(matches!(
        c.cmd(&["REDPACKET.OPEN", "p1", "alice"]),
        Reply::Int(_)
    ));
    let slot = cluster.keyslot("p1");
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);
    let migration = SlotMigration::begin(&cluster, slot, from, to);
    let total = migration.keys_left();
    assert!(total >= 2, "the packet's keys: {total}");
    migration.move_keys(1);

    // Some of its keys here, some there: the source answers TRYAGAIN to
    // every attempt while the slot stays half moved.
    let before = errors_of(&cluster, from, "TRYAGAIN");
    let reply = c.cmd(&["REDPACKET.OPEN", "p1", "bob"]);
    assert!(
        reply.is_error() && reply.error_text().starts_with("TRYAGAIN"),
        "the cluster's word after the retries: {reply:?}"
    );
    let attempts = errors_of(&cluster, from, "TRYAGAIN") - before;
    eprintln!("hosted call on a half-migrated slot: {attempts} attempts");
    assert_eq!(attempts, 6, "the first try and 5 more");

    // Moved whole: the call follows MOVED and runs on the new master.
    migration.move_keys(total as usize);
    migration.finish();
    assert!(matches!(
        c.cmd(&["REDPACKET.OPEN", "p1", "bob"]),
        Reply::Int(_)
    ));
    let opened = cluster.nodes[to].conn().cmd(&["HLEN", "rs:rp:{p1}:opened"]);
    assert_eq!(opened, Reply::Int(2), "alice and bob on the new master");
}

/// One SCAN call through the proxy: the next cursor and the keys.
fn scan_step(c: &mut common::servers::Conn, cursor: &str) -> Result<(String, Vec<String>), String> {
    match c.cmd(&["SCAN", cursor, "COUNT", "50"]) {
        Reply::Array(parts) => {
            let next = common::cluster::text(parts[0].clone());
            let Reply::Array(keys) = &parts[1] else {
                panic!("SCAN keys: {parts:?}")
            };
            Ok((
                next,
                keys.iter()
                    .map(|k| common::cluster::text(k.clone()))
                    .collect(),
            ))
        }
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn a_scan_goes_on_across_a_failover() {
    let mut cluster = Cluster::start_with(3, 1, &["--cluster-require-full-coverage", "no"]);
    let proxy = proxy_for(&cluster, "");
    let mut c = proxy.conn();
    let keys: std::collections::BTreeSet<String> = (0..600).map(|i| format!("sc:{i}")).collect();
    for k in &keys {
        assert_eq!(c.cmd(&["SET", k, "1"]), Reply::ok());
    }
    let victim = 1;
    let replica = cluster.replica_of(victim);
    let slot = cluster.slots_of(victim)[0];
    // Wait until the victim's keys are on its replica, so the failover
    // loses none of them.
    let on_victim = cluster.dbsize(victim);
    common::servers::eventually(Duration::from_secs(10), "the replica in step", || {
        (cluster.dbsize(replica) == on_victim).then_some(())
    });

    // Part of the walk: into the victim's keys or before them.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..3 {
        let (next, got) = scan_step(&mut c, &cursor).expect("SCAN before the failover");
        seen.extend(got);
        cursor = next;
    }
    assert_ne!(
        cursor, "0",
        "the walk ended before the failover: nothing tested"
    );

    let killed = std::time::Instant::now();
    cluster.kill(victim);
    cluster.wait_promoted(replica, slot, killed, Duration::from_secs(30));
    // The proxy learns the promoted master (a new server of the pool).
    let mut probe = proxy.conn();
    common::servers::eventually(Duration::from_secs(15), "the victim's slots served", || {
        let key = (0..)
            .map(|i| format!("p{i}"))
            .find(|k| cluster.keyslot(k) == slot)
            .unwrap();
        (probe.cmd(&["SET", &key, "1"]) == Reply::ok()).then_some(())
    });

    let mut steps = 0;
    while cursor != "0" {
        let (next, got) = scan_step(&mut c, &cursor).expect("SCAN after the failover");
        seen.extend(got);
        cursor = next;
        steps += 1;
        assert!(steps < 1000, "the walk does not end");
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !seen.contains(*k)).collect();
    eprintln!(
        "SCAN across a failover: {} keys seen in {} more calls, {} of the 600 missing",
        seen.len(),
        steps,
        missing.len()
    );
    assert!(missing.is_empty(), "keys the walk missed: {missing:?}");
}
