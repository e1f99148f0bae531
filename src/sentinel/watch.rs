//! One pool's watcher: a subscription on every sentinel, the periodic
//! question, and what it does with what it hears.
//!
//! - Every `sentinel_refresh_ms`, after a subscription (re)starts (a
//!   message may have been missed meanwhile) and when a server answered
//!   `-READONLY`: ask the sentinels where each master is.
//! - `+switch-master`, or an answer that differs from the address in use:
//!   check the new address with `ROLE`, then move the master there.
//! - `+failover-state-send-slaveof-noone` for a master: hold the writes to
//!   the address in use, watch the chosen replica's `ROLE`, and move the
//!   master there the moment it says master — usually well before
//!   `+switch-master`, which waits for the other replicas to be
//!   reconfigured. An abort, or no promotion within [`HOLD_LIMIT`], ends
//!   the hold.
//!
//! It hands addresses to the pool ([`PoolRuntime::move_master`]) and
//! knows nothing of workers or clients.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinSet;

use super::ask::{self, Asker, Role};
use super::events::{self, Event, CHANNELS};
use crate::config::{PoolConfig, SentinelConfig, ServerAddr};
use crate::link::{Link, ServerLogin, Value};
use crate::pool::PoolRuntime;

/// The longest writes to a master are held while its replica is promoted.
/// Sentinel sends `REPLICAOF NO ONE` one tick (at most 100 ms) after it
/// announces the choice; this leaves room for a loaded machine.
pub(crate) const HOLD_LIMIT: Duration = Duration::from_secs(3);
/// How often the chosen replica is asked its ROLE during a promotion.
const PROMOTION_POLL: Duration = Duration::from_millis(5);
/// Reconnecting to a sentinel: the first wait, doubled up to the last.
const RESUBSCRIBE_FIRST: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(2);

/// What the watcher's tasks tell it.
enum Note {
    /// Sentinel `from` published an event.
    Said(Event, usize),
    /// A subscription (re)started.
    Subscribed,
    /// The chosen replica says it is a master now.
    Promoted { master: String, addr: ServerAddr },
    /// It did not within the hold's limit.
    NotPromoted { master: String, why: String },
}

/// The settings a watcher runs with: a change restarts it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WatchKey {
    pub sentinel: SentinelConfig,
    pub masters: Vec<String>,
    /// How the masters and replicas are reached (ROLE).
    pub login: ServerLogin,
    /// The pool reads from replicas: each master's are asked too.
    pub replicas: bool,
}

impl WatchKey {
    /// `None` for a pool that does not follow Sentinel.
    pub fn of(config: &PoolConfig) -> Option<WatchKey> {
        Some(WatchKey {
            sentinel: config.sentinel.clone()?,
            masters: config
                .servers
                .iter()
                .filter(|s| s.is_sentinel_master())
                .map(|s| s.name.clone())
                .collect(),
            login: ServerLogin::of(config),
            replicas: config.read_from != crate::config::ReadFrom::Master,
        })
    }
}

pub(crate) struct Watch {
    pool: Arc<PoolRuntime>,
    key: WatchKey,
    asker: Asker,
    /// The last complaint logged per master, so a lasting one is said once.
    complaints: HashMap<String, String>,
    /// Masters whose promotion is being watched.
    promoting: HashSet<String>,
    /// Masters moved on a promotion the sentinels have not published yet,
    /// and the address they left: until `+switch-master` the sentinels
    /// still give that one, and it is not taken back while the promoted
    /// server says it is a master.
    ahead: HashMap<String, ServerAddr>,
}

impl Watch {
    pub fn new(pool: Arc<PoolRuntime>, key: WatchKey) -> Watch {
        let asker = Asker::new(key.sentinel.sentinels.clone(), key.sentinel.auth.clone());
        Watch {
            pool,
            key,
            asker,
            complaints: HashMap::new(),
            promoting: HashSet::new(),
            ahead: HashMap::new(),
        }
    }

    /// Runs until dropped (the pool was removed, or its settings changed).
    pub async fn run(mut self) {
        let (tx, mut notes) = unbounded_channel();
        let mut tasks = JoinSet::new();
        for (i, sentinel) in self.key.sentinel.sentinels.iter().enumerate() {
            let login = ServerLogin::password(self.key.sentinel.auth.clone());
            tasks.spawn(subscribe(i, sentinel.clone(), login, tx.clone()));
        }
        let refresh = Duration::from_millis(self.key.sentinel.refresh_ms);
        let mut tick = tokio::time::interval(refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.refresh_all().await,
                () = self.pool.master_doubts.notified() => self.refresh_doubted().await,
                Some(note) = notes.recv() => self.on_note(note, &mut tasks, &tx).await,
            }
        }
    }

    async fn on_note(&mut self, note: Note, tasks: &mut JoinSet<()>, tx: &UnboundedSender<Note>) {
        match note {
            Note::Subscribed => self.refresh_all().await,
            Note::Said(Event::Switched { master, to }, from) => {
                self.ahead.remove(&master);
                let why = format!("+switch-master from sentinel {}", self.sentinel(from));
                self.adopt(&master, to, &why, true).await;
            }
            Note::Said(
                Event::Promoting {
                    master,
                    from,
                    candidate,
                },
                _,
            ) => self.promoting(master, from, candidate, tasks, tx),
            Note::Said(Event::Aborted { master }, from) => {
                tracing::warn!(pool = %self.pool.name, master = %master, "sentinel {} aborted the failover", self.sentinel(from));
                self.end_hold(&master);
                self.refresh(&master).await;
            }
            Note::Promoted { master, addr } => {
                self.promoting.remove(&master);
                if let Some(left) = self.current(&master) {
                    self.ahead.insert(master.clone(), left);
                }
                self.apply(&master, addr, "its replica was promoted (ROLE master)");
            }
            Note::NotPromoted { master, why } => {
                self.promoting.remove(&master);
                tracing::warn!(pool = %self.pool.name, master = %master, "no promotion seen ({why}): writes go on to the master in use");
                self.end_hold(&master);
                self.refresh(&master).await;
            }
        }
    }

    /// The leader sentinel chose a replica of `master` to promote: hold the
    /// writes to the address in use, and watch the replica.
    fn promoting(
        &mut self,
        master: String,
        from: ServerAddr,
        candidate: ServerAddr,
        tasks: &mut JoinSet<()>,
        tx: &UnboundedSender<Note>,
    ) {
        let Some(health) = self.pool.master_state(&master) else {
            return;
        };
        // Whatever address is in use (the one Sentinel replaces, or one
        // this watcher moved to ahead of the sentinels in an earlier attempt
        // that they then aborted), it is about to be demoted.
        let current = self.current(&master);
        if current.as_ref() == Some(&candidate) || !self.promoting.insert(master.clone()) {
            return;
        }
        let held = current.map_or_else(|| "-".to_string(), |c| c.to_string());
        tracing::warn!(pool = %self.pool.name, master = %master, "Sentinel promotes {candidate} in place of {from}: writes to {held} held until it is master");
        health.master.hold(HOLD_LIMIT);
        let login = self.key.login.clone();
        tasks.spawn(await_promotion(master, candidate, login, tx.clone()));
    }

    fn end_hold(&mut self, master: &str) {
        if let Some(health) = self.pool.master_state(master) {
            health.master.release();
        }
    }

    async fn refresh_all(&mut self) {
        for master in self.key.masters.clone() {
            self.refresh(&master).await;
        }
    }

    /// The masters a `-READONLY` put in doubt.
    async fn refresh_doubted(&mut self) {
        for master in self.key.masters.clone() {
            let doubted = self
                .pool
                .master_state(&master)
                .is_some_and(|h| h.master.take_doubt());
            if doubted {
                self.refresh(&master).await;
            }
        }
    }

    /// Asks the sentinels where `master` is.
    async fn refresh(&mut self, master: &str) {
        match self.asker.master_addr(master).await {
            Ok(addr) => {
                self.complaints.remove(master);
                if self.ahead.get(master) == Some(&addr) && self.still_master(master).await {
                    return;
                }
                self.ahead.remove(master);
                self.adopt(master, addr, "the sentinels' answer", false)
                    .await;
                if self.key.replicas {
                    self.refresh_replicas(master).await;
                }
            }
            Err(why) => {
                if self.current(master).is_none() {
                    if let Some(health) = self.pool.master_state(master) {
                        health.master.set_unresolved(Some(why.clone()));
                    }
                }
                self.complain(master, why);
            }
        }
    }

    /// Asks for `master`'s replicas and hands them to the pool.
    async fn refresh_replicas(&mut self, master: &str) {
        match self.asker.replicas(master).await {
            Ok(mut replicas) => {
                // The master itself, listed as a replica just after a
                // failover, is not one to read from.
                let current = self.current(master);
                replicas.retain(|r| Some(r) != current.as_ref());
                if self.pool.set_replicas(master, &replicas) {
                    let list: Vec<String> = replicas.iter().map(ToString::to_string).collect();
                    tracing::info!(pool = %self.pool.name, master = %master, "replicas: [{}]", list.join(", "));
                }
            }
            Err(why) => self.complain(master, format!("its replicas could not be asked: {why}")),
        }
    }

    /// Moves `master` to `addr` if it is not there and `ROLE` agrees it is
    /// a master. With no address in use yet, or on `+switch-master`
    /// (`authoritative`), an address that cannot be checked is taken too.
    async fn adopt(&mut self, master: &str, addr: ServerAddr, why: &str, authoritative: bool) {
        let current = self.current(master);
        if current.as_ref() == Some(&addr) {
            return;
        }
        let take = match ask::role(&addr, &self.key.login).await {
            Ok(Role::Master) => true,
            Ok(role) => {
                self.complain(
                    master,
                    format!("{why} puts it at {addr}, which says it is {role:?}, not a master"),
                );
                current.is_none()
            }
            Err(e) => {
                self.complain(
                    master,
                    format!("{why} puts it at {addr}, whose ROLE cannot be checked: {e}"),
                );
                current.is_none() || authoritative
            }
        };
        if take {
            self.apply(master, addr, why);
        }
    }

    /// Whether the address in use for `master` says it is a master.
    async fn still_master(&self, master: &str) -> bool {
        let Some(addr) = self.current(master) else {
            return false;
        };
        matches!(ask::role(&addr, &self.key.login).await, Ok(Role::Master))
    }

    fn apply(&mut self, master: &str, addr: ServerAddr, why: &str) {
        match self.pool.move_master(master, &addr) {
            Some(moved) => match moved.from {
                Some(from) => {
                    tracing::warn!(pool = %self.pool.name, master = %master, "master moved from {from} to {addr} ({why}): new requests go there")
                }
                None => {
                    tracing::info!(pool = %self.pool.name, master = %master, "master at {addr} ({why})")
                }
            },
            None => self.end_hold(master),
        }
    }

    fn current(&self, master: &str) -> Option<ServerAddr> {
        let snapshot = self.pool.snapshot();
        let i = snapshot
            .config
            .servers
            .iter()
            .position(|s| s.is_sentinel_master() && s.name == master)?;
        snapshot.addrs[i].clone()
    }

    fn sentinel(&self, i: usize) -> String {
        self.key
            .sentinel
            .sentinels
            .get(i)
            .map_or_else(|| "?".into(), ToString::to_string)
    }

    /// Logs `what` unless it is what was said last about `master`.
    fn complain(&mut self, master: &str, what: String) {
        if self.complaints.get(master) != Some(&what) {
            tracing::warn!(pool = %self.pool.name, master = %master, "{what}");
            self.complaints.insert(master.to_string(), what);
        }
    }
}

/// Keeps a subscription on one sentinel, reconnecting after a loss.
async fn subscribe(i: usize, sentinel: ServerAddr, login: ServerLogin, tx: UnboundedSender<Note>) {
    let mut wait = RESUBSCRIBE_FIRST;
    let mut said = None;
    loop {
        let started = Instant::now();
        let why = listen(i, &sentinel, &login, &tx).await;
        if tx.is_closed() {
            return;
        }
        if started.elapsed() > RESUBSCRIBE_MAX {
            wait = RESUBSCRIBE_FIRST;
        }
        if said.as_ref() != Some(&why) {
            tracing::warn!("sentinel {sentinel}: {why}; subscribing again");
            said = Some(why);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RESUBSCRIBE_MAX);
    }
}

/// One subscription, until the connection fails: why it ended.
async fn listen(
    i: usize,
    sentinel: &ServerAddr,
    login: &ServerLogin,
    tx: &UnboundedSender<Note>,
) -> String {
    let mut link = match Link::open(sentinel, login, ask::ASK_LIMIT).await {
        Ok(link) => link,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let mut command: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    command.extend(CHANNELS.iter().map(|c| c.as_bytes()));
    if let Err(e) = link.send(&command).await {
        return format!("cannot subscribe: {e}");
    }
    let mut confirmed = 0;
    loop {
        let message = match link.next().await {
            Ok(Value::Error(e)) => return format!("refused SUBSCRIBE: {e}"),
            Ok(m) => m,
            Err(e) => return format!("subscription lost: {e}"),
        };
        if confirmed < CHANNELS.len() {
            confirmed += 1;
            if confirmed == CHANNELS.len() {
                let _ = tx.send(Note::Subscribed);
            }
            continue;
        }
        if let Some(event) = events::parse(&message) {
            let _ = tx.send(Note::Said(event, i));
        }
    }
}

/// Asks the chosen replica its ROLE until it says master, within the hold.
async fn await_promotion(
    master: String,
    candidate: ServerAddr,
    login: ServerLogin,
    tx: UnboundedSender<Note>,
) {
    let deadline = Instant::now() + HOLD_LIMIT;
    let mut link: Option<Link> = None;
    let mut last = String::from("not asked");
    while Instant::now() < deadline {
        if link.is_none() {
            match Link::open(&candidate, &login, ask::ASK_LIMIT).await {
                Ok(l) => link = Some(l),
                Err(e) => last = e,
            }
        }
        if let Some(l) = link.as_mut() {
            match ask::role_on(l).await {
                Ok(Role::Master) => {
                    let _ = tx.send(Note::Promoted {
                        master,
                        addr: candidate,
                    });
                    return;
                }
                Ok(role) => last = format!("{candidate} still says {role:?}"),
                Err(e) => {
                    last = e;
                    link = None;
                }
            }
        }
        tokio::time::sleep(PROMOTION_POLL).await;
    }
    let _ = tx.send(Note::NotPromoted { master, why: last });
}
