//! A subscriber's channels, patterns and shard channels, and the
//! confirmations Redis would send it, counted across every server.
//!
//! Each server counts only the subscriptions it holds, but the client must
//! see the count of all of its own, so the proxy writes every confirmation
//! itself, from this record, and only waits for the servers' confirmations
//! before sending it (so a message published after the client saw its
//! confirmation is delivered). Pure bookkeeping: no connection here.

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};

use crate::protocol::{encode, Proto};
use crate::route::SubKind;

/// The words Redis uses for each kind's (un)subscribe confirmations.
fn words(kind: SubKind) -> (&'static str, &'static str) {
    match kind {
        SubKind::Channel => ("subscribe", "unsubscribe"),
        SubKind::Pattern => ("psubscribe", "punsubscribe"),
        SubKind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// Whether a frame from a subscriber connection confirms a (un)subscribe
/// (rather than carrying a message).
pub fn is_confirmation(kind: &[u8]) -> bool {
    const WORDS: [&[u8]; 6] = [
        b"subscribe",
        b"psubscribe",
        b"ssubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"sunsubscribe",
    ];
    WORDS.iter().any(|w| kind.eq_ignore_ascii_case(w))
}

/// The command that (un)subscribes `kind` on a server.
pub fn command_word(kind: SubKind, subscribe: bool) -> &'static str {
    let (sub, unsub) = words(kind);
    if subscribe {
        sub
    } else {
        unsub
    }
}

/// What one name of a (un)subscribe command asks of the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The name (channel or pattern); `None` for an UNSUBSCRIBE of nothing.
    pub name: Option<Bytes>,
    /// The servers to send the (un)subscribe to: the confirmation waits for
    /// each of them. Empty: nothing changes on any server (already
    /// subscribed, or not subscribed), so it is due at once.
    pub servers: Vec<usize>,
    /// The confirmation the client gets, with its own count.
    pub frame: Bytes,
}

/// Everything one client is subscribed to, and where.
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: HashMap<Bytes, usize>,
    /// Kept in subscription order, for an unsubscribe of all.
    patterns: Vec<Bytes>,
    /// The servers the patterns are on: the live servers when the first
    /// one was taken, kept until the last goes (so each is on the same).
    pattern_servers: Vec<usize>,
    pattern_set: HashSet<Bytes>,
    shard: HashMap<Bytes, usize>,
    /// Subscription order of channels and shard channels, for an
    /// unsubscribe of all (Redis answers in its own dict order; any order is
    /// valid, a stable one is easier to test).
    channel_order: Vec<Bytes>,
    shard_order: Vec<Bytes>,
}

impl Subscriptions {
    /// Channels and patterns: the count SUBSCRIBE and PSUBSCRIBE report.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Shard channels: the count SSUBSCRIBE reports.
    pub fn shard_count(&self) -> usize {
        self.shard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0 && self.shard_count() == 0
    }

    fn count_for(&self, kind: SubKind) -> usize {
        match kind {
            SubKind::Shard => self.shard_count(),
            _ => self.count(),
        }
    }

    /// Whether `server` holds a subscription of this client.
    pub fn holds(&self, server: usize) -> bool {
        self.pattern_servers.contains(&server)
            || self.channels.values().any(|&s| s == server)
            || self.shard.values().any(|&s| s == server)
    }

    /// Whether the client holds this name of this kind already.
    pub fn has(&self, kind: SubKind, name: &[u8]) -> bool {
        match kind {
            SubKind::Pattern => self.pattern_set.contains(name),
            SubKind::Channel => self.channels.contains_key(name),
            SubKind::Shard => self.shard.contains_key(name),
        }
    }

    /// Where a new pattern goes: where the others are, or `all` for the first.
    pub fn pattern_servers<'a>(&'a self, all: &'a [usize]) -> &'a [usize] {
        if self.patterns.is_empty() {
            all
        } else {
            &self.pattern_servers
        }
    }

    /// The servers the patterns are on (none without patterns).
    pub fn patterns_on(&self) -> &[usize] {
        &self.pattern_servers
    }

    /// Where each channel and shard channel is.
    pub fn placed(&self) -> impl Iterator<Item = (&Bytes, usize)> + '_ {
        self.channels
            .iter()
            .chain(self.shard.iter())
            .map(|(name, &server)| (name, server))
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE of `names`: a step per name, in
    /// order. `server_of` places a channel; a pattern goes to `all`.
    pub fn subscribe(
        &mut self,
        kind: SubKind,
        names: &[&[u8]],
        proto: Proto,
        server_of: impl Fn(&[u8]) -> usize,
        all: &[usize],
    ) -> Vec<Step> {
        names
            .iter()
            .map(|&name| {
                let name = Bytes::copy_from_slice(name);
                let servers = match kind {
                    SubKind::Pattern => {
                        if self.pattern_set.insert(name.clone()) {
                            if self.patterns.is_empty() {
                                self.pattern_servers = all.to_vec();
                            }
                            self.patterns.push(name.clone());
                            self.pattern_servers.clone()
                        } else {
                            Vec::new()
                        }
                    }
                    SubKind::Channel | SubKind::Shard => {
                        let (map, order) = self.map_mut(kind);
                        if map.contains_key(&name) {
                            Vec::new()
                        } else {
                            let server = server_of(&name);
                            map.insert(name.clone(), server);
                            order.push(name.clone());
                            vec![server]
                        }
                    }
                };
                self.step(kind, true, name, servers, proto)
            })
            .collect()
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE of `names`, or of every
    /// subscription of that kind when `names` is empty.
    pub fn unsubscribe(&mut self, kind: SubKind, names: &[&[u8]], proto: Proto) -> Vec<Step> {
        let names: Vec<Bytes> = if names.is_empty() {
            match kind {
                SubKind::Pattern => self.patterns.clone(),
                SubKind::Channel => self.channel_order.clone(),
                SubKind::Shard => self.shard_order.clone(),
            }
        } else {
            names.iter().map(|n| Bytes::copy_from_slice(n)).collect()
        };
        if names.is_empty() {
            let frame = confirmation(command_word(kind, false), None, self.count_for(kind), proto);
            return vec![Step {
                name: None,
                servers: Vec::new(),
                frame,
            }];
        }
        names
            .into_iter()
            .map(|name| {
                let servers = match kind {
                    SubKind::Pattern => {
                        if self.pattern_set.remove(&name) {
                            self.patterns.retain(|p| p != &name);
                            if self.patterns.is_empty() {
                                std::mem::take(&mut self.pattern_servers)
                            } else {
                                self.pattern_servers.clone()
                            }
                        } else {
                            Vec::new()
                        }
                    }
                    SubKind::Channel | SubKind::Shard => {
                        let (map, order) = self.map_mut(kind);
                        match map.remove(&name) {
                            Some(server) => {
                                order.retain(|c| c != &name);
                                vec![server]
                            }
                            None => Vec::new(),
                        }
                    }
                };
                self.step(kind, false, name, servers, proto)
            })
            .collect()
    }

    /// A step, with the confirmation the client gets after it (the count as
    /// it stands once the step is taken).
    fn step(
        &self,
        kind: SubKind,
        subscribe: bool,
        name: Bytes,
        servers: Vec<usize>,
        proto: Proto,
    ) -> Step {
        let word = command_word(kind, subscribe);
        let frame = confirmation(word, Some(&name), self.count_for(kind), proto);
        Step {
            name: Some(name),
            servers,
            frame,
        }
    }

    fn map_mut(&mut self, kind: SubKind) -> (&mut HashMap<Bytes, usize>, &mut Vec<Bytes>) {
        match kind {
            SubKind::Shard => (&mut self.shard, &mut self.shard_order),
            _ => (&mut self.channels, &mut self.channel_order),
        }
    }
}

/// A (un)subscribe confirmation as Redis writes it: `[word, name, count]`,
/// an array in RESP2 and a push in RESP3; a missing name is a null.
pub fn confirmation(word: &str, name: Option<&[u8]>, count: usize, proto: Proto) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + name.map_or(0, |n| n.len()));
    push_header(&mut out, 3, proto);
    encode::bulk(&mut out, word.as_bytes());
    match name {
        Some(n) => encode::bulk(&mut out, n),
        None => encode::null(&mut out, proto),
    }
    encode::integer(&mut out, count as i64);
    out.freeze()
}

/// `*n` in RESP2, `>n` (a push, out of band) in RESP3.
pub fn push_header(out: &mut BytesMut, n: usize, proto: Proto) {
    match proto {
        Proto::Resp2 => encode::array_header(out, n),
        Proto::Resp3 => {
            out.extend_from_slice(b">");
            encode::put_decimal(out, n as i64);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The first element of an array or push frame when it is a bulk string
/// (a pub/sub frame's kind: `message`, `subscribe`, ...).
pub fn frame_kind(frame: &[u8]) -> Option<&[u8]> {
    if !matches!(frame.first(), Some(b'*' | b'>')) {
        return None;
    }
    let header_end = frame.windows(2).position(|w| w == b"\r\n")?;
    let rest = &frame[header_end + 2..];
    if rest.first() != Some(&b'$') {
        return None;
    }
    let len_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let len: usize = std::str::from_utf8(&rest[1..len_end]).ok()?.parse().ok()?;
    rest.get(len_end + 2..len_end + 2 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_first_byte(name: &[u8]) -> usize {
        (name[0] % 3) as usize
    }

    #[test]
    fn counts_span_servers_and_kinds() {
        let mut s = Subscriptions::default();
        let steps = s.subscribe(
            SubKind::Channel,
            &[b"a", b"b", b"a"],
            Proto::Resp2,
            by_first_byte,
            &[0, 1, 2],
        );
        assert_eq!(steps[0].servers, vec![(b'a' % 3) as usize]);
        assert_eq!(steps[1].servers, vec![(b'b' % 3) as usize]);
        assert!(steps[2].servers.is_empty(), "already subscribed");
        assert_eq!(
            &steps[0].frame[..],
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            &steps[1].frame[..],
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        );
        assert_eq!(
            &steps[2].frame[..],
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"
        );
        let p = s.subscribe(
            SubKind::Pattern,
            &[b"n*"],
            Proto::Resp3,
            by_first_byte,
            &[0, 1, 2],
        );
        assert_eq!(p[0].servers, vec![0, 1, 2]);
        assert_eq!(
            &p[0].frame[..],
            b">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n"
        );
        let sh = s.subscribe(
            SubKind::Shard,
            &[b"z"],
            Proto::Resp2,
            by_first_byte,
            &[0, 1, 2],
        );
        assert!(
            sh[0].frame.ends_with(b":1\r\n"),
            "shard channels counted apart"
        );
        assert_eq!(s.count(), 3);
        assert_eq!(s.shard_count(), 1);
    }

    #[test]
    fn unsubscribe_of_all_and_of_nothing() {
        let mut s = Subscriptions::default();
        s.subscribe(
            SubKind::Channel,
            &[b"a", b"b"],
            Proto::Resp2,
            by_first_byte,
            &[0, 1, 2],
        );
        s.subscribe(
            SubKind::Pattern,
            &[b"p*"],
            Proto::Resp2,
            by_first_byte,
            &[0, 1],
        );
        let u = s.unsubscribe(SubKind::Channel, &[], Proto::Resp2);
        assert_eq!(u.len(), 2);
        assert_eq!(
            &u[0].frame[..],
            b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(
            &u[1].frame[..],
            b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"
        );
        let none = s.unsubscribe(SubKind::Channel, &[], Proto::Resp2);
        assert_eq!(
            &none[0].frame[..],
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n"
        );
        assert!(none[0].servers.is_empty());
        let never = s.unsubscribe(SubKind::Channel, &[b"x"], Proto::Resp3);
        assert!(never[0].servers.is_empty());
        let p = s.unsubscribe(SubKind::Pattern, &[], Proto::Resp3);
        assert_eq!(p[0].servers, vec![0, 1]);
        assert_eq!(
            &p[0].frame[..],
            b">3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n"
        );
        assert!(s.is_empty());
        let nil3 = s.unsubscribe(SubKind::Pattern, &[], Proto::Resp3);
        assert_eq!(
            &nil3[0].frame[..],
            b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n"
        );
    }

    #[test]
    fn frame_kinds() {
        assert_eq!(
            frame_kind(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n"),
            Some(&b"message"[..])
        );
        assert_eq!(
            frame_kind(b">4\r\n$8\r\npmessage\r\n$1\r\np\r\n$1\r\nc\r\n$1\r\nx\r\n"),
            Some(&b"pmessage"[..])
        );
        assert_eq!(frame_kind(b"+OK\r\n"), None);
        assert_eq!(frame_kind(b"*1\r\n:1\r\n"), None);
    }
}
