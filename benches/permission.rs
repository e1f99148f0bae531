//! The permission check on the request path: a request framed, looked up
//! and routed without it (the path as it was) and with it, for the `default`
//! user of a pool without `users:`, a user with every right, and a user
//! with rules and key patterns.

use std::hint::black_box;
use std::path::Path;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use redshard::auth::{check, User};
use redshard::config::Config;
use redshard::pool::Placement;
use redshard::protocol::{encode, FrameLimits, RequestFramer};
use redshard::route::{lookup, Router};

const CONFIG: &str = "p:
  listen: 127.0.0.1:1
  redis: true
  users:
   - {name: ops, password: o, commands: [\"+@all\"]}
   - {name: app, password: a, commands: [\"+@all\", \"-@dangerous\"], keys: [\"app:*\"]}
  servers:
   - 127.0.0.1:7001:1
   - 127.0.0.1:7002:1
   - 127.0.0.1:7003:1
";

fn raw(words: &[&str]) -> BytesMut {
    let mut out = BytesMut::new();
    encode::command(&mut out, words.iter().map(|w| w.as_bytes()));
    out
}

/// Frames, looks up and routes `bytes`, checking it for `user` first.
fn request(
    bytes: &[u8],
    user: Option<&User>,
    placement: &Placement,
    framer: &mut RequestFramer,
    router: &mut Router,
) -> usize {
    let req = framer.next_frame(bytes).unwrap().unwrap();
    let spec = lookup(req.arg(0)).unwrap();
    if let Some(user) = user {
        assert!(check(&user.perms, spec, &req, false, router.scratch()).is_ok());
    }
    let parts = match router.route(spec, &req, placement) {
        redshard::route::Route::One(s) => s,
        redshard::route::Route::Split(s) => s.parts(),
        _ => 0,
    };
    req.wire_len() + parts
}

fn permission(c: &mut Criterion) {
    let config = Config::parse(CONFIG, Path::new("b.yml")).unwrap();
    let pool = &config.pools[0];
    let placement = Placement::new(pool);
    let implicit = redshard::auth::Users::implicit(None);
    let users = [
        ("default", implicit.at_connect().unwrap()),
        ("ops", pool.users.find(b"ops").unwrap().clone()),
        ("app", pool.users.find(b"app").unwrap().clone()),
    ];
    let requests = [
        ("get", raw(&["GET", "app:user:1000"])),
        ("set", raw(&["SET", "app:user:1000", "value"])),
        (
            "mset3",
            raw(&["MSET", "app:a", "1", "app:b", "2", "app:c", "3"]),
        ),
    ];
    let mut framer = RequestFramer::new(FrameLimits::default());
    let mut router = Router::new();
    for (name, bytes) in &requests {
        let mut group = c.benchmark_group(format!("request/{name}"));
        group.bench_function("no check", |b| {
            b.iter(|| request(black_box(bytes), None, &placement, &mut framer, &mut router))
        });
        for (user, u) in &users {
            group.bench_function(*user, |b| {
                b.iter(|| {
                    request(
                        black_box(bytes),
                        Some(u),
                        &placement,
                        &mut framer,
                        &mut router,
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, permission);
criterion_main!(benches);
