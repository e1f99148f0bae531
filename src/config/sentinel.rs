//! A pool that follows Redis Sentinel: its sentinels and their settings.

use super::schema::RawPool;
use super::{defaults, Bounded, ConfigError, ConfigErrorKind, Fail, ServerAddr};

/// How a pool follows Redis Sentinel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// Asked in this order; every reachable one is subscribed to.
    pub sentinels: Vec<ServerAddr>,
    /// How often the masters' addresses are asked again.
    pub refresh_ms: u64,
    /// The sentinels' password (`requirepass` in sentinel.conf).
    pub auth: Option<String>,
}

/// The pool's `sentinels:` and their settings, if it has any.
pub(super) fn sentinel_config(
    raw: &RawPool,
    fail: &Fail<'_>,
) -> Result<Option<SentinelConfig>, ConfigError> {
    let Some(entries) = &raw.sentinels else {
        let stray = [
            ("sentinel_refresh_ms", raw.sentinel_refresh_ms.is_some()),
            ("sentinel_auth", raw.sentinel_auth.is_some()),
        ];
        return match stray.iter().find(|(_, given)| *given) {
            Some((key, _)) => Err(fail(ConfigErrorKind::NoSentinelsFor(key), Some(key), None)),
            None => Ok(None),
        };
    };
    if entries.is_empty() {
        return Err(fail(ConfigErrorKind::NoSentinels, Some("sentinels"), None));
    }
    let sentinels: Vec<ServerAddr> = entries.iter().map(|e| e.0.clone()).collect();
    for (second, addr) in sentinels.iter().enumerate() {
        if sentinels[..second].contains(addr) {
            let kind = ConfigErrorKind::DuplicateSentinel(addr.to_string());
            return Err(fail(kind, Some("sentinels"), Some(&addr.to_string())));
        }
    }
    Ok(Some(SentinelConfig {
        sentinels,
        refresh_ms: raw
            .sentinel_refresh_ms
            .map_or(defaults::SENTINEL_REFRESH_MS, Bounded::get),
        auth: raw.sentinel_auth.clone().filter(|a| !a.is_empty()),
    }))
}
