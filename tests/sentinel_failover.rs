//! Failovers under load, with real processes: two shards, each a master with
//! two replicas, three sentinels (quorum 2), and four clients writing through
//! redshard. A manual failover (`SENTINEL FAILOVER`) and a `kill -9` of a
//! master: measured from the event to the first write the new master
//! acknowledged, failed requests counted; no acknowledged write is lost, no
//! write lands on the demoted master, no key changes shard.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::load::{Load, Write};
use common::sentinel::{role, Layout, Topology};
use common::servers::{Conn, Redshard, Reply};

const CLIENTS: usize = 4;
/// Each client writes every 2 ms: 2,000 writes a second in all.
const EVERY: Duration = Duration::from_millis(2);

/// The shard (master name) of every key, as the proxy places it.
fn shard_of(proxy: &Redshard) -> impl Fn(&str) -> String {
    let config = redshard::config::Config::load(&proxy.config).unwrap();
    let pool = config.pools[0].clone();
    let placement = redshard::pool::Placement::new(&pool);
    move |key: &str| {
        pool.servers[placement.server_for(key.as_bytes()).unwrap()]
            .name
            .clone()
    }
}

/// Every key on the server at `port`.
fn keys_at(port: u16) -> HashSet<String> {
    let mut c = Conn::tcp(port);
    let mut cursor = b"0".to_vec();
    let mut keys = HashSet::new();
    loop {
        let Reply::Array(parts) = c.call(&[b"SCAN", &cursor, b"COUNT", b"1000"]) else {
            panic!("SCAN")
        };
        let (Reply::Bulk(next), Reply::Array(batch)) = (&parts[0], &parts[1]) else {
            panic!("SCAN reply")
        };
        keys.extend(batch.iter().filter_map(|k| match k {
            Reply::Bulk(k) => Some(String::from_utf8_lossy(k).into_owned()),
            _ => None,
        }));
        cursor = next.clone();
        if cursor == b"0" {
            return keys;
        }
    }
}

/// Starts the topology, a proxy following it and the load, and waits
/// until every client has written.
fn setup() -> (Topology, Redshard, Load) {
    let topology = Topology::start(Layout::default());
    let proxy = Redshard::start(&topology.pool_config(""));
    let load = Load::start(proxy.port, CLIENTS, EVERY, "w");
    load.wait_for(Duration::from_secs(10), "writing", |w| {
        w.iter().filter(|w| w.outcome.is_ok()).count() >= 200
    });
    (topology, proxy, load)
}

/// The checks both failure kinds share, on the writes once the load
/// stopped: every acknowledged write is readable through the proxy and sits
/// on its own shard's master, never on the other's.
fn check_acknowledged(writes: &[Write], proxy: &Redshard, topology: &Topology) {
    let shard = shard_of(proxy);
    let masters: HashMap<String, HashSet<String>> = topology
        .shards
        .iter()
        .map(|s| {
            let port = topology.master_port(&s.name).unwrap();
            (s.name.clone(), keys_at(port))
        })
        .collect();
    let mut c = proxy.conn();
    for w in writes.iter().filter(|w| w.outcome.is_ok()) {
        let home = shard(&w.key);
        assert!(
            masters[&home].contains(&w.key),
            "acknowledged {} is not on {home}'s master",
            w.key
        );
        for (other, keys) in &masters {
            assert!(
                other == &home || !keys.contains(&w.key),
                "{} changed shard: on {other}",
                w.key
            );
        }
        let got = c.cmd(&["GET", &w.key]);
        assert!(
            got == Reply::bulk(&w.value),
            "{} lost: {got:?}\n{}",
            w.key,
            proxy.log_text()
        );
    }
}

/// Stops the load once 300 writes to `master` sent after `event` were
/// acknowledged (the new master's, once Sentinel has switched); every write.
fn stop_after_writes_to(
    load: Load,
    shard: &impl Fn(&str) -> String,
    master: &str,
    event: Instant,
) -> Vec<Write> {
    load.wait_for(Duration::from_secs(10), "writing to the new master", |w| {
        let after = w
            .iter()
            .filter(|w| w.sent > event && w.outcome.is_ok() && shard(&w.key) == master);
        after.count() >= 300
    });
    load.stop()
}

fn report(kind: &str, event: Instant, first_new: Instant, writes: &[Write]) {
    // Errors by kind: their text without the numbers in it.
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for w in writes {
        if let Err(e) = &w.outcome {
            let text: String = e.chars().filter(|c| !c.is_ascii_digit()).collect();
            *kinds.entry(text).or_default() += 1;
        }
    }
    println!(
        "{kind}: first write acknowledged by the new master {} ms after the event; \
         {} of {} requests failed: {kinds:?}",
        first_new.duration_since(event).as_millis(),
        kinds.values().sum::<usize>(),
        writes.len(),
    );
}

#[test]
fn sentinel_failover_under_load_loses_no_write() {
    let (topology, proxy, load) = setup();
    let shard = shard_of(&proxy);
    let old = topology.shard("shard1").servers[0].port;
    let event = Instant::now();
    let reply = topology.sentinels[0]
        .conn()
        .cmd(&["SENTINEL", "FAILOVER", "shard1"]);
    assert_eq!(reply, Reply::ok());
    let new = topology.wait_new_master("shard1", old, Duration::from_secs(30));
    let writes = stop_after_writes_to(load, &shard, "shard1", event);
    // The old master, not yet turned into a replica by Sentinel (which
    // waits seconds for that), holds exactly the writes it executed.
    assert_eq!(
        role(old).as_deref(),
        Some("master"),
        "demoted before it could be checked"
    );
    let on_old = keys_at(old);
    let on_new = keys_at(new);
    let demoted: Vec<&String> = on_old.difference(&on_new).collect();
    assert!(
        demoted.is_empty(),
        "{} writes landed on the demoted master, e.g. {:?}\n{}",
        demoted.len(),
        demoted.iter().take(5).collect::<Vec<_>>(),
        proxy.log_text()
    );
    let first_new = writes
        .iter()
        .filter(|w| w.outcome.is_ok() && on_new.contains(&w.key) && !on_old.contains(&w.key))
        .map(|w| w.done)
        .min()
        .expect("the new master took writes");
    report("SENTINEL FAILOVER shard1", event, first_new, &writes);
    check_acknowledged(&writes, &proxy, &topology);
    let failed = writes.iter().filter(|w| w.outcome.is_err()).count();
    assert_eq!(
        failed, 0,
        "writes were held during the promotion, not failed"
    );
}

#[test]
fn kill_9_of_a_master_under_load_loses_no_acknowledged_write() {
    let (mut topology, proxy, load) = setup();
    let shard = shard_of(&proxy);
    let old = topology.shard("shard2").servers[0].port;
    let event = Instant::now();
    topology.shard_mut("shard2").server_mut(old).kill();
    let new = topology.wait_new_master("shard2", old, Duration::from_secs(30));
    let writes = stop_after_writes_to(load, &shard, "shard2", event);
    // The old master is dead: a write acknowledged for shard2 after the
    // kill was taken by the new one.
    let on_new = keys_at(new);
    let first_new = writes
        .iter()
        .filter(|w| w.sent > event && w.outcome.is_ok() && shard(&w.key) == "shard2")
        .inspect(|w| assert!(on_new.contains(&w.key), "{} not on the new master", w.key))
        .map(|w| w.done)
        .min()
        .unwrap();
    report("kill -9 of shard2's master", event, first_new, &writes);
    check_acknowledged(&writes, &proxy, &topology);
    // Only shard2's writes failed, and only until the switch.
    for w in writes.iter().filter(|w| w.outcome.is_err()) {
        assert_eq!(shard(&w.key), "shard2", "{w:?}");
        assert!(
            w.sent <= first_new,
            "a write failed after the switch: {w:?}"
        );
    }
}
