//! Scripts cannot get around the proxy's rules when the servers enforce
//! theirs: with `redis_username`, redshard logs in to each server as a Redis
//! ACL user, and the README's `ACL SETUSER` line (no @dangerous, no @admin)
//! stops `EVAL "return redis.call('flushall')" 1 k` at the server — the
//! command the proxy refuses as a command but cannot see inside a script.
//! Without it (the control), the same EVAL empties the server: the attack is
//! real. Real redis-server and redshard processes on loopback.

mod common;

use common::servers::{alpha_proxy, RedisServer, Reply, README_USER};

#[test]
fn flushall_inside_a_script_is_stopped_at_the_server() {
    let args = README_USER;
    let servers = [
        RedisServer::start_with(&args),
        RedisServer::start_with(&args),
    ];
    let p = alpha_proxy(
        &servers,
        "  redis_auth: proxy-pw\n  redis_username: redshard\n  hash_tag: \"{}\"\n",
    );
    let mut c = p.conn();
    // redis_auth is the clients' password too, as in nutcracker.
    assert_eq!(c.cmd(&["AUTH", "proxy-pw"]), Reply::ok());
    // Keys until every server has one, then the attack on each key.
    let mut keys = Vec::new();
    for i in 0..1000 {
        let key = format!("{{user{}}}:k", i * 7919);
        assert_eq!(c.cmd(&["SET", &key, "v"]), Reply::ok());
        keys.push(key);
        if servers
            .iter()
            .all(|s| s.conn().cmd(&["DBSIZE"]) != Reply::Int(0))
        {
            break;
        }
    }
    assert!(servers
        .iter()
        .all(|s| s.conn().cmd(&["DBSIZE"]) != Reply::Int(0)));
    for key in &keys {
        let r = c.cmd(&["EVAL", "return redis.call('flushall')", "1", key]);
        assert!(
            r.error_text()
                .contains("The user executing the script can't run this command"),
            "{r:?}"
        );
    }
    for s in &servers {
        assert_ne!(s.conn().cmd(&["DBSIZE"]), Reply::Int(0), "data gone");
    }
    // The proxy's own work goes on as that user: commands, hosted scripts.
    assert_eq!(c.cmd(&["GET", &keys[0]]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["LOCK.ACQUIRE", "L", "me", "1000"]), Reply::Int(1));
    let Reply::Array(owner) = c.cmd(&["LOCK.OWNER", "L"]) else {
        panic!()
    };
    assert_eq!(owner[0], Reply::bulk("me"));
    // The servers saw the proxy as `redshard`.
    let mut direct = servers[0].conn();
    let Reply::Bulk(list) = direct.cmd(&["CLIENT", "LIST"]) else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&list).contains("user=redshard"));
}

#[test]
fn without_the_acl_user_the_same_script_empties_the_server() {
    let servers = [RedisServer::start()];
    let p = alpha_proxy(&servers, "");
    let mut c = p.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('flushall')", "1", "k"]),
        Reply::ok()
    );
    assert_eq!(servers[0].conn().cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn a_wrong_username_is_the_servers_to_refuse() {
    let mut args = README_USER.to_vec();
    args.extend(["--user", "default", "off"]);
    let servers = [RedisServer::start_with(&args)];
    let p = alpha_proxy(
        &servers,
        "  redis_auth: proxy-pw\n  redis_username: nobody\n",
    );
    let mut c = p.conn();
    assert_eq!(c.cmd(&["AUTH", "proxy-pw"]), Reply::ok());
    let r = c.cmd(&["GET", "k"]);
    assert!(r.error_text().starts_with("NOAUTH"), "{r:?}");
    let started = std::time::Instant::now();
    while !p
        .log_text()
        .contains("server rejected the pool's redis_auth")
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The servers' two users for a pool with `redis_hosted_username`: the
/// pool's own reads and writes every key but those under `rs:`, which it
/// only reads (the `~` patterns cover every name that does not start with
/// `rs:`; Redis wants one pattern to allow both the read and the write a
/// key needs, so they are read-write patterns, and `%R~rs:*` adds the
/// reads); the hosted commands' user writes them too. The README shows the
/// same lines as ACL SETUSER.
#[rustfmt::skip]
const SPLIT_USERS: [&str; 27] = [
    "--user", "redshard", "on", ">proxy-pw", "~[^r]*", "~r[^s]*", "~rs[^:]*", "~r", "~rs",
    "%R~rs:*", "&*", "+@all", "-@dangerous", "-@admin",
    "--user", "redshard-hosted", "on", ">hosted-pw", "~*", "&*", "+@all", "-@dangerous",
    "-@admin", "--user", "default", "off", "+@all",
];

#[test]
fn scripts_cannot_write_hosted_state_when_hosted_commands_have_their_own_user() {
    let servers = [RedisServer::start_with(&SPLIT_USERS)];
    let p = alpha_proxy(
        &servers,
        "  redis_auth: proxy-pw\n  redis_username: redshard\n  redis_hosted_username: redshard-hosted\n  redis_hosted_auth: hosted-pw\n",
    );
    let mut c = p.conn();
    assert_eq!(c.cmd(&["AUTH", "proxy-pw"]), Reply::ok());
    let lock_on_server = || {
        let mut direct = servers[0].conn();
        assert_eq!(direct.cmd(&["AUTH", "redshard", "proxy-pw"]), Reply::ok());
        direct.cmd(&["EXISTS", "rs:lock:{L1}"])
    };
    assert_eq!(
        c.cmd(&["LOCK.ACQUIRE", "L1", "owner", "60000"]),
        Reply::Int(1)
    );
    // A client's script that names another key and deletes the lock: the
    // server refuses it, as the pool's user may not write rs: keys.
    let attack = [
        "EVAL",
        "return redis.call('del','rs:lock:{L1}')",
        "1",
        "{L1}",
    ];
    for round in 0..2 {
        let r = c.cmd(&attack);
        assert!(
            r.error_text()
                .contains("can't access at least one of the keys"),
            "round {round}: {r:?}"
        );
        assert_eq!(lock_on_server(), Reply::Int(1), "round {round}");
        // Its own keys it writes; and a hosted call in between switches
        // back: the next round's attack meets the pool's user again.
        let own = ["EVAL", "return redis.call('set','{L1}:x','1')", "1", "{L1}"];
        assert_eq!(c.cmd(&own), Reply::ok());
        let Reply::Array(owner) = c.cmd(&["LOCK.OWNER", "L1"]) else {
            panic!("LOCK.OWNER")
        };
        assert_eq!(owner[0], Reply::bulk("owner"));
    }
    // 0: no holds left, the lock is gone.
    assert_eq!(c.cmd(&["LOCK.RELEASE", "L1", "owner"]), Reply::Int(0));
    assert_eq!(lock_on_server(), Reply::Int(0));
}
