//! Which commands only read: the ones a pool with `read_from` sends to a
//! replica. Redis 7's `readonly` commands (COMMAND INFO's flag) that the
//! proxy forwards to one server, or splits (MGET); sorted for binary search.

/// Sorted by name.
static READS: &[&str] = &[
    "bitcount",
    "bitfield_ro",
    "bitpos",
    "dump",
    "eval_ro",
    "evalsha_ro",
    "exists",
    "expiretime",
    "fcall_ro",
    "geodist",
    "geohash",
    "geopos",
    "georadius_ro",
    "georadiusbymember_ro",
    "geosearch",
    "get",
    "getbit",
    "getrange",
    "hexists",
    "hget",
    "hgetall",
    "hkeys",
    "hlen",
    "hmget",
    "hrandfield",
    "hscan",
    "hstrlen",
    "hvals",
    "lcs",
    "lindex",
    "llen",
    "lpos",
    "lrange",
    "mget",
    "pexpiretime",
    "pfcount",
    "pttl",
    "scard",
    "sdiff",
    "sinter",
    "sintercard",
    "sismember",
    "smembers",
    "smismember",
    "sort_ro",
    "srandmember",
    "sscan",
    "strlen",
    "substr",
    "sunion",
    "ttl",
    "type",
    "xlen",
    "xpending",
    "xrange",
    "xrevrange",
    "zcard",
    "zcount",
    "zdiff",
    "zinter",
    "zintercard",
    "zlexcount",
    "zmscore",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrank",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
];

/// Whether the command named `name` (lower case, as the table names it)
/// only reads.
pub fn only_reads(name: &str) -> bool {
    READS.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_known_to_the_table() {
        assert!(READS.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for name in READS {
            assert!(super::super::lookup(name.as_bytes()).is_some(), "{name}");
        }
        assert!(only_reads("get") && only_reads("mget") && !only_reads("set"));
        assert!(!only_reads("eval") && !only_reads("incr"));
    }
}
