//! Episodes at the file descriptor limit, as the log tells them: a warning
//! when one starts (with the limit and how to raise it), a reminder once a
//! minute while it lasts, one line when it is over, with the count of
//! clients turned away. Not a line per failed accept: at the limit accepts
//! fail as fast as clients come. The state is the process's, as the limit
//! is: workers and pools share one episode.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an accept loop waits after a failure it could not answer (the
/// spare lost, or an error the spare cannot help with): from the first to
/// the last, doubling. Short first, as the spare is mostly lost to another
/// worker's accept, which gives it back as soon as it runs (see
/// `accept::accepted`); then slow, as a lost spare may stay lost (another part
/// of the proxy holds the descriptor) and clients then wait for any.
pub const RETRY: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(100)];

/// The longest wait between two accepts that fail.
pub const RETRY_MAX: Duration = RETRY[1];

/// Lines about one episode at the limit: at most one warning per this long.
const REMIND: Duration = Duration::from_secs(60);

/// An episode is over when an accept succeeds this long after the last
/// failure: a proxy hovering at the limit (a descriptor freed, taken at
/// once) is one episode, not a start and an end per client.
const QUIET: Duration = Duration::from_secs(1);

/// Set while an episode is open, so a successful accept looks at nothing
/// else in the common case.
static FAILING: AtomicBool = AtomicBool::new(false);

static EPISODE: Mutex<Episode> = Mutex::new(Episode::new());

/// Out of descriptors, for the process (EMFILE) or the system (ENFILE).
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// A client accepted on `pool`'s listener: ends an open episode once it
/// is over.
#[inline]
pub fn accepted(pool: &str) {
    if !FAILING.load(Ordering::Relaxed) {
        return;
    }
    let mut episode = EPISODE.lock().unwrap_or_else(|p| p.into_inner());
    let end = episode.accepted(Instant::now());
    if episode.since.is_none() {
        FAILING.store(false, Ordering::Relaxed);
    }
    drop(episode);
    if let Some(end) = end {
        tracing::info!(
            pool,
            refused = end.refused,
            "accepting clients again after {} of failing accepts; {} clients were turned \
             away meanwhile for want of file descriptors",
            shown(end.lasted),
            end.refused
        );
    }
}

/// An accept on `pool`'s listener that failed with `error`; `refused` when
/// a client was told so and closed.
pub fn failed(pool: &str, error: &io::Error, refused: bool) {
    let report = {
        let mut episode = EPISODE.lock().unwrap_or_else(|p| p.into_inner());
        FAILING.store(true, Ordering::Relaxed);
        episode.failed(Instant::now(), refused)
    };
    if let Some(report) = report {
        log(pool, error, report);
    }
}

/// A time as the log shows it: milliseconds, or seconds past one.
fn shown(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn log(name: &str, error: &io::Error, report: Report) {
    if !out_of_descriptors(error) {
        tracing::warn!(
            pool = name,
            "accept failed: {error}; retrying, at most {} ms apart",
            RETRY_MAX.as_millis()
        );
        return;
    }
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or_else(|_| "unknown".to_string(), |(soft, _)| soft.to_string());
    match report {
        Report::Started { refused } => tracing::warn!(
            pool = name,
            refused,
            "out of file descriptors (accept: {error}): new clients get \
             '-ERR redshard: too many open files' and are closed until descriptors are free \
             ({refused} turned away so far); connected clients are served as before. The limit is {limit} \
             (RLIMIT_NOFILE): raise it (ulimit -n, systemd LimitNOFILE=) or lower the clients' \
             connections"
        ),
        Report::Lasting { refused, since } => tracing::warn!(
            pool = name,
            refused,
            "still out of file descriptors after {} s (accept: {error}): {refused} clients \
             turned away since the last report; the limit is {limit} (ulimit -n, LimitNOFILE=)",
            since.as_secs()
        ),
    }
}

/// What the log says about the failure just counted.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// The first line of an episode, and clients refused since the last line.
    Started { refused: u64 },
    /// A reminder, so long into the episode.
    Lasting { refused: u64, since: Duration },
}

/// The end of an episode that was reported.
#[derive(Debug, PartialEq, Eq)]
struct End {
    refused: u64,
    lasted: Duration,
}

/// One episode of failing accepts and the lines it gets: a warning when it
/// starts, a reminder per [`REMIND`] while it lasts, one line when it ends.
/// Warnings are at most one per [`REMIND`] across episodes too: an episode
/// that starts sooner after the last warning is counted silently (its clients
/// in the next warning) and ends silently.
#[derive(Debug)]
struct Episode {
    /// When the open episode started, if one is open.
    since: Option<Instant>,
    /// Whether the open episode's start was logged.
    reported: bool,
    last_failure: Option<Instant>,
    last_warning: Option<Instant>,
    /// Clients refused in the open episode.
    refused: u64,
    /// Clients refused since the last warning.
    unreported: u64,
}

impl Episode {
    const fn new() -> Episode {
        Episode {
            since: None,
            reported: false,
            last_failure: None,
            last_warning: None,
            refused: 0,
            unreported: 0,
        }
    }

    /// A failed accept at `now`, which turned a client away if `refused`.
    fn failed(&mut self, now: Instant, refused: bool) -> Option<Report> {
        self.last_failure = Some(now);
        let since = *self.since.get_or_insert_with(|| {
            self.reported = false;
            self.refused = 0;
            now
        });
        self.refused += u64::from(refused);
        self.unreported += u64::from(refused);
        if self
            .last_warning
            .is_some_and(|w| now.saturating_duration_since(w) < REMIND)
        {
            return None;
        }
        self.last_warning = Some(now);
        let refused = std::mem::take(&mut self.unreported);
        if self.reported {
            Some(Report::Lasting {
                refused,
                since: now.saturating_duration_since(since),
            })
        } else {
            self.reported = true;
            Some(Report::Started { refused })
        }
    }

    /// A successful accept at `now`: the end of the open episode, when it
    /// is over and was reported.
    fn accepted(&mut self, now: Instant) -> Option<End> {
        let since = self.since?;
        let last = self.last_failure.unwrap_or(since);
        if now.saturating_duration_since(last) < QUIET {
            return None;
        }
        self.since = None;
        self.reported.then(|| End {
            refused: self.refused,
            lasted: last.saturating_duration_since(since),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_is_a_warning_reminders_and_an_end() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut e = Episode::new();
        assert_eq!(e.accepted(ms(0)), None, "no episode");
        assert_eq!(e.failed(ms(0), true), Some(Report::Started { refused: 1 }));
        // Every 25 ms for 70 s: one reminder, at 60 s.
        let mut lines = Vec::new();
        for i in 1..2800 {
            lines.extend(e.failed(ms(i * 25), true));
        }
        assert_eq!(
            lines,
            [Report::Lasting {
                refused: 2400,
                since: Duration::from_secs(60)
            }]
        );
        // Hovering at the limit: an accept within QUIET of a failure is
        // no end.
        assert_eq!(e.accepted(ms(2799 * 25 + 500)), None);
        assert_eq!(
            e.accepted(ms(2799 * 25 + 1000)),
            Some(End {
                refused: 2800,
                lasted: Duration::from_millis(2799 * 25)
            })
        );
        assert_eq!(e.accepted(ms(80_000)), None, "said once");
    }

    #[test]
    fn episodes_in_quick_succession_warn_once_a_minute() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut e = Episode::new();
        assert_eq!(e.failed(s(0), true), Some(Report::Started { refused: 1 }));
        assert!(e.accepted(s(2)).is_some());
        // A new episode 10 s later: counted, not logged, ends silently.
        assert_eq!(e.failed(s(10), true), None);
        assert_eq!(e.failed(s(10), false), None);
        assert_eq!(e.accepted(s(12)), None);
        // The next warning, a minute after the last, counts its clients.
        assert_eq!(e.failed(s(61), true), Some(Report::Started { refused: 2 }));
    }
}
