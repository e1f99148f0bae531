//! A client's reply queue: replies leave in request order, whichever server
//! answers first. Each request takes a slot; a backend fills it; the bytes of
//! every leading filled slot move to `out`, which the session writes.
//!
//! The common case costs no allocation: a reply for the oldest slot is copied
//! straight into `out`. Only a reply that overtakes an older one is kept aside.
//!
//! It also keeps the client's memory account: bytes queued, plus an estimate
//! for each reply still to come (settled when it arrives), so the session can
//! stop taking requests before, not after, the output limit is passed.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::merge::Merge;
use super::rewrite::Rewrite;

/// A part index meaning "the whole request went to one server".
pub const WHOLE: u32 = u32::MAX;

/// The smallest estimate a reply to come is counted at.
const MIN_ESTIMATE: usize = 16;

/// Ready bytes are handed to the writer in chunks of about this size, so a
/// client that reads slowly holds many modest buffers rather than one huge
/// one grown by doubling (whose copies and freed halves would cost more than
/// the limit it is held to).
const OUT_CHUNK: usize = 64 * 1024;

/// The hard limit, in multiples of `client_output_limit` (Redis's own
/// `client-output-buffer-limit` drops a client past its hard limit too).
const HARD_LIMIT_FACTOR: usize = 2;

#[derive(Debug)]
enum Slot {
    /// Awaiting its reply, counted at `estimate` bytes until it comes.
    Waiting {
        estimate: usize,
    },
    /// Awaiting a reply from one server that is changed on its way.
    Rewriting {
        rewrite: Rewrite,
        estimate: usize,
    },
    Ready(Bytes),
    Merging {
        merge: Box<Merge>,
        estimate: usize,
    },
}

#[derive(Debug)]
pub struct ReplyQueue {
    /// Ready bytes, the newest chunk (still being filled).
    out: BytesMut,
    /// Ready bytes, older full chunks, oldest first.
    sealed: VecDeque<Bytes>,
    sealed_bytes: usize,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    head: u64,
    /// The client is gone: drop replies instead of keeping them.
    closed: bool,
    /// Bytes held in Ready slots (replies that overtook an older one).
    held: usize,
    /// Estimated bytes of the replies still to come.
    expected: usize,
    /// What the next reply is expected to weigh: starts high (a new client
    /// may ask for large values), jumps up at once to any larger reply seen,
    /// and decays slowly towards the sizes this client actually gets, but
    /// not below `floor`.
    estimate: usize,
    /// The least a reply to come is counted at: 1/1024 of the limit, so the
    /// requests in flight alone can take the account to the limit.
    floor: usize,
    /// Reply bytes actually held past which the client is dropped: an
    /// estimate can be wrong (small replies, then a pipeline of huge ones),
    /// and a client that does not read must not hold more than this. Never
    /// less than three of the largest reply it was sent, so a client reading
    /// large replies as they come is not taken for one that does not read.
    hard_limit: usize,
    /// The largest single reply this client was sent.
    largest: usize,
    /// The hard limit was passed.
    overflowed: bool,
}

impl ReplyQueue {
    /// A queue for a client allowed `output_limit` bytes of replies.
    pub fn new(output_limit: usize) -> ReplyQueue {
        ReplyQueue {
            out: BytesMut::new(),
            sealed: VecDeque::new(),
            sealed_bytes: 0,
            slots: VecDeque::new(),
            head: 0,
            closed: false,
            held: 0,
            expected: 0,
            estimate: (output_limit / 64).clamp(MIN_ESTIMATE, 1 << 20),
            floor: (output_limit / 1024).max(MIN_ESTIMATE),
            hard_limit: output_limit.saturating_mul(HARD_LIMIT_FACTOR),
            largest: 0,
            overflowed: false,
        }
    }

    /// The client holds more than its hard limit of replies it has not read.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Bytes of replies held, ready or kept aside.
    pub fn held_bytes(&self) -> usize {
        self.out.len() + self.sealed_bytes + self.held
    }

    /// Notes whether the hard limit was passed; true when it just was.
    fn check_hard_limit(&mut self) -> bool {
        let limit = self.hard_limit.max(self.largest.saturating_mul(3));
        if !self.overflowed && self.held_bytes() > limit {
            self.overflowed = true;
            return true;
        }
        false
    }

    /// Takes the next slot for a request whose reply comes later.
    #[inline]
    pub fn reserve(&mut self) -> u64 {
        let estimate = self.estimate;
        self.expected += estimate;
        self.slots.push_back(Slot::Waiting { estimate });
        self.head + self.slots.len() as u64 - 1
    }

    /// Takes the next slot for a reply merged from `merge`'s parts.
    pub fn reserve_merge(&mut self, merge: Merge) -> u64 {
        let estimate = self.estimate;
        self.expected += estimate;
        self.slots.push_back(Slot::Merging {
            merge: Box::new(merge),
            estimate,
        });
        self.head + self.slots.len() as u64 - 1
    }

    /// Takes the next slot for a reply that `rewrite` changes.
    pub fn reserve_rewrite(&mut self, rewrite: Rewrite) -> u64 {
        let estimate = self.estimate;
        self.expected += estimate;
        self.slots.push_back(Slot::Rewriting { rewrite, estimate });
        self.head + self.slots.len() as u64 - 1
    }

    /// A reply the proxy makes itself, in order after everything before it.
    /// True when bytes became ready to write.
    /// (A subscriber's messages come this way too: the hard limit holds
    /// for one that does not read them.)
    pub fn push_local(&mut self, write: impl FnOnce(&mut BytesMut)) -> bool {
        if self.closed {
            return false;
        }
        let ready = if self.slots.is_empty() {
            self.seal_if_full(0);
            write(&mut self.out);
            true
        } else {
            let mut buf = BytesMut::new();
            write(&mut buf);
            self.held += buf.len();
            self.slots.push_back(Slot::Ready(buf.freeze()));
            false
        };
        ready | self.check_hard_limit()
    }

    /// A reply for slot `seq` (part `part` of a split request). True when
    /// bytes became ready to write.
    pub fn deliver(&mut self, seq: u64, part: u32, reply: &[u8]) -> bool {
        if self.closed || seq < self.head {
            return false;
        }
        let at = (seq - self.head) as usize;
        let ready = self.fill(at, part, reply);
        ready | self.check_hard_limit()
    }

    fn fill(&mut self, at: usize, part: u32, reply: &[u8]) -> bool {
        let complete = match self.slots.get_mut(at) {
            Some(Slot::Merging { merge, estimate }) if part != WHOLE => {
                if !merge.add(part as usize, reply) {
                    return false;
                }
                let estimate = *estimate;
                let mut buf = BytesMut::new();
                merge.finish(&mut buf);
                self.settle(estimate, buf.len());
                buf.freeze()
            }
            Some(Slot::Waiting { estimate }) if part == WHOLE => {
                let estimate = *estimate;
                return self.fill_whole(at, estimate, None, reply);
            }
            Some(Slot::Rewriting { rewrite, estimate }) if part == WHOLE => {
                let (rewrite, estimate) = (*rewrite, *estimate);
                return self.fill_whole(at, estimate, Some(rewrite), reply);
            }
            _ => return false,
        };
        self.held += complete.len();
        self.slots[at] = Slot::Ready(complete);
        if at == 0 {
            self.drain_ready();
            return true;
        }
        false
    }

    /// A whole reply for the slot at `at`: written out at once when it is
    /// first in line, else kept aside.
    fn fill_whole(
        &mut self,
        at: usize,
        estimate: usize,
        rewrite: Option<Rewrite>,
        reply: &[u8],
    ) -> bool {
        self.settle(estimate, reply.len());
        let write = |out: &mut BytesMut| match rewrite {
            None => out.extend_from_slice(reply),
            Some(r) => r.apply(reply, out),
        };
        if at == 0 {
            self.seal_if_full(reply.len());
            write(&mut self.out);
            self.slots.pop_front();
            self.head += 1;
            self.drain_ready();
            return true;
        }
        let complete = match rewrite {
            None => Bytes::copy_from_slice(reply),
            Some(_) => {
                let mut buf = BytesMut::with_capacity(reply.len() + 32);
                write(&mut buf);
                buf.freeze()
            }
        };
        self.held += complete.len();
        self.slots[at] = Slot::Ready(complete);
        false
    }

    /// The reply to a slot came: its estimate leaves the account.
    fn settle(&mut self, estimate: usize, actual: usize) {
        self.expected -= estimate;
        self.largest = self.largest.max(actual);
        self.estimate = if actual >= self.estimate {
            actual
        } else {
            (self.estimate - self.estimate / 8 + actual / 8).max(self.floor)
        };
    }

    /// Starts a new chunk when `more` bytes would take the current one past
    /// its size.
    fn seal_if_full(&mut self, more: usize) {
        if !self.out.is_empty() && self.out.len() + more > OUT_CHUNK {
            let full = self.out.split().freeze();
            self.sealed_bytes += full.len();
            self.sealed.push_back(full);
        }
    }

    /// The oldest chunk of bytes ready to write (empty when none).
    pub fn take_output(&mut self) -> Bytes {
        match self.sealed.pop_front() {
            Some(chunk) => {
                self.sealed_bytes -= chunk.len();
                chunk
            }
            None => self.out.split().freeze(),
        }
    }

    /// Requests still waiting for a reply (or behind one that is).
    pub fn pending(&self) -> usize {
        self.slots.len()
    }

    /// Bytes this client holds or is expected to: replies ready to write,
    /// replies kept aside, and the estimate of those still to come.
    pub fn accounted(&self) -> usize {
        self.out.len() + self.sealed_bytes + self.held + self.expected
    }

    /// The client is gone; later replies are dropped.
    pub fn close(&mut self) {
        self.closed = true;
        self.slots.clear();
        self.out = BytesMut::new();
        self.sealed.clear();
        self.sealed_bytes = 0;
    }

    fn drain_ready(&mut self) {
        while let Some(Slot::Ready(_)) = self.slots.front() {
            if let Some(Slot::Ready(bytes)) = self.slots.pop_front() {
                self.held -= bytes.len();
                self.seal_if_full(bytes.len());
                self.out.extend_from_slice(&bytes);
            }
            self.head += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::merge::MergeKind;

    fn drain(q: &mut ReplyQueue) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let chunk = q.take_output();
            if chunk.is_empty() {
                return all;
            }
            all.extend_from_slice(&chunk);
        }
    }

    #[test]
    fn replies_leave_in_request_order() {
        let mut q = ReplyQueue::new(1 << 20);
        let a = q.reserve();
        let b = q.reserve();
        q.push_local(|o| o.extend_from_slice(b"+PONG\r\n"));
        let c = q.reserve_merge(Merge::new(MergeKind::Sum, 2));
        q.deliver(b, WHOLE, b":2\r\n");
        q.deliver(c, 0, b":1\r\n");
        assert_eq!(drain(&mut q), b"");
        q.deliver(a, WHOLE, b":1\r\n");
        assert_eq!(drain(&mut q), b":1\r\n:2\r\n+PONG\r\n");
        q.deliver(c, 1, b":5\r\n");
        assert_eq!(drain(&mut q), b":6\r\n");
        assert_eq!(q.pending(), 0);
    }

    #[test]
    fn a_rewritten_reply_is_changed_whether_first_in_line_or_not() {
        use crate::route::ScanRoute;
        let route = ScanRoute::new(b"0", 1, 1).unwrap();
        let mut q = ReplyQueue::new(1 << 20);
        let a = q.reserve();
        let b = q.reserve_rewrite(Rewrite::ScanCursor(route));
        let c = q.reserve_rewrite(Rewrite::ScanCursor(route));
        // The last server done: cursor 0 back, the keys as they came.
        q.deliver(b, WHOLE, b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
        assert_eq!(drain(&mut q), b"");
        q.deliver(a, WHOLE, b"+OK\r\n");
        q.deliver(c, WHOLE, b"-ERR syntax error\r\n");
        assert_eq!(
            drain(&mut q),
            b"+OK\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n-ERR syntax error\r\n"
        );
        let d = q.reserve_rewrite(Rewrite::ScanCursor(route));
        q.deliver(d, WHOLE, b"*2\r\n$2\r\n12\r\n*0\r\n");
        let want = route.client_cursor(12).unwrap().to_string();
        assert_eq!(
            drain(&mut q),
            format!("*2\r\n${}\r\n{want}\r\n*0\r\n", want.len()).into_bytes()
        );
        assert_eq!(q.accounted(), 0);
    }

    #[test]
    fn ready_bytes_leave_in_chunks_in_order() {
        let mut q = ReplyQueue::new(1 << 30);
        let reply = vec![b'x'; 40_000];
        let mut want = Vec::new();
        for i in 0..10u8 {
            let s = q.reserve();
            let mut r = reply.clone();
            r[0] = i;
            q.deliver(s, WHOLE, &r);
            want.extend_from_slice(&r);
        }
        let first = q.take_output();
        assert!(first.len() <= OUT_CHUNK, "{}", first.len());
        let mut all = first.to_vec();
        all.extend(drain(&mut q));
        assert_eq!(all, want);
        assert_eq!(q.accounted(), 0);
    }

    #[test]
    fn a_client_past_twice_its_limit_is_flagged() {
        let limit = 64 * 1024;
        let small_replies = |q: &mut ReplyQueue| {
            for _ in 0..2000 {
                let s = q.reserve();
                q.deliver(s, WHOLE, b"+OK\r\n");
                drain(q);
            }
        };
        let mut q = ReplyQueue::new(limit);
        small_replies(&mut q);
        q.reserve();
        assert_eq!(q.accounted(), limit / 1024, "the estimate keeps its floor");
        // Small replies, then a pipeline of large ones the estimate missed:
        // past twice the limit (and three of the largest reply), flagged.
        let big = vec![b'x'; 40_000];
        let slots: Vec<u64> = (0..3).map(|_| q.reserve()).collect();
        q.deliver(slots[0] - 1, WHOLE, &big);
        q.deliver(slots[0], WHOLE, &big);
        q.deliver(slots[1], WHOLE, &big);
        assert!(!q.overflowed(), "120 kB held, limit 64 kB: under twice");
        assert!(q.deliver(slots[2], WHOLE, &big), "the session is woken");
        assert!(q.overflowed());
        // One reply larger than twice the limit is no reason to drop anyone.
        let mut q = ReplyQueue::new(limit);
        small_replies(&mut q);
        let s = q.reserve();
        q.deliver(s, WHOLE, &vec![b'h'; 3 * limit]);
        assert!(!q.overflowed());
    }

    #[test]
    fn replies_to_come_are_counted_before_they_arrive() {
        let limit = 64 * 1024;
        let mut q = ReplyQueue::new(limit);
        let first = q.reserve();
        // A new client's replies are assumed large: 64 fill the limit.
        assert_eq!(q.accounted(), limit / 64);
        let big = vec![b'x'; 10_000];
        q.deliver(first, WHOLE, &big);
        assert_eq!(q.accounted(), big.len(), "settled at its real size");
        let next = q.reserve();
        assert!(
            q.accounted() >= 2 * big.len(),
            "the next is expected as large"
        );
        q.deliver(next, WHOLE, b"+OK\r\n");
        drain(&mut q);
        assert_eq!(q.accounted(), 0);
        for _ in 0..200 {
            let s = q.reserve();
            q.deliver(s, WHOLE, b"+OK\r\n");
        }
        drain(&mut q);
        q.reserve();
        assert_eq!(
            q.accounted(),
            limit / 1024,
            "small replies bring the estimate down to its floor"
        );
    }
}
