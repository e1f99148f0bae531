//! How far behind its master a replica is, in milliseconds, from what
//! `INFO replication` says: Redis gives offsets (bytes of the replication
//! stream), not times, so the master's offset is sampled at each look and a
//! replica's lag is the age of the oldest sample it has not reached yet.
//! Pure: samples and numbers in, lag out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples kept: at one look every 100 ms, 20 s of history, past any
/// `replica_max_lag_ms` worth setting.
const KEPT: usize = 200;

/// The master's replication offset over time.
#[derive(Debug, Default)]
pub(crate) struct MasterOffsets {
    samples: VecDeque<(Instant, u64)>,
}

impl MasterOffsets {
    pub fn record(&mut self, at: Instant, offset: u64) {
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back((at, offset));
    }

    /// The lag at `now` of a replica at `offset`: 0 once it has everything
    /// the master had at its last sample; else the age of the oldest sample
    /// past its offset (it lacks data the master had then). `None`: no
    /// sample yet.
    pub fn lag(&self, offset: u64, now: Instant) -> Option<Duration> {
        let &(_, latest) = self.samples.back()?;
        if offset >= latest {
            return Some(Duration::ZERO);
        }
        let &(since, _) = self.samples.iter().find(|(_, o)| *o > offset)?;
        Some(now.saturating_duration_since(since))
    }
}

/// A field of an INFO reply (`name:value` lines).
pub(crate) fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

/// What a replica's `INFO replication` and `INFO persistence` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplicaInfo {
    pub offset: u64,
    /// A replica (`role:slave`) with its link to the master up.
    pub link_up: bool,
    /// Loading a dataset, or in a full sync with its master.
    pub loading: bool,
}

impl ReplicaInfo {
    pub fn read(replication: &str, persistence: &str) -> ReplicaInfo {
        let is = |text, name, value| field(text, name) == Some(value);
        ReplicaInfo {
            offset: field(replication, "slave_repl_offset")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            link_up: is(replication, "role", "slave")
                && is(replication, "master_link_status", "up"),
            loading: is(persistence, "loading", "1")
                || is(replication, "master_sync_in_progress", "1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_the_age_of_the_oldest_sample_not_reached() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut m = MasterOffsets::default();
        assert_eq!(m.lag(0, t0), None);
        m.record(t0, 100);
        m.record(t0 + ms(100), 150);
        m.record(t0 + ms(200), 150);
        m.record(t0 + ms(300), 400);
        let now = t0 + ms(350);
        assert_eq!(m.lag(400, now), Some(Duration::ZERO), "caught up");
        assert_eq!(
            m.lag(500, now),
            Some(Duration::ZERO),
            "ahead (a new sample is due)"
        );
        assert_eq!(m.lag(150, now), Some(ms(50)), "lacks what came by 300 ms");
        assert_eq!(m.lag(120, now), Some(ms(250)), "lacks what came by 100 ms");
        assert_eq!(m.lag(0, now), Some(ms(350)), "lacks even the first sample");
    }

    #[test]
    fn reads_a_replicas_info() {
        let replication = "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:1234\r\n";
        let persistence = "# Persistence\r\nloading:0\r\n";
        let info = ReplicaInfo::read(replication, persistence);
        assert_eq!(
            info,
            ReplicaInfo {
                offset: 1234,
                link_up: true,
                loading: false
            }
        );
        let promoted = "role:master\r\nmaster_repl_offset:9\r\n";
        assert!(!ReplicaInfo::read(promoted, persistence).link_up);
        assert!(ReplicaInfo::read(replication, "loading:1\r\n").loading);
        assert_eq!(field(promoted, "master_repl_offset"), Some("9"));
    }
}
