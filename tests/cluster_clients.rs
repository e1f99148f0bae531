//! Plain (not cluster-aware) client libraries, with their default settings,
//! through a pool whose backend is a real Redis Cluster: redshard's one
//! endpoint must be enough for them. redis-py, ioredis and node-redis run
//! the same smoke scripts as against plain pools (tests/clients); the redis
//! crate runs here. Every check also looks on the cluster itself: keys the
//! clients wrote are on the master that owns their slot, and they span
//! every master, so the multi-key commands and pipelines were really split.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::clients::{clients_dir, require, run_script};
use common::cluster::Cluster;
use common::servers::{Redshard, Reply};

/// A 3-master cluster (no replicas: these checks need no failover) and
/// redshard in front of it, the masters as seeds.
fn cluster_and_proxy() -> (Cluster, Redshard) {
    let cluster = Cluster::start(3, 0);
    let proxy = Redshard::start(&format!(
        "alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n  cluster: true\n  servers:\n{}",
        cluster.seeds()
    ));
    (cluster, proxy)
}

/// Asserts that every `(key, value)` is stored on the master that owns the
/// key's slot (asked of the cluster, not of redshard), and that the keys
/// span every master.
fn assert_on_their_masters(cluster: &Cluster, pairs: &[(String, String)]) {
    let mut masters = HashSet::new();
    for (key, value) in pairs {
        let master = cluster.master_of(cluster.keyslot(key));
        masters.insert(master);
        assert_eq!(
            cluster.nodes[master].conn().cmd(&["GET", key]),
            Reply::bulk(value),
            "{key} on the master of its slot"
        );
    }
    assert_eq!(
        masters.len(),
        cluster.masters,
        "the keys should span every master, or nothing was split"
    );
}

/// The keys the smoke scripts leave behind: `prefix` + `p0`..`p99` from
/// their pipeline of 100 SETs, value `i`.
fn pipelined_keys(prefix: &str) -> Vec<(String, String)> {
    (0..100)
        .map(|i| (format!("{prefix}p{i}"), i.to_string()))
        .collect()
}

#[test]
fn redis_py_through_a_cluster_pool() {
    let (cluster, proxy) = cluster_and_proxy();
    for venv in ["py-latest", "py4"] {
        let python = clients_dir().join(venv).join("bin/python");
        if !require(&python) {
            return;
        }
        run_script(&python, "redis_py_check.py", &[proxy.port.to_string()], &[]);
        for label in ["default", "db0", "named"] {
            assert_on_their_masters(&cluster, &pipelined_keys(&format!("py-{label}-")));
        }
    }
}

#[test]
fn ioredis_and_node_redis_through_a_cluster_pool() {
    let modules = clients_dir().join("node/node_modules");
    if !require(&modules.join("ioredis")) || !require(&modules.join("redis")) {
        return;
    }
    let (cluster, proxy) = cluster_and_proxy();
    run_script(
        Path::new("node"),
        "node_check.js",
        &[proxy.port.to_string()],
        &[("NODE_PATH", modules)],
    );
    for client in ["ioredis", "node-redis"] {
        for label in ["default", "db0", "named"] {
            assert_on_their_masters(&cluster, &pipelined_keys(&format!("js-{client}-{label}-")));
        }
    }
}

async fn query<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    cmd: &mut redis::Cmd,
) -> T {
    cmd.query_async(con).await.unwrap()
}

/// The redis crate's default connection (CLIENT SETINFO, RESP2), then with
/// RESP3: every kind of command the smoke scripts send, a scripted
/// read-modify-write on two keys sharing a tag, and Redis's own CROSSSLOT
/// text for two keys that do not.
#[test]
fn redis_crate_through_a_cluster_pool() {
    let (cluster, proxy) = cluster_and_proxy();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (label, url) in [
        ("resp2", proxy.url()),
        ("resp3", format!("{}?protocol=resp3", proxy.url())),
    ] {
        let p = format!("rs-{label}-");
        let pairs: Vec<(String, String)> = (0..30)
            .map(|i| (format!("{p}k{i}"), format!("v{i}")))
            .collect();
        rt.block_on(async {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let c = &mut con;
            let _: () = query(c, redis::cmd("SET").arg(format!("{p}a")).arg("1")).await;
            let got: String = query(c, redis::cmd("GET").arg(format!("{p}a"))).await;
            assert_eq!(got, "1");
            let _: () = query(c, redis::cmd("MSET").arg(&pairs)).await;
            let keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
            let missing = format!("{p}missing");
            let got: Vec<Option<String>> =
                query(c, redis::cmd("MGET").arg(&keys).arg(&missing)).await;
            let want: Vec<Option<String>> = pairs
                .iter()
                .map(|(_, v)| Some(v.clone()))
                .chain([None])
                .collect();
            assert_eq!(got, want, "MGET across slots, in key order");
            let n: i64 = query(c, redis::cmd("EXISTS").arg(&keys).arg(&missing)).await;
            assert_eq!(n, 30);
            assert_eq!(query::<i64>(c, redis::cmd("INCR").arg(format!("{p}n"))).await, 1);
            let _: () = query(c, redis::cmd("HSET").arg(format!("{p}h")).arg("f").arg("v")).await;
            let h: std::collections::HashMap<String, String> =
                query(c, redis::cmd("HGETALL").arg(format!("{p}h"))).await;
            assert_eq!(h.get("f").map(String::as_str), Some("v"));
            let _: () = query(c, redis::cmd("RPUSH").arg(format!("{p}l")).arg(&["a", "b"])).await;
            let l: Vec<String> =
                query(c, redis::cmd("LRANGE").arg(format!("{p}l")).arg(0).arg(-1)).await;
            assert_eq!(l, ["a", "b"]);

            // A pipeline over many slots: replies in order.
            let mut pipe = redis::pipe();
            for i in 0..100 {
                pipe.set(format!("{p}p{i}"), i).ignore();
            }
            pipe.get(format!("{p}p99")).incr(format!("{p}n"), 1);
            let (last, n): (String, i64) = pipe.query_async(c).await.unwrap();
            assert_eq!((last.as_str(), n), ("99", 2));

            // Two keys of one tag move together in a script.
            let (from, to) = (format!("{{{p}acct}}:from"), format!("{{{p}acct}}:to"));
            let _: () = query(c, redis::cmd("SET").arg(&from).arg(10)).await;
            let moved: i64 = query(
                c,
                redis::cmd("EVAL")
                    .arg("local v = redis.call('GET', KEYS[1]); redis.call('SET', KEYS[2], v); return redis.call('DEL', KEYS[1])")
                    .arg(2)
                    .arg(&from)
                    .arg(&to),
            )
            .await;
            assert_eq!(moved, 1);
            let got: Option<String> = query(c, redis::cmd("GET").arg(&to)).await;
            assert_eq!(got.as_deref(), Some("10"));
            // Two keys of different slots: Redis's CROSSSLOT error, and the
            // connection goes on.
            let (k1, k2) = (pairs[0].0.clone(), pairs[1].0.clone());
            assert_ne!(cluster.keyslot(&k1), cluster.keyslot(&k2));
            let err = redis::cmd("EVAL")
                .arg("return 1")
                .arg(2)
                .arg(&k1)
                .arg(&k2)
                .query_async::<i64>(c)
                .await
                .unwrap_err();
            assert_eq!(err.code(), Some("CROSSSLOT"), "{err}");
            assert_eq!(
                err.detail(),
                Some("Keys in request don't hash to the same slot"),
                "{err}"
            );
            let n: i64 = query(c, redis::cmd("DEL").arg(&keys)).await;
            assert_eq!(n, 30, "DEL across slots counts every key");
        });
        assert_on_their_masters(&cluster, &pipelined_keys(&p));
    }
}
