//! The hosted commands' state under `rs:` can be read through the proxy but
//! not written with plain commands: a DEL of another owner's lock, an HSET
//! forging a red packet's balance, an SREM letting a buyer buy twice, a
//! script declaring an `rs:` key, a write queued in MULTI, an inline command
//! — each refused with NOPERM naming the hosted commands to use, and checked
//! on the server: nothing changed. A user holding @admin may write there;
//! the hosted commands themselves and the orders stream's consumer group
//! work as before. Real redis-server and redshard processes on loopback.

mod common;

use common::servers::{alpha_proxy, Conn, RedisServer, Redshard, Reply};

const LOCK: &str = "NOPERM this user has no permissions to write 'rs:lock:{L1}': keys under rs: are redshard's hosted state, written only by its hosted commands; use LOCK.ACQUIRE, LOCK.RELEASE or LOCK.EXTEND";

/// One server, so every key's server is known; the default user of a pool
/// without `users:`, and `ops`, who holds @admin, on a second pool.
fn setup() -> (RedisServer, Redshard) {
    let s = RedisServer::start();
    let p = alpha_proxy(std::slice::from_ref(&s), "");
    (s, p)
}

fn owner(c: &mut Conn) -> Reply {
    match c.cmd(&["LOCK.OWNER", "L1"]) {
        Reply::Array(parts) => parts[0].clone(),
        other => other,
    }
}

#[test]
fn a_plain_del_does_not_break_another_owners_lock() {
    let (s, p) = setup();
    let mut holder = p.conn();
    assert_eq!(
        holder.cmd(&["LOCK.ACQUIRE", "L1", "owner-a", "60000"]),
        Reply::Int(1)
    );
    let mut attacker = p.conn();
    // Readable through the proxy.
    assert_eq!(
        attacker.cmd(&["HGET", "rs:lock:{L1}", "owner"]),
        Reply::bulk("owner-a")
    );
    for attack in [
        vec!["DEL", "rs:lock:{L1}"],
        vec!["UNLINK", "x", "rs:lock:{L1}"],
        vec!["EXPIRE", "rs:lock:{L1}", "1"],
        vec!["HSET", "rs:lock:{L1}", "owner", "mallory"],
        vec!["RENAME", "rs:lock:{L1}", "{L1}x"],
        vec![
            "EVAL",
            "return redis.call('DEL', KEYS[1])",
            "1",
            "rs:lock:{L1}",
        ],
    ] {
        assert_eq!(attacker.cmd(&attack).error_text(), LOCK, "{attack:?}");
    }
    // Inline, as a telnet user would type it.
    attacker.send_raw(b"DEL rs:lock:{L1}\r\n");
    assert_eq!(attacker.read().error_text(), LOCK);
    // Queued in a transaction: refused at once, and the transaction with it.
    assert_eq!(attacker.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(attacker.cmd(&["DEL", "rs:lock:{L1}"]).error_text(), LOCK);
    assert!(attacker
        .cmd(&["EXEC"])
        .error_text()
        .starts_with("EXECABORT"));
    // On the server: the lock is there, still owner-a's.
    let mut direct = s.conn();
    assert_eq!(direct.cmd(&["EXISTS", "rs:lock:{L1}"]), Reply::Int(1));
    assert_eq!(
        direct.cmd(&["HGET", "rs:lock:{L1}", "owner"]),
        Reply::bulk("owner-a")
    );
    assert_eq!(owner(&mut attacker), Reply::bulk("owner-a"));
    // The hosted commands keep working.
    assert_eq!(
        attacker.cmd(&["LOCK.RELEASE", "L1", "mallory"]),
        Reply::Int(-1)
    );
    assert_eq!(
        holder.cmd(&["LOCK.RELEASE", "L1", "owner-a"]),
        Reply::Int(0)
    );
    assert_eq!(direct.cmd(&["EXISTS", "rs:lock:{L1}"]), Reply::Int(0));
}

#[test]
fn a_red_packets_balance_and_a_sales_buyers_cannot_be_forged() {
    let (s, p) = setup();
    let mut c = p.conn();
    assert_eq!(c.cmd(&["REDPACKET.CREATE", "p1", "1000", "5"]), Reply::ok());
    let meta = "rs:rp:{p1}:meta";
    let e = c.cmd(&["HSET", meta, "remain", "999999"]);
    assert_eq!(
        e.error_text(),
        format!("NOPERM this user has no permissions to write '{meta}': keys under rs: are redshard's hosted state, written only by its hosted commands; use REDPACKET.CREATE or REDPACKET.OPEN")
    );
    let before = s.conn().cmd(&["HGETALL", meta]);
    assert!(c.cmd(&["HINCRBY", meta, "remain", "1"]).is_error());
    assert_eq!(s.conn().cmd(&["HGETALL", meta]), before);
    assert!(matches!(c.cmd(&["REDPACKET.OPEN", "p1", "alice"]), Reply::Int(n) if n > 0));

    assert_eq!(c.cmd(&["SECKILL.CREATE", "s1", "10"]), Reply::ok());
    assert_eq!(c.cmd(&["SECKILL.BUY", "s1", "u1"]), Reply::ok());
    let buyers = "rs:sk:{s1}:buyers";
    assert!(c
        .cmd(&["SREM", buyers, "u1"])
        .error_text()
        .ends_with("use SECKILL.CREATE or SECKILL.BUY"));
    assert_eq!(s.conn().cmd(&["SISMEMBER", buyers, "u1"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["SECKILL.BUY", "s1", "u1"]),
        Reply::Status("DUPLICATE".into())
    );
    // A forged order is refused; the consumer group reads the real ones.
    let orders = "rs:sk:{s1}:orders";
    assert!(c.cmd(&["XADD", orders, "*", "uid", "u2"]).is_error());
    assert_eq!(c.cmd(&["XGROUP", "CREATE", orders, "g", "0"]), Reply::ok());
    // XGROUP CREATE ... MKSTREAM writes: not on a key of another kind,
    // where a stream would leave the name's hosted commands WRONGTYPE.
    for key in ["rs:lock:{V}", "rs:bf:{V}:meta", "rs:sk:{V}:meta"] {
        let create = ["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"];
        assert!(c.cmd(&create).error_text().starts_with("NOPERM"), "{key}");
        assert_eq!(s.conn().cmd(&["EXISTS", key]), Reply::Int(0));
    }
    assert_eq!(c.cmd(&["LOCK.ACQUIRE", "V", "me", "1000"]), Reply::Int(1));
    let Reply::Array(read) = c.cmd(&["XREADGROUP", "GROUP", "g", "w", "STREAMS", orders, ">"])
    else {
        panic!()
    };
    assert_eq!(read.len(), 1);
    assert_eq!(s.conn().cmd(&["XLEN", orders]), Reply::Int(1));
}

#[test]
fn a_user_holding_admin_may_write_hosted_state() {
    let s = RedisServer::start();
    let users = "  users:\n   - {name: ops, password: ops-pw, commands: [\"+@all\"]}\n   - {name: app, password: app-pw, commands: [\"+@all\", \"-@admin\"]}\n";
    let p = alpha_proxy(std::slice::from_ref(&s), users);
    let mut c = p.conn();
    assert_eq!(c.cmd(&["AUTH", "app", "app-pw"]), Reply::ok());
    assert_eq!(c.cmd(&["LOCK.ACQUIRE", "L1", "a", "60000"]), Reply::Int(1));
    assert_eq!(c.cmd(&["DEL", "rs:lock:{L1}"]).error_text(), LOCK);
    assert_eq!(c.cmd(&["AUTH", "ops", "ops-pw"]), Reply::ok());
    assert_eq!(c.cmd(&["DEL", "rs:lock:{L1}"]), Reply::Int(1));
    assert_eq!(s.conn().cmd(&["EXISTS", "rs:lock:{L1}"]), Reply::Int(0));
}
