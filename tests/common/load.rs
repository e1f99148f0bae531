//! Steady write load from several clients through the proxy, each write a
//! unique key, every outcome recorded with its times: what a failover test
//! measures and checks afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::servers::{Conn, Reply};

/// One write and what became of it.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: String,
    pub value: String,
    pub sent: Instant,
    pub done: Instant,
    /// `Err`: the error reply, or why no reply came.
    pub outcome: Result<(), String>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Write>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// `clients` connections to `port`, each writing `SET <prefix>:<c>:<n>`
    /// once per `every`.
    pub fn start(port: u16, clients: usize, every: Duration, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|c| {
                let (stop, log) = (stop.clone(), log.clone());
                let prefix = format!("{prefix}:{c}");
                std::thread::spawn(move || write_loop(port, &prefix, every, &stop, &log))
            })
            .collect();
        Load { stop, log, threads }
    }

    /// The writes so far.
    pub fn writes(&self) -> Vec<Write> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) until `enough` holds for the writes so far.
    pub fn wait_for(&self, within: Duration, what: &str, enough: impl Fn(&[Write]) -> bool) {
        let deadline = Instant::now() + within;
        while !enough(&self.log.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "load: not {what} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the clients; every write they made.
    pub fn stop(self) -> Vec<Write> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let mut writes = self.log.lock().unwrap().clone();
        writes.sort_by_key(|w| w.sent);
        writes
    }
}

fn write_loop(
    port: u16,
    prefix: &str,
    every: Duration,
    stop: &AtomicBool,
    log: &Mutex<Vec<Write>>,
) {
    let mut conn = Conn::tcp(port);
    let mut next = Instant::now();
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let key = format!("{prefix}:{n}");
        let value = format!("v{n}");
        let sent = Instant::now();
        let outcome = match conn.try_call(&[b"SET", key.as_bytes(), value.as_bytes()]) {
            Ok(Reply::Status(s)) if s == "OK" => Ok(()),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => {
                // A new connection, once the proxy takes one again.
                while !stop.load(Ordering::Relaxed) {
                    if let Some(c) = Conn::try_tcp(port) {
                        conn = c;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e)
            }
        };
        let done = Instant::now();
        log.lock().unwrap().push(Write {
            key,
            value,
            sent,
            done,
            outcome,
        });
        // Paced, so the failures counted say how long writes failed.
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
}
