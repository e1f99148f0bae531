//! The errors a cluster node answers instead of running a command: `MOVED`
//! (the slot lives elsewhere now: update the map), `ASK` (it is moving: ask
//! the target once, after `ASKING`), and the transient `TRYAGAIN` and
//! `CLUSTERDOWN`.

/// What a redirection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    Moved,
    Ask,
}

/// `-MOVED 3999 127.0.0.1:6381` or `-ASK 3999 127.0.0.1:6381`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub slot: u16,
    /// `host:port` as the node gave it (an empty host means the node that
    /// answered, per the specification).
    pub addr: String,
}

impl Redirect {
    /// The redirection in a reply, if it is one.
    pub fn parse(reply: &[u8]) -> Option<Redirect> {
        let (kind, rest) = if let Some(rest) = reply.strip_prefix(b"-MOVED ") {
            (RedirectKind::Moved, rest)
        } else if let Some(rest) = reply.strip_prefix(b"-ASK ") {
            (RedirectKind::Ask, rest)
        } else {
            return None;
        };
        let text = std::str::from_utf8(rest.strip_suffix(b"\r\n")?).ok()?;
        let (slot, addr) = text.split_once(' ')?;
        let slot: u16 = slot.parse().ok().filter(|s| *s < super::SLOTS)?;
        if addr.is_empty() || addr.contains(' ') || !addr.contains(':') {
            return None;
        }
        Some(Redirect {
            kind,
            slot,
            addr: addr.to_string(),
        })
    }
}

/// A reply that says the cluster cannot serve the slot right now
/// (`TRYAGAIN` during a resharding of multi-key requests, `CLUSTERDOWN`):
/// worth a retry after a short pause.
pub fn is_transient(reply: &[u8]) -> bool {
    reply.starts_with(b"-TRYAGAIN") || reply.starts_with(b"-CLUSTERDOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections() {
        assert_eq!(
            Redirect::parse(b"-MOVED 3999 127.0.0.1:6381\r\n"),
            Some(Redirect {
                kind: RedirectKind::Moved,
                slot: 3999,
                addr: "127.0.0.1:6381".into()
            })
        );
        assert_eq!(
            Redirect::parse(b"-ASK 0 [::1]:7000\r\n").map(|r| (r.kind, r.addr)),
            Some((RedirectKind::Ask, "[::1]:7000".into()))
        );
        assert_eq!(Redirect::parse(b"-MOVED 16384 h:1\r\n"), None);
        assert_eq!(Redirect::parse(b"-MOVED x h:1\r\n"), None);
        assert_eq!(Redirect::parse(b"-ERR MOVED 1 h:1\r\n"), None);
        assert_eq!(Redirect::parse(b"+OK\r\n"), None);
        assert!(is_transient(
            b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
        ));
        assert!(is_transient(b"-CLUSTERDOWN The cluster is down\r\n"));
        assert!(!is_transient(b"-ERR x\r\n"));
    }
}
