//! Cluster pools against a real Redis Cluster (redis-server nodes with
//! `cluster-enabled yes`, joined by `redis-cli --cluster create`): keys go
//! to the master of their slot; multi-key commands span slots (also when
//! sent before the first slot map) and scripts need one; a slot migrated
//! key by key is followed through `ASK` and `MOVED`; `redis-cli --cluster
//! reshard` and a `kill -9` of a master under pipelined load. Each test
//! prints its figures (eprintln!) for the record.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::cluster::{keys_served_by, Cluster};
use common::cluster_proxy::{
    metrics_by, metrics_redirections, pipeline, proxy_cluster_info, proxy_for, proxy_with_args,
    redirections, route, steady_load, SlowSeed,
};
use common::kv_load::{Failure, Kind, Report, Stale};
use common::resharding::{asking_calls, Reshard, SlotMigration};
use common::servers::{command_stat, eventually, free_port, Conn, Redshard, Reply};

/// The text Redis itself answers for keys of several slots.
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

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
    let owner = cluster.owner_table(0);
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
        let mine = keys_served_by(m, &keys, &slots, &owner);
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

#[test]
fn multi_key_commands_sent_before_the_first_slot_map_wait_for_it() {
    let cluster = Cluster::start(3, 0);
    let slow = SlowSeed::start(Duration::from_millis(500));
    let config = cluster.pool_config("").replace(
        "  servers:\n",
        &format!("  servers:\n   - 127.0.0.1:{}:1\n", slow.port),
    );
    let metrics = free_port();
    let proxy = Redshard::start_args(&config, &["--metrics", &format!("127.0.0.1:{metrics}")]);
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
    // Held, then routed: each counted once.
    let counted = metrics_by(metrics, "redshard_commands_total", "group");
    assert_eq!(
        (counted["split"], counted["forwarded"]),
        (3, 1),
        "commands counted: {counted:?}"
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
        report.error_kinds(),
    );
    report.assert_all_served(proxy.port, "slot migration");
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
        report.error_kinds(),
    );
    assert_eq!(now.len(), slots_before + SLOTS, "slots moved");
    assert!(moving.iter().all(|s| now.contains(s)), "the slots expected");
    report.assert_all_served(proxy.port, "reshard");
    assert!(
        followed.moved + followed.ask > 0,
        "no redirection followed while 1000 slots moved"
    );
}

/// What a load saw of a master's failure: requests to its keys and to
/// the others' keys, split.
struct Outage<'r> {
    /// Failed requests to the failed master's keys.
    failed: Vec<&'r Failure>,
    /// Failed requests to the other masters' keys.
    failed_others: Vec<&'r Failure>,
    /// Stale GETs of the other masters' keys.
    stale_others: Vec<&'r Stale>,
    /// From the failure to the last failed request sent.
    window: Duration,
    /// Requests to the failed master's keys served after the last failure.
    served_after: usize,
}

impl<'r> Outage<'r> {
    fn of(report: &'r Report, failed_keys: &HashSet<String>, at: Instant) -> Outage<'r> {
        let hit = |key: &str| failed_keys.contains(key);
        let (failed, failed_others): (Vec<_>, Vec<_>) =
            report.failures.iter().partition(|f| hit(&f.key));
        let last = failed.iter().map(|f| f.sent).max();
        let served_after = report
            .samples
            .iter()
            .filter(|s| s.kind == Kind::Ok && hit(report.key(s)))
            .filter(|s| last.is_none_or(|t| report.sent(s) > t))
            .count();
        Outage {
            failed,
            failed_others,
            stale_others: report.stale.iter().filter(|s| !hit(&s.key)).collect(),
            window: last.map_or(Duration::ZERO, |t| t.duration_since(at)),
            served_after,
        }
    }
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
    let owner = cluster.owner_table(1);
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

    let o = Outage::of(&report, &on_victim, killed);
    eprintln!(
        "failover: replica promoted {} ms after the kill -9, cluster agreed at {} ms; through the proxy the \
         victim's slots failed for {} ms ({} requests failed, {:?}) and were served again at {} ms (probe); \
         {} requests to them served after the last failure; other masters: {} failed, {} stale; \
         {} GETs of the victim's keys stale (writes the old master acknowledged but did not pass on); {}; {}",
        promoted.as_millis(),
        agreed.as_millis(),
        o.window.as_millis(),
        o.failed.len(),
        report.error_kinds(),
        back.as_millis(),
        o.served_after,
        o.failed_others.len(),
        o.stale_others.len(),
        report.stale.len() - o.stale_others.len(),
        report.summary(),
        redirections(&proxy),
    );
    assert!(
        o.failed_others.is_empty(),
        "requests to the other masters failed: {:?}",
        &o.failed_others[..o.failed_others.len().min(5)]
    );
    assert!(o.stale_others.is_empty(), "stale: {:?}", o.stale_others);
    // (A request in flight at the kill fails with it: sent before, failed
    // after.)
    assert!(
        o.failed.iter().all(|f| f.done >= killed),
        "failed before the kill"
    );
    assert!(
        o.window < Duration::from_secs(10),
        "failed for {:?}",
        o.window
    );
    // The proxy follows within one periodic refresh of the cluster's own
    // agreement (and some slack for a loaded machine).
    let bound = agreed + Duration::from_millis(REFRESH_MS + 1500);
    assert!(
        o.window <= bound,
        "failed for {:?}, the cluster agreed after {agreed:?}",
        o.window
    );
    assert!(o.served_after > 100, "served again: {}", o.served_after);
    let wrong: Vec<_> = report
        .check_values(proxy.port)
        .into_iter()
        .filter(|(k, ..)| !on_victim.contains(k))
        .collect();
    assert!(
        wrong.is_empty(),
        "values lost on the other masters: {wrong:?}"
    );
}

/// `read_from: replica`: reads go to the slot's master's replica, which
/// takes them after READONLY (without it a replica redirects every read
/// to its master); writes go to the masters.
#[test]
fn reads_go_to_the_replicas_of_the_slots_master() {
    let cluster = Cluster::start(3, 1);
    let proxy = proxy_for(&cluster, "  read_from: replica\n");
    let keys: Vec<String> = (0..300).map(|i| format!("r:{i}")).collect();
    let mut c = proxy.conn();
    for k in &keys {
        assert_eq!(c.cmd(&["SET", k, k]), Reply::ok(), "SET {k}");
    }
    let masters = cluster.current_masters();
    let replicas: Vec<usize> = masters.iter().map(|&m| cluster.replica_of(m)).collect();
    eventually(Duration::from_secs(10), "the replicas caught up", || {
        let copied: i64 = replicas.iter().map(|&r| cluster.dbsize(r)).sum();
        (copied == keys.len() as i64).then_some(())
    });
    for k in &keys {
        assert_eq!(c.cmd(&["GET", k]), Reply::bulk(k), "GET {k}");
    }
    let gets = |nodes: &[usize]| -> u64 {
        nodes
            .iter()
            .map(|&n| command_stat(&cluster.nodes[n], "get", "calls"))
            .sum()
    };
    assert_eq!(gets(&masters), 0, "no read reached a master");
    assert_eq!(
        gets(&replicas),
        keys.len() as u64,
        "every read on a replica"
    );
    for &r in &replicas {
        assert!(
            command_stat(&cluster.nodes[r], "readonly", "calls") > 0,
            "READONLY on the replica's connections"
        );
    }
    let r = redirections(&proxy);
    eprintln!(
        "replica reads: {} GETs on the replicas, 0 on the masters; {r:?}",
        keys.len()
    );
}
