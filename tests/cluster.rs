//! Cluster pools against a real Redis Cluster (redis-server nodes with
//! `cluster-enabled yes`, joined by `redis-cli --cluster create`): keys go
//! to the master of their slot; multi-key commands span slots (also when
//! sent before the first slot map) and scripts need one; a slot migrated
//! key by key is followed through `ASK` and `MOVED`; `redis-cli --cluster
//! reshard` and a `kill -9` of a master under pipelined load. Each test
//! prints its figures (eprintln!) for the record.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::kv_load::{Kind, KvLoad, Pace, Report};
use common::resharding::{asking_calls, Reshard, SlotMigration};
use common::servers::{eventually, free_port, Conn, RedisServer, Redshard, Reply};

/// The text Redis itself answers for keys of several slots.
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// A proxy with one cluster pool, `alpha`, over `cluster`, once it has
/// the slot map (every slot served: INFO's `# Cluster`). What a request
/// sent before that gets is a test of its own.
fn proxy_for(cluster: &Cluster, extra: &str) -> Redshard {
    proxy_with_args(cluster, extra, &[])
}

/// `proxy_for` with more redshard arguments (e.g. `--metrics`).
fn proxy_with_args(cluster: &Cluster, extra: &str, args: &[&str]) -> Redshard {
    let stats = free_port().to_string();
    let mut all = vec!["--workers", "2", "-s", &stats, "-a", "127.0.0.1"];
    all.extend_from_slice(args);
    let proxy = Redshard::start_args(&cluster.pool_config(extra), &all);
    eventually(Duration::from_secs(10), "the first slot map", || {
        let info = proxy_cluster_info(&proxy);
        (info.get("cluster_slots_served").map(String::as_str) == Some("16384")).then_some(())
    });
    proxy
}

/// The fields of the proxy's `INFO` `# Cluster` section.
fn proxy_cluster_info(proxy: &Redshard) -> HashMap<String, String> {
    let Reply::Bulk(info) = proxy.conn().cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8(info).unwrap();
    let section = info
        .split("# Cluster")
        .nth(1)
        .unwrap_or_else(|| panic!("no # Cluster section in INFO:\n{info}"));
    section
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// `redshard_cluster_redirections_total` of pool `alpha` by kind, from
/// the proxy's `/metrics`.
fn metrics_redirections(port: u16) -> BTreeMap<String, u64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    let prefix = "redshard_cluster_redirections_total{pool=\"alpha\",kind=\"";
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(kind, n)| (kind.to_string(), n.trim().parse().unwrap()))
        .collect()
}

/// Redirections the proxy followed, by kind, and slot maps it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Redirections {
    moved: u64,
    ask: u64,
    retry: u64,
    refreshes: u64,
}

impl std::ops::Sub for Redirections {
    type Output = Redirections;
    fn sub(self, before: Redirections) -> Redirections {
        Redirections {
            moved: self.moved - before.moved,
            ask: self.ask - before.ask,
            retry: self.retry - before.retry,
            refreshes: self.refreshes - before.refreshes,
        }
    }
}

impl std::fmt::Display for Redirections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proxy followed {} MOVED and {} ASK, {} retries, {} slot maps read",
            self.moved, self.ask, self.retry, self.refreshes
        )
    }
}

/// Pipelined SET/GET through the proxy (16 a batch, one batch per client
/// every `every`), once every client has written each of its keys and
/// 2,000 more requests were answered.
fn steady_load(proxy: &Redshard, keys: Vec<Vec<String>>, every: Duration) -> KvLoad {
    let pace = Pace { depth: 16, every };
    let load = KvLoad::start(proxy.port, keys, pace);
    load.wait_prefilled(Duration::from_secs(10));
    load.wait_more(2000, Duration::from_secs(10));
    load
}

fn redirections(proxy: &Redshard) -> Redirections {
    let info = proxy_cluster_info(proxy);
    let n = |k: &str| -> u64 {
        info.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in INFO's # Cluster: {info:?}"))
    };
    Redirections {
        moved: n("cluster_redirections_moved"),
        ask: n("cluster_redirections_ask"),
        retry: n("cluster_redirections_retry"),
        refreshes: n("cluster_slot_map_refreshes"),
    }
}

/// A counter of a command's `INFO commandstats` line (`calls`,
/// `rejected_calls`: refused with MOVED/ASK/CLUSTERDOWN before running).
fn command_stat(server: &RedisServer, command: &str, field: &str) -> u64 {
    let Reply::Bulk(info) = server.conn().cmd(&["INFO", "commandstats"]) else {
        panic!("INFO commandstats")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find_map(|l| l.strip_prefix(&prefix)) else {
        return 0;
    };
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `redshard route -c FILE --pool alpha` for `keys`: (slot, node port)
/// per key, in order.
fn route(proxy: &Redshard, keys: &[String]) -> Vec<(u16, u16)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redshard"))
        .arg("route")
        .arg("-c")
        .arg(&proxy.config)
        .args(["--pool", "alpha"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redshard route");
    // Fed from a thread: the output would otherwise fill its pipe while
    // the input fills the other.
    let mut pipe = child.stdin.take().unwrap();
    let input: String = keys.iter().map(|k| format!("{k}\n")).collect();
    let feeder = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "route failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(u16, u16)> = stdout
        .lines()
        .zip(keys)
        .map(|(line, key)| {
            let mut cols = line.splitn(3, '\t');
            let (slot, node, k) = (cols.next(), cols.next(), cols.next());
            assert_eq!(k, Some(key.as_str()), "route line {line:?}");
            let slot = slot.and_then(|s| s.parse().ok()).expect("a slot");
            let port = node
                .and_then(|n| n.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("a node in {line:?}"));
            (slot, port)
        })
        .collect();
    assert_eq!(rows.len(), keys.len(), "one line per key");
    rows
}

/// The master (node index) of every slot, as node `seen_by` sees it.
fn owners(cluster: &Cluster, seen_by: usize) -> Vec<usize> {
    let mut owner = vec![usize::MAX; 16384];
    for (start, end, node) in cluster.slot_ranges(seen_by) {
        owner[start as usize..=end as usize].fill(node);
    }
    assert!(owner.iter().all(|&o| o != usize::MAX), "unserved slots");
    owner
}

/// Pipelined commands on one connection, their replies in order.
fn pipeline(c: &mut Conn, commands: &[Vec<&[u8]>]) -> Vec<Reply> {
    let mut bytes = Vec::new();
    for args in commands {
        bytes.extend(common::servers::encode(args));
    }
    c.send_raw(&bytes);
    commands.iter().map(|_| c.read()).collect()
}

/// Keys of the placement test: plain, tagged, and the spec's tag edge cases
/// (`foo{}{bar}` hashes the whole key, `foo{{bar}}` hashes `{bar`, a `}`
/// before any `{`, an unclosed `{`, a tag inside a tag).
fn placement_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 8 {
            0 => format!("key:{i}"),
            1 => format!("{{user{}}}:following:{i}", i % 97),
            2 => format!("foo{{}}{{bar}}:{i}"),
            3 => format!("foo{{{{bar}}}}:{i}"),
            4 => format!("a{{b{{c}}d}}:{i}"),
            5 => format!("}}{{:{i}"),
            6 => format!("x{{{i}"),
            _ => format!("{{{}}}.{i}", i % 50),
        })
        .collect()
}

#[test]
fn every_key_goes_to_the_master_of_its_slot() {
    let cluster = Cluster::start(3, 1);
    let proxy = proxy_for(&cluster, "");
    let keys = placement_keys(20_000);
    assert_eq!(
        keys.iter().collect::<HashSet<_>>().len(),
        keys.len(),
        "unique keys"
    );

    // The slot redshard computes is the cluster's, and so is the node.
    let slots = cluster.keyslots(&keys);
    let owner = owners(&cluster, 0);
    let routed = route(&proxy, &keys);
    let mut wrong = 0;
    for ((key, &slot), &(routed_slot, port)) in keys.iter().zip(&slots).zip(&routed) {
        let master = cluster.nodes[owner[slot as usize]].port;
        if (routed_slot, port) != (slot, master) {
            wrong += 1;
            if wrong <= 5 {
                eprintln!(
                    "{key}: CLUSTER KEYSLOT {slot} on port {master}; route said slot {routed_slot} on port {port}"
                );
            }
        }
    }
    assert_eq!(wrong, 0, "keys routed unlike the cluster");

    // Written through the proxy (pipelined SETs), each key is on the master
    // of its slot, and no master refused a SET (no redirection was needed).
    let mut c = proxy.conn();
    for chunk in keys.chunks(1000) {
        let sets: Vec<Vec<&[u8]>> = chunk
            .iter()
            .map(|k| vec![&b"SET"[..], k.as_bytes(), k.as_bytes()])
            .collect();
        for (k, reply) in chunk.iter().zip(pipeline(&mut c, &sets)) {
            assert_eq!(reply, Reply::ok(), "SET {k}");
        }
    }
    let masters: Vec<usize> = (0..cluster.masters).collect();
    let stored: i64 = masters.iter().map(|&m| cluster.dbsize(m)).sum();
    assert_eq!(stored, keys.len() as i64, "keys on the masters");
    for &m in &masters {
        let mine: Vec<&String> = keys
            .iter()
            .zip(&slots)
            .filter(|(_, &s)| owner[s as usize] == m)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(cluster.dbsize(m), mine.len() as i64, "keys on node {m}");
        let mut direct = cluster.nodes[m].conn();
        for chunk in mine.chunks(1000) {
            let gets: Vec<Vec<&[u8]>> = chunk
                .iter()
                .map(|k| vec![&b"GET"[..], k.as_bytes()])
                .collect();
            for (k, reply) in chunk.iter().zip(pipeline(&mut direct, &gets)) {
                assert_eq!(reply, Reply::bulk(k), "GET {k} on node {m} itself");
            }
        }
        assert_eq!(command_stat(&cluster.nodes[m], "set", "rejected_calls"), 0);
    }
    let r = redirections(&proxy);
    let info = proxy_cluster_info(&proxy);
    eprintln!(
        "placement: {} keys over {} slots, all on their slot's master; {r}; INFO: masters {}, slots served {}",
        keys.len(),
        slots.iter().collect::<HashSet<_>>().len(),
        info["cluster_masters"],
        info["cluster_slots_served"],
    );
    assert_eq!(
        (r.moved, r.ask),
        (0, 0),
        "redirected: routed unlike the cluster"
    );
    assert_eq!(info["cluster_slots_served"], "16384");
    assert_eq!(info["cluster_masters"], "3");
}

#[test]
fn multi_key_commands_span_slots_and_scripts_need_one() {
    let cluster = Cluster::start(3, 1);
    let proxy = proxy_for(&cluster, "");
    let keys: Vec<String> = (0..300).map(|i| format!("mk:{i}")).collect();
    let slots = cluster.keyslots(&keys);
    let distinct = slots.iter().collect::<HashSet<_>>().len();
    assert!(distinct > 250, "{distinct} slots only");
    let value = |k: &str| format!("v-{k}");
    let mut c = proxy.conn();

    let mut mset = vec!["MSET".to_string()];
    for k in &keys {
        mset.extend([k.clone(), value(k)]);
    }
    assert_eq!(
        c.cmd(&mset.iter().map(String::as_str).collect::<Vec<_>>()),
        Reply::ok()
    );
    for m in 0..cluster.masters {
        let want = slots.iter().filter(|&&s| cluster.master_of(s) == m).count();
        assert_eq!(cluster.dbsize(m), want as i64, "MSET's keys on node {m}");
    }

    // MGET: every value in the order asked, missing keys nil among them.
    let mut asked = vec!["MGET".to_string()];
    let mut want = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        asked.push(k.clone());
        want.push(Reply::bulk(&value(k)));
        if i % 10 == 0 {
            asked.push(format!("mk:missing:{i}"));
            want.push(Reply::Nil);
        }
    }
    let got = c.cmd(&asked.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(got, Reply::Array(want), "MGET across {distinct} slots");

    // EXISTS counts a key each time it is named; missing keys count 0.
    let mut exists: Vec<&str> = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    exists.extend(["mk:nope:1", "mk:nope:2", "mk:0", "mk:0"]);
    assert_eq!(c.cmd(&exists), Reply::Int(302));

    // DEL and UNLINK count what they removed, over slots.
    let mut del: Vec<&str> = vec!["DEL"];
    del.extend(keys[..150].iter().map(String::as_str));
    del.push("mk:nope:3");
    assert_eq!(c.cmd(&del), Reply::Int(150));
    let mut unlink: Vec<&str> = vec!["UNLINK"];
    unlink.extend(keys[150..200].iter().map(String::as_str));
    assert_eq!(c.cmd(&unlink), Reply::Int(50));
    let mut mget: Vec<&str> = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    let want: Vec<Reply> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            if i < 200 {
                Reply::Nil
            } else {
                Reply::bulk(&value(k))
            }
        })
        .collect();
    assert_eq!(c.cmd(&mget), Reply::Array(want), "MGET after DEL/UNLINK");
    let left: i64 = (0..cluster.masters).map(|m| cluster.dbsize(m)).sum();
    assert_eq!(left, 100, "keys left on the masters");

    // A script's keys must share a slot: Redis's own error otherwise.
    assert_ne!(cluster.keyslot("mk:0"), cluster.keyslot("mk:1"));
    let cross = c.cmd(&["EVAL", "return 1", "2", "mk:0", "mk:1"]);
    assert_eq!(cross, Reply::Error(CROSSSLOT.into()), "cross-slot EVAL");
    // The connection goes on after it.
    assert_eq!(c.cmd(&["GET", "mk:299"]), Reply::bulk(&value("mk:299")));

    let script = "redis.call('SET', KEYS[1], ARGV[1]) \
                  redis.call('SET', KEYS[2], ARGV[2]) \
                  return redis.call('MGET', KEYS[1], KEYS[2])";
    let same = c.cmd(&["EVAL", script, "2", "{acct}:from", "{acct}:to", "10", "20"]);
    assert_eq!(
        same,
        Reply::Array(vec![Reply::bulk("10"), Reply::bulk("20")])
    );
    let home = cluster.master_of(cluster.keyslot("acct"));
    let mut direct = cluster.nodes[home].conn();
    assert_eq!(direct.cmd(&["GET", "{acct}:to"]), Reply::bulk("20"));
    eprintln!(
        "multi-key: MSET/MGET/EXISTS/DEL/UNLINK over {distinct} slots; {}",
        redirections(&proxy)
    );
}

/// A seed that takes each connection and holds it, unanswered, for a
/// while before closing it: the slot map comes from the next seed after
/// that. Stops on drop.
struct SlowSeed {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowSeed {
    fn start(hold: Duration) -> SlowSeed {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Ok((conn, _)) = listener.accept() {
                    held.push((conn, Instant::now()));
                }
                held.retain(|(_, since)| since.elapsed() < hold);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        SlowSeed {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SlowSeed {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn multi_key_commands_sent_before_the_first_slot_map_wait_for_it() {
    let cluster = Cluster::start(3, 0);
    let slow = SlowSeed::start(Duration::from_millis(500));
    let config = cluster.pool_config("").replace(
        "  servers:\n",
        &format!("  servers:\n   - 127.0.0.1:{}:1\n", slow.port),
    );
    let proxy = Redshard::start(&config);
    let mut c = proxy.conn();
    let info = proxy_cluster_info(&proxy);
    assert_eq!(
        info["cluster_slots_served"], "0",
        "the slot map came before the requests: nothing tested"
    );
    assert_ne!(cluster.keyslot("mk:0"), cluster.keyslot("mk:1"));
    let commands: Vec<Vec<&[u8]>> = vec![
        vec![b"MSET", b"mk:0", b"a", b"mk:1", b"b"],
        vec![b"MGET", b"mk:0", b"mk:1"],
        vec![b"EXISTS", b"mk:0", b"mk:1"],
        vec![b"GET", b"mk:1"],
    ];
    let started = Instant::now();
    let replies = pipeline(&mut c, &commands);
    eprintln!(
        "before the first slot map: answered after {} ms: {replies:?}",
        started.elapsed().as_millis()
    );
    // PROXY BUG (reported): a split command that waited for the slot map
    // is answered CROSSSLOT instead of being split once the map is there.
    assert_eq!(
        replies,
        vec![
            Reply::ok(),
            Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")]),
            Reply::Int(2),
            Reply::bulk("b"),
        ],
        "multi-key commands sent before the first slot map"
    );
}

/// Errors by kind (their text without its numbers) and how many.
fn error_kinds(report: &Report) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for f in &report.failures {
        let kind: String = f.error.chars().filter(|c| !c.is_ascii_digit()).collect();
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// No request failed, no GET was stale, every key holds its last value.
fn assert_all_served(report: &Report, port: u16, what: &str) {
    assert!(
        report.failures.is_empty(),
        "{what}: {} failed requests {:?}, e.g. {:?}",
        report.failures.len(),
        error_kinds(report),
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(
        report.stale.is_empty(),
        "{what}: {} stale GETs, e.g. {:?}",
        report.stale.len(),
        &report.stale[..report.stale.len().min(5)]
    );
    let wrong = report.check_values(port);
    assert!(
        wrong.is_empty(),
        "{what}: {} keys without their last value, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[test]
fn a_slot_migrated_key_by_key_under_load_is_followed_by_ask_then_moved() {
    let cluster = Cluster::start(3, 1);
    // No periodic refresh: the proxy learns of the move only by redirections.
    let metrics = free_port();
    let proxy = proxy_with_args(
        &cluster,
        "  cluster_refresh_ms: 3600000\n",
        &["--metrics", &format!("127.0.0.1:{metrics}")],
    );
    let tag = (0..)
        .map(|i| format!("ask{i}"))
        .find(|t| cluster.master_of(cluster.keyslot(t)) == 0)
        .unwrap();
    let slot = cluster.keyslot(&tag);
    let keys: Vec<Vec<String>> = (0..4)
        .map(|c| (0..50).map(|i| format!("{{{tag}}}:{c}:{i}")).collect())
        .collect();
    // Two keys the load leaves alone, one in the slot, one elsewhere.
    let (inside, outside) = (format!("{{{tag}}}:still"), "elsewhere:still".to_string());
    assert_ne!(cluster.keyslot(&outside), slot);
    let mut c = proxy.conn();
    assert_eq!(
        c.cmd(&["MSET", &inside, "in", &outside, "out"]),
        Reply::ok()
    );
    let load = steady_load(&proxy, keys, Duration::from_millis(2));
    let before = (redirections(&proxy), asking_calls(&cluster));

    let started = Instant::now();
    let migration = SlotMigration::begin(&cluster, slot, 0, 1);
    let keys_in_slot = migration.keys_left();
    // The source now sends a client that asks it for a moved key on.
    let first = migration.move_keys(1);
    let direct = cluster.nodes[0].conn().call(&[b"GET", &first[0]]);
    let target = format!("ASK {slot} 127.0.0.1:{}", cluster.nodes[1].port);
    assert_eq!(direct, Reply::Error(target), "the source itself");
    // A few batches of every client between two keys.
    load.wait_more(128, Duration::from_secs(10));
    let mut moved = 1;
    loop {
        let n = migration.move_keys(1).len();
        if n == 0 {
            break;
        }
        moved += n;
        load.wait_more(128, Duration::from_secs(10));
    }
    // Every key on the target, the slot still migrating: an MGET split
    // over it and another slot, its part sent on by ASK.
    let mget = c.cmd(&["MGET", &outside, &inside]);
    assert_eq!(
        mget,
        Reply::Array(vec![Reply::bulk("out"), Reply::bulk("in")])
    );
    migration.finish();
    let migrated_in = started.elapsed();
    load.wait_more(2000, Duration::from_secs(10));
    let report = load.stop();
    let followed = redirections(&proxy) - before.0;
    let asking = asking_calls(&cluster) - before.1;
    eprintln!(
        "ASK: slot {slot} ({keys_in_slot} keys, {moved} moved one by one) migrated in {} ms under load: {}; \
         {followed}; ASKING calls on the nodes: {asking}; errors {:?}",
        migrated_in.as_millis(),
        report.summary(),
        error_kinds(&report),
    );
    assert_all_served(&report, proxy.port, "slot migration");
    assert!(asking > 0, "no ASK followed while the slot migrated");
    assert_eq!(
        followed.ask, asking,
        "ASK counted by the proxy against ASKING run by the nodes"
    );
    assert!(
        followed.moved > 0,
        "the slot's new home learnt without a MOVED?"
    );
    let total = redirections(&proxy);
    let scraped = metrics_redirections(metrics);
    let want: BTreeMap<String, u64> = [
        ("ask".to_string(), total.ask),
        ("moved".to_string(), total.moved),
        ("retry".to_string(), total.retry),
    ]
    .into();
    assert_eq!(scraped, want, "/metrics against INFO");
    assert_eq!(cluster.master_of(slot), 1);
}

/// `per_client` keys for each of `clients` clients, `inside` of them in
/// `slots` (the others outside).
fn keys_in_slots(
    cluster: &Cluster,
    prefix: &str,
    clients: usize,
    per_client: usize,
    inside: usize,
    slots: &HashSet<u16>,
) -> Vec<Vec<String>> {
    let candidates: Vec<String> = (0..per_client * clients * 40)
        .map(|i| format!("{prefix}:{i}"))
        .collect();
    let of = cluster.keyslots(&candidates);
    let (mut ins, mut outs): (Vec<&String>, Vec<&String>) = (Vec::new(), Vec::new());
    for (k, s) in candidates.iter().zip(&of) {
        if slots.contains(s) {
            ins.push(k);
        } else {
            outs.push(k);
        }
    }
    assert!(
        ins.len() >= inside * clients,
        "not enough keys in the slots"
    );
    (0..clients)
        .map(|c| {
            let ins = ins[c * inside..(c + 1) * inside].iter();
            let outside = per_client - inside;
            let outs = outs[c * outside..(c + 1) * outside].iter();
            ins.chain(outs).map(|k| k.to_string()).collect()
        })
        .collect()
}

#[test]
fn resharding_1000_slots_under_pipelined_load_fails_no_request() {
    const SLOTS: usize = 1000;
    let cluster = Cluster::start(3, 1);
    let proxy = proxy_for(&cluster, "");
    // redis-cli takes the source's slots from its lowest.
    let moving: HashSet<u16> = cluster.slots_of(0)[..SLOTS].iter().copied().collect();
    let keys = keys_in_slots(&cluster, "resharded", 4, 250, 200, &moving);
    let load = steady_load(&proxy, keys, Duration::from_millis(3));
    let before = (redirections(&proxy), asking_calls(&cluster));
    let slots_before = cluster.slots_of(1).len();

    let started = Instant::now();
    let mut reshard = Reshard::start(&cluster, 0, 1, SLOTS);
    // The load runs on while it moves the slots.
    reshard.wait(Duration::from_secs(120));
    let took = started.elapsed();
    load.wait_more(2000, Duration::from_secs(10));
    let report = load.stop();
    let followed = redirections(&proxy) - before.0;
    let asking = asking_calls(&cluster) - before.1;
    let now = cluster.slots_of(1);
    eprintln!(
        "reshard: {SLOTS} slots (800 of the load's 1000 keys in them) moved in {} ms under load: {}; \
         {followed}; ASKING calls on the nodes: {asking}; errors {:?}",
        took.as_millis(),
        report.summary(),
        error_kinds(&report),
    );
    assert_eq!(now.len(), slots_before + SLOTS, "slots moved");
    assert!(moving.iter().all(|s| now.contains(s)), "the slots expected");
    assert_all_served(&report, proxy.port, "reshard");
    assert!(
        followed.moved + followed.ask > 0,
        "no redirection followed while 1000 slots moved"
    );
}

#[test]
fn a_killed_master_fails_only_its_slots_and_only_until_its_replica_takes_over() {
    // With full coverage required (Redis's default), every master answers
    // CLUSTERDOWN for the whole cluster from the failure report to the
    // promotion (about a second here): a cluster-wide outage no proxy can
    // hide. Without it the other masters serve on, as a client must see.
    let mut cluster = Cluster::start_with(3, 1, &["--cluster-require-full-coverage", "no"]);
    const REFRESH_MS: u64 = 2000;
    let proxy = proxy_for(&cluster, "");
    let victim = 0;
    let keys: Vec<Vec<String>> = (0..4)
        .map(|c| (0..200).map(|i| format!("fo:{c}:{i}")).collect())
        .collect();
    let all: Vec<&String> = keys.iter().flatten().collect();
    let owner = owners(&cluster, 1);
    let on_victim: HashSet<String> = all
        .iter()
        .zip(cluster.keyslots(&all))
        .filter(|(_, s)| owner[*s as usize] == victim)
        .map(|(k, _)| k.to_string())
        .collect();
    assert!(on_victim.len() > 100 && on_victim.len() < all.len() - 100);
    let load = steady_load(&proxy, keys, Duration::from_millis(3));
    assert_eq!(load.bad(), 0, "failures before the kill");

    let replica = cluster.replica_of(victim);
    let slot = cluster.slots_of(victim)[0];
    let probe_key = (0..)
        .map(|i| format!("probe:{i}"))
        .find(|k| owner[cluster.keyslot(k) as usize] == victim)
        .unwrap();
    let killed = Instant::now();
    cluster.kill(victim);
    let (promoted, agreed) = cluster.wait_promoted(replica, slot, killed, Duration::from_secs(30));
    // Polled through the proxy: its slots are served again.
    let back = eventually(Duration::from_secs(15), "the victim's slots served", || {
        let mut c = Conn::try_tcp(proxy.port)?;
        let reply = c.try_call(&[b"SET", probe_key.as_bytes(), b"1"]).ok()?;
        (reply == Reply::ok()).then(|| killed.elapsed())
    });
    load.wait_more(4000, Duration::from_secs(10));
    let report = load.stop();

    let victims = |key: &str| on_victim.contains(key);
    let (mine, others): (Vec<_>, Vec<_>) = report.failures.iter().partition(|f| victims(&f.key));
    let stale_others: Vec<_> = report.stale.iter().filter(|s| !victims(&s.key)).collect();
    let last_failure = mine.iter().map(|f| f.sent).max();
    let window = last_failure.map_or(Duration::ZERO, |t| t.duration_since(killed));
    let served_after = report
        .samples
        .iter()
        .filter(|s| s.kind == Kind::Ok && victims(report.key(s)))
        .filter(|s| last_failure.is_none_or(|t| report.sent(s) > t))
        .count();
    let r = redirections(&proxy);
    eprintln!(
        "failover: replica promoted {} ms after the kill -9, cluster agreed at {} ms; through the proxy the \
         victim's slots failed for {} ms ({} requests failed, {:?}) and were served again at {} ms (probe); \
         {served_after} requests to them served after the last failure; other masters: {} failed, {} stale; \
         {} GETs of the victim's keys stale (writes the old master acknowledged but did not pass on); {}; {r}",
        promoted.as_millis(),
        agreed.as_millis(),
        window.as_millis(),
        mine.len(),
        error_kinds(&report),
        back.as_millis(),
        others.len(),
        stale_others.len(),
        report.stale.len() - stale_others.len(),
        report.summary(),
    );
    assert!(
        others.is_empty(),
        "requests to the other masters failed: {:?}",
        &others[..others.len().min(5)]
    );
    assert!(stale_others.is_empty(), "stale: {stale_others:?}");
    // (A request in flight at the kill fails with it: sent before, failed
    // after.)
    assert!(
        mine.iter().all(|f| f.done >= killed),
        "failed before the kill"
    );
    assert!(window < Duration::from_secs(10), "failed for {window:?}");
    // The proxy follows within one periodic refresh of the cluster's own
    // agreement (and some slack for a loaded machine).
    let bound = agreed + Duration::from_millis(REFRESH_MS + 1500);
    assert!(
        window <= bound,
        "failed for {window:?}, the cluster agreed after {agreed:?}"
    );
    assert!(served_after > 100, "served again: {served_after} requests");
    let wrong: Vec<_> = report
        .check_values(proxy.port)
        .into_iter()
        .filter(|(k, ..)| !victims(k))
        .collect();
    assert!(
        wrong.is_empty(),
        "values lost on the other masters: {wrong:?}"
    );
}
