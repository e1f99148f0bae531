//! Connection-level commands the proxy answers itself, and the per-client
//! state they change: HELLO, AUTH, SELECT, CLIENT, INFO, RESET.
//!
//! Texts follow Redis 7 where clients match on them (NOAUTH, WRONGPASS,
//! NOPROTO), and nutcracker where its users' tests do ("Client sent AUTH, but
//! no password is set").

use bytes::BytesMut;

use super::error::{lossy, ClientError};
use crate::auth::{AuthError, Login, Peer as LoginPeer};
use crate::pool::{ClientList, PoolRuntime, PoolSnapshot};
use crate::protocol::encode::{self, Proto};

/// Redis version the proxy reports in HELLO and INFO while no server's is
/// known (none answered yet): the command set it speaks is Redis 7's.
pub const REDIS_VERSION: &str = "7.0.0";

/// The Redis version HELLO and INFO report: the lowest the pool's servers
/// run (libraries gate commands on it), as learned; no round trip.
pub fn reported_version(snapshot: &PoolSnapshot) -> String {
    snapshot
        .lowest_version()
        .map_or_else(|| REDIS_VERSION.to_string(), |v| v.to_string())
}

/// Where a client connects from and to (`addr`, `laddr` in CLIENT LIST).
#[derive(Debug, Default, Clone)]
pub struct Peer {
    pub addr: String,
    pub laddr: String,
}

/// What a client has told the proxy about itself.
#[derive(Debug)]
pub struct ClientState {
    pub peer: Peer,
    pub proto: Proto,
    /// The user the client is, across reloads of the pool's users.
    pub login: Login,
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    /// READWRITE: this connection reads from masters whatever the pool's
    /// `read_from`, so it reads its own writes; READONLY undoes it.
    pub reads_masters: bool,
}

/// A pool's counters, for INFO.
pub type PoolStats = crate::pool::counters::Sharded<crate::pool::counters::PoolCounters>;

/// The reply to a connection command, to queue in order.
pub type Out = BytesMut;

/// What a connection command answers: its reply written to `Out`, or an error.
pub type Answer = Result<(), ClientError>;

impl ClientState {
    /// `login_peer`: who is at the other end, for the log of failed logins.
    pub fn new(snapshot: &PoolSnapshot, peer: Peer, login_peer: Option<LoginPeer>) -> ClientState {
        ClientState {
            peer,
            proto: Proto::default(),
            login: Login::new(&snapshot.config.users, login_peer),
            name: None,
            lib_name: None,
            lib_ver: None,
            reads_masters: false,
        }
    }

    /// `AUTH [user] password`
    pub fn auth(&mut self, args: &[&[u8]], out: &mut Out) -> Answer {
        let (user, password) = match args {
            [password] => (None, *password),
            [user, password] => (Some(*user), *password),
            _ => return Err(ClientError::Syntax),
        };
        self.login.attempt(user, password).map_err(|e| match e {
            AuthError::NoPasswordSet => ClientError::AuthWithoutPassword,
            AuthError::DefaultNopass => ClientError::HelloAuthWithoutPassword,
            AuthError::WrongPass => ClientError::WrongPass,
        })?;
        encode::simple(out, "OK");
        Ok(())
    }

    /// `ACL WHOAMI`; the other ACL subcommands administer a server.
    pub fn acl(&mut self, args: &[&[u8]], out: &mut Out) -> Answer {
        match (args.first(), self.login.user()) {
            (Some(sub), Some(user)) if sub.eq_ignore_ascii_case(b"whoami") && args.len() == 1 => {
                encode::bulk(out, user.name.as_bytes());
                Ok(())
            }
            (Some(sub), _) if sub.eq_ignore_ascii_case(b"whoami") => {
                Err(ClientError::Arity("acl|whoami".into()))
            }
            _ => Err(ClientError::Unsupported {
                command: "acl".into(),
                reason: crate::route::Refusal::Admin.reason(),
            }),
        }
    }

    /// SELECT db: only the pool's database exists behind the proxy.
    pub fn select(&mut self, snapshot: &PoolSnapshot, db: &[u8], out: &mut Out) -> Answer {
        let want = snapshot.config.redis_db;
        match std::str::from_utf8(db)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(n) if n == want as i64 => {
                encode::simple(out, "OK");
                Ok(())
            }
            Some(_) => Err(ClientError::DbOutOfRange(want)),
            None => Err(ClientError::NotAnInteger),
        }
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`
    pub fn hello(
        &mut self,
        snapshot: &PoolSnapshot,
        client_id: u64,
        args: &[&[u8]],
        out: &mut Out,
    ) -> Answer {
        let mut proto = self.proto;
        let mut i = 0;
        if let Some(v) = args.first() {
            proto = match *v {
                b"2" => Proto::Resp2,
                b"3" => Proto::Resp3,
                _ => {
                    if std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .is_none()
                    {
                        return Err(ClientError::ProtoNotAnInteger);
                    }
                    return Err(ClientError::NoProto);
                }
            };
            i = 1;
        }
        let mut auth = None;
        let mut setname = None;
        while i < args.len() {
            let opt = args[i].to_ascii_uppercase();
            match opt.as_slice() {
                b"AUTH" if i + 2 < args.len() => {
                    auth = Some((args[i + 1], args[i + 2]));
                    i += 3;
                }
                b"SETNAME" if i + 1 < args.len() => {
                    setname = Some(args[i + 1]);
                    i += 2;
                }
                _ => return Err(ClientError::HelloOption(lossy(args[i]))),
            }
        }
        if let Some((user, password)) = auth {
            self.login
                .attempt(Some(user), password)
                .map_err(|e| match e {
                    AuthError::NoPasswordSet | AuthError::DefaultNopass => {
                        ClientError::HelloAuthWithoutPassword
                    }
                    AuthError::WrongPass => ClientError::WrongPass,
                })?;
        }
        if self.login.user().is_none() {
            return Err(ClientError::HelloNoAuth);
        }
        if proto == Proto::Resp3 && snapshot.health.iter().any(|h| h.refuses_resp3()) {
            // A server of the pool is older than Redis 6: RESP3 replies
            // could not pass through unchanged.
            return Err(ClientError::NoProto);
        }
        if let Some(name) = setname {
            valid_name(name)?;
            self.name = (!name.is_empty()).then(|| name.to_vec());
        }
        self.proto = proto;
        encode::map_header(out, 7, proto);
        encode::bulk(out, b"server");
        encode::bulk(out, b"redis");
        encode::bulk(out, b"version");
        encode::bulk(out, reported_version(snapshot).as_bytes());
        encode::bulk(out, b"proto");
        encode::integer(out, proto.version());
        encode::bulk(out, b"id");
        encode::integer(out, client_id as i64);
        encode::bulk(out, b"mode");
        encode::bulk(out, b"standalone");
        encode::bulk(out, b"role");
        encode::bulk(out, b"master");
        encode::bulk(out, b"modules");
        encode::array_header(out, 0);
        Ok(())
    }

    /// `CLIENT subcommand [args]`; LIST shows every client of the pool.
    pub fn client(
        &mut self,
        client_id: u64,
        args: &[&[u8]],
        clients: &ClientList,
        out: &mut Out,
    ) -> Answer {
        let sub = args
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let rest = &args[1.min(args.len())..];
        match (sub.as_slice(), rest) {
            (b"SETNAME", [name]) => {
                valid_name(name)?;
                self.name = (!name.is_empty()).then(|| name.to_vec());
                encode::simple(out, "OK");
            }
            (b"GETNAME", []) => match &self.name {
                Some(n) => encode::bulk(out, n),
                None => encode::null(out, self.proto),
            },
            (b"SETINFO", [attr, value]) => match attr.to_ascii_uppercase().as_slice() {
                b"LIB-NAME" | b"LIB-VER" if value.iter().any(|b| *b <= b' ' || *b > b'~') => {
                    return Err(ClientError::BadLibInfo)
                }
                b"LIB-NAME" => {
                    self.lib_name = Some(value.to_vec());
                    encode::simple(out, "OK");
                }
                b"LIB-VER" => {
                    self.lib_ver = Some(value.to_vec());
                    encode::simple(out, "OK");
                }
                _ => return Err(ClientError::UnrecognizedOption(lossy(attr))),
            },
            (b"ID", []) => encode::integer(out, client_id as i64),
            (b"INFO", []) => {
                encode::text(out, &format!("{}\n", self.info_line(client_id)), self.proto)
            }
            (b"LIST", _) => encode::text(out, &clients.render(), self.proto),
            (b"NO-EVICT" | b"NO-TOUCH", [on_off])
                if on_off.eq_ignore_ascii_case(b"on") || on_off.eq_ignore_ascii_case(b"off") =>
            {
                // Per-connection hints for a server's eviction and LRU; the
                // proxy's server connections are shared, so they are accepted
                // and have no effect.
                encode::simple(out, "OK")
            }
            (b"NO-EVICT" | b"NO-TOUCH", [_]) => return Err(ClientError::Syntax),
            (b"HELP", []) => {
                let lines = [
                    "CLIENT <subcommand> [<arg> ...]. Answered by redshard:",
                    "SETNAME <name>, GETNAME, SETINFO <LIB-NAME|LIB-VER> <value>, ID, INFO, LIST,",
                    "NO-EVICT <ON|OFF>, NO-TOUCH <ON|OFF> (accepted, no effect), HELP.",
                    "Not available through the proxy: KILL, PAUSE, UNPAUSE, REPLY, TRACKING, CACHING, UNBLOCK.",
                ];
                encode::array_header(out, lines.len());
                for l in lines {
                    encode::simple(out, l);
                }
            }
            (
                b"KILL" | b"PAUSE" | b"UNPAUSE" | b"REPLY" | b"TRACKING" | b"CACHING" | b"GETREDIR"
                | b"UNBLOCK" | b"TRACKINGINFO",
                _,
            ) => {
                return Err(ClientError::SharedClientSubcommand(
                    lossy(&sub).to_lowercase(),
                ))
            }
            (
                b"SETNAME" | b"GETNAME" | b"SETINFO" | b"ID" | b"INFO" | b"NO-EVICT" | b"NO-TOUCH"
                | b"HELP",
                _,
            ) => {
                return Err(ClientError::Arity(format!(
                    "client|{}",
                    lossy(&sub).to_lowercase()
                )))
            }
            _ => {
                return Err(ClientError::UnknownClientSubcommand(lossy(
                    args.first().copied().unwrap_or(b""),
                )))
            }
        }
        Ok(())
    }

    /// This client's line in CLIENT INFO and CLIENT LIST: the fields of
    /// Redis's that the proxy knows, in Redis's order.
    pub fn info_line(&self, client_id: u64) -> String {
        let s = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned()
        };
        format!(
            "id={client_id} addr={} laddr={} name={} resp={} lib-name={} lib-ver={}",
            self.peer.addr,
            self.peer.laddr,
            s(&self.name),
            self.proto.version(),
            s(&self.lib_name),
            s(&self.lib_ver)
        )
    }

    /// RESET: back to a fresh connection's state.
    pub fn reset(&mut self, snapshot: &PoolSnapshot, out: &mut Out) -> Answer {
        let mut login = self.login.clone();
        login.reset();
        *self = ClientState::new(snapshot, std::mem::take(&mut self.peer), None);
        self.login = login;
        encode::simple(out, "RESET");
        Ok(())
    }

    /// `READONLY` (reads go where the pool's `read_from` says) and
    /// `READWRITE` (this connection's reads go to masters).
    pub fn reads(&mut self, from_masters: bool, out: &mut Out) -> Answer {
        self.reads_masters = from_masters;
        encode::simple(out, "OK");
        Ok(())
    }

    /// `INFO [section]`: the proxy's own view.
    pub fn info(&self, snapshot: &PoolSnapshot, runtime: &PoolRuntime, out: &mut Out) -> Answer {
        encode::text(out, &Self::info_text(snapshot, runtime), self.proto);
        Ok(())
    }

    /// The proxy's own INFO sections (Server, Proxy, Stats), as text.
    pub fn info_text(snapshot: &PoolSnapshot, runtime: &PoolRuntime) -> String {
        let stats = &runtime.stats;
        let facts = crate::stats::facts();
        let uptime = crate::stats::uptime_secs();
        let mut t = String::new();
        t.push_str("# Server\r\n");
        t.push_str(&format!("redis_version:{}\r\n", reported_version(snapshot)));
        t.push_str(&format!(
            "redshard_version:{}\r\n",
            env!("CARGO_PKG_VERSION")
        ));
        t.push_str("redis_mode:standalone\r\n");
        t.push_str(&format!("process_id:{}\r\n", std::process::id()));
        t.push_str(&format!("uptime_in_seconds:{uptime}\r\n"));
        t.push_str(&format!("uptime_in_days:{}\r\n", uptime / 86400));
        t.push_str("\r\n# Proxy\r\n");
        t.push_str(&format!("workers:{}\r\n", facts.map_or(0, |f| f.workers)));
        t.push_str(&format!("pools:{}\r\n", facts.map_or(0, |f| f.pools)));
        let memory = crate::memory::budget();
        t.push_str(&format!("used_memory_buffers:{}\r\n", memory.total()));
        t.push_str(&format!("max_memory:{}\r\n", memory.limit()));
        t.push_str(&format!("evicted_clients:{}\r\n", memory.evictions()));
        let pool = &snapshot.config;
        t.push_str(&format!(
            "pool:name={},listen={},hash={},distribution={},servers={}\r\n",
            pool.name,
            pool.listen,
            pool.hash,
            pool.distribution,
            pool.servers.len()
        ));
        for (i, s) in pool.servers.iter().enumerate() {
            let v = snapshot.view(i);
            t.push_str(&format!(
                "server{i}:name={},addr={},weight={},role={},failovers={},state={}\r\n",
                s.name, v.addr, s.weight, v.role, v.failovers, v.state
            ));
            for (r, replica) in snapshot.replicas[i].iter().enumerate() {
                let v = snapshot.replica_view(i, r);
                let lag = v.lag_ms.map_or_else(|| "-".to_string(), |l| l.to_string());
                let reads = replica.health.stats.sum_u64(|c| &c.requests);
                t.push_str(&format!(
                    "server{i}.replica{r}:addr={},role={},lag_ms={lag},reads={reads},state={}\r\n",
                    v.addr, v.role, v.state
                ));
            }
        }
        // Redis's names for the same counts.
        t.push_str("\r\n# Stats\r\n");
        for (i, reason) in crate::pool::counters::DENIALS.iter().enumerate() {
            let n = stats.sum_u64(|c| &c.acl_denied[i]);
            t.push_str(&format!("acl_access_denied_{reason}:{n}\r\n"));
        }
        t.push_str(&crate::stats::cluster::info_section(snapshot, runtime));
        t
    }
}

/// Redis's rule for client names.
fn valid_name(name: &[u8]) -> Answer {
    if name.iter().any(|&b| b <= b' ' || b > b'~') {
        return Err(ClientError::BadClientName);
    }
    Ok(())
}
