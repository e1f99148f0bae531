//! The one router: from a command's spec, its arguments and a pool's placement
//! to a route — one server, a split per server, every server, or refused with
//! a reason. Dispatch, the retry of never-sent requests and hosted calls all
//! route here, so a key goes to the same server whichever path sends it.
//!
//! Pure: no I/O, no clock, no connection. The scratch vectors live in
//! [`Router`] so a multi-key command allocates nothing once they have grown.

pub mod blocking;
pub mod reads;
pub mod scan;
#[cfg(test)]
mod tests;

use bytes::BytesMut;

pub use crate::command::{
    lookup, Action, BlockArg, CommandSpec, Keys, Keyspace, Local, Refusal, Split, SubCmd, SubKind,
    TxnCmd,
};
pub use scan::{ScanError, ScanRoute};

use crate::pool::Placement;
use crate::protocol::encode;
pub use crate::protocol::Request;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'r> {
    /// The whole request, unchanged, to this server (config index).
    One(usize),
    /// One sub-request per server, replies merged.
    Split(SplitRoute<'r>),
    /// The request to every live server (every server of the pool for the
    /// kinds that [reach ejected ones](Broadcast::reaches_ejected)),
    /// replies merged.
    All { kind: Broadcast, servers: &'r [u32] },
    /// SCAN: to the server its cursor names (config index), with that
    /// server's own cursor; the reply's cursor is rewritten for the client.
    Scan(ScanRoute),
    /// Not sent anywhere.
    Refused(RouteError),
}

/// The commands sent to every live server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// SCRIPT LOAD: every server returns the same SHA.
    ScriptLoad,
    /// SCRIPT EXISTS: a script exists where every server has it.
    ScriptExists,
    /// SCRIPT FLUSH: OK when every server says OK.
    ScriptFlush,
    /// DBSIZE: the counts summed.
    DbSize,
    /// SCRIPT KILL: as one Redis would answer (killed, not busy, unkillable).
    ScriptKill,
    /// FUNCTION KILL: the same.
    FunctionKill,
    /// KEYS: the arrays concatenated.
    Keys,
    /// RANDOMKEY: a key from one of the servers that have any.
    RandomKey,
    /// INFO with the keyspace section: the servers' sections combined.
    InfoKeyspace,
    /// PUBSUB CHANNELS / SHARDCHANNELS: the servers' lists, each name once.
    PubsubChannels,
    /// PUBSUB NUMSUB / SHARDNUMSUB: the counts of each channel summed.
    PubsubNumsub,
    /// FLUSHDB, FLUSHALL: OK when every server says OK.
    Flush,
}

impl Broadcast {
    /// Sent on a connection of its own, ahead of everything queued, and to
    /// every server of the pool, ejected ones too. A KILL is meant for a
    /// server stuck in a script: the proxy's pipelined connection to it is
    /// the one that sent the script, which Redis reads no more until the
    /// script ends; and a pool with `timeout` and `auto_eject_hosts` may have
    /// ejected that server for timing out behind it.
    pub fn overtakes(self) -> bool {
        matches!(self, Broadcast::ScriptKill | Broadcast::FunctionKill)
    }

    /// Sent to every server of the pool, ejected ones too: the kinds that
    /// overtake, and a flush, which must not leave an ejected server's keys
    /// to come back when it rejoins (a server that is down answers with
    /// its error, and so the client learns that not all were emptied).
    pub fn reaches_ejected(self) -> bool {
        self.overtakes() || self == Broadcast::Flush
    }

    /// What each server is sent: the request as it came, but for INFO,
    /// which asks the servers for their keyspace section alone.
    pub fn encode(self, req: &Request<'_>, out: &mut BytesMut) {
        match self {
            Broadcast::InfoKeyspace => {
                encode::command(out, [&b"INFO"[..], b"keyspace"].into_iter())
            }
            _ => req.encode_whole(out),
        }
    }
}

/// Whether an INFO request needs the servers: when it asks for the keyspace
/// section by name or with `all` / `everything`. Plain INFO (Redis's
/// "default") is the proxy's own, answered without a round trip.
pub fn info_asks_servers(req: &Request<'_>) -> bool {
    req.args().skip(1).any(|s| {
        s.eq_ignore_ascii_case(b"keyspace")
            || s.eq_ignore_ascii_case(b"all")
            || s.eq_ignore_ascii_case(b"everything")
    })
}

/// Why a request cannot be routed. Data only: the texts a client sees are
/// rendered in one place, with the command and pool named (`ClientError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No server of the pool is live.
    NoServer,
    /// A hosted call without keys: no server owns it.
    NoKeys,
    /// The key count is not a number, or larger than the arguments given.
    BadNumkeys,
    /// The keys live on different servers and the command cannot be split.
    CrossServer,
    /// In a cluster pool, the keys of a command that cannot be split are
    /// in different slots.
    CrossSlot,
    /// MSET with a key and no value.
    Arity,
    /// A SCRIPT subcommand other than LOAD, EXISTS, FLUSH, KILL and HELP.
    ScriptSubcommand(String),
    /// A FUNCTION subcommand other than KILL.
    FunctionSubcommand(String),
    /// A PUBSUB subcommand the proxy does not know.
    PubsubSubcommand(String),
    /// A SCAN cursor that is no number, or not one of this pool's layout.
    Scan(ScanError),
    /// The server a SCAN cursor names is ejected (its name).
    Ejected(String),
    /// KEYS or RANDOMKEY on a pool without `allow_keys`.
    KeysNotAllowed,
    /// FLUSHDB or FLUSHALL on a pool without `allow_flush`.
    FlushNotAllowed,
    /// COPY with `DB n`: a pool is one database of its servers.
    OtherDatabase,
}

/// A multi-key command split per server (per slot in a cluster pool, where
/// a node takes one slot's keys per request): part `p` receives the keys
/// (with their values, for MSET) of group `groups[p]`, in order, and goes
/// to server `part_servers[p]`.
#[derive(Debug, PartialEq, Eq)]
pub struct SplitRoute<'r> {
    pub kind: Split,
    /// Arguments per key: 2 for MSET (key, value), else 1.
    step: usize,
    /// Argument index of each key.
    positions: &'r [usize],
    /// Group of each key, in key order: its server, or in a cluster pool
    /// its slot.
    key_groups: &'r [u32],
    /// The distinct groups, in order of first appearance: one part each.
    groups: &'r [u32],
    /// The server of each part.
    part_servers: &'r [u32],
}

impl SplitRoute<'_> {
    pub fn parts(&self) -> usize {
        self.groups.len()
    }

    pub fn server(&self, part: usize) -> usize {
        self.part_servers[part] as usize
    }

    /// Encodes part `part`'s sub-request: the command name and that group's
    /// keys (and values) in their original order.
    pub fn encode_part(&self, part: usize, req: &Request<'_>, out: &mut BytesMut) {
        let group = self.groups[part];
        let count = self.key_groups.iter().filter(|&&g| g == group).count();
        encode::array_header(out, 1 + count * self.step);
        encode::bulk(out, req.arg(0));
        for (i, &p) in self.positions.iter().enumerate() {
            if self.key_groups[i] == group {
                for a in p..p + self.step {
                    encode::bulk(out, req.arg(a));
                }
            }
        }
    }

    /// For MGET: for each key in request order, (part, its position in that
    /// part's reply).
    pub fn mget_order(&self) -> Vec<(u32, u32)> {
        let mut seen = vec![0u32; self.groups.len()];
        self.key_groups
            .iter()
            .map(|g| {
                let part = self.groups.iter().position(|x| x == g).unwrap_or(0);
                let at = seen[part];
                seen[part] += 1;
                (part as u32, at)
            })
            .collect()
    }
}

/// The router, with scratch space reused across requests.
#[derive(Debug, Default)]
pub struct Router {
    positions: Vec<usize>,
    key_groups: Vec<u32>,
    groups: Vec<u32>,
    servers: Vec<u32>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes a request whose command the proxy sends on (`Forward`, `Split`,
    /// `Script`, `SumAll`, `Keyspace`, a hosted command passed through, or
    /// an INFO that [asks the servers](info_asks_servers)); arity already
    /// checked.
    pub fn route<'r>(
        &'r mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        placement: &Placement,
    ) -> Route<'r> {
        match spec.action {
            Action::Split(kind) => self.split(kind, req, placement),
            Action::Script => self.script(spec, req, placement),
            Action::Function => self.function(req, placement),
            Action::SumAll => self.all(Broadcast::DbSize, placement),
            Action::Keyspace(Keyspace::Scan) => scan(req, placement),
            Action::Keyspace(Keyspace::Flush) if !placement.allows_flush() => {
                Route::Refused(RouteError::FlushNotAllowed)
            }
            Action::Keyspace(Keyspace::Flush) => self.all(Broadcast::Flush, placement),
            Action::Keyspace(_) if !placement.allows_keys() => {
                Route::Refused(RouteError::KeysNotAllowed)
            }
            Action::Keyspace(Keyspace::Keys) => self.all(Broadcast::Keys, placement),
            Action::Keyspace(Keyspace::RandomKey) => self.all(Broadcast::RandomKey, placement),
            Action::Local(Local::Info) => self.all(Broadcast::InfoKeyspace, placement),
            Action::Pubsub => self.pubsub(spec, req, placement),
            // COPY src dst [DB n] [REPLACE]: SELECT, MOVE and SWAPDB are
            // refused, and so is this way into another pool's `redis_db`.
            Action::Forward
                if spec.name == "copy"
                    && (3..req.argc()).any(|i| req.arg(i).eq_ignore_ascii_case(b"db")) =>
            {
                Route::Refused(RouteError::OtherDatabase)
            }
            Action::Forward
            | Action::Hosted(_)
            | Action::Local(_)
            | Action::Refuse(_)
            | Action::Txn(_)
            | Action::Block(_)
            | Action::Sub(_) => self.forward(spec, req, placement),
        }
    }

    /// Room for a request's key positions, for a check that finds them
    /// before routing (no allocation once it has grown).
    pub fn scratch(&mut self) -> &mut Vec<usize> {
        &mut self.positions
    }

    fn forward<'r>(
        &'r mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        placement: &Placement,
    ) -> Route<'r> {
        let server = match spec.keys {
            // The common case, without the scratch vectors.
            Keys::At(p) if (p as usize) < req.argc() => placement.server_for(req.arg(p as usize)),
            Keys::At(_) | Keys::None => placement.server_for(b""),
            _ => {
                if let Err(e) = collect_keys(spec.keys, req, &mut self.positions) {
                    return Route::Refused(e);
                }
                if self.positions.is_empty() {
                    // A script or function without keys (a library's probe
                    // of the server), or a count of 0 Redis itself refuses.
                    placement.server_for(b"")
                } else {
                    let keys = self.positions.iter().map(|&p| req.arg(p));
                    match server_of_keys(keys, placement) {
                        Ok(s) => Some(s),
                        Err(e) => return Route::Refused(e),
                    }
                }
            }
        };
        match server {
            Some(s) => Route::One(s),
            None => Route::Refused(RouteError::NoServer),
        }
    }

    /// MGET, MSET, DEL, UNLINK, EXISTS, TOUCH: one sub-request per server, or
    /// the request untouched when every key is on one server.
    fn split<'r>(&'r mut self, kind: Split, req: &Request<'_>, placement: &Placement) -> Route<'r> {
        let step = if kind == Split::Mset { 2 } else { 1 };
        if (req.argc() - 1) % step != 0 {
            return Route::Refused(RouteError::Arity);
        }
        self.positions.clear();
        self.positions.extend((1..req.argc()).step_by(step));
        self.key_groups.clear();
        self.groups.clear();
        self.servers.clear();
        for &p in &self.positions {
            let Some((g, s)) = placement.group_for(req.arg(p)) else {
                return Route::Refused(RouteError::NoServer);
            };
            self.key_groups.push(g);
            if !self.groups.contains(&g) {
                self.groups.push(g);
                self.servers.push(s as u32);
            }
        }
        if self.groups.len() == 1 {
            return Route::One(self.servers[0] as usize);
        }
        Route::Split(SplitRoute {
            kind,
            step,
            positions: &self.positions,
            key_groups: &self.key_groups,
            groups: &self.groups,
            part_servers: &self.servers,
        })
    }

    /// SCRIPT LOAD / EXISTS / FLUSH go to every server, so EVALSHA finds a
    /// script wherever its keys live; SCRIPT KILL to every server, to stop a
    /// script wherever it runs; SCRIPT HELP to any one.
    fn script<'r>(
        &'r mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        placement: &Placement,
    ) -> Route<'r> {
        let sub = req.arg(1);
        let kind = if sub.eq_ignore_ascii_case(b"load") {
            Broadcast::ScriptLoad
        } else if sub.eq_ignore_ascii_case(b"exists") {
            Broadcast::ScriptExists
        } else if sub.eq_ignore_ascii_case(b"flush") {
            Broadcast::ScriptFlush
        } else if sub.eq_ignore_ascii_case(b"kill") {
            Broadcast::ScriptKill
        } else if sub.eq_ignore_ascii_case(b"help") {
            return self.forward(spec, req, placement);
        } else {
            return Route::Refused(RouteError::ScriptSubcommand(shown(sub)));
        };
        self.all(kind, placement)
    }

    /// FUNCTION KILL goes to every server; the other FUNCTION subcommands
    /// administer one server and are refused.
    fn function<'r>(&'r mut self, req: &Request<'_>, placement: &Placement) -> Route<'r> {
        let sub = req.arg(1);
        if !sub.eq_ignore_ascii_case(b"kill") {
            return Route::Refused(RouteError::FunctionSubcommand(shown(sub)));
        }
        self.all(Broadcast::FunctionKill, placement)
    }

    /// PUBSUB: the channel lists and counts of every server merged; NUMPAT
    /// and HELP from any one (a pattern subscription is on every server).
    fn pubsub<'r>(
        &'r mut self,
        spec: &CommandSpec,
        req: &Request<'_>,
        placement: &Placement,
    ) -> Route<'r> {
        let sub = req.arg(1);
        let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
        if is(b"channels") || is(b"shardchannels") {
            self.all(Broadcast::PubsubChannels, placement)
        } else if is(b"numsub") || is(b"shardnumsub") {
            self.all(Broadcast::PubsubNumsub, placement)
        } else if is(b"numpat") || is(b"help") {
            self.forward(spec, req, placement)
        } else {
            Route::Refused(RouteError::PubsubSubcommand(shown(sub)))
        }
    }

    fn all(&mut self, kind: Broadcast, placement: &Placement) -> Route<'_> {
        self.servers.clear();
        self.servers.extend(
            (0..placement.server_count())
                .filter(|&i| kind.reaches_ejected() || placement.is_live(i))
                .map(|i| i as u32),
        );
        if self.servers.is_empty() {
            return Route::Refused(RouteError::NoServer);
        }
        Route::All {
            kind,
            servers: &self.servers,
        }
    }
}

/// A subcommand as an error message shows it: lower case, at most 64 bytes.
fn shown(sub: &[u8]) -> String {
    String::from_utf8_lossy(&sub[..sub.len().min(64)]).to_ascii_lowercase()
}

/// SCAN walks every server of the config in order, live or not: a server
/// left out would leave its keys out. An ejected one stops the walk with
/// an error naming it (the same cursor works again once it is back).
fn scan<'r>(req: &Request<'_>, placement: &Placement) -> Route<'r> {
    match ScanRoute::new(req.arg(1), placement.layout(), placement.server_count()) {
        Ok(route) if placement.is_cluster() => match route.serving_only(|i| placement.is_live(i)) {
            Some(route) => Route::Scan(route),
            None => Route::Refused(RouteError::NoServer),
        },
        Ok(route) if placement.is_live(route.server) => Route::Scan(route),
        Ok(route) => Route::Refused(RouteError::Ejected(
            placement.label(route.server).to_string(),
        )),
        Err(e) => Route::Refused(RouteError::Scan(e)),
    }
}

/// The one server that holds every key in `keys`: what a script call (the
/// EVALSHA of a hosted command) needs.
pub fn server_of_keys<'k>(
    mut keys: impl Iterator<Item = &'k [u8]>,
    placement: &Placement,
) -> Result<usize, RouteError> {
    let first = keys.next().ok_or(RouteError::NoKeys)?;
    let (group, server) = placement.group_for(first).ok_or(RouteError::NoServer)?;
    for key in keys {
        match placement.group_for(key) {
            Some((g, _)) if g == group => {}
            None => return Err(RouteError::NoServer),
            // A cluster node takes the keys of one slot together only.
            Some(_) if placement.is_cluster() => return Err(RouteError::CrossSlot),
            Some(_) => return Err(RouteError::CrossServer),
        }
    }
    Ok(server)
}

/// Fills `out` with the argument positions of the request's keys.
fn collect_keys(keys: Keys, req: &Request<'_>, out: &mut Vec<usize>) -> Result<(), RouteError> {
    crate::command::key_positions(keys, req, out).map_err(|_| RouteError::BadNumkeys)
}
