//! The one clock of server health and Sentinel holds: milliseconds on a
//! monotonic clock, at the bottom so every state record can read it.

/// Milliseconds on a monotonic clock shared by all threads.
pub fn now_ms() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}
