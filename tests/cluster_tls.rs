//! Cluster pools with `tls: true` against a real Redis Cluster that serves
//! TLS only (`--port 0 --tls-port P --tls-cluster yes --tls-replication
//! yes`, certificates made with rcgen): the slot map asked over TLS, every
//! key on its slot's master, MGET across slots, a MOVED followed to a TLS
//! port, replica reads (the prober over TLS), `redshard route`, and a node
//! whose certificate does not chain to `tls_ca`. The proxy's clients speak
//! plain RESP. Each test prints its figures (eprintln!) for the record.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::certs::Pki;
use common::cluster::{keys_served_by, Cluster, NodeTls};
use common::cluster_proxy::{
    pipeline, proxy_cluster_info, proxy_for, redirections, route, run_route,
};
use common::resharding::SlotMigration;
use common::servers::{command_stat_on, eventually, free_port, Reply};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A cluster pool's TLS keys: the nodes' CA, and a client certificate
/// (the nodes ask for one).
fn tls_keys(pki: &Pki) -> String {
    format!(
        "  tls: true\n  tls_ca: {}\n  tls_client_cert: {}\n  tls_client_key: {}\n",
        path(&pki.ca),
        path(&pki.client_cert),
        path(&pki.client_key)
    )
}

/// SETs through the proxy (pipelined), each answered OK.
fn set_all(c: &mut common::servers::Conn, keys: &[String]) {
    let sets: Vec<Vec<&[u8]>> = keys
        .iter()
        .map(|k| vec![&b"SET"[..], k.as_bytes(), k.as_bytes()])
        .collect();
    for (k, reply) in keys.iter().zip(pipeline(c, &sets)) {
        assert_eq!(reply, Reply::ok(), "SET {k}");
    }
}

/// Keys on their slots' masters (asked over TLS), MGET across slots,
/// `redshard route` asking the cluster over TLS, and a slot moved behind
/// the proxy's back (`SETSLOT`, `MIGRATE` over TLS): the proxy follows the
/// `MOVED`, which names the TLS port.
#[test]
fn a_tls_cluster_serves_every_key_from_its_slots_master() {
    let pki = Pki::new("cluster-tls");
    let cluster = Cluster::start_tls(3, 1, NodeTls::of(&pki));
    // No periodic map: the moved slot is learnt from the MOVED.
    let extra = format!("{}  cluster_refresh_ms: 3600000\n", tls_keys(&pki));
    let proxy = proxy_for(&cluster, &extra);
    let keys: Vec<String> = (0..300).map(|i| format!("tls:{i}")).collect();
    let slots = cluster.keyslots(&keys);
    let owner = cluster.owner_table(0);

    // `redshard route` reads the slot map over TLS: the cluster's slot and
    // master (by its TLS port) for every key.
    let routed = route(&proxy, &keys);
    for ((key, &slot), &got) in keys.iter().zip(&slots).zip(&routed) {
        let want = (slot, cluster.port(owner[slot as usize]));
        assert_eq!(got, want, "route {key}");
    }

    let mut c = proxy.conn();
    set_all(&mut c, &keys);
    for m in 0..cluster.masters {
        let mine = keys_served_by(m, &keys, &slots, &owner);
        assert_eq!(cluster.dbsize(m), mine.len() as i64, "keys on node {m}");
        let mut direct = cluster.conn(m);
        for k in mine {
            assert_eq!(direct.cmd(&["GET", k]), Reply::bulk(k), "{k} on node {m}");
        }
    }
    let mut mget: Vec<&str> = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    mget.insert(150, "tls:absent");
    let Reply::Array(values) = c.cmd(&mget) else {
        panic!("MGET")
    };
    let mut want: Vec<Reply> = keys.iter().map(|k| Reply::bulk(k)).collect();
    want.insert(149, Reply::Nil);
    assert_eq!(values, want, "MGET of {} keys across slots", mget.len() - 1);
    let before = redirections(&proxy);
    assert_eq!((before.moved, before.ask), (0, 0), "routed as the cluster");

    // One slot moved to another master behind the proxy's back.
    let key = &keys[0];
    let slot = slots[0];
    let from = owner[slot as usize];
    let to = (from + 1) % cluster.masters;
    let migration = SlotMigration::begin(&cluster, slot, from, to);
    let moved_keys = migration.move_keys(1000);
    migration.finish();
    assert_eq!(cluster.conn(to).cmd(&["GET", key]), Reply::bulk(key));
    assert_eq!(
        c.cmd(&["GET", key]),
        Reply::bulk(key),
        "GET {key} after its slot moved"
    );
    assert_eq!(c.cmd(&["SET", key, "again"]), Reply::ok());
    assert_eq!(cluster.conn(to).cmd(&["GET", key]), Reply::bulk("again"));
    let after = redirections(&proxy) - before;
    let info = proxy_cluster_info(&proxy);
    eprintln!(
        "cluster over TLS: {} keys over {} slots on their masters, MGET of {} keys, {} route lines; \
         slot {slot} ({} keys) moved from node {from} to node {to}: {after}; INFO masters {}",
        keys.len(),
        slots.iter().collect::<HashSet<_>>().len(),
        mget.len() - 1,
        routed.len(),
        moved_keys.len(),
        info["cluster_masters"],
    );
    assert_eq!(
        after.moved, 1,
        "the first GET was redirected, the SET was not"
    );
    assert_eq!(after.ask, 0);
    // The MOVED named the TLS port of a known master: no node was added.
    assert_eq!(info["cluster_masters"], "3");
    assert_eq!(route(&proxy, &keys[..1]), [(slot, cluster.port(to))]);
}

/// `read_from: replica` in front of a TLS cluster: the replica prober
/// looks at the nodes over TLS, so the replicas serve the reads.
#[test]
fn replicas_of_a_tls_cluster_serve_reads() {
    let pki = Pki::new("cluster-tls-replicas");
    let cluster = Cluster::start_tls(3, 1, NodeTls::of(&pki));
    let proxy = proxy_for(
        &cluster,
        &format!("{}  read_from: replica\n", tls_keys(&pki)),
    );
    let keys: Vec<String> = (0..300).map(|i| format!("r:{i}")).collect();
    let mut c = proxy.conn();
    set_all(&mut c, &keys);
    let masters = cluster.current_masters();
    let replicas: Vec<usize> = masters.iter().map(|&m| cluster.replica_of(m)).collect();
    eventually(Duration::from_secs(10), "the replicas caught up", || {
        let copied: i64 = replicas.iter().map(|&r| cluster.dbsize(r)).sum();
        (copied == keys.len() as i64).then_some(())
    });
    let gets = |nodes: &[usize]| -> u64 {
        let calls = |n| command_stat_on(&mut cluster.conn(n), "get", "calls");
        nodes.iter().map(|&n| calls(n)).sum()
    };
    // The prober's first looks: until then no replica is known to serve.
    let first = eventually(Duration::from_secs(10), "a replica serving reads", || {
        let reply = c.cmd(&["GET", &keys[0]]);
        (!reply.is_error()).then_some(reply)
    });
    assert_eq!(first, Reply::bulk(&keys[0]));
    let before = gets(&replicas);
    for k in &keys {
        assert_eq!(c.cmd(&["GET", k]), Reply::bulk(k), "GET {k}");
    }
    let on_replicas = gets(&replicas) - before;
    let on_masters = gets(&masters);
    eprintln!(
        "replica reads over TLS: {on_replicas} GETs on the replicas, {on_masters} on the masters"
    );
    assert_eq!(on_masters, 0, "no read reached a master");
    assert_eq!(on_replicas, keys.len() as u64, "every read on a replica");
}

/// A node whose certificate another CA signed (the cluster trusts both,
/// the pool only its `tls_ca`): its slots answer the pool's TLS error
/// naming it, the other nodes serve on, and `redshard route` with it as
/// the only seed says why it got no slot map.
#[test]
fn a_node_whose_certificate_is_not_from_tls_ca_is_refused_clearly() {
    let pki = Pki::new("cluster-tls-ca");
    let stranger = Pki::new("cluster-tls-other-ca");
    let bundle = pki.dir.join("both-cas.pem");
    let cas = [&pki.ca, &stranger.ca].map(|p| std::fs::read_to_string(p).unwrap());
    std::fs::write(&bundle, cas.concat()).unwrap();
    let ours = (pki.server_cert.clone(), pki.server_key.clone());
    let theirs = (stranger.server_cert.clone(), stranger.server_key.clone());
    let tls = NodeTls {
        ca: bundle,
        certs: vec![ours.clone(), ours, theirs],
        client: (pki.client_cert.clone(), pki.client_key.clone()),
    };
    let cluster = Cluster::start_tls(3, 0, tls);
    let proxy = proxy_for(&cluster, &tls_keys(&pki));
    let keys: Vec<String> = (0..100).map(|i| format!("ca:{i}")).collect();
    let slots = cluster.keyslots(&keys);
    let owner = cluster.owner_table(0);
    let on = |node: usize| -> &String {
        let at = (0..keys.len()).find(|&i| owner[slots[i] as usize] == node);
        &keys[at.unwrap_or_else(|| panic!("no key on node {node}"))]
    };
    let (good, bad) = (on(0), on(2));

    let mut c = proxy.conn();
    let reply = c.cmd(&["SET", bad, "x"]);
    let want = format!(
        "ERR redshard: TLS handshake with server 127.0.0.1:{} failed: invalid peer certificate: UnknownIssuer",
        cluster.port(2)
    );
    assert_eq!(reply, Reply::Error(want), "SET {bad}");
    assert_eq!(cluster.dbsize(2), 0, "nothing written there");
    assert_eq!(
        c.cmd(&["SET", good, "x"]),
        Reply::ok(),
        "the other nodes serve"
    );
    assert_eq!(c.cmd(&["GET", good]), Reply::bulk("x"));
    assert!(
        c.cmd(&["GET", bad]).is_error(),
        "still refused, and answered"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));

    // `redshard route` with that node as the only seed.
    let config = pki.dir.join("route.yml");
    std::fs::write(
        &config,
        format!(
            "alpha:\n  listen: 127.0.0.1:{}\n  redis: true\n  cluster: true\n{}  servers:\n   - 127.0.0.1:{}:1\n",
            free_port(),
            tls_keys(&pki),
            cluster.port(2)
        ),
    )
    .unwrap();
    let out = run_route(&config, &keys[..1]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("route with the stranger as seed: {}", stderr.trim());
    assert!(!out.status.success());
    let want = format!(
        "no node of pool 'alpha' gave the cluster's slot map: 127.0.0.1:{}: TLS handshake failed: invalid peer certificate: UnknownIssuer",
        cluster.port(2)
    );
    assert!(stderr.contains(&want), "{stderr}");
}
