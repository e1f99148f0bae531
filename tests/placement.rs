//! Every key of nutcracker's placement vectors lands on the same server here:
//! the shared vectors, and our own recorded from the real nutcracker for
//! weights, names, port 11211, unix sockets, shorter server lists and servers
//! ejected at run time.

mod common;

use std::path::Path;

use redshard::config::Config;
use redshard::pool::Placement;
use redshard::tools::escape::unescape;
use redshard::tools::find_server;

fn check_dir(dir: &Path) -> usize {
    let cases = common::placement_cases(dir);
    assert!(
        !cases.is_empty(),
        "no placement configs in {}",
        dir.display()
    );
    for (name, yml, tsv) in &cases {
        let config = Config::load(yml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pool = &config.pools[0];
        // Servers nutcracker had ejected while the vectors were recorded.
        let text = std::fs::read_to_string(yml).unwrap();
        let ejected: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ejected: "))
            .map(|s| find_server(pool, s.trim()).unwrap())
            .collect();
        let placement = Placement::with_live(pool, |i| !ejected.contains(&i));
        let rows = common::read_vectors(tsv);
        assert!(rows.len() > 1000, "{name}: only {} rows", rows.len());
        let mut wrong = Vec::new();
        for (escaped, want) in &rows {
            let key = unescape(escaped.as_bytes()).unwrap();
            let got = placement.server_for(&key).unwrap();
            if got != *want {
                wrong.push(format!("{escaped}: want {want}, got {got}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "{name}: {} of {} keys misplaced, e.g. {:?}",
            wrong.len(),
            rows.len(),
            &wrong[..wrong.len().min(5)]
        );
    }
    cases.len()
}

#[test]
fn agrees_with_every_shared_nutcracker_vector() {
    check_dir(&common::shared_dir().join("placement"));
}

#[test]
fn agrees_with_recorded_weighted_named_unix_and_ejected_vectors() {
    let n = check_dir(&common::own_placement_dir());
    assert!(n >= 11, "expected the recorded cases, found {n}");
}
