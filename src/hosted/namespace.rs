//! The reserved `rs:` namespace as the rest of the proxy sees it: which keys
//! are hosted state, which hosted commands write each kind, and the one
//! kind of plain write an application needs there (a consumer group on a
//! flash sale's orders stream, how orders are taken for persistence).

/// Every hosted key starts with this.
pub const PREFIX: &[u8] = b"rs:";

/// Whether `key` is hosted state.
#[inline]
pub fn is_hosted(key: &[u8]) -> bool {
    key.starts_with(PREFIX)
}

/// The hosted commands that write `key`, for the error that refuses a plain
/// write to it.
pub fn writers(key: &[u8]) -> &'static str {
    let rest = &key[key.len().min(PREFIX.len())..];
    if rest.starts_with(b"lock:") {
        "LOCK.ACQUIRE, LOCK.RELEASE or LOCK.EXTEND"
    } else if rest.starts_with(b"rp:") {
        "REDPACKET.CREATE or REDPACKET.OPEN"
    } else if rest.starts_with(b"sk:") {
        "SECKILL.CREATE or SECKILL.BUY"
    } else if rest.starts_with(b"bf:") {
        "BF.RESERVE, BF.ADD or BF.MADD"
    } else {
        "redshard's hosted commands"
    }
}

/// Consumer-group commands on a flash sale's orders stream
/// (`rs:sk:{sku}:orders`): they move the group's position and pending
/// entries, never the orders themselves.
pub fn consumer_may(command: &str, key: &[u8]) -> bool {
    matches!(
        command,
        "xreadgroup" | "xack" | "xclaim" | "xautoclaim" | "xgroup"
    ) && key.starts_with(b"rs:sk:{")
        && key.ends_with(b"}:orders")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(is_hosted(b"rs:lock:{a}") && !is_hosted(b"RS:lock:{a}") && !is_hosted(b"rs"));
        assert!(writers(b"rs:lock:{a}").starts_with("LOCK."));
        assert!(writers(b"rs:rp:{p}:meta").starts_with("REDPACKET."));
        assert!(writers(b"rs:sk:{p}:buyers").starts_with("SECKILL."));
        assert!(writers(b"rs:bf:{f}:f0").starts_with("BF."));
        assert_eq!(writers(b"rs:other"), "redshard's hosted commands");
        assert!(consumer_may("xreadgroup", b"rs:sk:{phone}:orders"));
        assert!(!consumer_may("xadd", b"rs:sk:{phone}:orders"));
        assert!(!consumer_may("xgroup", b"rs:lock:{a}"));
    }
}
