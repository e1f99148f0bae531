//! The stats table: every pool and server stat on one line (name, kind,
//! nutcracker's help text), from which `stats_table!` generates the counter
//! fields and the lists that `-D`, the stats JSON and Prometheus walk. To add
//! a stat, add a line. Counters have one shard per worker, written only by
//! that worker (relaxed atomics, no lock, each shard on its own cache line),
//! summed when read.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use super::stats_table::{stats_table, Cell};
use super::{PoolRuntime, ServerHealth};

static WORKERS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many shards new counters get (the number of workers).
pub fn set_workers(n: usize) {
    WORKERS.store(n.max(1), Ordering::Relaxed);
}

fn workers() -> usize {
    WORKERS.load(Ordering::Relaxed)
}

/// Upper bounds (µs) of the request latency histogram buckets; +Inf last.
pub const LATENCY_BUCKETS_US: [u64; 13] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// How a request was handled, for `redshard_commands_total{group}`.
#[derive(Debug, Clone, Copy)]
pub enum Group {
    /// Sent whole to the server of its key(s).
    Forwarded = 0,
    /// Split across servers and merged.
    Split = 1,
    /// Sent to every server (SCRIPT, DBSIZE).
    Broadcast = 2,
    /// Answered by the proxy.
    Local = 3,
    /// Refused (unsupported, cross-server, wrong arity, unknown).
    Refused = 4,
    /// A hosted command (lock, red packet, flash sale, Bloom filter).
    Hosted = 5,
}

pub const GROUPS: [&str; 6] = [
    "forwarded",
    "split",
    "broadcast",
    "local",
    "refused",
    "hosted",
];

/// What a user was refused, for `redshard_acl_access_denied_total{reason}`
/// and INFO's `acl_access_denied_<reason>` (Redis's names).
#[derive(Debug, Clone, Copy)]
pub enum Denial {
    /// A failed login: unknown user or wrong password.
    Auth = 0,
    /// A command the user may not run.
    Cmd = 1,
    /// A key the user may not use, or a plain write to hosted state.
    Key = 2,
}

pub const DENIALS: [&str; 3] = ["auth", "cmd", "key"];

/// A cluster node's answer that the proxy followed, for
/// `redshard_cluster_redirections_total{kind}`.
#[derive(Debug, Clone, Copy)]
pub enum Redirection {
    /// MOVED: sent to the slot's new master, the slot table updated.
    Moved = 0,
    /// ASK: sent to the importing node after ASKING.
    Ask = 1,
    /// TRYAGAIN or CLUSTERDOWN: sent again after a pause.
    Retry = 2,
}

pub const REDIRECTIONS: [&str; 3] = ["moved", "ask", "retry"];

stats_table! {
    /// A pool's counters, one shard per worker.
    pub struct PoolCounters: POOL_STATS for PoolRuntime.stats {
        client_eof:         counter               "# eof on client connections",
        client_err:         counter               "# errors on client connections",
        client_connections: gauge(clients)        "# active client connections",
        server_ejects:      counter               "# times backend server was ejected",
        forward_error:      counter               "# times we encountered a forwarding error",
        fragments:          counter               "# fragments created from a multi-vector request",
    }
    extra {
        /// Client connections accepted since start (the JSON's top-level
        /// `total_connections`).
        pub total_connections: AtomicU64,
        /// Requests by how they were handled, indexed by [`Group`].
        pub commands: [AtomicU64; GROUPS.len()],
        /// Failed logins and refused requests, indexed by [`Denial`]
        /// (not nutcracker's, so not in its JSON).
        pub acl_denied: [AtomicU64; DENIALS.len()],
        /// TLS handshakes with clients that failed or timed out (Prometheus
        /// only: the stats JSON keeps nutcracker's layout exactly).
        pub client_tls_failures: AtomicU64,
        /// Clients accepted only to be told the proxy is out of file
        /// descriptors and closed (Prometheus only, as the TLS failures).
        pub fd_refusals: AtomicU64,
        /// Redirections a cluster pool followed, indexed by [`Redirection`]
        /// (Prometheus and INFO only, as the TLS failures).
        pub redirections: [AtomicU64; REDIRECTIONS.len()],
    }
}

stats_table! {
    /// A server's counters, one shard per worker.
    pub struct ServerCounters: SERVER_STATS for ServerHealth.stats {
        server_eof:         counter               "# eof on server connections",
        server_err:         counter               "# errors on server connections",
        server_timedout:    counter               "# timeouts on server connections",
        server_connections: gauge                 "# active server connections",
        server_ejected_at:  timestamp(ejected_at) "timestamp when server was ejected in usec since epoch",
        requests:           counter               "# requests",
        request_bytes:      counter               "total request bytes",
        responses:          counter               "# responses",
        response_bytes:     counter               "total response bytes",
        in_queue:           gauge                 "# requests in incoming queue",
        in_queue_bytes:     gauge                 "current request bytes in incoming queue",
        out_queue:          gauge                 "# requests in outgoing queue",
        out_queue_bytes:    gauge                 "current request bytes in outgoing queue",
    }
    extra {
        /// Replies by time from request to reply, bucket i counting those up
        /// to `LATENCY_BUCKETS_US[i]` µs, the last one the rest.
        pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
        /// The sum of those times, for the histogram's `_sum`.
        pub latency_sum_us: AtomicU64,
    }
}

/// The pool admits and releases clients itself (for `client_connections`
/// limits), so its count is the truth rather than a second gauge.
fn clients(p: &PoolRuntime) -> i64 {
    p.client_count() as i64
}

/// Health keeps the time of the last ejection; nutcracker reports 0 once the
/// server is back.
fn ejected_at(h: &ServerHealth) -> i64 {
    if h.is_ejected() {
        h.ejected_at_us() as i64
    } else {
        0
    }
}

/// Adds `n` to a counter owned by the calling worker.
#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    // Only this worker writes the shard: a load and a store, no RMW needed.
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[inline]
pub fn gauge_add(c: &AtomicI64, n: i64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// One shard per worker.
#[derive(Debug)]
pub struct Sharded<T> {
    shards: Box<[T]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        Sharded {
            shards: (0..workers()).map(|_| T::default()).collect(),
        }
    }
}

impl<T> Sharded<T> {
    /// The shard of worker `w` (the main thread uses shard 0 too, for rare events).
    #[inline]
    pub fn shard(&self, w: usize) -> &T {
        &self.shards[w % self.shards.len()]
    }

    pub fn sum_u64(&self, f: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    }

    pub fn sum_i64(&self, f: impl Fn(&T) -> &AtomicI64) -> i64 {
        self.shards
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .sum()
    }

    /// Any cell's total, as the outputs print it (wrapping, never a panic).
    pub fn sum<C: Cell>(&self, f: impl Fn(&T) -> &C) -> i64 {
        self.shards
            .iter()
            .fold(0i64, |total, s| total.wrapping_add(f(s).value()))
    }
}

impl ServerCounters {
    /// Records one request's time to its reply.
    #[inline]
    pub fn observe_latency(&self, us: u64) {
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        add(&self.latency_buckets[i], 1);
        add(&self.latency_sum_us, us);
    }
}

#[cfg(test)]
mod tests {
    use super::super::stats_table::Kind;
    use super::*;

    #[test]
    fn shards_sum() {
        set_workers(3);
        let s: Sharded<PoolCounters> = Sharded::default();
        add(&s.shard(0).fragments, 2);
        add(&s.shard(2).fragments, 5);
        assert_eq!(s.sum_u64(|c| &c.fragments), 7);
        let srv: Sharded<ServerCounters> = Sharded::default();
        srv.shard(1).observe_latency(300);
        srv.shard(1).observe_latency(2_000_000);
        assert_eq!(srv.sum_u64(|c| &c.latency_buckets[2]), 1);
        assert_eq!(
            srv.sum_u64(|c| &c.latency_buckets[LATENCY_BUCKETS_US.len()]),
            1
        );
    }

    #[test]
    fn table_keeps_nutcracker_names_order_and_kinds() {
        let names = |t: &[&str]| t.join(" ");
        let pool: Vec<&str> = POOL_STATS.iter().map(|s| s.name).collect();
        assert_eq!(
            names(&pool),
            "client_eof client_err client_connections server_ejects forward_error fragments"
        );
        let server: Vec<&str> = SERVER_STATS.iter().map(|s| s.name).collect();
        assert_eq!(
            names(&server),
            "server_eof server_err server_timedout server_connections server_ejected_at \
             requests request_bytes responses response_bytes in_queue in_queue_bytes \
             out_queue out_queue_bytes"
        );
        let find = |name| SERVER_STATS.iter().find(|s| s.name == name).unwrap();
        assert_eq!(find("requests").kind, Kind::Counter);
        assert_eq!(
            find("requests").prometheus_name(),
            "redshard_requests_total"
        );
        assert_eq!(find("in_queue").prometheus_name(), "redshard_in_queue");
        assert_eq!(find("server_ejected_at").kind, Kind::Timestamp);
        assert_eq!(find("server_ejected_at").kind.prometheus_type(), "gauge");
        assert_eq!(find("requests").prometheus_help(), "requests");
    }

    #[test]
    fn lines_read_their_own_field_summed_over_shards() {
        let health = ServerHealth::default();
        add(&health.stats.shard(0).requests, 3);
        add(&health.stats.shard(1).requests, 4);
        add(&health.stats.shard(1).responses, 1);
        gauge_add(&health.stats.shard(0).in_queue, 2);
        gauge_add(&health.stats.shard(1).in_queue, -1);
        let value = |name| (SERVER_STATS.iter().find(|s| s.name == name).unwrap().read)(&health);
        assert_eq!(value("requests"), 7);
        assert_eq!(value("responses"), 1);
        assert_eq!(value("in_queue"), 1);
        assert_eq!(value("server_ejected_at"), 0, "never ejected");
    }
}
