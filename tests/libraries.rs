//! Real applications through redshard, with the settings README's
//! "Libraries known to work" gives: job queues (huey, BullMQ) enqueueing
//! and processing a few hundred jobs, and a cache (django-redis) caching and
//! clearing, exactly as against one Redis. Each script checks every value on
//! its way; then the servers are checked directly: where the keys went, and
//! that nothing is left behind.
//!
//! The libraries are pinned and installed by scripts/test.sh under
//! target/clients (`py-apps`, `node-apps`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::clients::{clients_dir, require, run_script};
use common::servers::{
    command_calls, info_field, server_of, start_servers, RedisServer, Redshard, Reply,
};

/// Jobs (or keys) per library run.
const N: u64 = 300;

fn python() -> Option<PathBuf> {
    let python = clients_dir().join("py-apps/bin/python");
    require(&python).then_some(python)
}

fn node_modules() -> Option<PathBuf> {
    let modules = clients_dir().join("node-apps/node_modules");
    require(&modules.join("bullmq")).then_some(modules)
}

/// Runs a script of tests/clients against the proxy on `port`, and says how
/// long it took.
fn run(program: &Path, script: &str, port: u16, args: &[&str], env: &[(&str, PathBuf)]) {
    let mut all = vec![port.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let started = Instant::now();
    run_script(program, script, &all, env);
    eprintln!("{script} {args:?}: {:?}", started.elapsed());
}

/// A proxy over `servers`, named s0, s1...: the ring hashes the names, so
/// every run places the libraries' keys alike, whatever the ports.
fn proxy(servers: &[RedisServer], extra: &str) -> Redshard {
    let mut config =
        format!("alpha:\n  listen: 127.0.0.1:{{port}}\n  redis: true\n{extra}  servers:\n");
    for (i, server) in servers.iter().enumerate() {
        config.push_str(&format!("   - 127.0.0.1:{}:1 s{i}\n", server.port));
    }
    Redshard::start(&config)
}

fn dbsize(server: &RedisServer) -> i64 {
    match server.conn().cmd(&["DBSIZE"]) {
        Reply::Int(n) => n,
        other => panic!("DBSIZE: {other:?}"),
    }
}

/// `command`'s calls on each server.
fn calls(servers: &[RedisServer], command: &str) -> Vec<u64> {
    servers.iter().map(|s| command_calls(s, command)).collect()
}

/// `total` calls of `command`, all on server `on`.
fn only_on(servers: &[RedisServer], command: &str, on: usize) -> Vec<u64> {
    let got = calls(servers, command);
    assert!(
        got.iter().enumerate().all(|(i, &n)| (i == on) == (n > 0)),
        "{command} ran on {got:?}, expected only on server {on}"
    );
    got
}

/// huey with no settings at all: its queue, result and schedule keys each
/// live on one server, and no command or transaction spans two. Every
/// worker thread blocks in BRPOP on a connection of its own.
#[test]
fn huey_with_default_settings() {
    let Some(python) = python() else { return };
    let s = start_servers(3, &[]);
    let p = proxy(&s, "");
    run(&python, "huey_app.py", p.port, &[&N.to_string()], &[]);
    // One LPUSH per task (and the failing one) on the queue's server, taken
    // by BRPOP there; one HSET per result on the results' server, read back
    // in a MULTI (HGET, HDEL) there.
    let queue = server_of(&p, "huey.redis.test");
    let results = server_of(&p, "huey.results.test");
    assert_eq!(only_on(&s, "lpush", queue)[queue], N + 1);
    assert!(only_on(&s, "brpop", queue)[queue] > N);
    assert_eq!(only_on(&s, "hset", results)[results], N + 1);
    assert!(only_on(&s, "exec", results)[results] > N);
    for server in &s {
        assert_eq!(dbsize(server), 0, "huey left keys behind");
    }
}

/// BullMQ with the prefix its docs give for Redis Cluster: every key, those
/// its Lua scripts build from the prefix included, lands on the `{bull}`
/// server; the worker blocks in BZPOPMIN, QueueEvents in XREAD BLOCK.
#[test]
fn bullmq_with_a_hash_tagged_prefix() {
    let Some(modules) = node_modules() else {
        return;
    };
    let s = start_servers(3, &[]);
    let p = proxy(&s, "  hash_tag: \"{}\"\n");
    // The version it gates features on is the servers' (not 7.0.0, under
    // the 7.0.8 its 1 ms blocking timeouts need).
    let version = info_field(&s[0], "server", "redis_version").unwrap();
    run(
        Path::new("node"),
        "bullmq_app.js",
        p.port,
        &[&N.to_string(), &version],
        &[("NODE_PATH", modules)],
    );
    let bull = server_of(&p, "{bull}:jobs:wait");
    assert!(only_on(&s, "evalsha", bull)[bull] > 2 * N);
    for command in ["xread", "bzpopmin", "hgetall"] {
        only_on(&s, command, bull);
    }
    // Every key BullMQ wrote was on that server, and obliterate() removed
    // them all.
    for (i, server) in s.iter().enumerate() {
        if i != bull {
            assert_eq!(calls(&s, "hset")[i], 0);
        }
        assert_eq!(dbsize(server), 0, "BullMQ left keys behind");
    }
}

/// Runs django_cache_app.py with KEY_PREFIX `prefix` through a proxy over
/// three servers with `extra` pool keys, and KEYS and FLUSHDB allowed (its
/// keys() and clear()).
fn django(extra: &str, prefix: &str) -> Option<(Vec<RedisServer>, Redshard)> {
    let python = python()?;
    let s = start_servers(3, &[]);
    let p = proxy(
        &s,
        &format!("{extra}  allow_keys: true\n  allow_flush: true\n"),
    );
    let n = N.to_string();
    run(&python, "django_cache_app.py", p.port, &[prefix, &n], &[]);
    Some((s, p))
}

/// django-redis with its default settings: untagged keys on every server,
/// set_many and delete_pattern as one MULTI over all of them (so one per
/// server, with `multi: per_server`), keys() as KEYS, clear() as FLUSHDB.
#[test]
fn django_redis_with_default_settings_on_a_per_server_pool() {
    let Some((s, p)) = django("  multi: per_server\n", "") else {
        return;
    };
    // Where each of its keys lives (KEY_PREFIX:VERSION:key, the prefix
    // empty): N SETs of k*, N of m* (set_many), and the add() of k0 that
    // finds the key there.
    let per_server = |name: &str| {
        let mut count = vec![0u64; s.len()];
        for i in 0..N {
            count[server_of(&p, &format!(":1:{name}{i}"))] += 1;
        }
        count
    };
    let (k, m) = (per_server("k"), per_server("m"));
    let mut sets: Vec<u64> = k.iter().zip(&m).map(|(k, m)| k + m).collect();
    sets[server_of(&p, ":1:k0")] += 1;
    assert_eq!(calls(&s, "set"), sets);
    for (i, server) in s.iter().enumerate() {
        // set_many and delete_pattern: one MULTI/EXEC each on every server
        // that holds m* keys.
        let multis = if m[i] > 0 { 2 } else { 0 };
        assert_eq!(command_calls(server, "multi"), multis, "server {i}");
        assert_eq!(command_calls(server, "exec"), multis, "server {i}");
        assert_eq!(command_calls(server, "flushdb"), 1, "server {i}");
        assert_eq!(dbsize(server), 0, "server {i}");
    }
    assert!(
        m.iter().filter(|&&n| n > 0).count() > 1,
        "set_many's keys all on one server: {m:?}"
    );
}

/// django-redis with `KEY_PREFIX: '{dj}'`: every key on one server, so its
/// MULTIs need no `per_server`; keys() and clear() still reach every server.
#[test]
fn django_redis_with_a_hash_tagged_prefix_on_a_same_server_pool() {
    let Some((s, p)) = django("  hash_tag: \"{}\"\n", "{dj}") else {
        return;
    };
    let dj = server_of(&p, "{dj}:1:k0");
    assert_eq!(only_on(&s, "set", dj)[dj], 2 * N + 1);
    assert_eq!(only_on(&s, "exec", dj)[dj], 2);
    assert_eq!(calls(&s, "flushdb"), [1, 1, 1]);
}

/// aiocache with its default settings on a `per_server` pool: multi_set
/// with a ttl is one MULTI of an MSET and an EXPIRE per key, so each server
/// holding some of the keys runs one MULTI/EXEC with its piece of the MSET.
#[test]
fn aiocache_with_default_settings_on_a_per_server_pool() {
    let Some(python) = python() else { return };
    let s = start_servers(3, &[]);
    let p = proxy(&s, "  multi: per_server\n");
    run(&python, "aiocache_app.py", p.port, &[&N.to_string()], &[]);
    let mut holders = vec![false; s.len()];
    for i in 0..N {
        holders[server_of(&p, &format!("a{i}"))] = true;
    }
    assert!(holders.iter().filter(|&&h| h).count() > 1, "{holders:?}");
    for (i, server) in s.iter().enumerate() {
        let multis = u64::from(holders[i]);
        assert_eq!(command_calls(server, "multi"), multis, "server {i}");
        assert_eq!(command_calls(server, "exec"), multis, "server {i}");
        assert_eq!(dbsize(server), 0, "aiocache left keys behind on server {i}");
    }
}

/// dramatiq with its default settings: every broker call is a script whose
/// one key is the namespace, so they all run on that key's server; its
/// first call, a script without keys, runs on the keyless server.
#[test]
fn dramatiq_with_default_settings() {
    let Some(python) = python() else { return };
    let s = start_servers(3, &[]);
    let p = proxy(&s, "");
    run(&python, "dramatiq_app.py", p.port, &[&N.to_string()], &[]);
    let home = server_of(&p, "dramatiq");
    assert!(calls(&s, "evalsha")[home] > N);
    for (i, server) in s.iter().enumerate() {
        if i != home {
            assert_eq!(dbsize(server), 0, "a dramatiq key on server {i}");
        }
    }
}
