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

/// What `req` (whose spec has `arg`) says about blocking. A timeout the
/// server will refuse (not a number, negative) blocks for no time: the
/// server answers at once with its own error.
pub fn blocks(arg: BlockArg, req: &Request<'_>) -> Blocks {
    match arg {
        BlockArg::Last => seconds(req.arg(req.argc() - 1)),
        BlockArg::At(i) if (i as usize) < req.argc() => seconds(req.arg(i as usize)),
        BlockArg::At(_) => Blocks::For(Duration::ZERO),
        BlockArg::BlockOption => {
            let argc = req.argc();
            let streams = (1..argc)
                .find(|&i| req.arg(i).eq_ignore_ascii_case(b"streams"))
                .unwrap_or(argc);
            match (1..streams).find(|&i| req.arg(i).eq_ignore_ascii_case(b"block")) {
                Some(i) if i + 1 < argc => millis(req.arg(i + 1)),
                Some(_) => Blocks::For(Duration::ZERO),
                None => Blocks::No,
            }
        }
    }
}

/// A timeout in seconds, as Redis reads it (a decimal, 0 for ever).
fn seconds(text: &[u8]) -> Blocks {
    let Some(s) = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    else {
        return Blocks::For(Duration::ZERO);
    };
    if s == 0.0 {
        Blocks::Forever
    } else {
        Blocks::For(Duration::from_secs_f64(s.min(1e9)))
    }
}

/// A timeout in milliseconds (XREAD BLOCK), 0 for ever.
fn millis(text: &[u8]) -> Blocks {
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(0) => Blocks::Forever,
        Some(ms) => Blocks::For(Duration::from_millis(ms)),
        None => Blocks::For(Duration::ZERO),
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
        assert_eq!(
            check(&["BLPOP", "a", "-1"], BlockArg::Last),
            Blocks::For(Duration::ZERO)
        );
        assert_eq!(
            check(&["BLPOP", "a", "soon"], BlockArg::Last),
            Blocks::For(Duration::ZERO)
        );
    }
}
