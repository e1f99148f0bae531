//! The two questions: where is master M (`SENTINEL GET-MASTER-ADDR-BY-NAME`,
//! asked of the sentinels in turn until one knows), and is the server at
//! this address a master (`ROLE`, asked of the server itself, so an address
//! a lagging sentinel still gives for a demoted master is not taken).

use std::time::Duration;

use crate::config::ServerAddr;
use crate::link::{Link, ServerLogin, Value};

/// How long one question may take, connect included.
pub(crate) const ASK_LIMIT: Duration = Duration::from_secs(1);

/// Asks a pool's sentinels, keeping a connection to the last one that
/// answered.
pub(crate) struct Asker {
    sentinels: Vec<ServerAddr>,
    /// The sentinels' `auth`.
    login: ServerLogin,
    /// The sentinel asked last and the connection to it.
    link: Option<(usize, Link)>,
}

impl Asker {
    pub fn new(sentinels: Vec<ServerAddr>, auth: Option<String>) -> Asker {
        Asker {
            sentinels,
            login: ServerLogin::password(auth),
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

    /// The replicas of `master` that the sentinel that answered last lists
    /// (those it has not found down), with their addresses.
    pub async fn replicas(&mut self, master: &str) -> Result<Vec<ServerAddr>, String> {
        let i = self.link.as_ref().map_or(0, |(i, _)| *i);
        match self
            .call(i, &[b"SENTINEL", b"REPLICAS", master.as_bytes()])
            .await?
        {
            Value::Array(Some(replicas)) => Ok(replicas.iter().filter_map(replica_addr).collect()),
            Value::Error(e) => Err(e),
            v => Err(format!("listed replicas it could not read: {v:?}")),
        }
    }

    /// A question to sentinel `i`, on the kept connection if it is to `i`.
    async fn call(&mut self, i: usize, question: &[&[u8]]) -> Result<Value, String> {
        if self.link.as_ref().is_none_or(|(at, _)| *at != i) {
            let link = Link::open(&self.sentinels[i], &self.login, ASK_LIMIT).await?;
            self.link = Some((i, link));
        }
        let Some((_, link)) = self.link.as_mut() else {
            unreachable!("opened above")
        };
        let reply = link.call(question).await;
        if reply.is_err() {
            self.link = None;
        }
        reply
    }

    async fn ask_one(&mut self, i: usize, master: &str) -> Result<ServerAddr, String> {
        let question: [&[u8]; 3] = [b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", master.as_bytes()];
        match self.call(i, &question).await? {
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

/// A replica's address from its `SENTINEL REPLICAS` entry (a flat list of
/// names and values), unless the sentinel finds it down.
fn replica_addr(entry: &Value) -> Option<ServerAddr> {
    let fields = entry.items()?;
    let get = |name: &str| {
        fields
            .chunks(2)
            .find(|kv| kv[0].text().as_deref() == Some(name))
            .and_then(|kv| kv.get(1)?.text())
    };
    let flags = get("flags").unwrap_or_default();
    if flags.split(',').any(|f| f == "s_down" || f == "o_down") {
        return None;
    }
    Some(ServerAddr::Tcp {
        host: get("ip")?,
        port: get("port")?.parse().ok()?,
    })
}

/// What a server says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    Master,
    /// A replica (of whom, as it says).
    Replica,
    Other(String),
}

/// Asks the server at `addr` its `ROLE`, reaching it as the pool's
/// connections do (`login`).
pub(crate) async fn role(addr: &ServerAddr, login: &ServerLogin) -> Result<Role, String> {
    let mut link = Link::open(addr, login, ASK_LIMIT).await?;
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
