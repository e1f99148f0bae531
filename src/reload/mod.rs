//! Hot reload: a new config is read, parsed and checked, then applied to the
//! running proxy — or refused with the exact error while the old one keeps
//! serving. Triggered by signals (wired in `main`) and by the config file
//! changing ([`watch`]).
//!
//! The file's content decides whether it changed: the baseline is the bytes
//! of the file that was actually loaded at start-up (read once, and parsed
//! from those same bytes), then the bytes read by each reload attempt. So an
//! edit made while the proxy was starting is not lost, and a touch or a
//! rewrite with the same text reloads nothing.

pub mod apply;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::config::{read_file, Config, ConfigError, ConfigErrorKind};
use crate::proxy::Proxy;
use crate::stats::{RELOADS, RELOAD_FAILURES};

/// The config file as loaded: the bytes read and what they parse to.
#[derive(Debug)]
pub struct ConfigFile {
    pub config: Config,
    pub bytes: Vec<u8>,
}

impl ConfigFile {
    /// Reads `file` once and parses those same bytes, so that what serves and
    /// what later changes are compared against cannot differ.
    pub fn load(file: &Path) -> Result<ConfigFile, ConfigError> {
        let bytes = read_file(file)?;
        let config = Config::from_bytes(&bytes, file)?;
        Ok(ConfigFile { config, bytes })
    }
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file cannot be read or is not a valid config.
    #[error(transparent)]
    Refused(#[from] ConfigError),
    /// The config is valid but cannot be applied (a listener cannot be bound).
    #[error(transparent)]
    Failed(#[from] crate::proxy::StartError),
}

/// Owns the running proxy's configuration: reloads it on request and when
/// the file's content changes.
pub struct Reloader {
    proxy: Proxy,
    file: PathBuf,
    /// The bytes last read from the file (see the module docs).
    baseline: Vec<u8>,
}

impl Reloader {
    /// `loaded` must be what `proxy` was started with.
    pub fn new(proxy: Proxy, file: &Path, loaded: ConfigFile) -> Reloader {
        Reloader {
            proxy,
            file: file.to_path_buf(),
            baseline: loaded.bytes,
        }
    }

    /// Reloads whatever the file holds now (a signal asked for it), and logs
    /// the outcome.
    pub fn reload(&mut self, why: &str) {
        let outcome = read_file(&self.file)
            .map_err(ReloadError::from)
            .and_then(|bytes| self.apply(bytes));
        log_outcome(why, outcome);
    }

    /// Reloads if the file's content differs from the baseline. A file that
    /// cannot be read is skipped: it is usually in the middle of being
    /// replaced, and the replacement brings its own event. One that is too
    /// large or not a file is refused, and said so.
    pub fn reload_if_changed(&mut self) {
        let bytes = match read_file(&self.file) {
            Ok(bytes) => bytes,
            Err(e) if matches!(*e.kind, ConfigErrorKind::Io(_)) => {
                tracing::debug!("config file {}: {e}; not reloading", self.file.display());
                return;
            }
            Err(e) => return log_outcome("config file changed", Err(e.into())),
        };
        if bytes == self.baseline {
            tracing::debug!(
                "config file {} touched, content unchanged",
                self.file.display()
            );
            return;
        }
        let outcome = self.apply(bytes);
        log_outcome("config file changed", outcome);
    }

    /// Parses and applies `bytes`; they become the baseline either way, so a
    /// refused file is not retried until it changes again.
    fn apply(&mut self, bytes: Vec<u8>) -> Result<String, ReloadError> {
        let parsed = Config::from_bytes(&bytes, &self.file);
        self.baseline = bytes;
        Ok(apply::apply(&self.proxy, &parsed?)?)
    }

    /// Runs the reloader on the current tokio runtime: it serves
    /// [`Handle::request`]s and, when `watch`, follows the file. Returns the
    /// handle the signal handlers use.
    pub fn spawn(self, watch: bool) -> Handle {
        let (tx, rx) = unbounded_channel();
        tokio::spawn(run(self, rx, watch));
        Handle(tx)
    }
}

fn log_outcome(why: &str, outcome: Result<String, ReloadError>) {
    match outcome {
        Ok(summary) => {
            RELOADS.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("config reloaded ({why}): {summary}");
        }
        Err(ReloadError::Refused(e)) => {
            RELOAD_FAILURES.fetch_add(1, Ordering::Relaxed);
            tracing::error!("reload ({why}) refused, the running config keeps serving: {e}");
        }
        Err(ReloadError::Failed(e)) => {
            RELOAD_FAILURES.fetch_add(1, Ordering::Relaxed);
            tracing::error!("reload ({why}) failed, the running config keeps serving: {e}");
        }
    }
}

/// Asks a spawned [`Reloader`] to reload; requests are served in order, one
/// reload at a time.
#[derive(Clone)]
pub struct Handle(UnboundedSender<&'static str>);

impl Handle {
    /// Reloads the file as it is now; `why` (e.g. "SIGHUP") goes in the log.
    pub fn request(&self, why: &'static str) {
        let _ = self.0.send(why);
    }
}

async fn run(mut reloader: Reloader, mut requests: UnboundedReceiver<&'static str>, watch: bool) {
    let mut watcher = watch.then(|| watch::Watcher::start(&reloader.file));
    if watcher.is_none() {
        tracing::info!(
            "not watching {} (--no-watch); SIGHUP or SIGUSR1 reloads it",
            reloader.file.display()
        );
    } else {
        // A change made after the file was loaded but before the watch began
        // produced no event: compare once now.
        reloader.reload_if_changed();
    }
    loop {
        tokio::select! {
            why = requests.recv() => match why {
                Some(why) => reloader.reload(why),
                None => return,
            },
            () = changed(&mut watcher) => reloader.reload_if_changed(),
        }
    }
}

async fn changed(watcher: &mut Option<watch::Watcher>) {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}
