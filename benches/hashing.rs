//! Hash functions on 16- and 64-byte keys; ketama lookup with 4 and 100 servers.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redshard::distribution::{Distribution, Ring, RingMember};
use redshard::hashkit::Hash;

fn hashes(c: &mut Criterion) {
    for len in [16usize, 64] {
        let key: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut group = c.benchmark_group(format!("hash/{len}B"));
        group.throughput(Throughput::Bytes(len as u64));
        for (hash, name) in Hash::ALL {
            group.bench_function(name, |b| b.iter(|| hash.hash(black_box(&key))));
        }
        group.finish();
    }
}

fn ketama_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("ketama_lookup");
    for servers in [4usize, 100] {
        let names: Vec<String> = (0..servers)
            .map(|i| format!("10.0.{}.{}:6379", i / 250, i % 250))
            .collect();
        let members: Vec<RingMember<'_>> = names
            .iter()
            .enumerate()
            .map(|(index, n)| RingMember {
                index,
                name: n.as_bytes(),
                weight: 1,
            })
            .collect();
        let ring = Ring::build(Distribution::Ketama, &members);
        // A spread of hashes so the search path varies as with real keys.
        let hashes: Vec<u32> = (0..1024u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        let mut i = 0usize;
        group.bench_function(format!("{servers}_servers"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                ring.dispatch(black_box(hashes[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hashes, ketama_lookup);
criterion_main!(benches);
