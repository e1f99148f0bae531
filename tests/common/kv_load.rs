//! Pipelined SET/GET load from several clients, each over keys of its own,
//! that checks every reply as it comes: a SET must say OK, a GET must
//! return the last value its client wrote to the key. Each client owns its
//! keys, so "the last value written" is well defined; a SET that failed may
//! or may not have been applied, and both values are then accepted until a
//! read or an acknowledged write settles it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::servers::{encode, Conn, Reply};

/// How the load runs.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Requests per pipelined batch.
    pub depth: usize,
    /// One batch per client at most this often.
    pub every: Duration,
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    /// An error reply, or no reply (see `Failure`).
    Failed,
    /// A GET that returned something else than the last value written.
    Stale,
}

/// One request: its key (index in its client's keys) and when it was sent
/// (microseconds after the load started).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub client: u16,
    pub key: u32,
    pub sent_us: u32,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub key: String,
    pub command: &'static str,
    pub sent: Instant,
    /// When the error (or the loss of the connection) came.
    pub done: Instant,
    pub error: String,
}

#[derive(Debug, Clone)]
pub struct Stale {
    pub key: String,
    pub sent: Instant,
    pub want: Expect,
    pub got: Option<String>,
}

/// What a GET of a key may return: the last acknowledged value, or one
/// written since by a SET that failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub certain: Option<String>,
    pub maybe: Vec<String>,
}

impl Expect {
    pub fn accepts(&self, got: &Option<String>) -> bool {
        *got == self.certain || got.as_ref().is_some_and(|g| self.maybe.contains(g))
    }
    fn written(&mut self, value: String) {
        self.certain = Some(value);
        self.maybe.clear();
    }
    fn unsure(&mut self, value: String) {
        self.maybe.push(value);
    }
    /// A read settles what the key holds.
    fn read(&mut self, got: Option<String>) {
        self.certain = got;
        self.maybe.clear();
    }
}

/// Counters the test can watch while the load runs.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    failed: AtomicU64,
    stale: AtomicU64,
    /// Clients that have written each of their keys once.
    prefilled: AtomicU64,
}

pub struct KvLoad {
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
    threads: Vec<JoinHandle<ClientLog>>,
    keys: Vec<Vec<String>>,
    pub start: Instant,
}

/// One client's record.
#[derive(Default)]
struct ClientLog {
    samples: Vec<Sample>,
    failures: Vec<Failure>,
    stale: Vec<Stale>,
    expect: Vec<Expect>,
}

/// Everything the clients did, once stopped.
pub struct Report {
    pub start: Instant,
    pub keys: Vec<Vec<String>>,
    pub samples: Vec<Sample>,
    pub failures: Vec<Failure>,
    pub stale: Vec<Stale>,
    /// Per client, per key: what it holds now.
    pub expect: Vec<Vec<Expect>>,
}

impl KvLoad {
    /// One client per list in `keys` (each list the client's own keys),
    /// connected to `port`, sending batches of random SET/GET.
    pub fn start(port: u16, keys: Vec<Vec<String>>, pace: Pace) -> KvLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let start = Instant::now();
        let threads = keys
            .iter()
            .enumerate()
            .map(|(c, own)| {
                let client = Client {
                    id: c as u16,
                    port,
                    keys: own.clone(),
                    pace,
                    start,
                    stop: stop.clone(),
                    progress: progress.clone(),
                };
                std::thread::spawn(move || client.run())
            })
            .collect();
        KvLoad {
            stop,
            progress,
            threads,
            keys,
            start,
        }
    }

    /// Requests answered so far (any answer).
    pub fn done(&self) -> u64 {
        self.progress.done.load(Ordering::Relaxed)
    }

    /// Failed and stale requests so far.
    pub fn bad(&self) -> u64 {
        self.progress.failed.load(Ordering::Relaxed) + self.progress.stale.load(Ordering::Relaxed)
    }

    /// Waits (bounded) until every client has written each of its keys
    /// once.
    pub fn wait_prefilled(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.progress.prefilled.load(Ordering::Relaxed) < self.keys.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "load: keys not all written within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (bounded) until `more` further requests were answered.
    pub fn wait_more(&self, more: u64, within: Duration) {
        let want = self.done() + more;
        let deadline = Instant::now() + within;
        while self.done() < want {
            assert!(
                Instant::now() < deadline,
                "load: {more} more requests not answered within {within:?} ({} so far)",
                self.done()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the clients (each ends its batch); everything they did.
    pub fn stop(mut self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = Report {
            start: self.start,
            keys: std::mem::take(&mut self.keys),
            samples: Vec::new(),
            failures: Vec::new(),
            stale: Vec::new(),
            expect: Vec::new(),
        };
        for t in std::mem::take(&mut self.threads) {
            let log = t.join().expect("a load client panicked");
            report.samples.extend(log.samples);
            report.failures.extend(log.failures);
            report.stale.extend(log.stale);
            report.expect.push(log.expect);
        }
        report.samples.sort_by_key(|s| s.sent_us);
        report.failures.sort_by_key(|f| f.sent);
        report
    }
}

impl Drop for KvLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

impl Report {
    pub fn key(&self, s: &Sample) -> &str {
        &self.keys[s.client as usize][s.key as usize]
    }

    pub fn sent(&self, s: &Sample) -> Instant {
        self.start + Duration::from_micros(s.sent_us as u64)
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.samples.iter().filter(|s| s.kind == kind).count()
    }

    /// Reads every key through `port` (pipelined GETs): the keys whose
    /// value is not what their client last wrote, with what they hold.
    pub fn check_values(&self, port: u16) -> Vec<(String, Expect, Option<String>)> {
        let mut c = Conn::tcp(port);
        let mut wrong = Vec::new();
        for (keys, expect) in self.keys.iter().zip(&self.expect) {
            for (chunk, want) in keys.chunks(500).zip(expect.chunks(500)) {
                for k in chunk {
                    c.send(&[b"GET", k.as_bytes()]);
                }
                for (k, want) in chunk.iter().zip(want) {
                    let got = match c.read() {
                        Reply::Bulk(b) => Some(String::from_utf8(b).unwrap()),
                        Reply::Nil => None,
                        other => panic!("GET {k}: {other:?}"),
                    };
                    if !want.accepts(&got) {
                        wrong.push((k.clone(), want.clone(), got));
                    }
                }
            }
        }
        wrong
    }

    /// Errors by kind (their text without its numbers) and how many.
    pub fn error_kinds(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for f in &self.failures {
            let kind: String = f.error.chars().filter(|c| !c.is_ascii_digit()).collect();
            *kinds.entry(kind).or_insert(0) += 1;
        }
        kinds
    }

    /// No request failed, no GET was stale, and every key holds its last
    /// value (read through `port`).
    pub fn assert_all_served(&self, port: u16, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} failed requests {:?}, e.g. {:?}",
            self.failures.len(),
            self.error_kinds(),
            &self.failures[..self.failures.len().min(5)]
        );
        assert!(
            self.stale.is_empty(),
            "{what}: {} stale GETs, e.g. {:?}",
            self.stale.len(),
            &self.stale[..self.stale.len().min(5)]
        );
        let wrong = self.check_values(port);
        assert!(
            wrong.is_empty(),
            "{what}: {} keys without their last value, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    }

    /// The figures, one line.
    pub fn summary(&self) -> String {
        let span = self.samples.last().map_or(0, |s| s.sent_us as u64 / 1000);
        format!(
            "{} requests in {} ms ({} clients): {} ok, {} failed, {} stale",
            self.samples.len(),
            span,
            self.keys.len(),
            self.count(Kind::Ok),
            self.count(Kind::Failed),
            self.count(Kind::Stale)
        )
    }
}

enum Op {
    Set(String),
    Get,
}

struct Client {
    id: u16,
    port: u16,
    keys: Vec<String>,
    pace: Pace,
    start: Instant,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

impl Client {
    fn run(self) -> ClientLog {
        let mut log = ClientLog {
            expect: vec![Expect::default(); self.keys.len()],
            ..ClientLog::default()
        };
        let mut rng = fastrand::Rng::with_seed(self.id as u64 + 1);
        let mut conn = self.connect();
        let mut seq = 0u64;
        let mut next = Instant::now();
        // Every key written once first, in order: the slots hold keys from
        // the start, for a migration to move.
        let mut prefill = 0..self.keys.len() as u32;
        let mut prefilled = false;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(c) = conn.as_mut() else { break };
            let batch: Vec<(u32, Op)> = (0..self.pace.depth)
                .map(|_| {
                    seq += 1;
                    let value = format!("{}.{seq}", self.id);
                    match prefill.next() {
                        Some(key) => (key, Op::Set(value)),
                        None if rng.bool() => (rng.u32(..self.keys.len() as u32), Op::Set(value)),
                        None => (rng.u32(..self.keys.len() as u32), Op::Get),
                    }
                })
                .collect();
            if !self.send_batch(c, &batch, &mut log) {
                conn = self.connect();
            }
            if prefill.is_empty() && !prefilled {
                prefilled = true;
                self.progress.prefilled.fetch_add(1, Ordering::Relaxed);
            }
            next += self.pace.every;
            match next.checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait),
                None => next = Instant::now(),
            }
        }
        log
    }

    /// A connection, retried (every 10 ms) until the load stops.
    fn connect(&self) -> Option<Conn> {
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(c) = Conn::try_tcp(self.port) {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Sends one batch and checks its replies; false when the connection
    /// is lost (every request without a reply then failed).
    fn send_batch(&self, c: &mut Conn, batch: &[(u32, Op)], log: &mut ClientLog) -> bool {
        let mut bytes = Vec::new();
        for (key, op) in batch {
            let key = self.keys[*key as usize].as_bytes();
            match op {
                Op::Set(v) => bytes.extend(encode(&[b"SET", key, v.as_bytes()])),
                Op::Get => bytes.extend(encode(&[b"GET", key])),
            }
        }
        let sent = Instant::now();
        let sent_us = sent.duration_since(self.start).as_micros() as u32;
        let mut lost = c.try_send_raw(&bytes).err();
        for (key, op) in batch {
            let reply = match &lost {
                Some(e) => Err(e.clone()),
                None => c.try_read(),
            };
            if let Err(e) = &reply {
                lost = Some(e.clone());
            }
            let kind = self.judge(*key, op, reply, sent, log);
            log.samples.push(Sample {
                client: self.id,
                key: *key,
                sent_us,
                kind,
            });
            let counter = match kind {
                Kind::Ok => None,
                Kind::Failed => Some(&self.progress.failed),
                Kind::Stale => Some(&self.progress.stale),
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            self.progress.done.fetch_add(1, Ordering::Relaxed);
        }
        lost.is_none()
    }

    fn judge(
        &self,
        key: u32,
        op: &Op,
        reply: Result<Reply, String>,
        sent: Instant,
        log: &mut ClientLog,
    ) -> Kind {
        let name = &self.keys[key as usize];
        let expect = &mut log.expect[key as usize];
        let got = match (op, reply) {
            (Op::Set(v), Ok(Reply::Status(s))) if s == "OK" => {
                expect.written(v.clone());
                return Kind::Ok;
            }
            (Op::Get, Ok(Reply::Bulk(b))) => Some(String::from_utf8_lossy(&b).into_owned()),
            (Op::Get, Ok(Reply::Nil)) => None,
            (op, reply) => {
                let command = match op {
                    Op::Set(v) => {
                        expect.unsure(v.clone());
                        "SET"
                    }
                    Op::Get => "GET",
                };
                log.failures.push(Failure {
                    key: name.clone(),
                    command,
                    sent,
                    done: Instant::now(),
                    error: describe(reply),
                });
                return Kind::Failed;
            }
        };
        if expect.accepts(&got) {
            expect.read(got);
            return Kind::Ok;
        }
        log.stale.push(Stale {
            key: name.clone(),
            sent,
            want: expect.clone(),
            got: got.clone(),
        });
        // Counted once: from now on the key holds what was read.
        expect.read(got);
        Kind::Stale
    }
}

fn describe(reply: Result<Reply, String>) -> String {
    match reply {
        Ok(Reply::Error(e)) => e,
        Ok(other) => format!("unexpected reply {other:?}"),
        Err(e) => e,
    }
}
