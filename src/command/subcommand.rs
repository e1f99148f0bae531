//! Subcommands and their ACL categories, for the commands whose table line
//! says [`SUBS`]: Redis gives each subcommand (`script|flush`, `client|kill`)
//! categories of its own, and a user's rules may name one (`-script|flush`).
//! Copied from Redis 7.0 (`ACL CAT`), but for SCRIPT FLUSH and SCRIPT KILL,
//! which the proxy sends to every server of the pool: they are `@admin` and
//! `@dangerous` here too.

use super::category::*;
use super::CommandSpec;

#[derive(Debug, Clone, Copy)]
pub struct SubcommandSpec {
    /// `command|subcommand`, lower case, as Redis names it in its errors.
    pub name: &'static str,
    pub categories: Categories,
}

impl SubcommandSpec {
    /// The command part of the name.
    pub fn command(&self) -> &'static str {
        self.name.split('|').next().unwrap_or(self.name)
    }
}

const fn s(name: &'static str, categories: u32) -> SubcommandSpec {
    SubcommandSpec {
        name,
        categories: Categories::new(categories),
    }
}

/// Sorted by name for binary search.
static TABLE: &[SubcommandSpec] = &[
    s("acl|cat", SLOW),
    s("acl|deluser", ADMIN | SLOW | DANGEROUS),
    s("acl|dryrun", ADMIN | SLOW | DANGEROUS),
    s("acl|genpass", SLOW),
    s("acl|getuser", ADMIN | SLOW | DANGEROUS),
    s("acl|help", SLOW),
    s("acl|list", ADMIN | SLOW | DANGEROUS),
    s("acl|load", ADMIN | SLOW | DANGEROUS),
    s("acl|log", ADMIN | SLOW | DANGEROUS),
    s("acl|save", ADMIN | SLOW | DANGEROUS),
    s("acl|setuser", ADMIN | SLOW | DANGEROUS),
    s("acl|users", ADMIN | SLOW | DANGEROUS),
    s("acl|whoami", SLOW),
    s("client|caching", SLOW | CONNECTION),
    s("client|getname", SLOW | CONNECTION),
    s("client|getredir", SLOW | CONNECTION),
    s("client|help", SLOW | CONNECTION),
    s("client|id", SLOW | CONNECTION),
    s("client|info", SLOW | CONNECTION),
    s("client|kill", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("client|list", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("client|no-evict", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("client|pause", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("client|reply", SLOW | CONNECTION),
    s("client|setname", SLOW | CONNECTION),
    s("client|tracking", SLOW | CONNECTION),
    s("client|trackinginfo", SLOW | CONNECTION),
    s("client|unblock", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("client|unpause", ADMIN | SLOW | DANGEROUS | CONNECTION),
    s("cluster|addslots", ADMIN | SLOW | DANGEROUS),
    s("cluster|addslotsrange", ADMIN | SLOW | DANGEROUS),
    s("cluster|bumpepoch", ADMIN | SLOW | DANGEROUS),
    s("cluster|count-failure-reports", ADMIN | SLOW | DANGEROUS),
    s("cluster|countkeysinslot", SLOW),
    s("cluster|delslots", ADMIN | SLOW | DANGEROUS),
    s("cluster|delslotsrange", ADMIN | SLOW | DANGEROUS),
    s("cluster|failover", ADMIN | SLOW | DANGEROUS),
    s("cluster|flushslots", ADMIN | SLOW | DANGEROUS),
    s("cluster|forget", ADMIN | SLOW | DANGEROUS),
    s("cluster|getkeysinslot", SLOW),
    s("cluster|help", SLOW),
    s("cluster|info", SLOW),
    s("cluster|keyslot", SLOW),
    s("cluster|links", SLOW),
    s("cluster|meet", ADMIN | SLOW | DANGEROUS),
    s("cluster|myid", SLOW),
    s("cluster|nodes", SLOW),
    s("cluster|replicas", ADMIN | SLOW | DANGEROUS),
    s("cluster|replicate", ADMIN | SLOW | DANGEROUS),
    s("cluster|reset", ADMIN | SLOW | DANGEROUS),
    s("cluster|saveconfig", ADMIN | SLOW | DANGEROUS),
    s("cluster|set-config-epoch", ADMIN | SLOW | DANGEROUS),
    s("cluster|setslot", ADMIN | SLOW | DANGEROUS),
    s("cluster|shards", SLOW),
    s("cluster|slaves", ADMIN | SLOW | DANGEROUS),
    s("cluster|slots", SLOW),
    s("command|count", SLOW | CONNECTION),
    s("command|docs", SLOW | CONNECTION),
    s("command|getkeys", SLOW | CONNECTION),
    s("command|getkeysandflags", SLOW | CONNECTION),
    s("command|help", SLOW | CONNECTION),
    s("command|info", SLOW | CONNECTION),
    s("command|list", SLOW | CONNECTION),
    s("config|get", ADMIN | SLOW | DANGEROUS),
    s("config|help", SLOW),
    s("config|resetstat", ADMIN | SLOW | DANGEROUS),
    s("config|rewrite", ADMIN | SLOW | DANGEROUS),
    s("config|set", ADMIN | SLOW | DANGEROUS),
    s("function|delete", WRITE | SLOW | SCRIPTING),
    s("function|dump", SLOW | SCRIPTING),
    s("function|flush", WRITE | SLOW | SCRIPTING),
    s("function|help", SLOW | SCRIPTING),
    s("function|kill", SLOW | SCRIPTING),
    s("function|list", SLOW | SCRIPTING),
    s("function|load", WRITE | SLOW | SCRIPTING),
    s("function|restore", WRITE | SLOW | SCRIPTING),
    s("function|stats", SLOW | SCRIPTING),
    s("latency|doctor", ADMIN | SLOW | DANGEROUS),
    s("latency|graph", ADMIN | SLOW | DANGEROUS),
    s("latency|help", SLOW),
    s("latency|histogram", ADMIN | SLOW | DANGEROUS),
    s("latency|history", ADMIN | SLOW | DANGEROUS),
    s("latency|latest", ADMIN | SLOW | DANGEROUS),
    s("latency|reset", ADMIN | SLOW | DANGEROUS),
    s("memory|doctor", SLOW),
    s("memory|help", SLOW),
    s("memory|malloc-stats", SLOW),
    s("memory|purge", SLOW),
    s("memory|stats", SLOW),
    s("memory|usage", READ | SLOW),
    s("module|help", SLOW),
    s("module|list", ADMIN | SLOW | DANGEROUS),
    s("module|load", ADMIN | SLOW | DANGEROUS),
    s("module|loadex", ADMIN | SLOW | DANGEROUS),
    s("module|unload", ADMIN | SLOW | DANGEROUS),
    s("object|encoding", KEYSPACE | READ | SLOW),
    s("object|freq", KEYSPACE | READ | SLOW),
    s("object|help", KEYSPACE | SLOW),
    s("object|idletime", KEYSPACE | READ | SLOW),
    s("object|refcount", KEYSPACE | READ | SLOW),
    s("pubsub|channels", PUBSUB | SLOW),
    s("pubsub|help", SLOW),
    s("pubsub|numpat", PUBSUB | SLOW),
    s("pubsub|numsub", PUBSUB | SLOW),
    s("pubsub|shardchannels", PUBSUB | SLOW),
    s("pubsub|shardnumsub", PUBSUB | SLOW),
    s("script|debug", SLOW | SCRIPTING),
    s("script|exists", SLOW | SCRIPTING),
    s("script|flush", ADMIN | SLOW | DANGEROUS | SCRIPTING),
    s("script|help", SLOW | SCRIPTING),
    s("script|kill", ADMIN | SLOW | DANGEROUS | SCRIPTING),
    s("script|load", SLOW | SCRIPTING),
    s("slowlog|get", ADMIN | SLOW | DANGEROUS),
    s("slowlog|help", SLOW),
    s("slowlog|len", ADMIN | SLOW | DANGEROUS),
    s("slowlog|reset", ADMIN | SLOW | DANGEROUS),
    s("xgroup|create", WRITE | STREAM | SLOW),
    s("xgroup|createconsumer", WRITE | STREAM | SLOW),
    s("xgroup|delconsumer", WRITE | STREAM | SLOW),
    s("xgroup|destroy", WRITE | STREAM | SLOW),
    s("xgroup|help", STREAM | SLOW),
    s("xgroup|setid", WRITE | STREAM | SLOW),
    s("xinfo|consumers", READ | STREAM | SLOW),
    s("xinfo|groups", READ | STREAM | SLOW),
    s("xinfo|help", STREAM | SLOW),
    s("xinfo|stream", READ | STREAM | SLOW),
];

/// Longest `command|subcommand` name looked up.
const MAX_NAME: usize = 48;

/// The subcommand `sub` of `command` (whose line says [`SUBS`]), by its
/// index in [`all`]; `None` for one Redis 7.0 does not know. Allocates
/// nothing.
pub fn lookup(command: &CommandSpec, sub: &[u8]) -> Option<usize> {
    let len = command.name.len() + 1 + sub.len();
    if len > MAX_NAME {
        return None;
    }
    let mut name = [0u8; MAX_NAME];
    name[..command.name.len()].copy_from_slice(command.name.as_bytes());
    name[command.name.len()] = b'|';
    for (d, s) in name[command.name.len() + 1..].iter_mut().zip(sub) {
        *d = s.to_ascii_lowercase();
    }
    let name = &name[..len];
    TABLE
        .binary_search_by(|spec| spec.name.as_bytes().cmp(name))
        .ok()
}

/// Every subcommand, in name order.
pub fn all() -> &'static [SubcommandSpec] {
    TABLE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;

    #[test]
    fn sorted_unique_and_of_commands_with_subcommands() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].name < pair[1].name, "{}", pair[1].name);
        }
        for sub in TABLE {
            let parent = command::lookup(sub.command().as_bytes()).unwrap();
            assert!(parent.categories.has(SUBS), "{}", sub.name);
            assert!(sub.name.len() <= MAX_NAME);
        }
        for spec in command::all().iter().filter(|c| c.categories.has(SUBS)) {
            let prefix = format!("{}|", spec.name);
            assert!(
                TABLE.iter().any(|s| s.name.starts_with(&prefix)),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn lookup_any_case() {
        let script = command::lookup(b"script").unwrap();
        let flush = lookup(script, b"FLUSH").map(|i| TABLE[i].name);
        assert_eq!(flush, Some("script|flush"));
        assert!(TABLE[lookup(script, b"flush").unwrap()]
            .categories
            .has(ADMIN | SCRIPTING));
        assert_eq!(lookup(script, b"nosuch"), None);
        assert_eq!(lookup(script, &[b'x'; 100]), None);
    }
}
