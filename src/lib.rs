//! redshard: a Redis sharding proxy that places every key exactly where
//! twemproxy (nutcracker 0.5.0) does, and goes further: all cores, hot reload,
//! clear errors, metrics and hosted atomic commands.
//!
//! # Layout
//!
//! - [`config`]: nutcracker's YAML schema, `"host:port:weight [name]"` parsing,
//!   defaults, a range for every number, validation with file/line/pool/key
//!   errors; the file read within a size bound; the TLS keys checked
//!   together and their files loaded with the config.
//! - [`hashkit`]: one file per hash function, each bit-exact with nutcracker
//!   (signed-`char` traps included), plus xxh3; hash-tag extraction.
//! - [`distribution`]: ketama, modula, random — each a build(live servers) /
//!   dispatch(hash) pair, so ejecting a server is a rebuild.
//! - [`pool`]: a pool at run time; [`pool::Placement`] maps a key to its
//!   server; server health (backoff, ejection) shared by all workers; the
//!   per-worker counters, generated from one table of stats (name, kind,
//!   help, one line each).
//! - [`protocol`]: the wire only: resumable request framer and the
//!   [`protocol::Request`] it frames (borrowing the framer, so a request's
//!   arguments cannot go missing before it is routed), reply skipper, reply
//!   encoding (RESP2 and RESP3).
//! - [`route`]: the command table and the one router, a pure function from a
//!   request and a placement to a route (one server, a split, every server, a
//!   SCAN to the server its cursor names, or refused); dispatch, retries and
//!   hosted calls all use it. The SCAN cursor's encoding.
//! - [`backend`]: a pipelined connection to one server, per worker, or a
//!   dedicated one a client owns (bounded per server; a subscriber's hands
//!   every unasked frame to a listener), that knows no client: it hands
//!   replies and failures to an opaque sink, and requests it never wrote
//!   back to their sender; discards replies over the limit;
//!   sends a request on a short-lived connection of its own when it must
//!   overtake the queue (SCRIPT KILL, the probe of a server busy in a script).
//! - [`proxy`]: workers, listeners, client sessions (order, memory account),
//!   dispatch, hosted calls in the pipeline, split/merge (and INFO keyspace's
//!   sum), SCAN's reply rewrite, connection commands, connections a client
//!   owns (`proxy::owned`: transactions, blocking calls, subscribers and
//!   their bookkeeping of confirmations across servers),
//!   the one `ClientError` that renders every error text, the ejection
//!   supervisor.
//! - [`reload`]: hot reload — parse, check and apply a new config; watch the file.
//! - [`hosted`]: locks, red packets, flash sales and Bloom filters: each
//!   command's arguments checked (against the pool's limits) and planned as
//!   one Lua script call, one file per group; the register of lock waiters
//!   that a release wakes.
//! - [`stats`]: what the outside sees of the counters: `-D`, nutcracker's
//!   stats JSON and the Prometheus text, on the stats and metrics ports (each
//!   capped in connections, a newcomer taking the place of the oldest idle
//!   one, and in time per connection).
//! - [`memory`]: the proxy-wide memory bound (`--max-memory`): client and
//!   backend buffers add up to one total; above it the largest client is
//!   closed and large partial requests are refused.
//! - [`tls`]: a pool's TLS files turned into rustls configs (the listener's
//!   certificate, mutual TLS's client CA; the servers' CA, a client
//!   certificate, the name checked), each file checked as it is read; knows
//!   no client and no pool. The proxy does client handshakes in the
//!   client's own task (`proxy::client_tls`), the backend connects with it.
//! - [`net`]: read size, buffer reuse and write batching shared by both
//!   sides; flushing what a TLS stream held back.
//! - [`logging`]: tracing to stderr or a file, levels, reopen on SIGHUP;
//!   panics logged as one line per burst and a count.
//! - [`tools`]: the operator commands `redshard route` and `redshard dist`.

#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod distribution;
pub mod hashkit;
pub mod hosted;
pub mod logging;
pub mod memory;
pub mod net;
pub mod pool;
pub mod protocol;
pub mod proxy;
pub mod reload;
pub mod route;
pub mod stats;
pub mod tls;
pub mod tools;
