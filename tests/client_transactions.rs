//! Transactions as client libraries send them, through redshard: redis-py's
//! transactional `pipeline()` (MULTI ... EXEC, its default) and `watch()`,
//! ioredis's and node-redis's `multi()`. What ran is checked on the servers
//! directly: a refused transaction runs none of its commands, a per-server
//! one is one MULTI/EXEC on each server.

mod common;

use std::path::{Path, PathBuf};

use common::clients::{clients_dir, require, run_script};
use common::servers::{
    alpha_proxy, command_calls, keys_on, server_of, start_servers, wait_blocked, RedisServer, Reply,
};

fn redis_py() -> Option<PathBuf> {
    let python = clients_dir().join("py-latest/bin/python");
    require(&python).then_some(python)
}

/// Runs tests/clients/txn_check.py against the proxy on `port`.
fn py(python: &Path, port: u16, scenario: &str, keys: &[&str]) {
    let mut args = vec![port.to_string(), scenario.to_string()];
    args.extend(keys.iter().map(|k| k.to_string()));
    run_script(python, "txn_check.py", &args, &[]);
}

fn get(server: &RedisServer, key: &str) -> Reply {
    server.conn().cmd(&["GET", key])
}

/// Asserts that none of `keys` exists on any server and that `command` never
/// ran on one.
fn nothing_ran(servers: &[RedisServer], keys: &[&str], command: &str) {
    for (i, server) in servers.iter().enumerate() {
        for key in keys {
            assert_eq!(
                server.conn().cmd(&["EXISTS", key]),
                Reply::Int(0),
                "{key} on server {i}, written by a refused transaction"
            );
        }
        assert_eq!(command_calls(server, command), 0, "{command} on server {i}");
    }
}

#[test]
fn a_redis_py_pipeline_over_three_servers_is_one_multi_exec_on_each() {
    let Some(python) = redis_py() else { return };
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "  multi: per_server\n");
    let keys: Vec<String> = (0..3).map(|i| keys_on(&p, i, 1).0.remove(0)).collect();
    py(
        &python,
        p.port,
        "per_server",
        &[&keys[0], &keys[1], &keys[2]],
    );
    for (i, server) in s.iter().enumerate() {
        assert_eq!(command_calls(server, "multi"), 1, "server {i}");
        assert_eq!(command_calls(server, "exec"), 1, "server {i}");
    }
    assert_eq!(get(&s[0], &keys[0]), Reply::bulk("a"));
    assert_eq!(get(&s[1], &keys[1]), Reply::bulk("11"));
    assert_eq!(get(&s[2], &keys[2]), Reply::bulk("c"));
}

#[test]
fn a_refused_redis_py_transaction_runs_none_of_its_commands() {
    let Some(python) = redis_py() else { return };
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    // A key on another server, between two on the first key's server.
    let (on0, _) = keys_on(&p, 0, 2);
    let (on2, _) = keys_on(&p, 2, 1);
    let cross = [on0[0].as_str(), on2[0].as_str(), on0[1].as_str()];
    py(&python, p.port, "cross_server", &cross);
    nothing_ran(&s, &cross, "incr");
    // An unknown command between two INCRs on one server.
    let unknown = [on0[0].as_str(), on0[1].as_str()];
    py(&python, p.port, "unknown", &unknown);
    nothing_ran(&s, &unknown, "incr");
}

#[test]
fn a_redis_py_transaction_refused_for_a_full_dedicated_pool_runs_nothing() {
    let Some(python) = redis_py() else { return };
    let s = start_servers(1, &[]);
    let p = alpha_proxy(&s, "  max_dedicated_connections: 1\n");
    // Another client holds the only dedicated connection, blocked.
    let mut blocked = p.conn();
    blocked.send(&[b"BLPOP", b"nothing", b"0"]);
    wait_blocked(&s[0], 1);
    py(&python, p.port, "full", &["txn:a", "txn:b"]);
    nothing_ran(&s, &["txn:a", "txn:b"], "incr");
    assert_eq!(command_calls(&s[0], "set"), 0);
    // Released when the blocked call returns.
    assert_eq!(p.conn().cmd(&["RPUSH", "nothing", "x"]), Reply::Int(1));
    assert_eq!(
        blocked.read(),
        Reply::Array(vec![Reply::bulk("nothing"), Reply::bulk("x")])
    );
}

#[test]
fn redis_py_watch_retries_under_contention_count_exactly() {
    let Some(python) = redis_py() else { return };
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    py(&python, p.port, "watch", &["counter"]);
    let server = server_of(&p, "counter");
    assert_eq!(get(&s[server], "counter"), Reply::bulk("300"));
    assert_eq!(
        command_calls(&s[server], "watch"),
        command_calls(&s[server], "multi")
    );
}

#[test]
fn ioredis_and_node_redis_multi_on_one_server_and_refused_across_servers() {
    let modules = clients_dir().join("node/node_modules");
    if !require(&modules.join("ioredis")) || !require(&modules.join("redis")) {
        return;
    }
    let s = start_servers(3, &[]);
    let p = alpha_proxy(&s, "");
    let (on0, _) = keys_on(&p, 0, 2);
    let (on2, _) = keys_on(&p, 2, 1);
    let args: Vec<String> = [
        p.port.to_string(),
        on0[0].clone(),
        on0[1].clone(),
        on2[0].clone(),
    ]
    .into();
    run_script(
        Path::new("node"),
        "txn_check.js",
        &args,
        &[("NODE_PATH", modules)],
    );
    // One EXEC each for the transactions that ran; nothing of the refused.
    assert_eq!(command_calls(&s[0], "exec"), 2);
    assert_eq!(get(&s[0], &on0[0]), Reply::bulk("nr"));
    assert_eq!(get(&s[0], &on0[1]), Reply::bulk("2"));
    nothing_ran(&s[2..], &[&on2[0]], "set");
}
