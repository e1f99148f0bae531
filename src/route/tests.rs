//! Byte-exact router tests: raw RESP in, the exact route and the exact bytes
//! each server would receive out. No server needed. Where a key lands is
//! taken from the placement itself (checked against nutcracker's own vectors
//! in tests/placement.rs); these tests check what the router does with it.

use std::path::Path;

use super::*;
use crate::config::Config;
use crate::protocol::{FrameLimits, RequestFramer};

const SERVERS: &str =
    "  servers:\n   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7003:1\n";

fn pool(extra: &str) -> crate::config::PoolConfig {
    let yaml = format!("p:\n  listen: 127.0.0.1:22121\n  redis: true\n{extra}{SERVERS}");
    Config::parse(&yaml, Path::new("test.yml"))
        .expect("valid config")
        .pools
        .remove(0)
}

fn placement() -> Placement {
    Placement::new(&pool(""))
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode::command(&mut out, args.iter().copied());
    out.to_vec()
}

/// What each server receives: (server, bytes), or the refusal.
type Sent = Result<Vec<(usize, Vec<u8>)>, RouteError>;

fn route_raw(raw: &[u8], placement: &Placement) -> Sent {
    let mut framer = RequestFramer::new(FrameLimits::default());
    let req = framer
        .next_frame(raw)
        .expect("valid RESP")
        .expect("whole request");
    assert_eq!(req.wire_len(), raw.len(), "one request exactly");
    let spec = lookup(req.arg(0)).expect("known command");
    let mut router = Router::new();
    let mut whole = BytesMut::new();
    req.encode_whole(&mut whole);
    match router.route(spec, &req, placement) {
        Route::One(s) => Ok(vec![(s, whole.to_vec())]),
        Route::All { kind, servers } => {
            let mut sent = BytesMut::new();
            kind.encode(&req, &mut sent);
            Ok(servers
                .iter()
                .map(|&s| (s as usize, sent.to_vec()))
                .collect())
        }
        Route::Split(split) => Ok((0..split.parts())
            .map(|part| {
                let mut out = BytesMut::new();
                split.encode_part(part, &req, &mut out);
                (split.server(part), out.to_vec())
            })
            .collect()),
        Route::Scan(scan) => {
            let mut out = BytesMut::new();
            scan.encode(&req, &mut out);
            Ok(vec![(scan.server, out.to_vec())])
        }
        Route::Refused(e) => Err(e),
    }
}

fn route(args: &[&[u8]], placement: &Placement) -> Sent {
    route_raw(&resp(args), placement)
}

/// Routes `args` and hands the route itself to `check`.
fn inspect<T>(args: &[&[u8]], placement: &Placement, check: impl FnOnce(Route<'_>) -> T) -> T {
    let raw = resp(args);
    let mut framer = RequestFramer::new(FrameLimits::default());
    let req = framer.next_frame(&raw).unwrap().unwrap();
    let mut router = Router::new();
    check(router.route(lookup(args[0]).unwrap(), &req, placement))
}

/// Three keys named `key:N`, the first and last on one server, the middle on
/// another.
fn keys_on_two_servers(p: &Placement) -> ([String; 3], usize, usize) {
    let names: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    let at = |k: &String| p.server_for(k.as_bytes()).unwrap();
    let a = &names[0];
    let b = names.iter().find(|k| at(k) != at(a)).unwrap();
    let c = names.iter().skip(1).find(|k| at(k) == at(a)).unwrap();
    ([a.clone(), b.clone(), c.clone()], at(a), at(b))
}

#[test]
fn a_single_key_command_goes_whole_to_its_server() {
    let p = placement();
    let raw = b"*3\r\n$3\r\nSET\r\n$5\r\nkey:7\r\n$1\r\nv\r\n";
    let server = p.server_for(b"key:7").unwrap();
    assert_eq!(route_raw(raw, &p), Ok(vec![(server, raw.to_vec())]));
}

#[test]
fn an_inline_request_is_forwarded_as_resp() {
    let p = placement();
    let server = p.server_for(b"key:7").unwrap();
    assert_eq!(
        route_raw(b"GET key:7\r\n", &p),
        Ok(vec![(
            server,
            b"*2\r\n$3\r\nGET\r\n$5\r\nkey:7\r\n".to_vec()
        )])
    );
}

#[test]
fn mget_is_split_per_server_in_key_order() {
    let p = placement();
    let ([a, b, c], sa, sb) = keys_on_two_servers(&p);
    let (a, b, c) = (a.as_bytes(), b.as_bytes(), c.as_bytes());
    assert_eq!(
        route(&[b"MGET", a, b, c], &p),
        Ok(vec![
            (sa, resp(&[b"MGET", a, c])),
            (sb, resp(&[b"MGET", b]))
        ])
    );
    let order = inspect(&[b"MGET", a, b, c], &p, |route| match route {
        Route::Split(split) => split.mget_order(),
        other => panic!("not split: {other:?}"),
    });
    assert_eq!(order, vec![(0, 0), (1, 0), (0, 1)]);
}

#[test]
fn mset_is_split_with_each_value_beside_its_key() {
    let p = placement();
    let ([a, b, c], sa, sb) = keys_on_two_servers(&p);
    let (a, b, c) = (a.as_bytes(), b.as_bytes(), c.as_bytes());
    assert_eq!(
        route(&[b"MSET", a, b"1", b, b"2", c, b"3"], &p),
        Ok(vec![
            (sa, resp(&[b"MSET", a, b"1", c, b"3"])),
            (sb, resp(&[b"MSET", b, b"2"]))
        ])
    );
    assert_eq!(route(&[b"MSET", a, b"1", b], &p), Err(RouteError::Arity));
}

#[test]
fn a_split_command_on_one_server_goes_whole() {
    let p = placement();
    let ([a, _, c], sa, _) = keys_on_two_servers(&p);
    let raw = resp(&[b"DEL", a.as_bytes(), c.as_bytes()]);
    assert_eq!(route_raw(&raw, &p), Ok(vec![(sa, raw.clone())]));
}

#[test]
fn scripts_need_their_keys_on_one_server() {
    let p = placement();
    let ([a, b, c], sa, _) = keys_on_two_servers(&p);
    let (a, b, c) = (a.as_bytes(), b.as_bytes(), c.as_bytes());
    let body = b"return 1";
    assert_eq!(
        route(&[b"EVAL", body, b"2", a, b], &p),
        Err(RouteError::CrossServer)
    );
    let same = resp(&[b"EVAL", body, b"2", a, c, b"arg"]);
    assert_eq!(route_raw(&same, &p), Ok(vec![(sa, same.clone())]));
    // Without keys a script touches no key the router knows of: it runs on
    // the pool's keyless server (a Redis Cluster node runs it wherever it is
    // sent), as a library's probe of the server (`return #redis...`) does.
    let keyless = resp(&[b"EVAL", body, b"0"]);
    let server = p.server_for(b"").unwrap();
    assert_eq!(route_raw(&keyless, &p), Ok(vec![(server, keyless.clone())]));
    let fcall = resp(&[b"FCALL", b"f", b"0", b"arg"]);
    assert_eq!(route_raw(&fcall, &p), Ok(vec![(server, fcall.clone())]));
    assert_eq!(
        route(&[b"EVAL", body, b"x", a], &p),
        Err(RouteError::BadNumkeys)
    );
    assert_eq!(
        route(&[b"EVAL", body, b"3", a], &p),
        Err(RouteError::BadNumkeys)
    );
}

#[test]
fn a_hash_tag_keeps_keys_together() {
    let p = Placement::new(&pool("  hash_tag: \"{}\"\n"));
    let server = p.server_for(b"user1").unwrap();
    let raw = resp(&[b"EVAL", b"return 1", b"2", b"{user1}:a", b"{user1}:b"]);
    assert_eq!(route_raw(&raw, &p), Ok(vec![(server, raw.clone())]));
}

#[test]
fn reserved_keys_go_by_their_tag_whatever_the_pool_hash_tag() {
    let p = placement();
    let server = p.server_for(b"L1").unwrap();
    let raw = resp(&[b"PTTL", b"rs:lock:{L1}"]);
    assert_eq!(route_raw(&raw, &p), Ok(vec![(server, raw.clone())]));
    let keys: [&[u8]; 3] = [b"rs:rp:{x}:meta", b"rs:rp:{x}:opened", b"rs:rp:{x}:records"];
    assert_eq!(
        server_of_keys(keys.into_iter(), &p),
        Ok(p.server_for(b"x").unwrap())
    );
}

#[test]
fn streams_keys_and_blocking_reads() {
    let p = placement();
    let ([a, b, _], _, _) = keys_on_two_servers(&p);
    let (a, b) = (a.as_bytes(), b.as_bytes());
    assert_eq!(
        route(&[b"XREAD", b"STREAMS", a, b, b"0", b"0"], &p),
        Err(RouteError::CrossServer)
    );
    let one = resp(&[b"XREAD", b"COUNT", b"1", b"STREAMS", a, b"0"]);
    assert_eq!(
        route_raw(&one, &p),
        Ok(vec![(p.server_for(a).unwrap(), one.clone())])
    );
    // A blocking read goes to the server of its stream like any other
    // (dispatch gives it a connection of its own).
    let blocking = resp(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", a, b"0"]);
    assert_eq!(
        route_raw(&blocking, &p),
        Ok(vec![(p.server_for(a).unwrap(), blocking.clone())])
    );
}

#[test]
fn script_management_goes_to_every_live_server() {
    let p = placement();
    let load = resp(&[b"SCRIPT", b"LOAD", b"return 1"]);
    assert_eq!(
        route_raw(&load, &p),
        Ok((0..3).map(|s| (s, load.clone())).collect())
    );
    assert_eq!(
        route(&[b"SCRIPT", b"DEBUG", b"YES"], &p),
        Err(RouteError::ScriptSubcommand("debug".into()))
    );
    let config = pool("  auto_eject_hosts: true\n");
    let without_1 = Placement::with_live(&config, |i| i != 1);
    let dbsize = resp(&[b"DBSIZE"]);
    assert_eq!(
        route_raw(&dbsize, &without_1),
        Ok(vec![(0, dbsize.clone()), (2, dbsize.clone())])
    );
}

#[test]
fn a_kill_goes_to_every_server_ejected_ones_too() {
    let config = pool("  auto_eject_hosts: true\n");
    let without_1 = Placement::with_live(&config, |i| i != 1);
    for kill in [resp(&[b"SCRIPT", b"KILL"]), resp(&[b"function", b"kill"])] {
        assert_eq!(
            route_raw(&kill, &without_1),
            Ok((0..3).map(|s| (s, kill.clone())).collect())
        );
    }
    let kind = inspect(&[b"SCRIPT", b"kill"], &without_1, |route| match route {
        Route::All { kind, .. } => kind,
        other => panic!("not to every server: {other:?}"),
    });
    assert!(kind == Broadcast::ScriptKill && kind.overtakes());
    assert_eq!(
        route(
            &[b"FUNCTION", b"LOAD", b"#!lua name=x".as_slice()],
            &without_1
        ),
        Err(RouteError::FunctionSubcommand("load".into()))
    );
}

#[test]
fn nothing_routes_when_no_server_is_live() {
    let none = Placement::with_live(&pool(""), |_| false);
    assert_eq!(route(&[b"GET", b"k"], &none), Err(RouteError::NoServer));
    assert_eq!(
        route(&[b"MGET", b"a", b"b"], &none),
        Err(RouteError::NoServer)
    );
    assert_eq!(route(&[b"DBSIZE"], &none), Err(RouteError::NoServer));
}

#[test]
fn an_ejected_server_gets_no_keys() {
    let config = pool("  auto_eject_hosts: true\n");
    let all = Placement::new(&config);
    let gone = all.server_for(b"key:7").unwrap();
    let without = Placement::with_live(&config, |i| i != gone);
    let Ok(sent) = route(&[b"GET", b"key:7"], &without) else {
        panic!("refused")
    };
    assert_ne!(sent[0].0, gone);
}

/// The client's cursor for server `server` at that server's cursor `inner`.
fn cursor(p: &Placement, server: usize, inner: u64) -> Vec<u8> {
    let tag = scan::layout_tag(p.layout());
    let c = if inner == 0 {
        // `after` gives server s's start when server s - 1 is done.
        scan::ScanCursor::after(server - 1, 0, tag, p.server_count())
    } else {
        scan::ScanCursor::after(server, inner, tag, p.server_count())
    };
    c.unwrap().to_string().into_bytes()
}

#[test]
fn scan_goes_to_the_server_its_cursor_names_with_that_servers_cursor() {
    let p = placement();
    // Cursor 0: the first server's start; the options pass as sent.
    let raw = resp(&[b"SCAN", b"0", b"MATCH", b"k*", b"COUNT", b"10"]);
    assert_eq!(route_raw(&raw, &p), Ok(vec![(0, raw.clone())]));
    assert_eq!(
        route_raw(b"SCAN 0\r\n", &p),
        Ok(vec![(0, b"*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n".to_vec())])
    );
    // Server 2, at its own cursor 1234: exactly these bytes.
    let c = cursor(&p, 2, 1234);
    assert_eq!(
        route(&[b"scan", &c, b"TYPE", b"hash"], &p),
        Ok(vec![(
            2,
            b"*4\r\n$4\r\nscan\r\n$4\r\n1234\r\n$4\r\nTYPE\r\n$4\r\nhash\r\n".to_vec()
        )])
    );
    // Server 1's start.
    let c = cursor(&p, 1, 0);
    assert_eq!(
        route(&[b"SCAN", &c], &p),
        Ok(vec![(1, b"*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n".to_vec())])
    );
}

#[test]
fn a_bad_or_stale_scan_cursor_is_refused() {
    let p = placement();
    for bad in [&b"x"[..], b"-1", b"", b"99999999999999999999"] {
        assert_eq!(
            route(&[b"SCAN", bad], &p),
            Err(RouteError::Scan(ScanError::NotANumber))
        );
    }
    // Redis's own cursor, sent to the proxy: no layout tag.
    assert_eq!(
        route(&[b"SCAN", b"1536"], &p),
        Err(RouteError::Scan(ScanError::OtherLayout))
    );
    let c = cursor(&p, 1, 77);
    // The servers reordered, one moved, another db: another layout.
    let reordered =
        "  servers:\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7001:1\n   - 127.0.0.1:7003:1\n";
    let moved =
        "  servers:\n   - 127.0.0.1:7001:1 a\n   - 127.0.0.1:7009:1 b\n   - 127.0.0.1:7003:1 c\n";
    let named =
        "  servers:\n   - 127.0.0.1:7001:1 a\n   - 127.0.0.1:7002:1 b\n   - 127.0.0.1:7003:1 c\n";
    let alone = |servers: &str| {
        let yaml = format!("p:\n  listen: 127.0.0.1:22121\n{servers}");
        let config = Config::parse(&yaml, Path::new("t.yml")).unwrap();
        Placement::new(&config.pools[0])
    };
    let named_cursor = cursor(&alone(named), 1, 77);
    for (other, c) in [
        (alone(reordered), &c),
        (Placement::new(&pool("  redis_db: 1\n")), &c),
        (alone(moved), &named_cursor),
    ] {
        assert_eq!(
            route(&[b"SCAN", c], &other),
            Err(RouteError::Scan(ScanError::OtherLayout))
        );
    }
    // Other settings (the hash, weights) and ejections keep the layout.
    assert_eq!(Placement::new(&pool("  hash: md5\n")).layout(), p.layout());
    let config = pool("  auto_eject_hosts: true\n");
    let without_1 = Placement::with_live(&config, |i| i != 1);
    assert_eq!(without_1.layout(), p.layout());
    // The server a cursor names is ejected: refused, naming it.
    assert_eq!(
        route(&[b"SCAN", &c], &without_1),
        Err(RouteError::Ejected("127.0.0.1:7002".into()))
    );
    assert_eq!(
        route(&[b"SCAN", &cursor(&p, 2, 5)], &without_1).map(|s| s[0].0),
        Ok(2)
    );
}

#[test]
fn keys_and_randomkey_go_to_every_live_server_only_when_allowed() {
    let p = placement();
    for cmd in [&[&b"KEYS"[..], b"*"][..], &[b"RANDOMKEY"]] {
        assert_eq!(route(cmd, &p), Err(RouteError::KeysNotAllowed));
    }
    let config = pool("  allow_keys: true\n  auto_eject_hosts: true\n");
    let on = Placement::new(&config);
    let keys = resp(&[b"KEYS", b"user:*"]);
    assert_eq!(
        route_raw(&keys, &on),
        Ok((0..3).map(|s| (s, keys.clone())).collect())
    );
    let without_0 = Placement::with_live(&config, |i| i != 0);
    let random = resp(&[b"RANDOMKEY"]);
    assert_eq!(
        route_raw(&random, &without_0),
        Ok(vec![(1, random.clone()), (2, random.clone())])
    );
}

#[test]
fn flushdb_and_flushall_go_to_every_server_only_when_allowed() {
    let p = placement();
    for cmd in [&[&b"FLUSHDB"[..]][..], &[b"FLUSHALL", b"ASYNC"]] {
        assert_eq!(route(cmd, &p), Err(RouteError::FlushNotAllowed));
    }
    let config = pool("  allow_flush: true\n  auto_eject_hosts: true\n");
    // An ejected server is emptied too: its keys would come back with it.
    let without_1 = Placement::with_live(&config, |i| i != 1);
    for cmd in [&[&b"FLUSHDB"[..], b"SYNC"][..], &[b"flushall"]] {
        let raw = resp(cmd);
        assert_eq!(
            route_raw(&raw, &without_1),
            Ok((0..3).map(|s| (s, raw.clone())).collect())
        );
    }
    // allow_keys does not allow a flush, nor allow_flush KEYS.
    let keys_only = Placement::new(&pool("  allow_keys: true\n"));
    assert_eq!(
        route(&[b"FLUSHDB"], &keys_only),
        Err(RouteError::FlushNotAllowed)
    );
    assert_eq!(
        route(&[b"KEYS", b"*"], &without_1),
        Err(RouteError::KeysNotAllowed)
    );
}

#[test]
fn copy_into_another_database_is_refused() {
    let p = placement();
    let into_db: &[&[u8]] = &[b"COPY", b"{a}1", b"{a}2", b"db", b"7"];
    assert_eq!(route(into_db, &p), Err(RouteError::OtherDatabase));
    let replace: &[&[u8]] = &[b"COPY", b"{a}1", b"{a}2", b"REPLACE", b"DB", b"0"];
    assert_eq!(route(replace, &p), Err(RouteError::OtherDatabase));
    // Keys named "db" are keys.
    assert!(route(&[b"COPY", b"db", b"db", b"REPLACE"], &p).is_ok());
}

#[test]
fn info_asks_every_live_server_for_its_keyspace_only_when_asked() {
    let info = |args: &[&[u8]]| {
        let raw = resp(args);
        let mut framer = RequestFramer::new(FrameLimits::default());
        let req = framer.next_frame(&raw).unwrap().unwrap();
        info_asks_servers(&req)
    };
    assert!(!info(&[b"INFO"]));
    assert!(!info(&[b"INFO", b"server"]));
    assert!(!info(&[b"INFO", b"default"]));
    assert!(info(&[b"INFO", b"KEYSPACE"]));
    assert!(info(&[b"INFO", b"server", b"keyspace"]));
    assert!(info(&[b"info", b"all"]));
    assert!(info(&[b"INFO", b"everything"]));
    let config = pool("  auto_eject_hosts: true\n");
    let without_2 = Placement::with_live(&config, |i| i != 2);
    let asked = b"*2\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n".to_vec();
    assert_eq!(
        route(&[b"INFO", b"all"], &without_2),
        Ok(vec![(0, asked.clone()), (1, asked)])
    );
}
