//! The two questions: where is master M (`SENTINEL GET-MASTER-ADDR-BY-NAME`,
//! asked of the sentinels in turn until one knows), and is the server at
//! this address a master (`ROLE`, asked of the server itself, so an address
//! a lagging sentinel still gives for a demoted master is not taken).

use std::time::Duration;

use super::link::{Link, Value};
use crate::config::ServerAddr;

/// How long one question may take, connect included.
pub(crate) const ASK_LIMIT: Duration = Duration::from_secs(1);

/// Asks a pool's sentinels, keeping a connection to the last one that
/// answered.
pub(crate) struct Asker {
    sentinels: Vec<ServerAddr>,
    auth: Option<String>,
    /// The sentinel asked last and the connection to it.
    link: Option<(usize, Link)>,
}

impl Asker {
    pub fn new(sentinels: Vec<ServerAddr>, auth: Option<String>) -> Asker {
        Asker {
            sentinels,
            auth,
            link: None,
        }
    }

    /// The address the first sentinel that knows `master` gives (starting
    /// with the one that answered last), or every sentinel tried and why
    /// each failed.
    pub async fn master_addr(&mut self, master: &str) -> Result<ServerAddr, String> {
        let n = self.sentinels.len();
        let first = self.link.as_ref().map_or(0, |(i, _)| *i);
        let mut tried = Vec::new();
        for i in (0..n).map(|k| (first + k) % n) {
            match self.ask_one(i, master).await {
                Ok(addr) => return Ok(addr),
                Err(why) => tried.push(format!("{}: {why}", self.sentinels[i])),
            }
        }
        Err(format!(
            "no sentinel gave an address for master '{master}' (tried {})",
            tried.join("; ")
        ))
    }

    async fn ask_one(&mut self, i: usize, master: &str) -> Result<ServerAddr, String> {
        if self.link.as_ref().is_none_or(|(at, _)| *at != i) {
            let link = Link::open(&self.sentinels[i], self.auth.as_deref(), ASK_LIMIT).await?;
            self.link = Some((i, link));
        }
        let Some((_, link)) = self.link.as_mut() else {
            unreachable!("opened above")
        };
        let question: [&[u8]; 3] = [b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", master.as_bytes()];
        let reply = link.call(&question).await;
        if reply.is_err() {
            self.link = None;
        }
        match reply? {
            Value::Array(None) | Value::Bulk(None) => {
                Err(format!("does not monitor a master named '{master}'"))
            }
            Value::Error(e) => Err(e),
            v => host_port(&v).ok_or_else(|| format!("gave an address it could not read: {v:?}")),
        }
    }
}

/// `[host, port]` as a sentinel gives an address.
pub(crate) fn host_port(v: &Value) -> Option<ServerAddr> {
    match v.items()? {
        [host, port] => Some(ServerAddr::Tcp {
            host: host.text()?,
            port: port.text()?.parse().ok()?,
        }),
        _ => None,
    }
}

/// What a server says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    Master,
    /// A replica (of whom, as it says).
    Replica,
    Other(String),
}

/// Asks the server at `addr` its `ROLE`, authenticating with the pool's
/// `redis_auth`.
pub(crate) async fn role(addr: &ServerAddr, auth: Option<&str>) -> Result<Role, String> {
    let mut link = Link::open(addr, auth, ASK_LIMIT).await?;
    role_on(&mut link).await
}

/// `ROLE` on an open connection.
pub(crate) async fn role_on(link: &mut Link) -> Result<Role, String> {
    match link.call(&[b"ROLE"]).await? {
        Value::Error(e) => Err(e),
        v => match v.items().and_then(|items| items.first()?.text()).as_deref() {
            Some("master") => Ok(Role::Master),
            Some("slave") => Ok(Role::Replica),
            Some(other) => Ok(Role::Other(other.to_string())),
            None => Err(format!("an unreadable ROLE reply: {v:?}")),
        },
    }
}
