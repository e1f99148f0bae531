//! A pool as one worker sees it: the shared runtime plus this worker's
//! connections to each server, per protocol, replaced after a reload.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{BackendConn, BackendError, BackendSpec, Dedicated, IdleConns};
use crate::config::{ReadFrom, ServerAddr};
use crate::pool::{FailurePolicy, PoolRuntime, PoolSnapshot};
use crate::protocol::Proto;

/// A pool as one worker sees it: the shared runtime plus this worker's
/// connections to each server.
pub struct WorkerPool {
    pub runtime: Arc<PoolRuntime>,
    /// Which worker this is (its counter shard).
    pub index: usize,
    conns: RefCell<Conns>,
    /// Dedicated connections clients left clean, for the next ones.
    idle: Rc<IdleConns>,
}

struct Conns {
    generation: u64,
    /// The snapshot's `moves`, and what each server's connections were made
    /// for: a Sentinel master that moved, or whose replicas changed, gets
    /// new connections.
    moves: u64,
    made_for: Vec<MadeFor>,
    /// `servers[i]`: the connections to server `i`, speaking RESP2.
    servers: Vec<ServerConns>,
    /// The same for RESP3 clients, opened the first time one needs them.
    servers_resp3: Option<Vec<ServerConns>>,
}

/// A server's address and its replicas' (as the snapshot gives them).
type MadeFor = (Option<ServerAddr>, Vec<ServerAddr>);

/// This worker's connections to one server and to each of its replicas,
/// `server_connections` of each.
struct ServerConns {
    master: Vec<Rc<BackendConn>>,
    replicas: Vec<Vec<Rc<BackendConn>>>,
}

impl ServerConns {
    fn all(&self) -> impl Iterator<Item = &Rc<BackendConn>> {
        self.master.iter().chain(self.replicas.iter().flatten())
    }
}

fn made_for(snapshot: &PoolSnapshot) -> Vec<MadeFor> {
    let replicas = |i: usize| {
        snapshot.replicas[i]
            .iter()
            .map(|r| r.addr.clone())
            .collect()
    };
    (0..snapshot.addrs.len())
        .map(|i| (snapshot.addrs[i].clone(), replicas(i)))
        .collect()
}

/// Connect timeout when the pool sets no `timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl WorkerPool {
    pub fn new(runtime: Arc<PoolRuntime>, index: usize) -> Rc<WorkerPool> {
        let snapshot = runtime.snapshot_arc();
        Rc::new(WorkerPool {
            conns: RefCell::new(Conns {
                generation: snapshot.generation,
                moves: snapshot.moves,
                made_for: made_for(&snapshot),
                servers: build_conns(index, &runtime, &snapshot, false),
                servers_resp3: None,
            }),
            runtime,
            index,
            idle: Rc::default(),
        })
    }

    /// Opens every connection now (`preconnect: true`).
    pub fn preconnect(&self) {
        for conns in &self.conns.borrow().servers {
            for c in &conns.master {
                c.preconnect();
            }
        }
    }

    /// The connection a client uses to reach `server`: always the same one for
    /// the same client, so its requests to a server stay in order.
    #[inline]
    pub fn conn(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        client_id: u64,
        proto: Proto,
    ) -> Rc<BackendConn> {
        self.with_conns(snapshot, proto, |servers| {
            let list = &servers[server].master;
            list[client_id as usize % list.len()].clone()
        })
    }

    /// The connection a client's read of `server`'s keys goes to: one to a
    /// replica that serves reads now (see [`PoolSnapshot::replica_for`]),
    /// else to the master with `prefer_replica`, else an error saying why.
    pub fn read_conn(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        client_id: u64,
        proto: Proto,
    ) -> Result<Rc<BackendConn>, BackendError> {
        let Some(replica) = snapshot.replica_for(server, client_id) else {
            if snapshot.config.read_from == ReadFrom::PreferReplica {
                return Ok(self.conn(snapshot, server, client_id, proto));
            }
            return Err(BackendError::NoReplica {
                server: snapshot.config.servers[server].label(),
                why: snapshot.why_no_replica(server),
            });
        };
        Ok(self.with_conns(snapshot, proto, |servers| {
            let list = &servers[server].replicas[replica];
            list[client_id as usize % list.len()].clone()
        }))
    }

    /// This worker's connections as `snapshot` has them (replaced first
    /// if they were made for another), in the client's protocol.
    #[inline]
    fn with_conns<T>(
        &self,
        snapshot: &PoolSnapshot,
        proto: Proto,
        pick: impl FnOnce(&[ServerConns]) -> T,
    ) -> T {
        let mut conns = self.conns.borrow_mut();
        if conns.generation != snapshot.generation {
            self.replace_conns(&mut conns, snapshot);
        } else if conns.moves != snapshot.moves {
            self.follow_moves(&mut conns, snapshot);
        }
        match proto {
            Proto::Resp2 => pick(&conns.servers),
            Proto::Resp3 => pick(
                conns
                    .servers_resp3
                    .get_or_insert_with(|| build_conns(self.index, &self.runtime, snapshot, true)),
            ),
        }
    }
}

impl WorkerPool {
    /// A connection of the client's own to `server` (a transaction, a
    /// subscriber, a blocking call), if the pool's bound allows one more.
    pub fn dedicated(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        proto: Proto,
    ) -> Result<Dedicated, BackendError> {
        let spec = spec(
            self.index,
            &self.runtime,
            snapshot,
            (server, None),
            proto == Proto::Resp3,
        );
        let max = snapshot.config.max_dedicated_connections as usize;
        Dedicated::open(spec, max, &self.idle, snapshot.generation)
    }
}

impl WorkerPool {
    /// After a reload: new connections for the new config; the old ones get
    /// the replies of what is in flight, then close.
    fn replace_conns(&self, conns: &mut Conns, snapshot: &PoolSnapshot) {
        for old in conns
            .servers
            .iter()
            .chain(conns.servers_resp3.iter().flatten())
            .flat_map(ServerConns::all)
        {
            old.retire();
        }
        conns.generation = snapshot.generation;
        conns.moves = snapshot.moves;
        conns.made_for = made_for(snapshot);
        conns.servers = build_conns(self.index, &self.runtime, snapshot, false);
        conns.servers_resp3 = None;
        if snapshot.config.preconnect {
            for c in conns.servers.iter().flat_map(|s| &s.master) {
                c.preconnect();
            }
        }
    }

    /// After Sentinel masters moved or their replicas changed, or a cluster
    /// pool learnt a master: new connections for each such server; the old ones to a moved master hand
    /// back what they had not written (see `backend::follow`), and all close
    /// after their last reply. The other servers' connections stay.
    fn follow_moves(&self, conns: &mut Conns, snapshot: &PoolSnapshot) {
        let now = made_for(snapshot);
        for (server, made) in now.iter().enumerate() {
            if conns.made_for.get(server) == Some(made) {
                continue;
            }
            let fresh = |resp3| server_conns(self.index, &self.runtime, snapshot, server, resp3);
            let lists = std::iter::once((&mut conns.servers, false))
                .chain(conns.servers_resp3.as_mut().map(|l| (l, true)));
            for (list, resp3) in lists {
                if server < list.len() {
                    let old = std::mem::replace(&mut list[server], fresh(resp3));
                    old.all().for_each(|c| c.retire());
                } else {
                    // A cluster master seen for the first time.
                    list.push(fresh(resp3));
                }
            }
        }
        conns.moves = snapshot.moves;
        conns.made_for = now;
    }

    /// Rebuilds the connections now if the pool's config changed.
    pub fn refresh(&self) {
        let snapshot = self.runtime.snapshot_arc();
        let mut conns = self.conns.borrow_mut();
        if conns.generation != snapshot.generation {
            self.replace_conns(&mut conns, &snapshot);
        } else if conns.moves != snapshot.moves {
            self.follow_moves(&mut conns, &snapshot);
        }
    }

    /// Closes every connection once idle (the pool was removed).
    pub fn retire_all(&self) {
        let conns = self.conns.borrow();
        for c in conns
            .servers
            .iter()
            .chain(conns.servers_resp3.iter().flatten())
            .flat_map(ServerConns::all)
        {
            c.retire();
        }
    }
}

fn build_conns(
    worker_index: usize,
    pool_rt: &Arc<PoolRuntime>,
    snapshot: &PoolSnapshot,
    resp3: bool,
) -> Vec<ServerConns> {
    (0..snapshot.config.servers.len())
        .map(|index| server_conns(worker_index, pool_rt, snapshot, index, resp3))
        .collect()
}

/// This worker's connections to server `index` and to its replicas.
fn server_conns(
    worker_index: usize,
    pool_rt: &Arc<PoolRuntime>,
    snapshot: &PoolSnapshot,
    index: usize,
    resp3: bool,
) -> ServerConns {
    let to = |replica: Option<usize>| {
        (0..snapshot.config.server_connections.max(1))
            .map(|_| {
                let spec = spec(worker_index, pool_rt, snapshot, (index, replica), resp3);
                BackendConn::new(spec)
            })
            .collect()
    };
    ServerConns {
        master: to(None),
        replicas: (0..snapshot.replicas[index].len())
            .map(|r| to(Some(r)))
            .collect(),
    }
}

/// What a connection to server `index` of the pool (or to its replica
/// `r`, for `(index, Some(r))`) needs to know.
fn spec(
    worker_index: usize,
    pool_rt: &Arc<PoolRuntime>,
    snapshot: &PoolSnapshot,
    (index, replica): (usize, Option<usize>),
    resp3: bool,
) -> BackendSpec {
    let pool = &snapshot.config;
    let server = &pool.servers[index];
    let connect_timeout = pool
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let replica = replica.map(|r| &snapshot.replicas[index][r]);
    let (label, addr, health) = match replica {
        Some(r) => (
            format!("{} (replica {})", server.label(), r.addr),
            Some(r.addr.clone()),
            r.health.clone(),
        ),
        None => (
            server.label(),
            snapshot.addrs[index].clone(),
            snapshot.health[index].clone(),
        ),
    };
    BackendSpec {
        label,
        addr,
        follows_master: replica.is_none() && server.is_sentinel_master(),
        replica: replica.is_some(),
        auth: pool.redis_auth.clone(),
        username: pool.redis_username.clone(),
        hosted_login: pool.redis_hosted_login.clone(),
        db: pool.redis_db,
        resp3,
        connect_timeout,
        timeout: pool.timeout_ms.map(Duration::from_millis),
        policy: FailurePolicy {
            retry_timeout: Duration::from_millis(pool.server_retry_timeout_ms),
            // A replica is in no ring: it backs off, never ejected.
            eject_after: (pool.auto_eject_hosts && replica.is_none())
                .then_some(pool.server_failure_limit),
        },
        max_queue: pool.client_output_limit,
        max_reply: pool.max_reply_bytes,
        health,
        pool: pool_rt.clone(),
        index,
        worker_index,
        dedicated: false,
        tls: pool.backend_tls.clone(),
        cluster: pool.cluster.is_some(),
    }
}
