//! Config-file watching: says when the file may have changed; whether it did
//! is decided by comparing its content (see [`super::Reloader`]).
//!
//! inotify watches the file's directory, not the file: editors and deploy
//! tools replace a file by renaming a new one over it, which a watch on the
//! old inode would never see. A symlinked config (a Kubernetes ConfigMap's
//! `config.yml -> ..data/config.yml`, swapped by renaming `..data`) is
//! followed: every path on its way counts, and the real file's directory is
//! watched too. Events come in bursts (write, close, rename), so a change is
//! reported once the burst has been quiet for [`DEBOUNCE`]. When inotify
//! cannot be set up (no instances left, an unsupported file system), the file
//! is polled instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::{sleep_until, Instant, Interval, MissedTickBehavior};

/// How long events must stop before a change is reported: long enough for an
/// editor's write-then-rename, short enough not to be noticed.
pub const DEBOUNCE: Duration = Duration::from_millis(75);

/// The polling period when inotify is not available.
pub const POLL_EVERY: Duration = Duration::from_millis(200);

/// Symlinks followed from the config path (a loop stops here).
const MAX_HOPS: usize = 8;

/// How the file is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Inotify,
    Poll,
}

/// Watches one config file. [`Watcher::changed`] is cancel-safe: a pending
/// change survives the future being dropped (the reload task selects on it
/// beside the signal requests).
pub struct Watcher {
    source: Source,
    /// When a burst of events will count as quiet.
    due: Option<Instant>,
}

enum Source {
    Inotify(Inotify),
    Poll(Poll),
}

impl Watcher {
    /// Watches `file` with inotify, or polls it when that cannot be set up;
    /// logs which. Must run inside the tokio runtime.
    pub fn start(file: &Path) -> Watcher {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let source = match Inotify::start(&file) {
            Ok(inotify) => {
                tracing::info!(
                    "watching {} for changes (inotify on its directory)",
                    file.display()
                );
                Source::Inotify(inotify)
            }
            Err(e) => {
                tracing::info!(
                    "cannot watch {} with inotify ({e}); polling it every {} ms",
                    file.display(),
                    POLL_EVERY.as_millis()
                );
                Source::Poll(Poll::start(file))
            }
        };
        Watcher { source, due: None }
    }

    /// Polls `file` (the fallback; also what the tests of polling use).
    pub fn polling(file: &Path) -> Watcher {
        Watcher {
            source: Source::Poll(Poll::start(file.to_path_buf())),
            due: None,
        }
    }

    pub fn mode(&self) -> Mode {
        match self.source {
            Source::Inotify(_) => Mode::Inotify,
            Source::Poll(_) => Mode::Poll,
        }
    }

    /// Resolves once the file may have changed and things have been quiet
    /// for [`DEBOUNCE`].
    pub async fn changed(&mut self) {
        loop {
            let due = self.due;
            tokio::select! {
                () = self.source.hint() => self.due = Some(Instant::now() + DEBOUNCE),
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.due = None;
                    if let Source::Inotify(inotify) = &mut self.source {
                        inotify.retarget();
                    }
                    return;
                }
            }
        }
    }
}

impl Source {
    /// Resolves at the next sign of a change. Cancel-safe.
    async fn hint(&mut self) {
        match self {
            Source::Inotify(inotify) => inotify.hint().await,
            Source::Poll(poll) => poll.hint().await,
        }
    }
}

/// An inotify watch on the directories that hold the file and its targets.
struct Inotify {
    watcher: RecommendedWatcher,
    events: UnboundedReceiver<notify::Result<Event>>,
    file: PathBuf,
    targets: Targets,
}

impl Inotify {
    fn start(file: &Path) -> notify::Result<Inotify> {
        let (tx, events) = unbounded_channel();
        // Runs on notify's own thread; the channel hands events to the runtime.
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })?;
        let targets = Targets::of(file);
        // The file's own directory must be watchable; the others are a bonus.
        let mut dirs = targets.dirs.iter();
        if let Some(home) = dirs.next() {
            watcher.watch(home, RecursiveMode::NonRecursive)?;
        }
        for dir in dirs {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::debug!("cannot watch {}: {e}", dir.display());
            }
        }
        Ok(Inotify {
            watcher,
            events,
            file: file.to_path_buf(),
            targets,
        })
    }

    async fn hint(&mut self) {
        loop {
            match self.events.recv().await {
                Some(event) if self.targets.touched_by(&event) => return,
                Some(_) => {}
                // Only when the watcher is gone, which it is not while we own it.
                None => std::future::pending().await,
            }
        }
    }

    /// After a change the symlinks may point elsewhere: watch the directories
    /// the file now resolves through, and drop the ones it no longer does.
    fn retarget(&mut self) {
        let now = Targets::of(&self.file);
        for dir in self.targets.dirs.iter().filter(|d| !now.dirs.contains(d)) {
            // Fails when the directory is gone already, which is fine.
            let _ = self.watcher.unwatch(dir);
        }
        for dir in now.dirs.iter().filter(|d| !self.targets.dirs.contains(d)) {
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::debug!("cannot watch {}: {e}", dir.display());
            }
        }
        self.targets = now;
    }
}

/// The paths whose change can change what the config path reads, and the
/// directories to watch to see them.
#[derive(Debug, PartialEq)]
struct Targets {
    paths: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Targets {
    fn of(file: &Path) -> Targets {
        let mut paths = vec![file.to_path_buf()];
        let mut current = file.to_path_buf();
        for _ in 0..MAX_HOPS {
            let Ok(link) = std::fs::read_link(&current) else {
                break;
            };
            // A relative target is relative to the link's directory (an
            // absolute one replaces it in `join`).
            current = current.parent().unwrap_or(Path::new("/")).join(link);
            paths.push(current.clone());
        }
        let mut dirs = vec![file.parent().unwrap_or(Path::new("/")).to_path_buf()];
        if let Ok(real) = std::fs::canonicalize(file) {
            let home = std::fs::canonicalize(&dirs[0]).ok();
            if let Some(real_dir) = real.parent().filter(|d| home.as_deref() != Some(*d)) {
                dirs.push(real_dir.to_path_buf());
            }
            paths.push(real);
        }
        Targets { paths, dirs }
    }

    /// Whether `event` may have changed the file: any change to a path on
    /// the way to it (`..data` renamed over counts for `..data/config.yml`).
    /// Reads are not changes; our own reads of the file would otherwise
    /// trigger the next comparison, forever.
    fn touched_by(&self, event: &notify::Result<Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!("config file watch: {e}");
                return true;
            }
        };
        if event.need_rescan() {
            return true; // events were lost
        }
        if let EventKind::Access(kind) = event.kind {
            if kind != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        event
            .paths
            .iter()
            .any(|p| self.paths.iter().any(|t| t.starts_with(p)))
    }
}

/// What identifies a version of the file without reading it: the inode
/// counts as much as size and times, for replacements by rename.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(file: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(file).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// One stat every [`POLL_EVERY`].
struct Poll {
    file: PathBuf,
    stamp: Option<Stamp>,
    tick: Interval,
}

impl Poll {
    fn start(file: PathBuf) -> Poll {
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Poll {
            stamp: Stamp::of(&file),
            file,
            tick,
        }
    }

    async fn hint(&mut self) {
        loop {
            self.tick.tick().await;
            let now = Stamp::of(&self.file);
            if now != self.stamp {
                self.stamp = now;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
