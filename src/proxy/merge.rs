//! Merging the replies of a request that was split across servers, or sent
//! to every server.

use bytes::{Bytes, BytesMut};

use super::error::ClientError;
use crate::protocol::{encode, reply::array_body, reply::array_elements, Proto};
use crate::route::{Split, SplitRoute};

/// How the parts' replies combine into the client's reply.
#[derive(Debug)]
pub enum MergeKind {
    /// MGET: `order[i]` = (part, position in that part's reply) of key i.
    Mget {
        order: Vec<(u32, u32)>,
        proto: Proto,
    },
    /// MSET, SCRIPT FLUSH: +OK when every part says +OK.
    AllOk,
    /// DEL, UNLINK, EXISTS, TOUCH: integers summed.
    Sum,
    /// SCRIPT LOAD: the first part's reply (every server returns the same SHA).
    First,
    /// SCRIPT EXISTS: per position, 1 only where every server has the script.
    AllOfInts,
    /// SCRIPT KILL, FUNCTION KILL: as one Redis would answer ([`kill_reply`]).
    Kill,
    /// EXEC of a transaction run on several servers: `order[i]` says which
    /// parts' arrays hold the result of the i-th command queued (each part's
    /// results in its own order).
    Exec { order: Vec<ExecItem> },
    /// A command split by key inside MULTI: `+QUEUED` when every server
    /// queued its piece.
    Queued,
    /// KEYS: every part's array, one after the other.
    Concat,
    /// PUBSUB CHANNELS: every part's array, each element once.
    Union,
    /// PUBSUB NUMSUB: `[name, count, ...]` alike from every part, the
    /// counts summed.
    PairSum,
    /// RANDOMKEY: the key of a part picked at random among those that have
    /// one; nil only when every part is.
    AnyKey,
    /// INFO with the keyspace section: the proxy's own sections (`head`),
    /// then the servers' keyspace lines for `db` combined.
    InfoKeyspace { head: String, db: u32, proto: Proto },
}

impl MergeKind {
    /// How the parts of a command split by key combine.
    pub fn of_split(split: &SplitRoute<'_>, proto: Proto) -> MergeKind {
        match split.kind {
            Split::Mget => MergeKind::Mget {
                order: split.mget_order(),
                proto,
            },
            Split::Mset => MergeKind::AllOk,
            Split::Sum => MergeKind::Sum,
        }
    }
}

/// Where EXEC finds the result of one command of a transaction run on
/// several servers.
#[derive(Debug)]
pub enum ExecItem {
    /// Queued whole on one part (that server's connection).
    One(u32),
    /// Split by key (MSET, MGET, DEL...): a piece queued on each of `parts`,
    /// in the split's order, their results combined as `kind` says.
    Split { kind: MergeKind, parts: Vec<u32> },
}

#[derive(Debug)]
pub struct Merge {
    kind: MergeKind,
    parts: Vec<Option<Bytes>>,
    missing: usize,
    /// A split command: a failed part is reported as nutcracker does.
    split: bool,
}

impl Merge {
    /// Merges the replies of a request sent to several servers whole.
    pub fn new(kind: MergeKind, parts: usize) -> Merge {
        Merge {
            kind,
            parts: vec![None; parts],
            missing: parts,
            split: false,
        }
    }

    /// Merges the parts of a command split by key (MGET, MSET, DEL, ...).
    pub fn split(kind: MergeKind, parts: usize) -> Merge {
        Merge {
            split: true,
            ..Merge::new(kind, parts)
        }
    }

    /// Records part `part`'s reply; true when every part has replied.
    pub fn add(&mut self, part: usize, reply: &[u8]) -> bool {
        if let Some(slot) = self.parts.get_mut(part) {
            if slot.is_none() {
                *slot = Some(Bytes::copy_from_slice(reply));
                self.missing -= 1;
            }
        }
        self.missing == 0
    }

    /// The client's reply, once every part has replied. The first error reply
    /// of any part wins: a partial result would hide a failure.
    pub fn finish(&self, out: &mut BytesMut) {
        let parts: Vec<&[u8]> = self
            .parts
            .iter()
            .map(|p| p.as_deref().unwrap_or(b""))
            .collect();
        combine(&self.kind, &parts, self.split, out);
    }
}

/// The client's reply from the parts' replies (`split`: of a command split
/// by key, whose failed part is reported as nutcracker does).
fn combine(kind: &MergeKind, parts: &[&[u8]], split: bool, out: &mut BytesMut) {
    if let MergeKind::Kill = kind {
        out.extend_from_slice(kill_reply(parts));
        return;
    }
    if let Some(err) = parts.iter().find(|p| p.first() == Some(&b'-')) {
        if split {
            let text = String::from_utf8_lossy(&err[1..err.len().saturating_sub(2)]);
            ClientError::SplitPart(text.into_owned()).write(out);
        } else {
            out.extend_from_slice(err);
        }
        return;
    }
    match kind {
        MergeKind::Kill => unreachable!("answered above"),
        MergeKind::Exec { order } => exec(order, parts, out),
        MergeKind::Queued => all_say(parts, b"+QUEUED\r\n", out),
        MergeKind::AllOk => all_say(parts, b"+OK\r\n", out),
        MergeKind::First => out.extend_from_slice(parts[0]),
        MergeKind::Concat => {
            let mut total = 0;
            for p in parts {
                match array_body(p) {
                    Some((n, _)) => total += n,
                    None => return out.extend_from_slice(p),
                }
            }
            encode::array_header(out, total);
            for p in parts {
                out.extend_from_slice(array_body(p).map_or(&[][..], |(_, body)| body));
            }
        }
        MergeKind::Union => union(parts, out),
        MergeKind::PairSum => pair_sum(parts, out),
        MergeKind::InfoKeyspace { head, db, proto } => {
            if super::info_keyspace::merge(head, parts, *db, *proto, out).is_none() {
                out.extend_from_slice(parts[0]);
            }
        }
        MergeKind::AnyKey => {
            // A nil is `$-1` in RESP2 and `_` in RESP3: a key is a bulk string.
            let keys: Vec<&[u8]> = parts
                .iter()
                .copied()
                .filter(|p| p.first() == Some(&b'$') && !p.starts_with(b"$-1"))
                .collect();
            let pick = match keys.len() {
                0 => parts[0],
                n => keys[fastrand::usize(..n)],
            };
            out.extend_from_slice(pick);
        }
        MergeKind::Sum => {
            let mut total = 0i64;
            for p in parts {
                match parse_integer(p) {
                    Some(n) => total += n,
                    None => {
                        out.extend_from_slice(p);
                        return;
                    }
                }
            }
            encode::integer(out, total);
        }
        MergeKind::Mget { order, proto } => mget(order, *proto, parts, out),
        MergeKind::AllOfInts => all_of_ints(parts, out),
    }
}

/// `status` (a whole `+...` line) when every part says it, else the first
/// part that says something else.
fn all_say(parts: &[&[u8]], status: &[u8], out: &mut BytesMut) {
    let odd = parts.iter().find(|p| **p != status);
    out.extend_from_slice(odd.copied().unwrap_or(status));
}

/// PUBSUB CHANNELS: every part's elements, each once.
fn union(parts: &[&[u8]], out: &mut BytesMut) {
    let Some(lists) = elements_of_all(parts, out) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&[u8]> = lists
        .iter()
        .zip(parts)
        .flat_map(|(l, p)| l.iter().map(move |r| &p[r.clone()]))
        .filter(|e| seen.insert(*e))
        .collect();
    encode::array_header(out, unique.len());
    unique.iter().for_each(|e| out.extend_from_slice(e));
}

/// PUBSUB NUMSUB: the first part's names, each count summed over the parts.
fn pair_sum(parts: &[&[u8]], out: &mut BytesMut) {
    let Some(lists) = elements_of_all(parts, out) else {
        return;
    };
    let first = &lists[0];
    encode::array_header(out, first.len());
    for (i, r) in first.iter().enumerate() {
        if i % 2 == 0 {
            out.extend_from_slice(&parts[0][r.clone()]);
            continue;
        }
        let total: i64 = lists
            .iter()
            .zip(parts)
            .filter_map(|(l, p)| parse_integer(&p[l.get(i)?.clone()]))
            .sum();
        encode::integer(out, total);
    }
}

/// MGET: each key's value from the part that holds it.
fn mget(order: &[(u32, u32)], proto: Proto, parts: &[&[u8]], out: &mut BytesMut) {
    let Some(elements) = elements_of_all(parts, out) else {
        return;
    };
    encode::array_header(out, order.len());
    for &(part, at) in order {
        let part = part as usize;
        match elements[part].get(at as usize) {
            Some(r) => out.extend_from_slice(&parts[part][r.clone()]),
            None => encode::null(out, proto),
        }
    }
}

/// SCRIPT EXISTS: 1 where every part says 1.
fn all_of_ints(parts: &[&[u8]], out: &mut BytesMut) {
    let Some(lists) = elements_of_all(parts, out) else {
        return;
    };
    let n = lists.first().map_or(0, |l| l.len());
    encode::array_header(out, n);
    for i in 0..n {
        let all = lists
            .iter()
            .zip(parts)
            .all(|(l, p)| l.get(i).is_some_and(|r| &p[r.clone()] == b":1\r\n"));
        encode::integer(out, all as i64);
    }
}

/// EXEC's array from the servers' EXEC arrays: each command's result taken
/// in turn from the arrays of the parts it was queued on.
fn exec(order: &[ExecItem], parts: &[&[u8]], out: &mut BytesMut) {
    let Some(lists) = elements_of_all(parts, out) else {
        return;
    };
    let mut next = vec![0usize; parts.len()];
    let mut take = |part: u32| -> Option<std::ops::Range<usize>> {
        let part = part as usize;
        let r = lists.get(part)?.get(next[part])?.clone();
        next[part] += 1;
        Some(r)
    };
    const SHORT: &str =
        "ERR redshard: a server's EXEC reply had fewer results than commands queued there";
    encode::array_header(out, order.len());
    for item in order {
        match item {
            ExecItem::One(part) => match take(*part) {
                Some(r) => out.extend_from_slice(&parts[*part as usize][r]),
                None => encode::error(out, SHORT),
            },
            ExecItem::Split { kind, parts: on } => {
                let pieces: Option<Vec<&[u8]>> = on
                    .iter()
                    .map(|&p| take(p).map(|r| &parts[p as usize][r]))
                    .collect();
                match pieces {
                    Some(pieces) => combine(kind, &pieces, true, out),
                    None => encode::error(out, SHORT),
                }
            }
        }
    }
}

/// The answer to a KILL sent to every server, as one Redis would give it. A
/// script that cannot be killed comes first (`-UNKILLABLE`: that server needs
/// SHUTDOWN NOSAVE or patience); then `+OK` when any server killed one; then
/// any other error (a server not reached, FUNCTION KILL where a script runs);
/// `-NOTBUSY` only when every server said so.
fn kill_reply<'p>(parts: &[&'p [u8]]) -> &'p [u8] {
    let find = |prefix: &[u8], starts: bool| {
        parts
            .iter()
            .copied()
            .find(|p| p.starts_with(prefix) == starts)
    };
    find(b"-UNKILLABLE", true)
        .or_else(|| find(b"+", true))
        .or_else(|| find(b"-NOTBUSY", false))
        .or_else(|| parts.first().copied())
        .unwrap_or(b"")
}

/// The elements of every part's array reply; when a part is not an array,
/// that part's reply is the answer: it goes to `out` and `None` is returned.
fn elements_of_all(
    parts: &[&[u8]],
    out: &mut BytesMut,
) -> Option<Vec<Vec<std::ops::Range<usize>>>> {
    let mut all = Vec::with_capacity(parts.len());
    for p in parts {
        let mut ranges = Vec::new();
        if array_elements(p, &mut ranges).is_none() {
            out.extend_from_slice(p);
            return None;
        }
        all.push(ranges);
    }
    Some(all)
}

fn parse_integer(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    crate::protocol::framer::parse_i64(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: MergeKind, parts: &[&[u8]]) -> Vec<u8> {
        let mut m = Merge::new(kind, parts.len());
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(m.add(i, p), i + 1 == parts.len());
        }
        let mut out = BytesMut::new();
        m.finish(&mut out);
        out.to_vec()
    }

    #[test]
    fn merges() {
        assert_eq!(run(MergeKind::Sum, &[b":2\r\n", b":3\r\n"]), b":5\r\n");
        assert_eq!(run(MergeKind::AllOk, &[b"+OK\r\n", b"+OK\r\n"]), b"+OK\r\n");
        assert_eq!(
            run(MergeKind::AllOk, &[b"+OK\r\n", b"-ERR x\r\n"]),
            b"-ERR x\r\n"
        );
        let mut split = Merge::split(MergeKind::Sum, 2);
        split.add(0, b":1\r\n");
        split.add(
            1,
            b"-READONLY You can't write against a read only replica.\r\n",
        );
        let mut out = BytesMut::new();
        split.finish(&mut out);
        assert_eq!(
            &out[..],
            b"-ERR Invalid argument: a part of the split command failed: READONLY You can't write against a read only replica.\r\n"
        );
        let order = vec![(1, 0), (0, 0), (1, 1)];
        assert_eq!(
            run(
                MergeKind::Mget {
                    order,
                    proto: Proto::Resp2,
                },
                &[b"*1\r\n$1\r\na\r\n", b"*2\r\n$1\r\nb\r\n$-1\r\n"]
            ),
            b"*3\r\n$1\r\nb\r\n$1\r\na\r\n$-1\r\n"
        );
        assert_eq!(
            run(
                MergeKind::AllOfInts,
                &[b"*2\r\n:1\r\n:1\r\n", b"*2\r\n:1\r\n:0\r\n"]
            ),
            b"*2\r\n:1\r\n:0\r\n"
        );
    }

    #[test]
    fn pubsub_lists_are_united_and_counts_summed() {
        assert_eq!(
            run(
                MergeKind::Union,
                &[
                    b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
                    b"*0\r\n",
                    b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
                ]
            ),
            b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            run(
                MergeKind::PairSum,
                &[
                    b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n",
                    b"*4\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:5\r\n"
                ]
            ),
            b"*4\r\n$1\r\na\r\n:3\r\n$1\r\nb\r\n:5\r\n"
        );
    }

    #[test]
    fn a_kill_answers_as_one_redis_would() {
        let notbusy: &[u8] = b"-NOTBUSY No scripts in execution right now.\r\n";
        let ok: &[u8] = b"+OK\r\n";
        let unkillable: &[u8] = b"-UNKILLABLE Sorry the script already executed write commands against the dataset.\r\n";
        let down: &[u8] =
            b"-ERR redshard: cannot connect to server 127.0.0.1:7003: Connection refused\r\n";
        let kill = |parts: &[&[u8]]| run(MergeKind::Kill, parts);
        assert_eq!(kill(&[notbusy, notbusy, notbusy]), notbusy);
        assert_eq!(kill(&[notbusy, ok, notbusy]), ok);
        assert_eq!(kill(&[ok, unkillable]), unkillable);
        assert_eq!(kill(&[ok, down]), ok);
        assert_eq!(kill(&[notbusy, down]), down);
    }

    #[test]
    fn keys_are_concatenated_and_randomkey_is_nil_only_when_all_are() {
        assert_eq!(
            run(
                MergeKind::Concat,
                &[
                    b"*1\r\n$1\r\na\r\n",
                    b"*0\r\n",
                    b"*2\r\n$1\r\nb\r\n$2\r\ncd\r\n"
                ]
            ),
            b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\ncd\r\n"
        );
        assert_eq!(
            run(MergeKind::Concat, &[b"*0\r\n", b"-ERR x\r\n"]),
            b"-ERR x\r\n"
        );
        for nil in [&b"$-1\r\n"[..], b"_\r\n"] {
            assert_eq!(run(MergeKind::AnyKey, &[nil, nil, nil]), nil);
            for _ in 0..20 {
                assert_eq!(
                    run(MergeKind::AnyKey, &[nil, b"$1\r\nk\r\n", nil]),
                    b"$1\r\nk\r\n"
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(run(MergeKind::AnyKey, &[b"$1\r\na\r\n", b"$1\r\nb\r\n"]));
        }
        assert_eq!(seen.len(), 2, "either server's key");
    }

    #[test]
    fn exec_takes_each_result_from_its_parts_and_combines_split_ones() {
        // Queued: SET on 1; MSET split 0+1; MGET k1(part 1) k0(part 0); DEL split 1+0.
        let order = vec![
            ExecItem::One(1),
            ExecItem::Split {
                kind: MergeKind::AllOk,
                parts: vec![0, 1],
            },
            ExecItem::Split {
                kind: MergeKind::Mget {
                    order: vec![(0, 0), (1, 0)],
                    proto: Proto::Resp2,
                },
                parts: vec![1, 0],
            },
            ExecItem::Split {
                kind: MergeKind::Sum,
                parts: vec![1, 0],
            },
        ];
        let server0: &[u8] = b"*3\r\n+OK\r\n*1\r\n$2\r\nv0\r\n:1\r\n";
        let server1: &[u8] = b"*4\r\n+OK\r\n+OK\r\n*1\r\n$2\r\nv1\r\n:0\r\n";
        let mut got = run(MergeKind::Exec { order }, &[server0, server1]);
        assert_eq!(
            got,
            b"*4\r\n+OK\r\n+OK\r\n*2\r\n$2\r\nv1\r\n$2\r\nv0\r\n:1\r\n"
        );
        // One array short: that command's result says so, the others stand.
        let order = vec![
            ExecItem::One(0),
            ExecItem::Split {
                kind: MergeKind::Sum,
                parts: vec![0, 1],
            },
        ];
        got = run(MergeKind::Exec { order }, &[b"*1\r\n:5\r\n", b"*0\r\n"]);
        assert!(got.starts_with(b"*2\r\n:5\r\n-ERR redshard: a server's EXEC reply had fewer"));
        // Every piece queued: one +QUEUED; a refused piece: its refusal.
        assert_eq!(
            run(MergeKind::Queued, &[b"+QUEUED\r\n", b"+QUEUED\r\n"]),
            b"+QUEUED\r\n"
        );
        assert_eq!(
            run(MergeKind::Queued, &[b"+QUEUED\r\n", b"-OOM no\r\n"]),
            b"-OOM no\r\n"
        );
    }
}
