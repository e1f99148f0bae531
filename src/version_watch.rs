//! The version watcher: learns the Redis version each server of each pool
//! runs, for the version the pool reports (HELLO, INFO: the lowest, see
//! [`crate::pool::PoolSnapshot::lowest_version`]). A server is asked as
//! soon as the pool has it (at start, before the first client, within
//! [`START_BOUND`]; after a reload adds it, a Sentinel master moves, a
//! cluster master starts serving slots), again every [`REFRESH`] (an
//! upgrade in place), and again and again while it cannot be reached. It
//! logs in as the pool's connections do (TLS included) and asks `HELLO 2`;
//! a server that refuses it (older than 6) or is not Redis (Valkey gives
//! its own version there) is asked `INFO server`. RESP3 data connections
//! learn the version from their own `HELLO 3` too ([`crate::backend`]'s
//! handshake). It knows no client.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{Config, PoolConfig, ServerAddr};
use crate::link::{Link, ServerLogin};
use crate::pool::{PoolRuntime, RedisVersion, ServerHealth};
use crate::protocol::value::Value;
use crate::sentinel::Found;

/// How often a server that answered is asked again: an upgrade in place
/// keeps its address, and a RESP2-only pool has no HELLO 3 to notice it.
pub const REFRESH: Duration = Duration::from_secs(60);
/// The first wait before asking again a server that could not be reached;
/// doubled each time up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often the pool's servers are compared with those being asked, when
/// no new snapshot says sooner.
const TICK: Duration = Duration::from_millis(500);
/// How long the proxy's start waits for the servers' versions: a server
/// that does not answer (a dropped connect) holds it up no longer.
const START_BOUND: Duration = Duration::from_secs(1);
/// Bound on reaching a server and on each reply when the pool sets no
/// `timeout`.
const DEFAULT_LIMIT: Duration = Duration::from_secs(2);

/// The versions asked before the proxy serves, by pool and address.
#[derive(Debug, Default)]
pub struct Learned(HashMap<(String, ServerAddr), RedisVersion>);

/// Asks every server of every pool (the Sentinel masters where `found`
/// puts them) for its version, all at once, for at most [`START_BOUND`],
/// so that the first clients are told the right one. A cluster's masters
/// are known only from its slot map, asked later; they, and the servers
/// that did not answer in time, are left to the watchers.
pub async fn discover(config: &Config, found: &Found) -> Learned {
    let mut asks = tokio::task::JoinSet::new();
    for pool in &config.pools {
        // A pool of its own, only to list the servers that count as the
        // serving one will.
        let listing = PoolRuntime::new(pool.clone());
        found.apply(&listing);
        let key = Key::of(pool);
        for server in listing.snapshot().versioned() {
            let Some(addr) = server.addr.cloned() else {
                continue;
            };
            let (name, key) = (pool.name.clone(), key.clone());
            asks.spawn(async move { ((name, addr.clone()), ask(&addr, &key).await.ok()) });
        }
    }
    let mut learned = Learned::default();
    let gather = async {
        while let Some(done) = asks.join_next().await {
            if let Ok((id, Some(version))) = done {
                learned.0.insert(id, version);
            }
        }
    };
    // Those still asking are dropped (aborted) with the set.
    let _ = tokio::time::timeout(START_BOUND, gather).await;
    learned
}

impl Learned {
    /// Gives `pool`'s servers the versions learned for them.
    pub fn apply(&self, pool: &PoolRuntime) {
        let snapshot = pool.snapshot();
        for server in snapshot.versioned() {
            let Some(addr) = server.addr else { continue };
            if let Some(version) = self.0.get(&(pool.name.clone(), addr.clone())) {
                let label = server.label();
                server.health.version.learn(*version, &pool.name, &label);
            }
        }
    }
}

/// Runs a watcher for every pool until the process exits: restarted when a
/// reload changes how the servers are logged in to, stopped when the pool
/// goes.
pub async fn run(pools: Arc<Mutex<Vec<Arc<PoolRuntime>>>>) {
    crate::pool::watchers::per_pool(
        pools,
        |config| Some(Key::of(config)),
        |pool, key| Watch::new(pool, key.clone()).run(),
    )
    .await
}

/// How a pool's servers are asked: a change restarts the watcher.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    login: ServerLogin,
    limit: Duration,
}

impl Key {
    fn of(config: &PoolConfig) -> Key {
        Key {
            login: ServerLogin::of(config),
            limit: config
                .timeout_ms
                .map_or(DEFAULT_LIMIT, Duration::from_millis),
        }
    }
}

/// One server being asked, stopped when dropped.
struct Asking {
    /// Held so that the key's pointer names this record for as long as it
    /// is asked for.
    _health: Arc<ServerHealth>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Asking {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Watch {
    pool: Arc<PoolRuntime>,
    key: Key,
    /// By address and health record: a Sentinel master that moves, or a
    /// server a reload removed and added back (a new record), is asked anew.
    asking: HashMap<(ServerAddr, usize), Asking>,
    /// The `major.minor` levels last warned about, so a lasting mix is
    /// said once.
    warned: Option<BTreeSet<(u16, u16)>>,
    /// Before the first look at the pool's servers: those whose version is
    /// known then were asked at start ([`discover`]), and wait for the next
    /// refresh rather than open another connection at once.
    first: bool,
}

impl Watch {
    fn new(pool: Arc<PoolRuntime>, key: Key) -> Watch {
        Watch {
            pool,
            key,
            asking: HashMap::new(),
            warned: None,
            first: true,
        }
    }

    async fn run(mut self) {
        let mut changes = self.pool.changes();
        loop {
            self.ask_new_servers();
            self.warn_of_a_mix();
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Starts asking each server that counts and is not asked yet; stops
    /// asking those that no longer count.
    fn ask_new_servers(&mut self) {
        let snapshot = self.pool.snapshot_arc();
        let mut wanted = HashMap::new();
        for server in snapshot.versioned() {
            if let Some(addr) = server.addr {
                let id = (addr.clone(), Arc::as_ptr(server.health) as usize);
                wanted.insert(id, (server.label(), server.health.clone()));
            }
        }
        self.asking.retain(|id, _| wanted.contains_key(id));
        for (id, (label, health)) in wanted {
            if self.asking.contains_key(&id) {
                continue;
            }
            let server = Server {
                pool: self.pool.name.clone(),
                label,
                addr: id.0.clone(),
                health: health.clone(),
            };
            let known = self.first && health.version.get().is_some();
            let wait = if known { REFRESH } else { Duration::ZERO };
            let task = tokio::spawn(server.keep_asking(self.key.clone(), wait));
            let asking = Asking {
                _health: health,
                task,
            };
            self.asking.insert(id, asking);
        }
        self.first = false;
    }

    /// Warns once when the servers run more than one `major.minor`: the
    /// pool reports the lowest, so clients leave aside what the newer have.
    fn warn_of_a_mix(&mut self) {
        let snapshot = self.pool.snapshot();
        let Some((levels, each)) = snapshot.version_mix() else {
            self.warned = None;
            return;
        };
        if self.warned.as_ref() == Some(&levels) {
            return;
        }
        let lowest = snapshot
            .lowest_version()
            .map_or_else(String::new, |v| v.to_string());
        tracing::warn!(
            pool = %self.pool.name,
            "the pool's servers run different Redis versions ({each}); clients are told the lowest, {lowest}, and use only what it has"
        );
        self.warned = Some(levels);
    }
}

/// A server to ask, and where to record its answer.
struct Server {
    pool: String,
    label: String,
    addr: ServerAddr,
    health: Arc<ServerHealth>,
}

/// Why a version was not learned.
enum NotLearned {
    /// No connection, or no reply: asked again soon.
    Unreachable(String),
    /// It answered, without a version: asked again at the next refresh.
    Unknown(String),
}

impl Server {
    /// Asks until stopped, first after `wait`: every [`REFRESH`] once it
    /// answered, sooner while it cannot be reached. A failure is logged
    /// when it differs from the last one.
    async fn keep_asking(self, key: Key, wait: Duration) {
        let mut retry = FIRST_RETRY;
        let mut said: Option<String> = None;
        tokio::time::sleep(wait).await;
        loop {
            let wait = match ask(&self.addr, &key).await {
                Ok(version) => {
                    self.health.version.learn(version, &self.pool, &self.label);
                    said = None;
                    retry = FIRST_RETRY;
                    REFRESH
                }
                Err(NotLearned::Unreachable(why)) => {
                    // The data connections report a server that is down.
                    if said.as_ref() != Some(&why) {
                        tracing::debug!(pool = %self.pool, server = %self.label, "cannot ask {} its Redis version yet: {why}", self.label);
                        said = Some(why);
                    }
                    let wait = retry;
                    retry = (retry * 2).min(MAX_RETRY);
                    wait
                }
                Err(NotLearned::Unknown(why)) => {
                    if said.as_ref() != Some(&why) {
                        tracing::warn!(pool = %self.pool, server = %self.label, "cannot learn the Redis version of {}: {why}; it does not count in the version reported", self.label);
                        said = Some(why);
                    }
                    retry = FIRST_RETRY;
                    REFRESH
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The version of the server at `addr`: from `HELLO 2` (from Redis 6.0,
/// which needs the protocol given), else from `INFO server`.
async fn ask(addr: &ServerAddr, key: &Key) -> Result<RedisVersion, NotLearned> {
    let mut link = Link::open(addr, &key.login, key.limit)
        .await
        .map_err(NotLearned::Unreachable)?;
    let hello = link
        .call_tree(&[b"HELLO", b"2"])
        .await
        .map_err(NotLearned::Unreachable)?;
    if let Some(version) = RedisVersion::from_hello(&hello) {
        return Ok(version);
    }
    let info = link
        .call_tree(&[b"INFO", b"server"])
        .await
        .map_err(NotLearned::Unreachable)?;
    if let Some(version) = info.as_str().and_then(RedisVersion::from_info) {
        return Ok(version);
    }
    let said = |v: &Value, none: &str| match v {
        Value::Error(e) => e.clone(),
        _ => none.to_string(),
    };
    Err(NotLearned::Unknown(format!(
        "HELLO: {}; INFO server: {}",
        said(&hello, "no Redis version"),
        said(&info, "no redis_version line")
    )))
}
