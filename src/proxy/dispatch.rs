//! What happens to one request: answered here, refused, forwarded to the
//! server of its keys, or split across servers and merged.

use std::ops::Range;
use std::rc::Rc;

use super::connection::{arg_slices, ClientState};
use super::merge::{Merge, MergeKind};
use super::replies::{Replies, WHOLE};
use super::worker::WorkerPool;
use crate::backend::Waiter;
use crate::hosted::Hosted;
use crate::pool::PoolSnapshot;
use crate::protocol::{command, encode, Action, CommandSpec, Keys, Local, Split};
use crate::stats::counters::{add, Group};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Write what is due, then close (QUIT).
    Close,
}

/// Per-session state for dispatching, with scratch space reused across
/// requests so routing a multi-key command allocates as little as possible.
pub struct Dispatcher {
    pool: Rc<WorkerPool>,
    replies: Replies,
    client_id: u64,
    key_positions: Vec<usize>,
    key_servers: Vec<u32>,
    state: ClientState,
}

/// Why a request cannot be routed.
enum RouteError {
    NoKeys,
    CrossServer,
    BadNumkeys,
    Blocking,
}

impl Dispatcher {
    pub fn new(pool: Rc<WorkerPool>, replies: Replies, client_id: u64) -> Self {
        let state = ClientState::new(&pool.runtime.snapshot());
        Dispatcher {
            pool,
            replies,
            client_id,
            key_positions: Vec::new(),
            key_servers: Vec::new(),
            state,
        }
    }

    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    /// Handles one complete request: `frame` is its bytes, `args` the ranges of
    /// its arguments within `frame`.
    pub fn dispatch(&mut self, frame: &[u8], args: &[Range<usize>], inline: bool) -> Next {
        let name = &frame[args[0].clone()];
        let Some(spec) = command::lookup(name) else {
            if inline {
                // A line of text that is no command: most likely not a Redis
                // client at all, so stop here as for any protocol error.
                let msg = format!(
                    "ERR Protocol error: unknown inline command '{}'; send commands as RESP arrays",
                    String::from_utf8_lossy(truncate(name))
                );
                self.error(&msg);
                return Next::Close;
            }
            self.count(Group::Refused);
            self.error(&unknown_command(frame, args));
            return Next::Continue;
        };
        if !self.state.authenticated
            && !matches!(
                spec.action,
                Action::Local(Local::Auth | Local::Hello | Local::Quit | Local::Reset)
            )
        {
            self.count(Group::Refused);
            self.error("NOAUTH Authentication required.");
            return Next::Continue;
        }
        if !spec.arity_ok(args.len()) {
            self.count(Group::Refused);
            self.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            return Next::Continue;
        }
        self.count(match spec.action {
            Action::Local(_) => Group::Local,
            Action::Refuse(_) => Group::Refused,
            Action::Forward => Group::Forwarded,
            Action::Split(_) => Group::Split,
            Action::Script | Action::SumAll => Group::Broadcast,
            Action::Hosted(_) => Group::Hosted,
        });
        match spec.action {
            Action::Local(local) => return self.local(local, frame, args),
            Action::Refuse(why) => {
                self.error(&format!(
                    "ERR redshard does not support '{}': {}",
                    spec.name,
                    why.reason()
                ));
            }
            Action::Forward => self.forward(spec, frame, args, inline),
            Action::Split(kind) => self.split(spec, kind, frame, args, inline),
            Action::Script => self.script(frame, args, inline),
            Action::SumAll => self.broadcast(MergeKind::Sum, frame, args),
            Action::Hosted(h) => self.hosted(h, spec, frame, args, inline),
        }
        Next::Continue
    }

    #[inline]
    fn count(&self, group: Group) {
        add(
            &self.pool.runtime.stats.shard(self.pool.index).commands[group as usize],
            1,
        );
    }

    fn error(&self, text: &str) {
        self.replies.push_local(|out| encode::error(out, text));
    }

    fn local(&mut self, local: Local, frame: &[u8], args: &[Range<usize>]) -> Next {
        let arg = |i: usize| &frame[args[i].clone()];
        match local {
            Local::Ping if args.len() == 1 => {
                self.replies.push_local(|o| encode::simple(o, "PONG"))
            }
            Local::Ping if args.len() == 2 => self.replies.push_local(|o| encode::bulk(o, arg(1))),
            Local::Ping => self.error("ERR wrong number of arguments for 'ping' command"),
            Local::Echo => self.replies.push_local(|o| encode::bulk(o, arg(1))),
            Local::Quit => {
                self.replies.push_local(|o| encode::simple(o, "OK"));
                return Next::Close;
            }
            // Connection state: answered from the client's state and the pool's config.
            _ => {
                let snapshot = self.pool.runtime.snapshot_arc();
                let words = arg_slices(frame, &args[1..]);
                let (state, id) = (&mut self.state, self.client_id);
                self.replies.push_local(|out| match local {
                    Local::Select => state.select(&snapshot, words[0], out),
                    Local::Auth => state.auth(&snapshot, &words, out),
                    Local::Hello => state.hello(&snapshot, id, &words, out),
                    Local::Client => state.client(id, &words, out),
                    Local::Info => state.info(&snapshot, out),
                    Local::Reset => state.reset(&snapshot, out),
                    Local::Ping | Local::Echo | Local::Quit => unreachable!("answered above"),
                });
            }
        }
        Next::Continue
    }

    /// Sends a request to the one server that holds all its keys.
    fn forward(&mut self, spec: &CommandSpec, frame: &[u8], args: &[Range<usize>], inline: bool) {
        // An Rc clone (no atomic), so the snapshot can be held while self is borrowed.
        let pool = Rc::clone(&self.pool);
        let runtime = &pool.runtime;
        let snapshot = runtime.snapshot();
        let server = match spec.keys {
            // The common case, without the scratch vectors.
            Keys::At(p) if (p as usize) < args.len() => snapshot
                .placement
                .server_for(&frame[args[p as usize].clone()]),
            Keys::At(_) | Keys::None => self.any_server(&snapshot),
            _ => match self.collect_keys(spec, frame, args) {
                Ok(()) if self.key_positions.is_empty() => {
                    if matches!(spec.keys, Keys::Numkeys { .. }) {
                        return self.route_error(spec, RouteError::NoKeys, &snapshot);
                    }
                    self.any_server(&snapshot)
                }
                Ok(()) => match self.servers_of_keys(&snapshot, frame, args) {
                    Some(single) => Some(single),
                    None => return self.route_error(spec, RouteError::CrossServer, &snapshot),
                },
                Err(e) => return self.route_error(spec, e, &snapshot),
            },
        };
        let Some(server) = server else {
            return self.no_server(&snapshot);
        };
        self.send_whole(&snapshot, server, frame, args, inline);
    }

    /// Sends the request, as its original bytes unless it came inline, to
    /// `server`, its reply to go to the next slot.
    fn send_whole(
        &self,
        snapshot: &PoolSnapshot,
        server: usize,
        frame: &[u8],
        args: &[Range<usize>],
        inline: bool,
    ) {
        let conn = self
            .pool
            .conn(snapshot, server, self.client_id, self.state.proto);
        let waiter = Waiter::new(self.replies.clone(), self.replies.reserve(), WHOLE);
        if inline {
            conn.send_with(
                |b| encode::command(b, args.iter().map(|r| &frame[r.clone()])),
                waiter,
            );
        } else {
            conn.send(frame, waiter);
        }
    }

    /// MGET, MSET, DEL, UNLINK, EXISTS, TOUCH: one sub-request per server.
    fn split(
        &mut self,
        spec: &CommandSpec,
        kind: Split,
        frame: &[u8],
        args: &[Range<usize>],
        inline: bool,
    ) {
        // An Rc clone (no atomic), so the snapshot can be held while self is borrowed.
        let pool = Rc::clone(&self.pool);
        let runtime = &pool.runtime;
        let snapshot = runtime.snapshot();
        // MSET takes key-value pairs.
        let step = if kind == Split::Mset { 2 } else { 1 };
        if (args.len() - 1) % step != 0 {
            self.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            return;
        }
        self.key_positions.clear();
        self.key_positions.extend((1..args.len()).step_by(step));
        let mut servers: Vec<u32> = Vec::new();
        self.key_servers.clear();
        for &p in &self.key_positions {
            let Some(s) = snapshot.placement.server_for(&frame[args[p].clone()]) else {
                return self.no_server(&snapshot);
            };
            self.key_servers.push(s as u32);
            if !servers.contains(&(s as u32)) {
                servers.push(s as u32);
            }
        }
        if servers.len() == 1 {
            // Every key on one server: forward the request untouched.
            return self.send_whole(&snapshot, servers[0] as usize, frame, args, inline);
        }
        let merge_kind = match kind {
            Split::Mget => {
                let mut seen = vec![0u32; servers.len()];
                let order = self
                    .key_servers
                    .iter()
                    .map(|s| {
                        let part = servers.iter().position(|x| x == s).unwrap_or(0);
                        let at = seen[part];
                        seen[part] += 1;
                        (part as u32, at)
                    })
                    .collect();
                MergeKind::Mget {
                    order,
                    proto: self.state.proto,
                }
            }
            Split::Mset => MergeKind::AllOk,
            Split::Sum => MergeKind::Sum,
        };
        add(
            &runtime.stats.shard(self.pool.index).fragments,
            servers.len() as u64,
        );
        let seq = self
            .replies
            .reserve_merge(Merge::new(merge_kind, servers.len()));
        let name = &frame[args[0].clone()];
        for (part, &server) in servers.iter().enumerate() {
            let count = self.key_servers.iter().filter(|&&s| s == server).count();
            let conn = self
                .pool
                .conn(&snapshot, server as usize, self.client_id, self.state.proto);
            let waiter = Waiter::new(self.replies.clone(), seq, part as u32);
            let positions = &self.key_positions;
            let key_servers = &self.key_servers;
            conn.send_with(
                |b| {
                    encode::array_header(b, 1 + count * step);
                    encode::bulk(b, name);
                    for (i, &p) in positions.iter().enumerate() {
                        if key_servers[i] == server {
                            for arg in &args[p..p + step] {
                                encode::bulk(b, &frame[arg.clone()]);
                            }
                        }
                    }
                },
                waiter,
            );
        }
    }

    /// SCRIPT LOAD / EXISTS / FLUSH go to every server of the pool, so EVALSHA
    /// finds the script wherever its keys live.
    fn script(&mut self, frame: &[u8], args: &[Range<usize>], inline: bool) {
        let sub = frame[args[1].clone()].to_ascii_lowercase();
        let kind = match sub.as_slice() {
            b"load" => MergeKind::First,
            b"exists" => MergeKind::AllOfInts,
            b"flush" => MergeKind::AllOk,
            b"help" => {
                let spec = command::lookup(b"script").expect("in table");
                return self.forward(spec, frame, args, inline);
            }
            _ => {
                self.error(&format!(
                    "ERR redshard does not support 'script {}': only SCRIPT LOAD, EXISTS and FLUSH, which go to every server",
                    String::from_utf8_lossy(truncate(&sub))
                ));
                return;
            }
        };
        self.broadcast(kind, frame, args);
    }

    /// A hosted command: one script on the server of its tag, or passed
    /// through when the pool does not host its group.
    fn hosted(
        &mut self,
        h: Hosted,
        spec: &CommandSpec,
        frame: &[u8],
        args: &[Range<usize>],
        inline: bool,
    ) {
        let enabled = self
            .pool
            .runtime
            .snapshot()
            .config
            .hosted
            .contains(&h.group());
        if !enabled {
            return self.forward(spec, frame, args, inline);
        }
        let words = arg_slices(frame, &args[1..]);
        match h.plan(spec.name, &words) {
            Ok(plan) => {
                let seq = self.replies.reserve();
                crate::hosted::run(
                    self.pool.clone(),
                    plan,
                    self.replies.clone(),
                    seq,
                    self.client_id,
                    self.state.proto,
                );
            }
            Err(e) => self.error(&e.0),
        }
    }

    /// Sends the request to every live server of the pool and merges.
    fn broadcast(&mut self, kind: MergeKind, frame: &[u8], args: &[Range<usize>]) {
        // An Rc clone (no atomic), so the snapshot can be held while self is borrowed.
        let pool = Rc::clone(&self.pool);
        let runtime = &pool.runtime;
        let snapshot = runtime.snapshot();
        let live: Vec<usize> = (0..snapshot.config.servers.len())
            .filter(|&i| snapshot.placement.is_live(i))
            .collect();
        if live.is_empty() {
            return self.no_server(&snapshot);
        }
        let seq = self.replies.reserve_merge(Merge::new(kind, live.len()));
        for (part, &server) in live.iter().enumerate() {
            let conn = self
                .pool
                .conn(&snapshot, server, self.client_id, self.state.proto);
            let waiter = Waiter::new(self.replies.clone(), seq, part as u32);
            conn.send_with(
                |b| encode::command(b, args.iter().map(|r| &frame[r.clone()])),
                waiter,
            );
        }
    }

    /// Fills `key_positions` with the positions of the request's keys.
    fn collect_keys(
        &mut self,
        spec: &CommandSpec,
        frame: &[u8],
        args: &[Range<usize>],
    ) -> Result<(), RouteError> {
        let argc = args.len();
        self.key_positions.clear();
        match spec.keys {
            Keys::None => {}
            Keys::At(p) => {
                if (p as usize) < argc {
                    self.key_positions.push(p as usize);
                }
            }
            Keys::Range { first, last, step } => {
                let last = if last < 0 {
                    argc as i64 + last as i64
                } else {
                    last as i64
                };
                let mut p = first as i64;
                while p <= last && (p as usize) < argc {
                    self.key_positions.push(p as usize);
                    p += step as i64;
                }
            }
            Keys::Numkeys { count_at, dest } => {
                let count_at = count_at as usize;
                let count = std::str::from_utf8(&frame[args[count_at].clone()])
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or(RouteError::BadNumkeys)?;
                if count_at + 1 + count > argc {
                    return Err(RouteError::BadNumkeys);
                }
                if dest {
                    self.key_positions.push(1);
                }
                self.key_positions
                    .extend(count_at + 1..count_at + 1 + count);
            }
            Keys::Streams => {
                let streams =
                    (1..argc).find(|&i| frame[args[i].clone()].eq_ignore_ascii_case(b"streams"));
                let blocking = (1..streams.unwrap_or(argc))
                    .any(|i| frame[args[i].clone()].eq_ignore_ascii_case(b"block"));
                if blocking {
                    return Err(RouteError::Blocking);
                }
                if let Some(at) = streams {
                    let n = (argc - at - 1) / 2;
                    self.key_positions.extend(at + 1..at + 1 + n);
                }
            }
            Keys::WithStore => {
                self.key_positions.push(1);
                for i in 2..argc.saturating_sub(1) {
                    let word = &frame[args[i].clone()];
                    if word.eq_ignore_ascii_case(b"store")
                        || word.eq_ignore_ascii_case(b"storedist")
                    {
                        self.key_positions.push(i + 1);
                    }
                }
            }
        }
        Ok(())
    }

    /// The one server that holds every key in `key_positions`, if there is one.
    fn servers_of_keys(
        &self,
        snapshot: &PoolSnapshot,
        frame: &[u8],
        args: &[Range<usize>],
    ) -> Option<usize> {
        let mut server = None;
        for &p in &self.key_positions {
            let s = snapshot.placement.server_for(&frame[args[p].clone()])?;
            match server {
                None => server = Some(s),
                Some(prev) if prev != s => return None,
                Some(_) => {}
            }
        }
        server
    }

    /// A server for a request without keys.
    fn any_server(&self, snapshot: &PoolSnapshot) -> Option<usize> {
        snapshot.placement.server_for(b"")
    }

    fn no_server(&self, snapshot: &PoolSnapshot) {
        self.error(&format!(
            "ERR redshard: pool '{}' has no server to take this request",
            snapshot.config.name
        ));
    }

    fn route_error(&self, spec: &CommandSpec, e: RouteError, snapshot: &PoolSnapshot) {
        let name = spec.name;
        let msg = match e {
            RouteError::NoKeys => format!(
                "ERR '{name}' without keys cannot be routed: redshard runs a script on the server of its keys; pass at least one key"
            ),
            RouteError::BadNumkeys => format!("ERR '{name}': the number of keys is not a valid count for the arguments given"),
            RouteError::Blocking => format!(
                "ERR redshard does not support '{name}' with BLOCK: blocking commands would stall a server connection shared by many clients"
            ),
            RouteError::CrossServer => {
                let hint = match snapshot.config.hash_tag {
                    Some(t) => format!(
                        "give them the same hash tag, e.g. {o}user1{c}:a and {o}user1{c}:b",
                        o = t.open as char,
                        c = t.close as char
                    ),
                    None => "set hash_tag: \"{}\" on the pool and give them the same tag, e.g. {user1}:a and {user1}:b".to_string(),
                };
                format!("ERR '{name}' needs all its keys on one server, but they live on different servers of pool '{}'; {hint}", snapshot.config.name)
            }
        };
        self.error(&msg);
    }
}

fn truncate(b: &[u8]) -> &[u8] {
    &b[..b.len().min(128)]
}

/// Redis's wording, so clients and their tests recognise it.
fn unknown_command(frame: &[u8], args: &[Range<usize>]) -> String {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(truncate(&frame[args[0].clone()]))
    );
    for a in args.iter().skip(1).take(8) {
        msg.push('\'');
        msg.push_str(&String::from_utf8_lossy(truncate(&frame[a.clone()])));
        msg.push_str("' ");
    }
    msg
}
