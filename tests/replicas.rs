//! Reads from replicas (`read_from`), with real processes: reads served by
//! replicas and writes by masters (counted on the servers themselves with
//! `INFO commandstats`), a replica killed under load, every replica gone,
//! the per-connection opt-out, a replica whose link is down, and replicas
//! found through Sentinel.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::sentinel::{Layout, Topology};
use common::servers::{command_calls, eventually, RedisServer, Redshard, Reply, README_USER};

/// A master and its replicas, in sync.
struct Shard {
    master: RedisServer,
    replicas: Vec<RedisServer>,
}

fn shard(replicas: usize) -> Shard {
    shard_with(replicas, &[])
}

/// A shard whose servers all get the redis-server arguments `extra`.
fn shard_with(replicas: usize, extra: &[&str]) -> Shard {
    let master = RedisServer::start_with(extra);
    let port = master.port.to_string();
    let replicas: Vec<RedisServer> = (0..replicas)
        .map(|_| {
            let mut args = vec!["--replicaof", "127.0.0.1", &port];
            args.extend_from_slice(extra);
            RedisServer::start_with(&args)
        })
        .collect();
    eventually(Duration::from_secs(10), "replicas in sync", || {
        let mut c = master.conn();
        let info = common::sentinel::info(&mut c, "replication");
        (info.matches("state=online").count() == replicas.len()).then_some(())
    });
    Shard { master, replicas }
}

/// A pool over `shards`, each server with its replicas, and `extra` keys.
fn pool(shards: &[Shard], extra: &str) -> String {
    let mut s = format!("alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n{extra}  servers:\n");
    for (i, sh) in shards.iter().enumerate() {
        let replicas: Vec<String> = sh
            .replicas
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect();
        s.push_str(&format!(
            "   - server: 127.0.0.1:{}:1 shard{}\n     replicas: [{}]\n",
            sh.master.port,
            i + 1,
            replicas.join(", ")
        ));
    }
    s
}

/// Writes `n` keys through the proxy and waits until every replica has
/// them; the keys, by shard index.
fn written(proxy: &Redshard, shards: &[Shard], n: usize) -> HashMap<usize, Vec<String>> {
    let config = redshard::config::Config::load(&proxy.config).unwrap();
    let placement = redshard::pool::Placement::new(&config.pools[0]);
    let mut c = proxy.conn();
    let mut by_shard: HashMap<usize, Vec<String>> = HashMap::new();
    for i in 0..n {
        let key = format!("r:{i}");
        assert_eq!(c.cmd(&["SET", &key, &format!("v{i}")]), Reply::ok());
        let home = placement.server_for(key.as_bytes()).unwrap();
        by_shard.entry(home).or_default().push(key);
    }
    for (home, keys) in &by_shard {
        for r in &shards[*home].replicas {
            let last = keys.last().unwrap();
            eventually(Duration::from_secs(5), "replicated", || {
                (r.conn().cmd(&["EXISTS", last]) == Reply::Int(1)).then_some(())
            });
        }
    }
    by_shard
}

/// `clients` connections each reading every key once; the error replies.
fn read_all(proxy: &Redshard, keys: &[String], clients: usize) -> Vec<String> {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (port, keys) = (proxy.port, keys.to_vec());
            std::thread::spawn(move || {
                let mut c = common::servers::Conn::tcp(port);
                keys.iter()
                    .filter_map(|k| match c.cmd(&["GET", k]) {
                        Reply::Bulk(_) => None,
                        other => Some(format!("{k}: {other:?}")),
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn reads_go_to_the_replicas_and_writes_to_the_masters() {
    let shards = vec![shard(2), shard(2)];
    let proxy = Redshard::start(&pool(&shards, "  read_from: replica\n"));
    let keys = written(&proxy, &shards, 200);
    let all: Vec<String> = keys.values().flatten().cloned().collect();
    let errors = read_all(&proxy, &all, 8);
    assert!(errors.is_empty(), "{errors:?}");
    for (i, sh) in shards.iter().enumerate() {
        assert_eq!(
            command_calls(&sh.master, "get"),
            0,
            "shard{} master read",
            i + 1
        );
        assert_eq!(command_calls(&sh.master, "set") as usize, keys[&i].len());
        let reads: Vec<u64> = sh
            .replicas
            .iter()
            .map(|r| command_calls(r, "get"))
            .collect();
        assert_eq!(reads.iter().sum::<u64>() as usize, 8 * keys[&i].len());
        assert!(
            reads.iter().all(|&n| n > 0),
            "shard{}: reads per replica {reads:?}",
            i + 1
        );
        println!("shard{}: reads per replica {reads:?}", i + 1);
    }
}

/// The prober looks at the servers as the pool's connections reach them:
/// with `redis_username`, as that ACL user (the README's line, with the
/// `+info` it says the prober needs). Before, it sent `AUTH <redis_auth>`
/// alone, was refused, and no replica ever served a read.
#[test]
fn the_prober_logs_in_as_the_pools_acl_user() {
    let mut user = README_USER.to_vec();
    user.push("+info");
    let shards = vec![shard_with(1, &user)];
    let login = "  redis_username: redshard\n  redis_auth: proxy-pw\n";
    let proxy = Redshard::start(&pool(&shards, &format!("{login}  read_from: replica\n")));
    let mut c = proxy.conn();
    // redis_auth is the clients' password too, as in nutcracker.
    assert_eq!(c.cmd(&["AUTH", "proxy-pw"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    eventually(Duration::from_secs(5), "replicated", || {
        (shards[0].replicas[0].conn().cmd(&["EXISTS", "k"]) == Reply::Int(1)).then_some(())
    });
    // The replica serves once the prober has seen it answer.
    eventually(Duration::from_secs(5), "a read from the replica", || {
        let _ = c.cmd(&["GET", "k"]);
        (command_calls(&shards[0].replicas[0], "get") > 0).then_some(())
    });
    let before = command_calls(&shards[0].replicas[0], "get");
    for _ in 0..100 {
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    }
    assert_eq!(command_calls(&shards[0].master, "get"), 0);
    assert_eq!(command_calls(&shards[0].replicas[0], "get"), before + 100);
}

#[test]
fn a_killed_replica_moves_its_reads_to_the_others_with_no_failed_request() {
    let mut shards = vec![shard(2), shard(1)];
    let proxy = Redshard::start(&pool(&shards, "  read_from: replica\n"));
    let keys = written(&proxy, &shards, 100);
    let all: Vec<String> = keys.values().flatten().cloned().collect();
    // Four clients read every key over and over.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (port, all) = (proxy.port, all.clone());
            std::thread::spawn(move || {
                let mut c = common::servers::Conn::tcp(port);
                let mut failed = Vec::new();
                for _ in 0..20 {
                    for k in &all {
                        match c.cmd(&["GET", k]) {
                            Reply::Bulk(_) => {}
                            other => failed.push(format!("{k}: {other:?}")),
                        }
                    }
                }
                failed
            })
        })
        .collect();
    // Mid-load: one of shard1's two replicas dies.
    eventually(Duration::from_secs(5), "reads under way", || {
        (command_calls(&shards[0].replicas[1], "get") > 50).then_some(())
    });
    shards[0].replicas[1].kill();
    let failed: Vec<String> = readers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        failed.is_empty(),
        "reads failed when a replica died: {failed:?}"
    );
    let survivor = command_calls(&shards[0].replicas[0], "get");
    assert!(survivor > 0);
    let mut c = proxy.conn();
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let dead = format!(
        "server0.replica1:addr=127.0.0.1:{}",
        shards[0].replicas[1].port
    );
    let line = info.lines().find(|l| l.starts_with(&dead)).unwrap();
    assert!(
        line.ends_with("state=down") || line.ends_with("state=not_answering"),
        "{line}"
    );
}

#[test]
fn with_every_replica_gone_prefer_replica_reads_from_the_master_and_replica_says_why() {
    let mut shards = vec![shard(1), shard(1)];
    let prefer = Redshard::start(&pool(&shards, "  read_from: prefer_replica\n"));
    let strict = Redshard::start(&pool(&shards, "  read_from: replica\n"));
    let keys = written(&prefer, &shards, 40);
    let dead = shards[0].replicas[0].port;
    shards[0].replicas[0].kill();
    let errors = read_all(&prefer, &keys[&0], 2);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(command_calls(&shards[0].master, "get") >= 2 * keys[&0].len() as u64);
    let mut c = strict.conn();
    let error = eventually(Duration::from_secs(5), "the replica known down", || match c
        .cmd(&["GET", &keys[&0][0]])
    {
        Reply::Error(e) => Some(e),
        _ => None,
    });
    assert!(
        error.starts_with(&format!(
            "ERR redshard: no replica of server shard1 can serve reads (127.0.0.1:{dead} "
        )),
        "{error}"
    );
    assert_eq!(
        c.cmd(&["GET", &keys[&1][0]]),
        Reply::bulk(&keys[&1][0].replace("r:", "v"))
    );
}

#[test]
fn readwrite_reads_from_the_master_for_that_connection_only() {
    let shards = vec![shard(1)];
    let proxy = Redshard::start(&pool(&shards, "  read_from: replica\n"));
    let mut c = proxy.conn();
    assert_eq!(c.cmd(&["READWRITE"]), Reply::ok());
    for i in 0..20 {
        let key = format!("own:{i}");
        assert_eq!(c.cmd(&["SET", &key, "1"]), Reply::ok());
        assert_eq!(c.cmd(&["GET", &key]), Reply::bulk("1"), "its own write");
    }
    assert_eq!(command_calls(&shards[0].master, "get"), 20);
    assert_eq!(command_calls(&shards[0].replicas[0], "get"), 0);
    assert_eq!(c.cmd(&["READONLY"]), Reply::ok());
    let mut other = proxy.conn();
    eventually(Duration::from_secs(5), "replicated", || {
        (shards[0].replicas[0].conn().cmd(&["EXISTS", "own:19"]) == Reply::Int(1)).then_some(())
    });
    for conn in [&mut c, &mut other] {
        assert_eq!(conn.cmd(&["GET", "own:19"]), Reply::bulk("1"));
    }
    assert_eq!(command_calls(&shards[0].master, "get"), 20);
    assert_eq!(command_calls(&shards[0].replicas[0], "get"), 2);
}

#[test]
fn a_replica_whose_link_to_its_master_is_down_serves_no_reads() {
    let shards = vec![shard(2)];
    let proxy = Redshard::start(&pool(&shards, "  read_from: replica\n"));
    let keys = written(&proxy, &shards, 20);
    // Replica 1 now follows a master that is not there: stale, link down.
    let nowhere = common::servers::free_port().to_string();
    let cut = &shards[0].replicas[1];
    assert_eq!(
        cut.conn().cmd(&["REPLICAOF", "127.0.0.1", &nowhere]),
        Reply::ok()
    );
    let mut c = proxy.conn();
    let line = format!("server0.replica1:addr=127.0.0.1:{}", cut.port);
    eventually(Duration::from_secs(5), "the prober sees it", || {
        let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
            return None;
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        let l = info.lines().find(|l| l.starts_with(&line))?.to_string();
        l.ends_with("state=link_down").then_some(())
    });
    let before = command_calls(cut, "get");
    let errors = read_all(&proxy, &keys[&0], 6);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        command_calls(cut, "get"),
        before,
        "the cut replica took reads"
    );
}

#[test]
fn a_sentinel_pool_reads_from_the_replicas_its_sentinels_list() {
    let topology = Topology::start(Layout {
        shards: 1,
        replicas: 2,
        ..Layout::default()
    });
    let proxy = Redshard::start(&topology.pool_config("  read_from: replica\n"));
    let mut c = proxy.conn();
    let replicas: Vec<u16> = topology.shards[0].servers[1..]
        .iter()
        .map(|s| s.port)
        .collect();
    let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    for port in &replicas {
        assert!(
            info.contains(&format!(":addr=127.0.0.1:{port},role=replica,")),
            "{info}"
        );
    }
    assert_eq!(c.cmd(&["SET", "s", "1"]), Reply::ok());
    let servers = &topology.shards[0].servers;
    for r in &servers[1..] {
        eventually(Duration::from_secs(5), "replicated", || {
            (r.conn().cmd(&["EXISTS", "s"]) == Reply::Int(1)).then_some(())
        });
    }
    let errors = read_all(&proxy, &["s".to_string()], 6);
    assert!(errors.is_empty(), "{errors:?}");
    let reads: Vec<u64> = servers[1..]
        .iter()
        .map(|r| command_calls(r, "get"))
        .collect();
    assert_eq!(reads.iter().sum::<u64>(), 6, "{reads:?}");
    assert_eq!(command_calls(&servers[0], "get"), 0);
}

#[test]
fn a_reload_turns_reads_from_replicas_on_and_off() {
    let shards = vec![shard(1)];
    let proxy = Redshard::start(&pool(&shards, ""));
    let keys = written(&proxy, &shards, 10);
    let (master, replica) = (&shards[0].master, &shards[0].replicas[0]);
    let mut c = proxy.conn();
    assert!(matches!(c.cmd(&["GET", &keys[&0][0]]), Reply::Bulk(_)));
    assert_eq!(
        (command_calls(master, "get"), command_calls(replica, "get")),
        (1, 0)
    );
    proxy.write_config(&pool(&shards, "  read_from: replica\n"));
    eventually(Duration::from_secs(5), "reads on the replica", || {
        assert!(matches!(c.cmd(&["GET", &keys[&0][0]]), Reply::Bulk(_)));
        (command_calls(replica, "get") > 0).then_some(())
    });
    proxy.write_config(&pool(&shards, "  read_from: master\n"));
    eventually(Duration::from_secs(5), "reads on the master again", || {
        let before = command_calls(master, "get");
        assert!(matches!(c.cmd(&["GET", &keys[&0][0]]), Reply::Bulk(_)));
        (command_calls(master, "get") > before).then_some(())
    });
}
