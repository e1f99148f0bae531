//! Concurrency soak: 32 pipelining clients, each checking every reply against
//! a model of its own keys, while a backend is stalled (SIGSTOP / SIGCONT)
//! and the config is reloaded twice. No reply may be wrong, none may be
//! missing. `REDSHARD_SOAK_SECS` sets the length (default 30).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::servers::{encode, pool_config, Conn, RedisServer, Redshard, Reply};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const CLIENTS: usize = 32;
/// The backend the controller stalls.
const STALLED: usize = 1;

/// xorshift64*: a small deterministic generator per client.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `n` distinct picks from `from`.
    fn distinct(&mut self, from: &[String], n: usize) -> Vec<String> {
        let mut picked: Vec<String> = Vec::new();
        while picked.len() < n.min(from.len()) {
            let k = &from[self.below(from.len())];
            if !picked.contains(k) {
                picked.push(k.clone());
            }
        }
        picked
    }
}

/// What the client knows of one key or lock.
#[derive(Debug, Clone, PartialEq)]
enum Slot<T> {
    Known(T),
    /// A write of it got an error reply (at this many ms into the soak), so
    /// it may or may not have run.
    Unknown(u64),
}

/// The clock every thread shares: ms since the soak started, and when the
/// stalled server had resumed and settled (u64::MAX until then).
struct Clock {
    start: Instant,
    settled_ms: AtomicU64,
}

impl Clock {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// One client's model of its own keys.
struct Model {
    /// Plain string keys (each on its own server), tagged ones (all on one
    /// server), counters (INCR only; GET, MGET and DEL too).
    plain: Vec<String>,
    tagged: Vec<String>,
    counters: Vec<String>,
    values: HashMap<String, Slot<Option<Vec<u8>>>>,
    locks: HashMap<String, Slot<i64>>,
    bloom: String,
    added: HashSet<u64>,
}

/// A command sent, with what its reply is checked against.
enum Op {
    Set(String, Vec<u8>),
    Get(String),
    Incr(String),
    Mget(Vec<String>),
    Mset(Vec<(String, Vec<u8>)>),
    Del(Vec<String>),
    Acquire(String),
    Release(String),
    BfAdd(u64),
    BfExists(u64),
}

impl Model {
    fn new(id: usize) -> Model {
        let plain: Vec<String> = (0..6).map(|j| format!("c{id}:s{j}")).collect();
        let tagged: Vec<String> = (0..6).map(|j| format!("{{c{id}}}:t{j}")).collect();
        let counters: Vec<String> = vec![
            format!("c{id}:n0"),
            format!("c{id}:n1"),
            format!("{{c{id}}}:n2"),
        ];
        let values = plain
            .iter()
            .chain(&tagged)
            .chain(&counters)
            .map(|k| (k.clone(), Slot::Known(None)))
            .collect();
        let locks = (0..2)
            .map(|j| (format!("c{id}:lock{j}"), Slot::Known(0)))
            .collect();
        Model {
            plain,
            tagged,
            counters,
            values,
            locks,
            bloom: format!("c{id}:bf"),
            added: HashSet::new(),
        }
    }

    fn strings(&self) -> Vec<String> {
        self.plain.iter().chain(&self.tagged).cloned().collect()
    }

    fn all_keys(&self) -> Vec<String> {
        self.strings()
            .into_iter()
            .chain(self.counters.clone())
            .collect()
    }

    /// A random command: some keys only tagged (one server), some mixed
    /// (split across servers).
    fn pick(&self, rng: &mut Rng, id: usize, serial: u64) -> Op {
        let value = || format!("c{id}:{serial}").into_bytes();
        let group = |rng: &mut Rng| -> Vec<String> {
            if rng.below(2) == 0 {
                self.tagged.clone()
            } else {
                self.all_keys()
            }
        };
        match rng.below(20) {
            0..=3 => {
                let s = self.strings();
                Op::Set(s[rng.below(s.len())].clone(), value())
            }
            4..=7 => {
                let all = self.all_keys();
                Op::Get(all[rng.below(all.len())].clone())
            }
            8..=9 => Op::Incr(self.counters[rng.below(self.counters.len())].clone()),
            10..=11 => {
                let from = group(rng);
                let n = 2 + rng.below(4);
                Op::Mget(rng.distinct(&from, n))
            }
            12 => {
                let from: Vec<String> = group(rng)
                    .into_iter()
                    .filter(|k| !self.counters.contains(k))
                    .collect();
                let n = 2 + rng.below(3);
                let keys = rng.distinct(&from, n);
                Op::Mset(
                    keys.into_iter()
                        .enumerate()
                        .map(|(i, k)| (k, format!("c{id}:{serial}:{i}").into_bytes()))
                        .collect(),
                )
            }
            13 => {
                let from = group(rng);
                let n = 1 + rng.below(3);
                Op::Del(rng.distinct(&from, n))
            }
            14..=16 => {
                let name = format!("c{id}:lock{}", rng.below(2));
                let deep = matches!(self.locks[&name], Slot::Known(h) if h >= 3);
                if deep || rng.below(2) == 0 {
                    Op::Release(name)
                } else {
                    Op::Acquire(name)
                }
            }
            17..=18 => Op::BfAdd(rng.below(200) as u64),
            _ => Op::BfExists(rng.below(200) as u64),
        }
    }

    fn encode(&self, op: &Op, id: usize, out: &mut Vec<u8>) {
        let owner = format!("c{id}");
        let args: Vec<Vec<u8>> = match op {
            Op::Set(k, v) => vec![b"SET".to_vec(), k.clone().into(), v.clone()],
            Op::Get(k) => vec![b"GET".to_vec(), k.clone().into()],
            Op::Incr(k) => vec![b"INCR".to_vec(), k.clone().into()],
            Op::Mget(ks) => std::iter::once(b"MGET".to_vec())
                .chain(ks.iter().map(|k| k.clone().into()))
                .collect(),
            Op::Mset(kvs) => std::iter::once(b"MSET".to_vec())
                .chain(kvs.iter().flat_map(|(k, v)| [k.clone().into(), v.clone()]))
                .collect(),
            Op::Del(ks) => std::iter::once(b"DEL".to_vec())
                .chain(ks.iter().map(|k| k.clone().into()))
                .collect(),
            Op::Acquire(name) => vec![
                b"LOCK.ACQUIRE".to_vec(),
                name.clone().into(),
                owner.into(),
                b"600000".to_vec(),
            ],
            Op::Release(name) => vec![b"LOCK.RELEASE".to_vec(), name.clone().into(), owner.into()],
            Op::BfAdd(item) => vec![
                b"BF.ADD".to_vec(),
                self.bloom.clone().into(),
                format!("item{item}").into(),
            ],
            Op::BfExists(item) => vec![
                b"BF.EXISTS".to_vec(),
                self.bloom.clone().into(),
                format!("item{item}").into(),
            ],
        };
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        out.extend(encode(&refs));
    }

    /// Whether a successful write sent at `sent_ms` makes a slot known again.
    /// A write that got an error may still run on a stopped server when it
    /// resumes, so a slot made unknown before the stalled server settled
    /// is only known again from a write sent after that.
    fn may_know<T>(slot: &Slot<T>, sent_ms: u64, clock: &Clock) -> bool {
        match slot {
            Slot::Known(_) => true,
            Slot::Unknown(err_ms) => {
                let settled = clock.settled_ms.load(Ordering::Acquire);
                *err_ms >= settled || sent_ms >= settled
            }
        }
    }

    fn write_value(&mut self, k: &str, v: Option<Vec<u8>>, sent_ms: u64, clock: &Clock) {
        let slot = self.values.get_mut(k).unwrap();
        if Self::may_know(slot, sent_ms, clock) {
            *slot = Slot::Known(v);
        }
    }

    fn write_lock(&mut self, name: &str, holds: i64, sent_ms: u64, clock: &Clock) {
        let slot = self.locks.get_mut(name).unwrap();
        if Self::may_know(slot, sent_ms, clock) {
            *slot = Slot::Known(holds);
        }
    }

    fn forget(&mut self, op: &Op, now_ms: u64) {
        let keys: Vec<&String> = match op {
            Op::Set(k, _) | Op::Incr(k) => vec![k],
            Op::Mset(kvs) => kvs.iter().map(|(k, _)| k).collect(),
            Op::Del(ks) => ks.iter().collect(),
            Op::Acquire(name) | Op::Release(name) => {
                self.locks.insert(name.clone(), Slot::Unknown(now_ms));
                vec![]
            }
            // Reads change nothing; an unknown BF.ADD is simply not counted
            // as added.
            Op::Get(_) | Op::Mget(_) | Op::BfAdd(_) | Op::BfExists(_) => vec![],
        };
        for k in keys {
            self.values.insert(k.clone(), Slot::Unknown(now_ms));
        }
    }

    /// After a mismatch: everything the command touched is unknown, so one
    /// wrong reply is counted once, not again by every later read.
    fn resync(&mut self, op: &Op, now_ms: u64) {
        match op {
            Op::Get(k) => {
                self.values.insert(k.clone(), Slot::Unknown(now_ms));
            }
            Op::Mget(ks) => {
                for k in ks {
                    self.values.insert(k.clone(), Slot::Unknown(now_ms));
                }
            }
            Op::BfAdd(item) | Op::BfExists(item) => {
                self.added.remove(item);
            }
            _ => self.forget(op, now_ms),
        }
    }

    fn expect_value(&self, k: &str, got: &Reply) -> Result<(), String> {
        match &self.values[k] {
            Slot::Unknown(_) => Ok(()),
            Slot::Known(v) => {
                let want = match v {
                    Some(v) => Reply::Bulk(v.clone()),
                    None => Reply::Nil,
                };
                if *got == want {
                    Ok(())
                } else {
                    Err(format!("{k}: expected {want:?}, got {got:?}"))
                }
            }
        }
    }

    /// Checks a non-error reply against the model and applies the op.
    fn apply(&mut self, op: &Op, r: &Reply, sent_ms: u64, clock: &Clock) -> Result<(), String> {
        let bad = |what: &str| Err(format!("{what}: unexpected reply {r:?}"));
        match op {
            Op::Set(k, v) => {
                if *r != Reply::ok() {
                    return bad(&format!("SET {k}"));
                }
                self.write_value(k, Some(v.clone()), sent_ms, clock);
            }
            Op::Get(k) => self.expect_value(k, r)?,
            Op::Incr(k) => {
                let Reply::Int(n) = r else {
                    return bad(&format!("INCR {k}"));
                };
                if let Slot::Known(v) = &self.values[k] {
                    let before: i64 = v
                        .as_ref()
                        .map(|v| String::from_utf8_lossy(v).parse().unwrap())
                        .unwrap_or(0);
                    if *n != before + 1 {
                        return Err(format!("INCR {k}: expected {}, got {n}", before + 1));
                    }
                }
                self.write_value(k, Some(n.to_string().into_bytes()), sent_ms, clock);
            }
            Op::Mget(ks) => {
                let Reply::Array(items) = r else {
                    return bad("MGET");
                };
                if items.len() != ks.len() {
                    return bad("MGET");
                }
                for (k, item) in ks.iter().zip(items) {
                    self.expect_value(k, item)
                        .map_err(|e| format!("MGET {ks:?}: {e}"))?;
                }
            }
            Op::Mset(kvs) => {
                if *r != Reply::ok() {
                    return bad("MSET");
                }
                for (k, v) in kvs {
                    self.write_value(k, Some(v.clone()), sent_ms, clock);
                }
            }
            Op::Del(ks) => {
                let Reply::Int(n) = r else {
                    return bad("DEL");
                };
                let mut want = Some(0);
                for k in ks {
                    match &self.values[k] {
                        Slot::Known(Some(_)) => want = want.map(|w| w + 1),
                        Slot::Known(None) => {}
                        Slot::Unknown(_) => want = None,
                    }
                }
                if want.is_some_and(|w| w != *n) {
                    return Err(format!("DEL {ks:?}: expected {want:?}, got {n}"));
                }
                for k in ks {
                    self.write_value(k, None, sent_ms, clock);
                }
            }
            Op::Acquire(name) => {
                let Reply::Int(n) = r else {
                    return bad(&format!("LOCK.ACQUIRE {name}"));
                };
                let want = match self.locks[name] {
                    Slot::Known(h) => Some(h + 1),
                    Slot::Unknown(_) => None,
                };
                if *n < 1 || want.is_some_and(|w| w != *n) {
                    return Err(format!("LOCK.ACQUIRE {name}: expected {want:?}, got {n}"));
                }
                self.write_lock(name, *n, sent_ms, clock);
            }
            Op::Release(name) => {
                let Reply::Int(n) = r else {
                    return bad(&format!("LOCK.RELEASE {name}"));
                };
                let want = match self.locks[name] {
                    Slot::Known(0) => Some(-1),
                    Slot::Known(h) => Some(h - 1),
                    Slot::Unknown(_) => None,
                };
                if *n < -1 || want.is_some_and(|w| w != *n) {
                    return Err(format!("LOCK.RELEASE {name}: expected {want:?}, got {n}"));
                }
                self.write_lock(name, (*n).max(0), sent_ms, clock);
            }
            Op::BfAdd(item) => {
                let Reply::Int(n) = r else {
                    return bad(&format!("BF.ADD item{item}"));
                };
                if self.added.contains(item) && *n != 0 {
                    return Err(format!("BF.ADD item{item} (added before): got {n}"));
                }
                self.added.insert(*item);
            }
            Op::BfExists(item) => {
                let Reply::Int(n) = r else {
                    return bad(&format!("BF.EXISTS item{item}"));
                };
                if self.added.contains(item) && *n != 1 {
                    return Err(format!("BF.EXISTS item{item} (added before): got {n}"));
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Outcome {
    requests: u64,
    /// ms into the soak and text of each error reply.
    errors: Vec<(u64, String)>,
    mismatches: Vec<String>,
    hang: Option<String>,
    slowest: Duration,
}

fn client(id: usize, port: u16, clock: Arc<Clock>, stop: Arc<AtomicBool>) -> Outcome {
    let mut c = Conn::tcp(port); // every read bounded by its 10 s timeout
    let mut model = Model::new(id);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0x1234_5678_9ABC_DEF1));
    let mut out = Outcome::default();
    let mut serial = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = 1 + rng.below(16);
        let ops: Vec<Op> = (0..n)
            .map(|_| {
                serial += 1;
                model.pick(&mut rng, id, serial)
            })
            .collect();
        let mut bytes = Vec::new();
        for op in &ops {
            model.encode(op, id, &mut bytes);
        }
        let sent_ms = clock.now();
        let started = Instant::now();
        if let Err(e) = c.try_send_raw(&bytes) {
            out.hang = Some(format!("at {sent_ms} ms: {e}"));
            return out;
        }
        for (i, op) in ops.iter().enumerate() {
            let r = match c.try_read() {
                Ok(r) => r,
                Err(e) => {
                    out.hang = Some(format!(
                        "at {sent_ms} ms, reply {i} of a pipeline of {n}: {e}"
                    ));
                    return out;
                }
            };
            out.requests += 1;
            match r {
                Reply::Error(e) => {
                    let now = clock.now();
                    model.forget(op, now);
                    out.errors.push((now, e));
                }
                r => {
                    if let Err(e) = model.apply(op, &r, sent_ms, &clock) {
                        out.mismatches.push(format!("at {sent_ms} ms: {e}"));
                        // Counted once: what it touched is unknown from here.
                        model.resync(op, clock.now());
                    }
                }
            }
        }
        out.slowest = out.slowest.max(started.elapsed());
    }
    out
}

fn config(servers: &[RedisServer], connections: u32, timeout: u32) -> String {
    pool_config(
        "alpha",
        &servers.iter().collect::<Vec<_>>(),
        &format!("  hash_tag: \"{{}}\"\n  timeout: {timeout}\n  server_connections: {connections}\n  auto_eject_hosts: false\n"),
    )
}

/// Resumes a stopped process when dropped, whatever the test does.
struct Resume(Pid);
impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[test]
fn soak_pipelined_clients_see_their_own_writes_through_a_stall_and_reloads() {
    let secs: u64 = std::env::var("REDSHARD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let at = |thirtieths: u64| Duration::from_millis(secs * 1000 * thirtieths / 30);
    let s: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let p = Redshard::start_args(&config(&s, 2, 1000), &["--workers", "2", "--no-watch"]);
    let proxy_pid = Pid::from_raw(p.pid() as i32);
    let clock = Arc::new(Clock {
        start: Instant::now(),
        settled_ms: AtomicU64::new(u64::MAX),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (clock, stop, port) = (clock.clone(), stop.clone(), p.port);
            std::thread::spawn(move || client(id, port, clock, stop))
        })
        .collect();
    let sleep_until = |t: Duration| {
        if let Some(left) = t.checked_sub(clock.start.elapsed()) {
            std::thread::sleep(left);
        }
    };
    // The controller: a 2 s stall at 8/30 of the run (longer than the
    // timeout, so requests to it fail), reloads at 15/30 (server_connections
    // 2 -> 3) and 22/30 (back to 2, timeout 1200), none of which moves a key.
    // Also SCRIPT FLUSH on every backend at 5/30 and 18/30, so hosted
    // commands meet NOSCRIPT in the middle of pipelines.
    let flush = || {
        for srv in &s {
            assert_eq!(srv.conn().cmd(&["SCRIPT", "FLUSH"]), Reply::ok());
        }
    };
    let victim = Pid::from_raw(s[STALLED].pid() as i32);
    sleep_until(at(5));
    flush();
    sleep_until(at(8));
    let stopped_ms = clock.now();
    kill(victim, Signal::SIGSTOP).unwrap();
    let resume = Resume(victim);
    std::thread::sleep(Duration::from_secs(2));
    drop(resume);
    let resumed_ms = clock.now();
    std::thread::sleep(Duration::from_millis(500));
    clock.settled_ms.store(clock.now(), Ordering::Release);
    sleep_until(at(15).max(Duration::from_millis(resumed_ms + 1000)));
    p.write_config(&config(&s, 3, 1000));
    kill(proxy_pid, Signal::SIGHUP).unwrap();
    sleep_until(at(18));
    flush();
    sleep_until(at(22).max(clock.start.elapsed() + Duration::from_secs(1)));
    p.write_config(&config(&s, 2, 1200));
    kill(proxy_pid, Signal::SIGHUP).unwrap();
    sleep_until(at(30).max(clock.start.elapsed() + Duration::from_secs(2)));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients.into_iter().map(|t| t.join().unwrap()).collect();

    let requests: u64 = outcomes.iter().map(|o| o.requests).sum();
    let errors: Vec<&(u64, String)> = outcomes.iter().flat_map(|o| &o.errors).collect();
    // Errors are expected from the stall until a timeout after the resume.
    let window = stopped_ms..resumed_ms + 1500;
    let outside: Vec<&&(u64, String)> =
        errors.iter().filter(|(t, _)| !window.contains(t)).collect();
    let slowest = outcomes.iter().map(|o| o.slowest).max().unwrap_or_default();
    let mismatches: usize = outcomes.iter().map(|o| o.mismatches.len()).sum();
    let hangs: Vec<&String> = outcomes.iter().filter_map(|o| o.hang.as_ref()).collect();
    eprintln!(
        "soak {secs} s, {CLIENTS} clients: {requests} requests, {} error replies ({} outside the stall {stopped_ms}..{} ms), {mismatches} mismatches, {} hangs, slowest pipeline {slowest:?}",
        errors.len(),
        outside.len(),
        window.end,
        hangs.len()
    );
    for (id, o) in outcomes.iter().enumerate() {
        if !o.mismatches.is_empty() || o.hang.is_some() {
            eprintln!(
                "client {id}: {} requests, {} errors, {} mismatches {:?}, hang: {:?}",
                o.requests,
                o.errors.len(),
                o.mismatches.len(),
                &o.mismatches[..o.mismatches.len().min(5)],
                o.hang
            );
        }
    }
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for (_, e) in &errors {
        // Group by text without numbers (ports, ms).
        let kind: String = e.chars().filter(|c| !c.is_ascii_digit()).collect();
        *kinds.entry(kind).or_default() += 1;
    }
    eprintln!("error replies by kind: {kinds:#?}");
    let reloads = p.log_text().matches("reloaded").count();

    assert!(
        hangs.is_empty(),
        "{} clients got no reply: {hangs:?}",
        hangs.len()
    );
    assert_eq!(
        mismatches, 0,
        "replies that contradict the client's own writes"
    );
    assert!(requests > 10_000, "only {requests} requests in {secs} s");
    assert!(
        !errors.is_empty(),
        "the stalled server caused no error: was it stalled?"
    );
    assert!(
        (errors.len() as u64) * 50 < requests,
        "{} error replies of {requests} requests",
        errors.len()
    );
    assert!(
        outside.is_empty(),
        "{} error replies away from the stall, e.g. {:?}",
        outside.len(),
        &outside[..outside.len().min(5)]
    );
    assert!(
        reloads >= 2,
        "the two reloads were not both applied:\n{}",
        p.log_text()
    );
}
