//! The watcher against a real file system: renames, writes in place, symlink
//! swaps, polling; and the events that must not count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Mode, Watcher};

/// A fresh directory of its own for each test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("redshard-watch-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn expect_change(watcher: &mut Watcher, what: &str) {
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .unwrap_or_else(|_| panic!("{what}: no change reported"));
}

/// Nothing is reported within well over the debounce.
async fn expect_quiet(watcher: &mut Watcher, what: &str) {
    let waited = tokio::time::timeout(Duration::from_millis(400), watcher.changed()).await;
    assert!(waited.is_err(), "{what}: reported as a change");
}

#[tokio::test]
async fn rename_over_and_write_in_place_are_changes() {
    let dir = temp_dir("rename");
    let file = dir.join("conf.yml");
    std::fs::write(&file, "a").unwrap();
    let mut watcher = Watcher::start(&file);
    assert_eq!(watcher.mode(), Mode::Inotify);
    replace(&file, "b");
    expect_change(&mut watcher, "rename over").await;
    std::fs::write(&file, "c").unwrap();
    expect_change(&mut watcher, "write in place").await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn reads_and_other_files_are_not_changes() {
    let dir = temp_dir("quiet");
    let file = dir.join("conf.yml");
    std::fs::write(&file, "a").unwrap();
    let mut watcher = Watcher::start(&file);
    // The reloader reads the file after every change; a log file often
    // lives beside the config.
    for i in 0..5 {
        std::fs::read(&file).unwrap();
        std::fs::write(dir.join("redshard.log"), format!("line {i}")).unwrap();
    }
    expect_quiet(&mut watcher, "reads and a neighbour's writes").await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Kubernetes' ConfigMap layout: conf.yml -> ..data/conf.yml, ..data ->
/// ..v1; an update renames a new ..data link over the old one.
#[tokio::test]
async fn a_symlink_swap_is_a_change_every_time() {
    let dir = temp_dir("symlink");
    let version = |name: &str, text: &str| {
        std::fs::create_dir(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("conf.yml"), text).unwrap();
    };
    let swap_to = |name: &str| {
        let tmp = dir.join("..data_tmp");
        std::os::unix::fs::symlink(name, &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("..data")).unwrap();
    };
    version("..v1", "one");
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    let file = dir.join("conf.yml");
    std::os::unix::fs::symlink("..data/conf.yml", &file).unwrap();
    let mut watcher = Watcher::start(&file);
    for (name, text) in [("..v2", "two"), ("..v3", "three")] {
        version(name, text);
        swap_to(name);
        expect_change(&mut watcher, name).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }
    // The real file's directory is watched too: an edit there counts.
    std::fs::write(dir.join("..v3/conf.yml"), "edited").unwrap();
    expect_change(&mut watcher, "edit behind the links").await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn polling_sees_renames_and_writes() {
    let dir = temp_dir("poll");
    let file = dir.join("conf.yml");
    std::fs::write(&file, "a").unwrap();
    let mut watcher = Watcher::polling(&file);
    assert_eq!(watcher.mode(), Mode::Poll);
    replace(&file, "b");
    expect_change(&mut watcher, "rename over").await;
    std::fs::write(&file, "cc").unwrap();
    expect_change(&mut watcher, "write in place").await;
    expect_quiet(&mut watcher, "nothing happened").await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_unwatchable_directory_falls_back_to_polling() {
    let file = temp_dir("missing").join("not-here").join("conf.yml");
    assert_eq!(Watcher::start(&file).mode(), Mode::Poll);
}
