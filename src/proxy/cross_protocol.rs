//! Cross-protocol scripting: a web page can make a browser POST to the
//! proxy's port, and every line of the body would run as an inline command.
//! Redis ends that at the first line that cannot be a command but is always
//! in such a request: a command named `POST` or `Host:` closes the
//! connection without a reply, and is logged (at most once a minute). So
//! does the proxy, which takes inline commands as Redis does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::pool::health::now_ms;

/// Whether a command name is an HTTP request's (any case, as Redis checks).
pub(super) fn is_http(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}

/// At most one log line per this long, whatever the number of attempts.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Logs the attempt, unless one was logged within the last minute.
pub(super) fn warn(pool: &str, peer: &str) {
    // When the last line was logged, on the health clock (0: none yet; the
    // clock starts at 1).
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if last != 0 && now - last < LOG_EVERY.as_millis() as u64 {
        return;
    }
    if LAST
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        tracing::warn!(
            pool,
            peer,
            "possible security attack: a client sent POST or Host: (an HTTP request, as in \
             cross-protocol scripting); its connection is closed, as Redis closes it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_names_in_any_case() {
        for name in [&b"POST"[..], b"post", b"Host:", b"HOST:"] {
            assert!(is_http(name), "{name:?}");
        }
        for name in [&b"Host"[..], b"GET", b"postx", b""] {
            assert!(!is_http(name), "{name:?}");
        }
    }
}
