//! The request framer alone: a RESP `SET` (the hot path) and the same
//! command inline, bare and with quotes and escapes (its words copied,
//! unescaped, into the framer's buffer).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use redshard::protocol::{FrameLimits, RequestFramer};

fn frame(framer: &mut RequestFramer, bytes: &[u8]) -> usize {
    let req = framer.next_frame(bytes).unwrap().unwrap();
    req.argc() + req.wire_len()
}

fn framer(c: &mut Criterion) {
    let cases: [(&str, &[u8]); 4] = [
        (
            "resp SET",
            b"*3\r\n$3\r\nSET\r\n$8\r\nuser:100\r\n$5\r\nhello\r\n",
        ),
        ("inline SET", b"SET user:100 hello\r\n"),
        (
            "inline SET quoted",
            b"SET user:100 \"hello world\\x21\\n\"\r\n",
        ),
        ("blank line, inline SET", b"\r\nSET user:100 hello\r\n"),
    ];
    for (name, bytes) in cases {
        let mut framer = RequestFramer::new(FrameLimits::default());
        c.bench_function(name, |b| b.iter(|| frame(&mut framer, black_box(bytes))));
    }
}

criterion_group!(benches, framer);
criterion_main!(benches);
