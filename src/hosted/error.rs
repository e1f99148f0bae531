//! Why a hosted command's arguments were refused. The client reads
//! `ERR <text>`; Bloom filter texts are RedisBloom's own, so code written for
//! the module reads them unchanged.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostedError {
    #[error("{command}: {what} must be a positive integer, got '{got}'")]
    NotPositive {
        command: &'static str,
        what: &'static str,
        got: String,
    },
    #[error("{command}: syntax is {usage}")]
    Syntax {
        command: &'static str,
        usage: &'static str,
    },
    #[error("{command}: the name must not be empty or begin with '}}': it becomes the {{tag}} that keeps the call's keys on one server")]
    BadName { command: &'static str },
    #[error("{command}: the owner must not be empty: it is the token that alone releases or extends the lock, and any client can send an empty one")]
    EmptyOwner { command: &'static str },
    #[error("{command}: WAIT takes a number of milliseconds, at most {max}")]
    BadWait { command: &'static str, max: u64 },
    #[error("{command}: START takes a unix time in milliseconds")]
    BadStart { command: &'static str },
    #[error("{command}: total ({total} cents) must be at least count ({count}): every packet holds at least 1 cent")]
    TotalBelowCount {
        command: &'static str,
        total: u64,
        count: u64,
    },
    #[error("(0 < error rate range < 1)")]
    BloomErrorRate,
    #[error("(capacity should be larger than 0)")]
    BloomCapacity,
    #[error("syntax error: BF.RESERVE key error_rate capacity [EXPANSION n]")]
    BloomSyntax,
    #[error(
        "BF.RESERVE: a filter of {capacity} items at error rate {error} needs {needed} bytes ({}), more than this pool's bloom_max_bytes of {limit} bytes ({}); reserve fewer items or a larger error rate, or raise bloom_max_bytes (at most 512mb)",
        human_bytes(*.needed),
        human_bytes(*.limit)
    )]
    BloomTooLarge {
        capacity: u64,
        error: String,
        needed: u64,
        limit: u64,
    },
}

/// `bytes` in binary units, as the config's sizes count them: "64 MiB",
/// "3.9 GiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// A positive integer below 2^53 (exact in Lua's doubles).
pub(super) fn positive(
    command: &'static str,
    what: &'static str,
    v: &[u8],
) -> Result<u64, HostedError> {
    match std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) if n > 0 && n < (1 << 53) => Ok(n),
        _ => Err(HostedError::NotPositive {
            command,
            what,
            got: String::from_utf8_lossy(&v[..v.len().min(64)]).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(120), "120 bytes");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(4_192_702_404), "3.9 GiB");
        assert_eq!(human_bytes(u64::MAX), "16 EiB");
    }
}
