//! Logs: `tracing` to stderr or a file (`-o`), level from nutcracker's `-v 0..11`
//! or RUST_LOG, plain or JSON lines. The file can be reopened (SIGHUP, for
//! logrotate) and the level raised or lowered at run time (SIGTTIN / SIGTTOU).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
