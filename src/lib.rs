//! redshard: a Redis sharding proxy that places every key exactly where
//! twemproxy (nutcracker 0.5.0) does, and goes further: all cores, hot reload,
//! clear errors, metrics and hosted atomic commands.
//!
//! # Layout
//!
//! - [`auth`]: users and permissions on the client side: a pool's `users:`
//!   (or nutcracker's `redis_auth` as the one `default` user), ACL-style
//!   command rules over Redis's categories, key patterns, passwords compared
//!   in constant time, and the one permission check of a request.
//! - [`config`]: nutcracker's YAML schema, `"host:port:weight [name]"` parsing,
//!   defaults, a range for every number, validation with file/line/pool/key
//!   errors; the file read within a size bound; the TLS keys checked
//!   together and their files loaded with the config.
//! - [`hashkit`]: one file per hash function, each bit-exact with nutcracker
//!   (signed-`char` traps included), plus xxh3; hash-tag extraction.
//! - [`distribution`]: ketama, modula, random — each a build(live servers) /
//!   dispatch(hash) pair, so ejecting a server is a rebuild.
//! - [`pool`]: a pool at run time; [`pool::Placement`] maps a key to its
//!   server (by the ring, or in a cluster pool by the slot table, which a
//!   new slot map or a `MOVED` swaps in as a new snapshot); server health (backoff, ejection) shared by all workers; where
//!   each Sentinel master is now and what is known of it; each server's
//!   replicas and the choice of one for a client's reads; the Redis
//!   version each server runs and the one a pool reports (the lowest); the
//!   one background task per pool that needs one (Sentinel, cluster
//!   watchers), kept in step with reloads; the
//!   per-worker counters, generated from one table of stats (name, kind,
//!   help, one line each); the pool's clients as CLIENT LIST shows them.
//! - [`protocol`]: the wire only: resumable request framer and the
//!   [`protocol::Request`] it frames (borrowing the framer, so a request's
//!   arguments cannot go missing before it is routed), inline commands split
//!   as Redis splits them (quotes, escapes, blank lines), reply skipper, reply
//!   encoding (RESP2 and RESP3), and a decoder of whole replies into a tree
//!   for the control replies the proxy reads itself.
//! - [`cluster`]: Redis Cluster, pure: a key's slot (CRC16 and the tag
//!   rule of the specification), the slot map from CLUSTER SHARDS or
//!   CLUSTER SLOTS, and MOVED/ASK/TRYAGAIN/CLUSTERDOWN replies.
//! - [`cluster_watch`]: a cluster pool's watcher: the slot map asked of its
//!   nodes (over TLS in a TLS pool, by their TLS ports) at start,
//!   periodically and when a request needs it (a `MOVED`, an unserved
//!   slot), handed to the pool as a new snapshot.
//! - [`command`]: the command table (arity, where the keys are, what the
//!   proxy does, each command's Redis ACL categories, and its subcommands' in
//!   a table of their own) and the keys of a request; imports only `hosted`,
//!   so the users' rules (`auth`, read by `config`) can name commands.
//! - [`route`]: the one router, a pure function from a
//!   request and a placement to a route (one server, a split, every server, a
//!   SCAN to the server its cursor names, or refused); dispatch, retries and
//!   hosted calls all use it; in a cluster pool keys that go together must
//!   share a slot, and splits are per slot. The SCAN cursor's encoding. Which commands
//!   only read (they may go to replicas).
//! - [`backend`]: a pipelined connection to one server, per worker, or a
//!   dedicated one a client owns (bounded per server; a subscriber's hands
//!   every unasked frame to a listener), that knows no client: it hands
//!   replies and failures to an opaque sink, and requests it never wrote
//!   back to their sender (and, on a replica, the reads it held); follows a
//!   Sentinel master's moves (hands back what it has not written, holds
//!   writes during a promotion, reports `-READONLY`); discards replies over
//!   the limit;
//!   sends a request on a short-lived connection of its own when it must
//!   overtake the queue (SCRIPT KILL, the probe of a server busy in a script).
//! - [`proxy`]: workers, listeners, the accept loop at the file descriptor
//!   limit (`proxy::accept`: a spare descriptor to turn newcomers away with
//!   an error; `proxy::fd_episode`: one log line per episode), client
//!   sessions (order, memory account), dispatch, requests sent again (`proxy::returned`: unwritten ones after
//!   a failure, a cluster's MOVED/ASK/TRYAGAIN/CLUSTERDOWN followed, a
//!   request held for a slot map), hosted calls in the pipeline, split/merge (and INFO keyspace's
//!   sum), SCAN's reply rewrite, connection commands, connections a client
//!   owns (`proxy::owned`: transactions, blocking calls, subscribers and
//!   their bookkeeping of confirmations across servers), where each
//!   request meets the client's user (`proxy::permit`: the one permission
//!   check, failed logins),
//!   the one `ClientError` that renders every error text, the guard that
//!   closes an HTTP request's connection (`proxy::cross_protocol`), the
//!   ejection supervisor.
//! - [`reload`]: hot reload — parse, check and apply a new config; watch the file.
//! - [`replicas`]: the replica prober: each replica's lag behind its master
//!   (from `INFO replication` offsets), loading and link state, for reads
//!   from replicas (`read_from`).
//! - [`sentinel`]: pools that follow Redis Sentinel: the masters' addresses
//!   asked at start, a watcher per pool (a subscription on every sentinel,
//!   periodic questions, `ROLE` checks) that hands a failover's new address
//!   to the pool as a new snapshot, and holds writes while a replica is
//!   promoted.
//! - [`hosted`]: locks, red packets, flash sales and Bloom filters: each
//!   command's arguments checked (against the pool's limits) and planned as
//!   one Lua script call, one file per group; the register of lock waiters
//!   that a release wakes; the `rs:` namespace (which keys are hosted
//!   state, which commands write them).
//! - [`stats`]: what the outside sees of the counters: `-D`, nutcracker's
//!   stats JSON and the Prometheus text, on the stats and metrics ports (each
//!   capped in connections, a newcomer taking the place of the oldest idle
//!   one, and in time per connection).
//! - [`memory`]: the proxy-wide memory bound (`--max-memory`): client and
//!   backend buffers add up to one total; above it the largest client is
//!   closed and large partial requests are refused.
//! - [`version_watch`]: the Redis version each server runs (`HELLO 2`,
//!   else `INFO server`), asked as soon as a pool has the server, again
//!   every minute, and while it cannot be reached; the pool reports its
//!   servers' lowest in HELLO and INFO, and a mix of versions is logged.
//! - `link`: a RESP2 connection for the proxy's own questions (to
//!   sentinels, `ROLE`, `INFO replication`, a cluster's slot map, a
//!   server's version), plain or TLS with the pool's connector, or over a
//!   unix socket.
//! - [`tls`]: a pool's TLS files turned into rustls configs (the listener's
//!   certificate, mutual TLS's client CA; the servers' CA, a client
//!   certificate, the name checked), each file checked as it is read; knows
//!   no client and no pool. The proxy does client handshakes in the
//!   client's own task (`proxy::client_tls`); the backend and `link`
//!   connect with it (one handshake, one certificate check).
//! - [`net`]: read size, buffer reuse and write batching shared by both
//!   sides; flushing what a TLS stream held back.
//! - [`logging`]: tracing to stderr or a file, levels, reopen on SIGHUP;
//!   panics logged as one line per burst and a count.
//! - [`tools`]: the operator commands `redshard route` and `redshard dist`.

#![forbid(unsafe_code)]

pub mod auth;
pub mod backend;
pub mod cluster;
pub mod cluster_watch;
pub mod command;
pub mod config;
pub mod distribution;
pub mod hashkit;
pub mod hosted;
pub(crate) mod link;
pub mod logging;
pub mod memory;
pub mod net;
pub mod pool;
pub mod protocol;
pub mod proxy;
pub mod reload;
pub mod replicas;
pub mod route;
pub mod sentinel;
pub mod stats;
pub mod tls;
pub mod tools;
pub mod version_watch;
