//! The command line: `-t`, `route` and `dist`, run as a user runs them.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use redshard::config::Config;
use redshard::pool::Placement;

fn redshard(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redshard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redshard");
    // Feed stdin from a thread: a large input and output would otherwise fill
    // both pipes and deadlock.
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn test_conf_exit_codes_and_wording() {
    let ok = redshard(&["-t", "-c", "conf/nutcracker.yml"], b"");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("configuration file 'conf/nutcracker.yml' syntax is ok"));

    let dir = tempdir();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "alpha:\n  listen: 127.0.0.1:1\n  hash: nope\n  servers:\n   - 127.0.0.1:7001:1\n",
    )
    .unwrap();
    let out = redshard(&["-t", "-c", bad.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("syntax is invalid"));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yml:3: pool 'alpha', key 'hash': 'nope' is not a valid hash"),
        "{err}"
    );
}

#[test]
fn route_prints_index_server_key() {
    let keys = b"key:0\nkey:1\nuser:{42}:a\nuser:{42}:b\n\n";
    let out = redshard(&["route", "-c", "conf/redshard.yml"], keys);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = Config::load(format!("{}/conf/redshard.yml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let pool = &config.pools[0];
    let placement = Placement::new(pool);
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 5);
    for (line, key) in lines
        .iter()
        .zip(["key:0", "key:1", "user:{42}:a", "user:{42}:b", ""])
    {
        let i = placement.server_for(key.as_bytes()).unwrap();
        assert_eq!(line, &format!("{i}\t{}\t{key}", pool.servers[i].label()));
    }
    // The hash tag keeps both user:{42} keys together.
    assert_eq!(lines[2].split('\t').next(), lines[3].split('\t').next());
}

#[test]
fn route_agrees_with_shared_vectors_for_escaped_keys() {
    let dir = common::shared_dir().join("placement");
    let rows = common::read_vectors(&dir.join("ketama_md5.tsv"));
    let input: String = rows.iter().map(|(k, _)| format!("{k}\n")).collect();
    let yml = dir.join("ketama_md5.yml");
    let out = redshard(
        &["route", "--escaped", "-c", yml.to_str().unwrap()],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<usize> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    let want: Vec<usize> = rows.iter().map(|r| r.1).collect();
    assert_eq!(got, want);
}

#[test]
fn route_with_eject_and_unknown_pool() {
    let out = redshard(
        &[
            "route",
            "-c",
            "conf/redshard.yml",
            "--eject",
            "127.0.0.1:7001",
            "--eject",
            "1",
        ],
        b"a\nb\nc\nd\ne\nf\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout)
        .lines()
        .all(|l| l.starts_with("2\t") || l.starts_with("3\t")));

    let out = redshard(
        &["route", "-c", "conf/nutcracker.yml", "--pool", "nope"],
        b"a\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr)
        .contains("no pool named 'nope'; the config has: alpha, beta, delta, omega"));
    let out = redshard(
        &["route", "-c", "conf/nutcracker.yml", "--pool", "beta"],
        b"a\n",
    );
    assert!(text(&out.stdout).starts_with(|c: char| c.is_ascii_digit()));
    assert!(
        text(&out.stdout).contains("\tserver"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn dist_shows_spread_and_movement() {
    let out = redshard(
        &[
            "dist",
            "-c",
            "conf/redshard.yml",
            "--keys",
            "100000",
            "--remove",
            "127.0.0.1:7003",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("4 servers, 100000 keys"), "{s}");
    assert!(
        s.contains("after removing 127.0.0.1:7003: 3 servers"),
        "{s}"
    );
    assert!(s.contains("stddev"), "{s}");
    // Ketama: only the removed server's keys move.
    assert!(
        s.contains("moved between servers in both rings: 0 (0.00%)"),
        "{s}"
    );

    let dir = tempdir();
    let modula = dir.join("modula.yml");
    std::fs::write(&modula, "m:\n  listen: 127.0.0.1:1\n  distribution: modula\n  servers:\n   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7003:1\n").unwrap();
    let out = redshard(
        &[
            "dist",
            "-c",
            modula.to_str().unwrap(),
            "--keys",
            "30000",
            "--add",
            "127.0.0.1:7004:1",
        ],
        b"",
    );
    let s = text(&out.stdout);
    assert!(
        s.contains("after adding 127.0.0.1:7004:1: 4 servers"),
        "{s}"
    );
    // Modula reshuffles most keys between servers that stay.
    let kept: f64 = s
        .split("moved between servers in both rings: ")
        .nth(1)
        .and_then(|r| r.split('(').nth(1))
        .and_then(|r| r.split('%').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(kept > 40.0, "{s}");

    let out = redshard(
        &[
            "dist",
            "-c",
            "conf/redshard.yml",
            "--keys",
            "10",
            "--remove",
            "nope",
        ],
        b"",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pool 'alpha' has no server 'nope'"));
}

/// A fresh directory in the system temp dir, unique to this process and call.
fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("redshard-cli-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn test_conf_checks_allow_keys_and_allow_flush() {
    let dir = tempdir();
    let file = dir.join("keys.yml");
    for key in ["allow_keys", "allow_flush"] {
        let with = |value: &str| {
            let yaml = format!("alpha:\n  listen: 127.0.0.1:1\n  {key}: {value}\n  servers:\n   - 127.0.0.1:7001:1\n");
            std::fs::write(&file, yaml).unwrap();
            redshard(&["-t", "-c", file.to_str().unwrap()], b"")
        };
        for ok in ["true", "false", "\"true\""] {
            let out = with(ok);
            assert!(out.status.success(), "{key}: {ok}: {}", text(&out.stderr));
        }
        let out = with("sometimes");
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("keys.yml:3: pool 'alpha', key '{key}': 'sometimes' is not a boolean; expected true or false")),
            "{err}"
        );
    }
}
