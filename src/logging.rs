//! Logs: `tracing` to stderr or a file (`-o`), level from nutcracker's `-v 0..11`
//! or RUST_LOG, plain or JSON lines. The file can be reopened (SIGHUP, for
//! logrotate) and the level raised or lowered at run time (SIGTTIN / SIGTTOU).
//! Panics are logged too, a burst of them as one line and a count.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// nutcracker's verbosity (0 emerg .. 5 notice (default) .. 11 pverb) as a level.
pub fn level_for_verbosity(v: u8) -> LevelFilter {
    match v {
        0..=3 => LevelFilter::ERROR,
        4 => LevelFilter::WARN,
        5 | 6 => LevelFilter::INFO,
        7 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

const LADDER: [LevelFilter; 5] = [
    LevelFilter::ERROR,
    LevelFilter::WARN,
    LevelFilter::INFO,
    LevelFilter::DEBUG,
    LevelFilter::TRACE,
];

/// Where log lines go: stderr, or a file that can be reopened.
#[derive(Clone)]
struct Sink {
    file: Option<(PathBuf, Arc<Mutex<File>>)>,
}

struct SinkWriter(Option<Arc<Mutex<File>>>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Some(f) => f.lock().unwrap_or_else(|p| p.into_inner()).write(buf),
            None => io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &self.0 {
            Some(f) => f.lock().unwrap_or_else(|p| p.into_inner()).flush(),
            None => io::stderr().flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter;
    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter(self.file.as_ref().map(|(_, f)| f.clone()))
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Control over the running logger.
pub struct Logging {
    sink: Sink,
    filter: reload::Handle<EnvFilter, Registry>,
    level: Mutex<usize>,
    from_env: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Logging {
    /// Installs the global logger.
    pub fn init(verbosity: u8, file: Option<&Path>, format: Format) -> io::Result<Logging> {
        let sink = Sink {
            file: match file {
                Some(p) => Some((p.to_path_buf(), Arc::new(Mutex::new(open_log(p)?)))),
                None => None,
            },
        };
        let level = level_for_verbosity(verbosity);
        let from_env = std::env::var_os("RUST_LOG").is_some();
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.to_string()));
        let (filter, handle) = reload::Layer::new(filter);
        let ansi = file.is_none() && io::IsTerminal::is_terminal(&io::stderr());
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(sink.clone())
            .with_ansi(ansi);
        let registry = tracing_subscriber::registry().with(filter);
        match format {
            Format::Text => registry.with(fmt).init(),
            Format::Json => registry.with(fmt.json()).init(),
        }
        Ok(Logging {
            sink,
            filter: handle,
            level: Mutex::new(LADDER.iter().position(|l| *l == level).unwrap_or(2)),
            from_env,
        })
    }

    /// Reopens the log file (after logrotate moved it).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some((path, file)) = &self.sink.file {
            let fresh = open_log(path)?;
            *file.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        Ok(())
    }

    /// One step more (`up`) or less verbose; returns the new level.
    pub fn step(&self, up: bool) -> LevelFilter {
        let mut at = self.level.lock().unwrap_or_else(|p| p.into_inner());
        *at = if up {
            (*at + 1).min(LADDER.len() - 1)
        } else {
            at.saturating_sub(1)
        };
        let level = LADDER[*at];
        let _ = self
            .filter
            .modify(|f| *f = EnvFilter::new(level.to_string()));
        if self.from_env {
            tracing::info!("RUST_LOG was set; it is replaced by level {level} from now on");
        }
        level
    }
}

/// Panic lines are at most one per this long.
pub const PANIC_LOG_WINDOW: Duration = Duration::from_secs(1);

/// Keeps a burst of panics from flooding the log: the first panic of a
/// window is logged, the later ones are only counted, and the count is
/// logged when the window is over.
#[derive(Debug)]
pub struct PanicBurst {
    window: Duration,
    /// When the last line was logged.
    last_line: Option<Instant>,
    /// Panics since then that were not logged.
    unlogged: u64,
}

impl PanicBurst {
    pub fn new(window: Duration) -> PanicBurst {
        PanicBurst {
            window,
            last_line: None,
            unlogged: 0,
        }
    }

    /// A panic at `now`: `Some(n)` when it is to be logged, `n` being the
    /// panics not logged before it; `None` when it is only counted.
    pub fn panic(&mut self, now: Instant) -> Option<u64> {
        match self.last_line {
            Some(at) if now.saturating_duration_since(at) < self.window => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }

    /// When the count of panics not logged is due as a line of its own.
    pub fn count_due(&self) -> Option<Instant> {
        match self.last_line {
            Some(at) if self.unlogged > 0 => Some(at + self.window),
            _ => None,
        }
    }

    /// The count of panics not logged, when due at `now` (it then counts
    /// as a line).
    pub fn take_count(&mut self, now: Instant) -> Option<u64> {
        if self.count_due()? > now {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// The burst state the hook and the thread that logs counts share.
struct PanicLog {
    burst: Mutex<PanicBurst>,
    counted: Condvar,
}

/// Logs every panic through `tracing` at error level, with its message and
/// place, at most one line per `window` (see [`PanicBurst`]), instead of
/// the default hook's lines on stderr. A panicking task ends alone (tokio
/// catches it); this keeps a client that makes one panic per request from
/// filling the disk.
pub fn log_panics(window: Duration) {
    let log = Arc::new(PanicLog {
        burst: Mutex::new(PanicBurst::new(window)),
        counted: Condvar::new(),
    });
    let counts = log.clone();
    let spawned = std::thread::Builder::new()
        .name("redshard-panics".into())
        .spawn(move || log_counts(&counts));
    if let Err(e) = spawned {
        tracing::warn!("cannot start the panic count thread: {e}");
    }
    std::panic::set_hook(Box::new(move |info| {
        let verdict = {
            let mut burst = log.burst.lock().unwrap_or_else(|p| p.into_inner());
            let verdict = burst.panic(Instant::now());
            if verdict.is_none() {
                log.counted.notify_one();
            }
            verdict
        };
        let Some(unlogged) = verdict else {
            return;
        };
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let place = info
            .location()
            .map_or_else(|| "an unknown place".to_string(), |l| l.to_string());
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        if unlogged > 0 {
            tracing::error!(
                unlogged,
                "panic in thread '{thread}' at {place}: {message} ({unlogged} panics before it not logged one by one)"
            );
        } else {
            tracing::error!("panic in thread '{thread}' at {place}: {message}");
        }
    }));
}

/// Logs the count of panics not logged, once per window while there are.
fn log_counts(log: &PanicLog) {
    let mut burst = log.burst.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let Some(due) = burst.count_due() else {
            burst = log.counted.wait(burst).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        let now = Instant::now();
        if due > now {
            drop(burst);
            std::thread::sleep(due - now);
            burst = log.burst.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        if let Some(n) = burst.take_count(now) {
            drop(burst);
            tracing::error!(unlogged = n, "{n} more panics not logged one by one");
            burst = log.burst.lock().unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_then_its_count() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = PanicBurst::new(Duration::from_secs(1));
        assert_eq!(b.count_due(), None);
        assert_eq!(b.panic(ms(0)), Some(0));
        for i in 1..1000 {
            assert_eq!(b.panic(ms(i / 2)), None);
        }
        assert_eq!(b.count_due(), Some(ms(1000)));
        assert_eq!(b.take_count(ms(999)), None);
        assert_eq!(b.take_count(ms(1000)), Some(999));
        assert_eq!(b.count_due(), None);
        // The count was a line: a panic right after it is counted, and the
        // next line, a panic's own, says so.
        assert_eq!(b.panic(ms(1500)), None);
        assert_eq!(b.panic(ms(2000)), Some(1));
        assert_eq!(b.take_count(ms(5000)), None);
        // A quiet spell: the next panic is logged at once, with nothing unlogged.
        assert_eq!(b.panic(ms(9000)), Some(0));
    }
}
