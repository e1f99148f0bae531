//! The check on raw requests, no server needed.

use super::*;
use crate::auth::users::{UserSpec, Users};
use crate::command::lookup;
use crate::protocol::{FrameLimits, RequestFramer};

fn user(commands: &[&str], keys: Option<&[&str]>) -> Users {
    Users::build(&[UserSpec {
        name: "u".into(),
        password: Some("p".into()),
        commands: Some(commands.iter().map(|s| s.to_string()).collect()),
        keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
    }])
    .unwrap()
}

fn check_words(users: &Users, words: &[&str]) -> Result<(), Denied> {
    check_as(&users.find(b"u").unwrap().perms, words)
}

fn check_as(perms: &Perms, words: &[&str]) -> Result<(), Denied> {
    let mut raw = bytes::BytesMut::new();
    crate::protocol::encode::command(&mut raw, words.iter().map(|w| w.as_bytes()));
    let mut framer = RequestFramer::new(FrameLimits::default());
    let req = framer.next_frame(&raw).unwrap().unwrap();
    let spec = lookup(req.arg(0)).unwrap();
    let hosted = matches!(spec.action, crate::command::Action::Hosted(_));
    check(perms, spec, &req, hosted, &mut Vec::new())
}

#[test]
fn read_only_user_on_app_keys() {
    let reader = user(&["+@read"], Some(&["app:*"]));
    let ok = |w: &[&str]| check_words(&reader, w);
    assert_eq!(ok(&["GET", "app:1"]), Ok(()));
    assert_eq!(ok(&["MGET", "app:1", "app:2"]), Ok(()));
    assert_eq!(ok(&["SET", "app:1", "v"]), Err(Denied::Command("set")));
    assert_eq!(ok(&["GET", "other"]), Err(Denied::Key));
    assert_eq!(ok(&["MGET", "app:1", "other"]), Err(Denied::Key));
    assert_eq!(
        ok(&["EVAL", "return 1", "1", "app:1"]),
        Err(Denied::Command("eval"))
    );
    assert_eq!(
        ok(&["SCRIPT", "FLUSH"]),
        Err(Denied::Command("script|flush"))
    );
    assert_eq!(ok(&["ACL", "WHOAMI"]), Err(Denied::Command("acl|whoami")));
    assert_eq!(
        ok(&["SORT_RO", "app:l", "BY", "w_*"]),
        Err(Denied::SortOption("BY"))
    );
    assert_eq!(
        ok(&["SORT_RO", "app:l", "GET", "#"]),
        Err(Denied::SortOption("GET"))
    );
    assert_eq!(
        ok(&["SORT_RO", "app:l", "BY", "nosort", "LIMIT", "0", "1"]),
        Ok(())
    );
    assert_eq!(ok(&["OBJECT", "ENCODING", "app:1"]), Ok(()));
    assert_eq!(ok(&["OBJECT", "ENCODING", "other"]), Err(Denied::Key));
    // Hosted commands name their keys as the user wrote them.
    assert_eq!(ok(&["LOCK.OWNER", "app:l"]), Ok(()));
    assert_eq!(ok(&["LOCK.OWNER", "l"]), Err(Denied::Key));
}

#[test]
fn scripts_need_scripting_and_flush_needs_admin() {
    let scripter = user(&["+@read", "+@write", "+@scripting"], None);
    let ok = |w: &[&str]| check_words(&scripter, w);
    assert_eq!(ok(&["EVAL", "return 1", "1", "k"]), Ok(()));
    assert_eq!(ok(&["SCRIPT", "LOAD", "return 1"]), Ok(()));
    assert_eq!(
        ok(&["SCRIPT", "FLUSH"]),
        Err(Denied::Command("script|flush"))
    );
    assert_eq!(ok(&["SCRIPT", "KILL"]), Err(Denied::Command("script|kill")));
    let admin = user(&["+@all"], None);
    assert_eq!(check_words(&admin, &["SCRIPT", "FLUSH"]), Ok(()));
    let writer = user(&["+@read", "+@write"], None);
    assert_eq!(
        check_words(&writer, &["FCALL", "f", "1", "k"]),
        Err(Denied::Command("fcall"))
    );
}

#[test]
fn hosted_state_is_written_by_hosted_commands_only() {
    let d = Users::implicit(None);
    let perms = &d.at_connect().unwrap().perms;
    let check_d = |words: &[&str]| check_as(perms, words);
    let hosted = |key: &str, writers: &'static str| {
        Err(Denied::Hosted {
            key: key.as_bytes().to_vec(),
            writers,
        })
    };
    let lock = "LOCK.ACQUIRE, LOCK.RELEASE or LOCK.EXTEND";
    assert_eq!(
        check_d(&["DEL", "rs:lock:{L1}"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["DEL", "a", "rs:lock:{L1}"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["MSET", "a", "1", "rs:lock:{L1}", "x"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["EXPIRE", "rs:lock:{L1}", "1"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["RENAME", "a", "rs:lock:{L1}"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["EVAL", "return 1", "1", "rs:lock:{L1}"]),
        hosted("rs:lock:{L1}", lock)
    );
    assert_eq!(
        check_d(&["EVAL_RO", "return 1", "1", "rs:lock:{L1}"]),
        Ok(())
    );
    assert!(check_d(&["HSET", "rs:rp:{p}:meta", "remain", "999"]).is_err());
    assert!(check_d(&["SREM", "rs:sk:{s}:buyers", "u1"]).is_err());
    assert!(check_d(&["XADD", "rs:sk:{s}:orders", "*", "f", "v"]).is_err());
    assert!(check_d(&["SORT", "a", "STORE", "rs:sk:{s}:buyers"]).is_err());
    // Reads, hosted commands, and the orders stream's consumer group.
    assert_eq!(check_d(&["GET", "rs:lock:{L1}"]), Ok(()));
    assert_eq!(check_d(&["HGETALL", "rs:rp:{p}:meta"]), Ok(()));
    assert_eq!(check_d(&["LOCK.RELEASE", "L1", "owner"]), Ok(()));
    let group = ["XGROUP", "CREATE", "rs:sk:{s}:orders", "g", "0"];
    assert_eq!(check_d(&group), Ok(()));
    let read = [
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "STREAMS",
        "rs:sk:{s}:orders",
        ">",
    ];
    assert_eq!(check_d(&read), Ok(()));
    // Not @admin: SCRIPT FLUSH and KILL are refused, the rest is not.
    assert_eq!(
        check_d(&["SCRIPT", "FLUSH"]),
        Err(Denied::Command("script|flush"))
    );
    assert_eq!(check_d(&["SCRIPT", "LOAD", "return 1"]), Ok(()));
    assert_eq!(check_d(&["KEYS", "*"]), Ok(()));
    // A user holding @admin writes hosted state.
    let admin = user(&["+@all"], None);
    assert_eq!(check_words(&admin, &["DEL", "rs:lock:{L1}"]), Ok(()));
}

#[test]
fn what_the_proxy_refuses_anyway_keeps_its_own_reason() {
    let reader = user(&["+@read"], None);
    assert_eq!(check_words(&reader, &["CONFIG", "GET", "x"]), Ok(()));
    // FLUSHALL is proxied where allow_flush is set: a reader may not.
    assert_eq!(
        check_words(&reader, &["FLUSHALL"]),
        Err(Denied::Command("flushall"))
    );
    assert_eq!(
        check_words(&reader, &["CLIENT", "KILL", "ID", "1"]),
        Err(Denied::Command("client|kill"))
    );
    assert_eq!(
        check_words(&reader, &["PING"]),
        Err(Denied::Command("ping"))
    );
}
