//! Bloom filters within `bloom_max_bytes`: BF.RESERVE refuses a filter that
//! would not fit, naming the size it needs; a filter it accepted takes items
//! at its highest bit positions, and stops growing layers at the limit
//! instead of failing.

mod common;

use std::path::Path;

use common::servers::{pool_config, Conn, RedisServer, Redshard, Reply};
use redshard::config::Config;
use redshard::hosted::bloom_hashes;

fn proxy(s: &RedisServer, extra: &str) -> Redshard {
    Redshard::start(&pool_config("alpha", &[s], extra))
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn bulk_int(r: Reply) -> u64 {
    match r {
        Reply::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("expected a number as a bulk string, got {other:?}"),
    }
}

/// BF.INFO's field `name`.
fn info(c: &mut Conn, filter: &str, name: &str) -> i64 {
    let Reply::Array(fields) = c.cmd(&["BF.INFO", filter]) else {
        panic!("BF.INFO {filter}")
    };
    let at = fields
        .iter()
        .position(|f| *f == Reply::bulk(name))
        .unwrap_or_else(|| panic!("no '{name}' in {fields:?}"));
    int(fields[at + 1].clone())
}

#[test]
fn bf_reserve_refuses_a_filter_over_bloom_max_bytes_by_default() {
    let s = RedisServer::start();
    let p = proxy(&s, "");
    let mut c = p.conn();
    // 1e9 items at 1e-7: 4.2 GB, past even Redis's 512 MB strings.
    let r = c.cmd(&["BF.RESERVE", "f", "0.0000001", "1000000000"]);
    let text = r.error_text();
    for part in [
        "bloom_max_bytes",
        "needs 4193463041 bytes (3.9 GiB)",
        "67108864 bytes (64 MiB)",
        "1000000000 items at error rate 0.0000001",
    ] {
        assert!(text.contains(part), "'{part}' not in: {text}");
    }
    assert!(s.keys().is_empty(), "a refused filter left keys behind");
    // Nothing half-made: the name is free, and BF.ADD makes the default filter.
    assert_eq!(int(c.cmd(&["BF.ADD", "f", "x"])), 1);
    assert_eq!(info(&mut c, "f", "Capacity"), 100);
    // 64 MiB is the default: a filter of 53 million items at 1% fits, 60 do not.
    assert_eq!(
        c.cmd(&["BF.RESERVE", "big", "0.01", "53000000"]),
        Reply::ok()
    );
    assert!(c
        .cmd(&["BF.RESERVE", "bigger", "0.01", "60000000"])
        .error_text()
        .contains("bloom_max_bytes"));
}

/// The largest capacity BF.RESERVE accepts at `error` (binary search, each
/// probe on a fresh key).
fn largest_accepted(c: &mut Conn, error: &str) -> u64 {
    let (mut ok, mut refused) = (1u64, 1u64 << 40);
    while refused - ok > 1 {
        let mid = ok + (refused - ok) / 2;
        match c.cmd(&[
            "BF.RESERVE",
            &format!("probe{mid}"),
            error,
            &mid.to_string(),
        ]) {
            Reply::Status(s) if s == "OK" => ok = mid,
            Reply::Error(e) if e.contains("bloom_max_bytes") => refused = mid,
            other => panic!("BF.RESERVE {mid}: {other:?}"),
        }
    }
    ok
}

/// An item whose highest bit position in a layer of `m` bits and `k` hashes
/// is within the layer's last `within` bits (the scripts' double hashing),
/// and that position.
fn item_at_the_top(m: u64, k: u64, within: u64) -> (String, u64) {
    (0u64..)
        .take(2_000_000)
        .find_map(|i| {
            let item = format!("top-{i}");
            let (h1, h2) = bloom_hashes(item.as_bytes());
            let top = (0..k)
                .map(|j| (h1 as u64 + j * h2 as u64) % m)
                .max()
                .unwrap();
            (top >= m - within).then_some((item, top))
        })
        .expect("no item reaches the top bits")
}

#[test]
fn the_limit_is_exact_and_a_filter_just_under_it_takes_its_highest_bits() {
    let s = RedisServer::start();
    let p = proxy(&s, "  bloom_max_bytes: 1mb\n");
    let mut c = p.conn();
    let n = largest_accepted(&mut c, "0.01");
    let filter = format!("probe{n}");
    let size = info(&mut c, &filter, "Size");
    assert!(
        size <= 1 << 20 && size > (1 << 20) - 16,
        "the largest filter accepted takes {size} bytes of 1 MiB"
    );
    let over = c.cmd(&["BF.RESERVE", "over", "0.01", &(n + 1).to_string()]);
    let text = over.error_text();
    assert!(text.contains("1048576 bytes (1 MiB)"), "{text}");
    // It names the size it would need: just over the limit.
    let needed: u64 = text
        .split("needs ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no size needed in: {text}"));
    assert!(needed > 1 << 20 && needed <= (1 << 20) + 2, "{text}");

    // Its highest bit positions: set (the bitmap grows to them) and found.
    let meta = format!("rs:bf:{{{filter}}}:meta");
    let m = bulk_int(c.cmd(&["HGET", &meta, "m0"]));
    let k = bulk_int(c.cmd(&["HGET", &meta, "k0"]));
    assert_eq!(m.div_ceil(8), size as u64);
    let (item, top) = item_at_the_top(m, k, 64);
    assert_eq!(int(c.cmd(&["BF.ADD", &filter, &item])), 1);
    assert_eq!(int(c.cmd(&["BF.EXISTS", &filter, &item])), 1);
    let bitmap = format!("rs:bf:{{{filter}}}:f0");
    let mut direct = s.conn();
    assert_eq!(int(direct.cmd(&["STRLEN", &bitmap])) as u64, top / 8 + 1);
    assert_eq!(int(direct.cmd(&["GETBIT", &bitmap, &top.to_string()])), 1);
}

#[test]
fn at_the_largest_limit_a_filter_reaches_the_last_bit_setbit_takes() {
    // 512 MiB, the most bloom_max_bytes allows: a layer of up to 2^32 bits,
    // whose highest position SETBIT still takes (it refuses 2^32 and up).
    // The test's own server holds the 512 MiB bitmap for a moment.
    let s = RedisServer::start();
    let p = proxy(
        &s,
        "  bloom_max_bytes: 512mb
",
    );
    let mut c = p.conn();
    let n = largest_accepted(&mut c, "0.001");
    let filter = format!("probe{n}");
    let meta = format!("rs:bf:{{{filter}}}:meta");
    let m = bulk_int(c.cmd(&["HGET", &meta, "m0"]));
    let k = bulk_int(c.cmd(&["HGET", &meta, "k0"]));
    assert!(m <= 1 << 32 && m > (1 << 32) - 64, "{m} bits");
    let (item, top) = item_at_the_top(m, k, 1 << 20);
    assert_eq!(int(c.cmd(&["BF.ADD", &filter, &item])), 1);
    assert_eq!(int(c.cmd(&["BF.EXISTS", &filter, &item])), 1);
    let bitmap = format!("rs:bf:{{{filter}}}:f0");
    let mut direct = s.conn();
    assert_eq!(int(direct.cmd(&["STRLEN", &bitmap])) as u64, top / 8 + 1);
    assert_eq!(int(direct.cmd(&["DEL", &bitmap])), 1);
}

#[test]
fn at_its_limit_a_filter_stops_growing_and_bf_add_never_fails() {
    let s = RedisServer::start();
    let p = proxy(&s, "  bloom_max_bytes: 1kb\n");
    let mut c = p.conn();
    // BF.ADD makes the default filter (100 items at 1%, 120 bytes); it grows
    // by layers of 200 and 400 items (276 and 624 bytes: 1,020 in all), and
    // the next (1,392 bytes) would not fit.
    let items: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
    for chunk in items.chunks(250) {
        let mut args = vec!["BF.MADD", "grow"];
        args.extend(chunk.iter().map(String::as_str));
        let Reply::Array(added) = c.cmd(&args) else {
            panic!("BF.MADD failed")
        };
        assert!(added.iter().all(|r| matches!(r, Reply::Int(0 | 1))));
    }
    // Overfull, an item may read as present already (0); never an error.
    assert!(matches!(
        c.cmd(&["BF.ADD", "grow", "one-more"]),
        Reply::Int(0 | 1)
    ));
    assert_eq!(info(&mut c, "grow", "Number of filters"), 3);
    assert_eq!(info(&mut c, "grow", "Size"), 1020);
    assert_eq!(info(&mut c, "grow", "Capacity"), 700);
    // Overfull, it still has no false negatives.
    for chunk in items.chunks(500) {
        let mut args = vec!["BF.MEXISTS", "grow"];
        args.extend(chunk.iter().map(String::as_str));
        let Reply::Array(found) = c.cmd(&args) else {
            panic!("BF.MEXISTS failed")
        };
        assert!(
            found.iter().all(|r| *r == Reply::Int(1)),
            "a false negative"
        );
    }
    // A reservation at the limit is refused the same way.
    let r = c.cmd(&["BF.RESERVE", "r", "0.01", "1000"]);
    assert!(
        r.error_text().contains("1024 bytes (1 KiB)"),
        "{}",
        r.error_text()
    );
}

#[test]
fn bloom_max_bytes_is_a_size_from_1kb_to_512mb() {
    let yaml = |v: &str| {
        format!("alpha:\n  listen: 127.0.0.1:1\n  bloom_max_bytes: {v}\n  servers:\n   - 127.0.0.1:7001:1\n")
    };
    let parse = |v: &str| Config::parse(&yaml(v), Path::new("conf/test.yml"));
    assert_eq!(parse("64mb").unwrap().pools[0].bloom_max_bytes, 64 << 20);
    assert_eq!(parse("512mb").unwrap().pools[0].bloom_max_bytes, 512 << 20);
    assert_eq!(parse("1kb").unwrap().pools[0].bloom_max_bytes, 1024);
    let default = Config::parse(
        "alpha:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:7001:1\n",
        Path::new("conf/test.yml"),
    );
    assert_eq!(default.unwrap().pools[0].bloom_max_bytes, 64 << 20);
    for bad in ["513mb", "1gb", "1000", "0", "lots"] {
        let e = parse(bad).expect_err(bad).to_string();
        assert!(
            e.starts_with("conf/test.yml:3: pool 'alpha', key 'bloom_max_bytes': "),
            "{e}"
        );
        assert!(
            e.contains("512mb") || e.contains("is zero") || e.contains("not a size"),
            "{e}"
        );
    }
}
