//! How long a blocking command may block, read from its arguments, so its
//! dedicated connection waits that long and no longer (the pool's
//! `timeout` would cut a BLPOP of 30 s short; no deadline at all would let
//! a lost server hold the client for ever).

use std::time::Duration;

use super::{BlockArg, Request};

/// How long a request may block at its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    /// It does not block (XREAD without BLOCK): an ordinary request.
    No,
    /// Until something arrives (a timeout of 0).
    Forever,
    /// At most this long.
    For(Duration),
}

/// What `req` (whose spec has `arg`) says about blocking. A timeout read
/// otherwise than Redis reads it must not become a deadline the proxy
/// enforces (a blocked call cut short reads as a server that timed out):
/// one it cannot read (`0x10`, which Redis takes as 16 s) or that Redis
/// refuses at once (`-1`, a missing value) leaves the wait to the server.
pub fn blocks(arg: BlockArg, req: &Request<'_>) -> Blocks {
    match arg {
        BlockArg::Last => seconds(req.arg(req.argc() - 1)),
        BlockArg::At(i) if (i as usize) < req.argc() => seconds(req.arg(i as usize)),
        BlockArg::At(_) => Blocks::Forever,
        BlockArg::BlockOption => match block_option(req) {
            Some(Some(ms)) => millis(ms),
            Some(None) => Blocks::Forever,
            None => Blocks::No,
        },
    }
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS ... and XREADGROUP GROUP g c [COUNT
/// n] [BLOCK ms] [NOACK] STREAMS ...: the value of the last BLOCK among the
/// options, as Redis takes it (`Some(None)`: BLOCK without a value).
fn block_option<'q>(req: &'q Request<'_>) -> Option<Option<&'q [u8]>> {
    let (argc, mut i, mut block) = (req.argc(), 1, None);
    while i < argc {
        let word = req.arg(i);
        let skip = if word.eq_ignore_ascii_case(b"block") {
            block = Some((i + 1 < argc).then(|| req.arg(i + 1)));
            2
        } else if word.eq_ignore_ascii_case(b"count") {
            2
        } else if word.eq_ignore_ascii_case(b"group") {
            3
        } else if word.eq_ignore_ascii_case(b"noack") {
            1
        } else {
            // STREAMS, or a word Redis refuses: the options end here.
            break;
        };
        i += skip;
    }
    block
}

/// A timeout in seconds, as Redis reads it (a decimal, 0 for ever; Redis
/// rounds a tiny negative one to 0).
fn seconds(text: &[u8]) -> Blocks {
    let Some(s) = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
    else {
        return Blocks::Forever;
    };
    Blocks::For(Duration::from_secs_f64(s.min(1e9)))
}

/// A timeout in milliseconds (XREAD BLOCK), 0 for ever.
fn millis(text: &[u8]) -> Blocks {
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(ms) if ms > 0 => Blocks::For(Duration::from_millis(ms)),
        _ => Blocks::Forever,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FrameLimits, RequestFramer};

    fn check(args: &[&str], arg: BlockArg) -> Blocks {
        let mut raw = format!("*{}\r\n", args.len());
        for a in args {
            raw.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        let mut framer = RequestFramer::new(FrameLimits::default());
        let req = framer.next_frame(raw.as_bytes()).unwrap().unwrap();
        blocks(arg, &req)
    }

    #[test]
    fn timeouts_where_each_command_keeps_them() {
        assert_eq!(
            check(&["BLPOP", "a", "b", "0"], BlockArg::Last),
            Blocks::Forever
        );
        assert_eq!(
            check(&["BRPOP", "a", "1.5"], BlockArg::Last),
            Blocks::For(Duration::from_millis(1500))
        );
        assert_eq!(
            check(&["BLMPOP", "2", "1", "a", "LEFT"], BlockArg::At(1)),
            Blocks::For(Duration::from_secs(2))
        );
        assert_eq!(
            check(
                &["XREAD", "BLOCK", "250", "STREAMS", "s", "$"],
                BlockArg::BlockOption
            ),
            Blocks::For(Duration::from_millis(250))
        );
        assert_eq!(
            check(
                &["XREAD", "COUNT", "2", "STREAMS", "block", "0"],
                BlockArg::BlockOption
            ),
            Blocks::No,
            "a stream named block"
        );
        assert_eq!(
            check(
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "s",
                    ">"
                ],
                BlockArg::BlockOption
            ),
            Blocks::Forever
        );
        // What the proxy cannot read as Redis does is the server's to time.
        for timeout in ["-1", "soon", "-0.0001", "0x10", "0x1p4"] {
            assert_eq!(
                check(&["BLPOP", "a", timeout], BlockArg::Last),
                Blocks::Forever,
                "{timeout}"
            );
        }
        assert_eq!(
            check(
                &["XREAD", "BLOCK", "10", "BLOCK", "3000", "STREAMS", "s", "$"],
                BlockArg::BlockOption
            ),
            Blocks::For(Duration::from_secs(3)),
            "the last BLOCK, as Redis"
        );
        assert_eq!(
            check(
                &[
                    "XREADGROUP",
                    "GROUP",
                    "block",
                    "c",
                    "NOACK",
                    "STREAMS",
                    "s",
                    ">"
                ],
                BlockArg::BlockOption
            ),
            Blocks::No,
            "a group named block"
        );
    }
}
