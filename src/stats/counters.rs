//! Counters: one shard per worker, written only by that worker (relaxed
//! atomics, no lock, each shard on its own cache line), summed when read.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

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

#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ServerCounters {
    pub server_eof: AtomicU64,
    pub server_err: AtomicU64,
    pub server_timedout: AtomicU64,
    pub server_connections: AtomicI64,
    pub requests: AtomicU64,
    pub request_bytes: AtomicU64,
    pub responses: AtomicU64,
    pub response_bytes: AtomicU64,
    pub in_queue: AtomicI64,
    pub in_queue_bytes: AtomicI64,
    pub out_queue: AtomicI64,
    pub out_queue_bytes: AtomicI64,
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    pub latency_sum_us: AtomicU64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PoolCounters {
    pub client_eof: AtomicU64,
    pub client_err: AtomicU64,
    pub server_ejects: AtomicU64,
    pub forward_error: AtomicU64,
    pub fragments: AtomicU64,
    pub total_connections: AtomicU64,
    pub commands: [AtomicU64; GROUPS.len()],
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
}
