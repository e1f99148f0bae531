//! A connection's queue: the bytes still to write, and the FIFO of requests
//! awaiting replies (written or not). Requests are written in FIFO order, so
//! the unwritten ones are always the last ones: their bytes are the tail of
//! the write stream, which is how a failure tells "may have run" from "never
//! reached the server".

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::time::Instant;

use super::handshake::Step;
use super::Waiter;
use crate::net::KEEP_CAPACITY;

/// Who a queued request belongs to.
#[derive(Debug)]
pub(super) enum Owner {
    Client(Waiter),
    /// The proxy's own command at connect.
    Handshake(Step),
    /// Already answered (queued behind a busy script): its reply is dropped.
    Abandoned,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub owner: Owner,
    /// Its bytes in the write stream.
    pub len: usize,
    pub sent: Instant,
    pub deadline: Option<Instant>,
    /// A copy of its bytes, kept while it is written and unanswered: a read
    /// on a replica, which goes to another replica if this one fails.
    pub copy: Option<bytes::Bytes>,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Bytes not yet taken by the writer.
    wbuf: BytesMut,
    waiting: VecDeque<Pending>,
    /// Bytes of the requests in `waiting`, for the queue gauges.
    queued_bytes: usize,
    /// The write cursor on this socket: how many leading requests of
    /// `waiting` are written whole, and how many bytes of the next one.
    /// Kept as bytes are written, so no question about the queue walks it.
    written: usize,
    partial: usize,
    /// Where the copies of requests are cut from: one allocation for many
    /// (a cluster node's connection keeps a copy of every request).
    copies: BytesMut,
}

/// The arena for request copies grows by this much at least.
const COPIES_CHUNK: usize = 16 * 1024;

/// Everything a failed connection still held.
pub(super) struct Drained {
    pub waiting: VecDeque<Pending>,
    /// The bytes never written, from the first unwritten request on.
    pub unsent: BytesMut,
    /// Index in `waiting` of the first request none of whose bytes were written.
    pub first_unsent: usize,
}

/// The queue gauges: requests (and bytes) not yet written, and written but
/// still awaiting their replies.
pub(super) struct Gauges {
    pub in_queue: usize,
    pub in_queue_bytes: usize,
    pub out_queue: usize,
    pub out_queue_bytes: usize,
}

impl Queue {
    /// Bytes waiting for the writer.
    pub fn unsent_bytes(&self) -> usize {
        self.wbuf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Appends a request that `write` encodes; returns its length.
    pub fn push(
        &mut self,
        write: impl FnOnce(&mut BytesMut),
        owner: Owner,
        timeout: Option<Duration>,
    ) -> usize {
        let before = self.wbuf.len();
        write(&mut self.wbuf);
        let len = self.wbuf.len() - before;
        let sent = Instant::now();
        self.queued_bytes += len;
        self.waiting.push_back(Pending {
            owner,
            len,
            sent,
            deadline: timeout.map(|t| sent + t),
            copy: None,
        });
        len
    }

    /// Keeps a copy of the last request's bytes (see [`Pending::copy`]).
    pub fn keep_copy_of_last(&mut self) {
        if let Some(p) = self.waiting.back_mut() {
            let bytes = &self.wbuf[self.wbuf.len() - p.len..];
            if self.copies.capacity() < bytes.len() {
                self.copies.reserve(bytes.len().max(COPIES_CHUNK));
            }
            self.copies.extend_from_slice(bytes);
            p.copy = Some(self.copies.split().freeze());
        }
    }

    /// Puts the handshake (its bytes, and one entry per step with its length)
    /// in front of everything queued while connecting.
    pub fn push_front(&mut self, bytes: BytesMut, steps: &[(Step, usize)]) {
        let mut wbuf = bytes;
        self.queued_bytes += wbuf.len();
        wbuf.extend_from_slice(&self.wbuf);
        self.wbuf = wbuf;
        let now = Instant::now();
        for &(step, len) in steps.iter().rev() {
            self.waiting.push_front(Pending {
                owner: Owner::Handshake(step),
                len,
                sent: now,
                deadline: None,
                copy: None,
            });
        }
    }

    /// Forgets a handshake that never left (the socket it was meant for
    /// closed first): the next connection sends its own.
    pub fn drop_unsent_handshake(&mut self) {
        while let Some(Pending {
            owner: Owner::Handshake(_),
            len,
            ..
        }) = self.waiting.front()
        {
            let len = *len;
            if self.wbuf.len() < len || self.unsent_requests() < self.waiting.len() {
                return;
            }
            self.wbuf.advance(len);
            self.queued_bytes -= len;
            self.waiting.pop_front();
        }
    }

    /// Moves everything queued into the writer's empty buffer.
    pub fn take_for_write(&mut self, sending: &mut BytesMut) {
        debug_assert!(sending.is_empty());
        std::mem::swap(sending, &mut self.wbuf);
        if self.wbuf.capacity() > KEEP_CAPACITY {
            self.wbuf = BytesMut::new();
        }
    }

    /// The writer wrote `n` more bytes: moves the cursor over them.
    pub fn wrote(&mut self, mut n: usize) {
        while n > 0 {
            let Some(p) = self.waiting.get(self.written) else {
                return;
            };
            let rest = p.len - self.partial;
            if n < rest {
                self.partial += n;
                return;
            }
            n -= rest;
            self.written += 1;
            self.partial = 0;
        }
    }

    /// Puts bytes the writer did not get to back in front of the queue; the
    /// next socket starts writing with them.
    pub fn restore_unwritten(&mut self, mut unwritten: BytesMut) {
        if !unwritten.is_empty() {
            unwritten.extend_from_slice(&self.wbuf);
            self.wbuf = unwritten;
        }
    }

    /// The oldest request, now that its reply arrived.
    pub fn pop(&mut self) -> Option<Pending> {
        let p = self.waiting.pop_front()?;
        self.queued_bytes -= p.len;
        // A reply comes only for a request written whole.
        self.written = self.written.saturating_sub(1);
        Some(p)
    }

    /// Answers for the requests behind the head: each becomes abandoned (its
    /// reply will be dropped) and its waiter is returned, to be told why.
    pub fn abandon_behind_head(&mut self) -> Vec<Waiter> {
        let mut behind = Vec::new();
        for p in self.waiting.iter_mut().skip(1) {
            if let Owner::Client(w) = std::mem::replace(&mut p.owner, Owner::Abandoned) {
                behind.push(w);
            }
        }
        behind
    }

    /// Since when the oldest request has waited, once some of it is written.
    pub fn oldest_awaiting(&self) -> Option<Instant> {
        if self.awaiting() == 0 {
            return None;
        }
        self.waiting.front().map(|p| p.sent)
    }

    /// The oldest entry is the proxy's own setup command.
    pub fn head_is_handshake(&self) -> bool {
        matches!(
            self.waiting.front(),
            Some(Pending {
                owner: Owner::Handshake(_),
                ..
            })
        )
    }

    /// When the oldest request with a deadline times out.
    pub fn first_deadline(&self) -> Option<Instant> {
        self.waiting.iter().find_map(|p| p.deadline)
    }

    /// The time the first request past its deadline at `now` was given, in ms.
    pub fn first_expired(&self, now: Instant) -> Option<u64> {
        let p = self.waiting.iter().find(|p| p.deadline.is_some())?;
        let deadline = p.deadline?;
        (deadline <= now).then(|| (deadline - p.sent).as_millis() as u64)
    }

    /// Appends bytes no reply is matched to (a subscriber's commands, whose
    /// confirmations go to the connection's listener with its messages).
    pub fn push_untracked(&mut self, write: impl FnOnce(&mut BytesMut)) -> usize {
        let before = self.wbuf.len();
        write(&mut self.wbuf);
        self.wbuf.len() - before
    }

    /// Requests none of whose bytes were written on this socket.
    fn unsent_requests(&self) -> usize {
        self.waiting.len() - self.written - usize::from(self.partial > 0)
    }

    /// Requests some of whose bytes reached the server and whose replies
    /// have not come: what a lost connection may have run.
    pub fn awaiting(&self) -> usize {
        self.waiting.len() - self.unsent_requests()
    }

    /// The gauges, with `unwritten` bytes in the writer's buffer.
    pub fn gauges(&self, unwritten: usize) -> Gauges {
        let in_queue = self.unsent_requests();
        let in_queue_bytes = unwritten + self.wbuf.len();
        Gauges {
            in_queue,
            in_queue_bytes,
            out_queue: self.waiting.len() - in_queue,
            out_queue_bytes: self.queued_bytes.saturating_sub(in_queue_bytes),
        }
    }

    /// Empties the queue after a failure (the writer's unwritten bytes
    /// already restored).
    pub fn drain(&mut self) -> Drained {
        let first_unsent = self.waiting.len() - self.unsent_requests();
        let unsent_len: usize = self.waiting.iter().skip(first_unsent).map(|p| p.len).sum();
        let mut unsent = std::mem::take(&mut self.wbuf);
        // Bytes of a request cut mid-write stay in front: not anyone's to resend.
        let cut = unsent.len() - unsent_len;
        let unsent = unsent.split_off(cut);
        self.queued_bytes = 0;
        self.reset_cursor();
        Drained {
            waiting: std::mem::take(&mut self.waiting),
            unsent,
            first_unsent,
        }
    }

    /// Takes out the requests none of whose bytes were written (with their
    /// bytes), the writer's unwritten bytes (`sending`) included; what is
    /// left to write is the rest of a request cut mid-write, if any.
    pub fn take_unsent(&mut self, sending: &mut BytesMut) -> Vec<(Pending, BytesMut)> {
        self.restore_unwritten(std::mem::take(sending));
        let n = self.unsent_requests();
        let first = self.waiting.len() - n;
        let tail_len: usize = self.waiting.iter().skip(first).map(|p| p.len).sum();
        let mut tail = self.wbuf.split_off(self.wbuf.len() - tail_len);
        self.queued_bytes -= tail_len;
        self.waiting
            .drain(first..)
            .map(|p| {
                let bytes = tail.split_to(p.len);
                (p, bytes)
            })
            .collect()
    }

    /// A new socket: nothing is written on it yet.
    pub fn reset_cursor(&mut self) {
        self.written = 0;
        self.partial = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut Queue, bytes: &[u8]) {
        q.push(
            |b| b.extend_from_slice(bytes),
            Owner::Handshake(Step::Select),
            None,
        );
    }

    /// A queue of AAAA, BBBB and CCCC, all taken by the writer.
    fn taken_for_write() -> (Queue, BytesMut) {
        let mut q = Queue::default();
        push(&mut q, b"AAAA");
        push(&mut q, b"BBBB");
        push(&mut q, b"CCCC");
        let mut sending = BytesMut::new();
        q.take_for_write(&mut sending);
        (q, sending)
    }

    #[test]
    fn a_failure_knows_which_requests_never_left() {
        let (mut q, mut sending) = taken_for_write();
        // The writer got "AAAAB" out, then failed.
        let _ = sending.split_to(5);
        q.wrote(5);
        assert_eq!(q.awaiting(), 2);
        q.restore_unwritten(sending);
        let d = q.drain();
        assert_eq!(d.first_unsent, 2);
        assert_eq!(&d.unsent[..], b"CCCC");
        assert!(q.is_empty());
    }

    struct Nobody;
    impl crate::backend::ReplySink for Nobody {
        fn reply(&self, _: crate::backend::Tag, _: &[u8]) {}
        fn failed(
            &self,
            _: crate::backend::Tag,
            _: &crate::backend::BackendError,
            _: Option<crate::backend::Unsent<'_>>,
        ) {
        }
    }

    #[test]
    fn a_handshake_that_never_left_is_forgotten() {
        let mut q = Queue::default();
        let waiter = Waiter {
            sink: std::rc::Rc::new(Nobody),
            tag: crate::backend::Tag {
                seq: 0,
                part: 0,
                retried: false,
                hops: 0,
            },
        };
        q.push(|b| b.extend_from_slice(b"REQ"), Owner::Client(waiter), None);
        q.push_front(BytesMut::from(&b"AUTH"[..]), &[(Step::Auth, 4)]);
        assert_eq!(q.waiting.len(), 2);
        q.drop_unsent_handshake();
        assert_eq!(q.waiting.len(), 1);
        assert_eq!(&q.wbuf[..], b"REQ");
        assert_eq!(q.queued_bytes, 3);
    }

    #[test]
    fn the_requests_behind_the_head_are_abandoned_in_place() {
        let mut q = Queue::default();
        let waiter = |seq| Waiter {
            sink: std::rc::Rc::new(Nobody),
            tag: crate::backend::Tag {
                seq,
                part: 0,
                retried: false,
                hops: 0,
            },
        };
        for seq in 0..3 {
            q.push(
                |b| b.extend_from_slice(b"REQ"),
                Owner::Client(waiter(seq)),
                None,
            );
        }
        assert_eq!(q.oldest_awaiting(), None, "nothing written yet");
        let mut sending = BytesMut::new();
        q.take_for_write(&mut sending);
        q.wrote(4);
        assert!(q.oldest_awaiting().is_some());
        let behind: Vec<u64> = q.abandon_behind_head().iter().map(|w| w.tag.seq).collect();
        assert_eq!(behind, vec![1, 2]);
        assert!(q.abandon_behind_head().is_empty(), "answered once");
        assert_eq!(q.waiting.len(), 3, "their replies are still due");
        assert!(matches!(q.pop().unwrap().owner, Owner::Client(_)));
        assert!(matches!(q.pop().unwrap().owner, Owner::Abandoned));
    }

    #[test]
    fn the_unsent_requests_are_taken_out_with_their_bytes() {
        let (mut q, mut sending) = taken_for_write();
        push(&mut q, b"DD");
        // "AAAAB" went out; "BBB" must still go, C and D never left.
        let _ = sending.split_to(5);
        q.wrote(5);
        let taken = q.take_unsent(&mut sending);
        let bytes: Vec<&[u8]> = taken.iter().map(|(_, b)| &b[..]).collect();
        assert_eq!(bytes, vec![&b"CCCC"[..], &b"DD"[..]]);
        assert!(sending.is_empty());
        assert_eq!(&q.wbuf[..], b"BBB");
        assert_eq!((q.waiting.len(), q.awaiting()), (2, 2));
        let g = q.gauges(0);
        assert_eq!((g.in_queue, g.in_queue_bytes), (0, 3));
    }

    #[test]
    fn gauges_split_written_from_unwritten() {
        let mut q = Queue::default();
        push(&mut q, b"AAAA");
        push(&mut q, b"BB");
        let mut sending = BytesMut::new();
        q.take_for_write(&mut sending);
        let _ = sending.split_to(4);
        q.wrote(4);
        let g = q.gauges(sending.len());
        assert_eq!(
            (g.in_queue, g.in_queue_bytes, g.out_queue, g.out_queue_bytes),
            (1, 2, 1, 4)
        );
    }
}
