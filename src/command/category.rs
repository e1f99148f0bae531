//! Redis's ACL command categories (`ACL CAT`), as bits. The command table
//! gives each command its categories, copied from Redis 7.0's own (checked
//! against a real server by `tests/acl_categories.rs`); a user's `commands:`
//! rules (`+@read`, `-@dangerous`) select commands by them.

use std::fmt;

/// A set of categories.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Categories(u32);

pub const KEYSPACE: u32 = 1 << 0;
pub const READ: u32 = 1 << 1;
pub const WRITE: u32 = 1 << 2;
pub const SET: u32 = 1 << 3;
pub const SORTEDSET: u32 = 1 << 4;
pub const LIST: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const STRING: u32 = 1 << 7;
pub const BITMAP: u32 = 1 << 8;
pub const HYPERLOGLOG: u32 = 1 << 9;
pub const GEO: u32 = 1 << 10;
pub const STREAM: u32 = 1 << 11;
pub const PUBSUB: u32 = 1 << 12;
pub const ADMIN: u32 = 1 << 13;
pub const FAST: u32 = 1 << 14;
pub const SLOW: u32 = 1 << 15;
pub const BLOCKING: u32 = 1 << 16;
pub const DANGEROUS: u32 = 1 << 17;
pub const CONNECTION: u32 = 1 << 18;
pub const TRANSACTION: u32 = 1 << 19;
pub const SCRIPTING: u32 = 1 << 20;
/// Not a Redis category: the command has subcommands, each with categories
/// of its own ([`super::subcommand`]); these are the bare command's.
pub const SUBS: u32 = 1 << 31;

/// Every category by its `ACL CAT` name, in Redis's order.
pub const NAMES: [(&str, u32); 21] = [
    ("keyspace", KEYSPACE),
    ("read", READ),
    ("write", WRITE),
    ("set", SET),
    ("sortedset", SORTEDSET),
    ("list", LIST),
    ("hash", HASH),
    ("string", STRING),
    ("bitmap", BITMAP),
    ("hyperloglog", HYPERLOGLOG),
    ("geo", GEO),
    ("stream", STREAM),
    ("pubsub", PUBSUB),
    ("admin", ADMIN),
    ("fast", FAST),
    ("slow", SLOW),
    ("blocking", BLOCKING),
    ("dangerous", DANGEROUS),
    ("connection", CONNECTION),
    ("transaction", TRANSACTION),
    ("scripting", SCRIPTING),
];

impl Categories {
    pub const fn new(bits: u32) -> Categories {
        Categories(bits)
    }

    /// Whether every category of `bits` is among these.
    #[inline]
    pub const fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// The categories of an `ACL CAT` name (`read`, not `@read`).
    pub fn by_name(name: &str) -> Option<u32> {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, b)| *b)
    }

    /// The Redis category names, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(_, b)| self.has(*b))
            .map(|(n, _)| *n)
    }
}

impl fmt::Debug for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits() {
        let c = Categories::new(READ | STRING | FAST);
        assert!(c.has(READ) && c.has(READ | FAST) && !c.has(WRITE));
        assert_eq!(c.names().collect::<Vec<_>>(), ["read", "string", "fast"]);
        assert_eq!(Categories::by_name("Dangerous"), Some(DANGEROUS));
        assert_eq!(Categories::by_name("all"), None);
        let all: u32 = NAMES.iter().map(|(_, b)| b).sum();
        assert_eq!(all.count_ones(), 21, "one bit each");
    }
}
