//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared ground-truth folder (`../shared` beside the checkout), or
/// `$REDSHARD_SHARED`. Panics when missing: a placement test must not pass
/// without its vectors.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("REDSHARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("placement").is_dir(),
        "placement vectors not found at {} (set REDSHARD_SHARED)",
        dir.display()
    );
    dir
}

/// Placement vectors recorded from the real nutcracker by
/// scripts/gen_placement.py, for cases the shared ones do not cover.
pub fn own_placement_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/placement")
}

/// The placement configs in `dir`: (name, yml path, tsv path), sorted by name.
pub fn placement_cases(dir: &std::path::Path) -> Vec<(String, PathBuf, PathBuf)> {
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .expect("read placement dir")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "yml").then(|| {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let tsv = path.with_extension("tsv");
                (name, path, tsv)
            })
        })
        .collect();
    cases.sort();
    cases
}

/// Rows of a placement `.tsv`: (escaped key, server index).
pub fn read_vectors(tsv: &std::path::Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(tsv).expect("read tsv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("key\tserver_index"), "{}", tsv.display());
    lines
        .map(|l| {
            let (k, i) = l.rsplit_once('\t').expect("tab");
            (k.to_string(), i.parse().expect("index"))
        })
        .collect()
}

pub mod certs;
pub mod clients;
pub mod cluster;
pub mod cluster_proxy;
pub mod fake_redis;
pub mod kv_load;
pub mod load;
pub mod resharding;
pub mod resp;
pub mod scripted;
pub mod sentinel;
pub mod servers;
pub mod splitargs;
