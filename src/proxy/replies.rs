//! A client's reply queue: replies leave in request order, whichever server
//! answers first. Each request takes a slot; a backend fills it; the bytes of
//! every leading filled slot move to `out`, which the session writes.
//!
//! The common case costs no allocation: a reply for the oldest slot is copied
//! straight into `out`. Only a reply that overtakes an older one is kept aside.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::merge::Merge;

/// A part index meaning "the whole request went to one server".
pub const WHOLE: u32 = u32::MAX;

#[derive(Debug)]
enum Slot {
    Waiting,
    Ready(Bytes),
    Merging(Box<Merge>),
}

#[derive(Debug, Default)]
pub struct ReplyQueue {
    out: BytesMut,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    head: u64,
    /// The client is gone: drop replies instead of keeping them.
    closed: bool,
    /// Bytes held in Ready slots (replies that overtook an older one).
    held: usize,
}

/// The queue, shared by the session and the backends it sends to, with the
/// session's wake-up.
#[derive(Debug, Default)]
pub struct ClientReplies {
    pub queue: RefCell<ReplyQueue>,
    pub ready: Notify,
}

pub type Replies = Rc<ClientReplies>;

impl ClientReplies {
    /// Takes the next slot for a request whose reply comes later.
    #[inline]
    pub fn reserve(&self) -> u64 {
        let mut q = self.queue.borrow_mut();
        q.slots.push_back(Slot::Waiting);
        q.head + q.slots.len() as u64 - 1
    }

    /// Takes the next slot for a reply merged from `merge`'s parts.
    pub fn reserve_merge(&self, merge: Merge) -> u64 {
        let mut q = self.queue.borrow_mut();
        q.slots.push_back(Slot::Merging(Box::new(merge)));
        q.head + q.slots.len() as u64 - 1
    }

    /// A reply the proxy makes itself, in order after everything before it.
    pub fn push_local(&self, write: impl FnOnce(&mut BytesMut)) {
        let mut q = self.queue.borrow_mut();
        if q.slots.is_empty() {
            write(&mut q.out);
            drop(q);
            self.ready.notify_one();
        } else {
            let mut buf = BytesMut::new();
            write(&mut buf);
            q.held += buf.len();
            q.slots.push_back(Slot::Ready(buf.freeze()));
        }
    }

    /// A backend's reply for slot `seq` (part `part` of a split request).
    pub fn deliver(&self, seq: u64, part: u32, reply: &[u8]) {
        let mut q = self.queue.borrow_mut();
        if q.closed || seq < q.head {
            return;
        }
        let at = (seq - q.head) as usize;
        let complete = match q.slots.get_mut(at) {
            Some(Slot::Merging(m)) if part != WHOLE => {
                if !m.add(part as usize, reply) {
                    return;
                }
                let mut buf = BytesMut::new();
                m.finish(&mut buf);
                buf.freeze()
            }
            Some(Slot::Waiting) if part == WHOLE => {
                if at == 0 {
                    q.out.extend_from_slice(reply);
                    q.slots.pop_front();
                    q.head += 1;
                    q.drain_ready();
                    drop(q);
                    self.ready.notify_one();
                    return;
                }
                Bytes::copy_from_slice(reply)
            }
            _ => return,
        };
        q.held += complete.len();
        q.slots[at] = Slot::Ready(complete);
        if at == 0 {
            q.drain_ready();
            drop(q);
            self.ready.notify_one();
        }
    }

    /// Moves the bytes ready to write into `into` (which should be empty).
    pub fn take_output(&self, into: &mut BytesMut) {
        let mut q = self.queue.borrow_mut();
        std::mem::swap(&mut q.out, into);
    }

    /// Requests still waiting for a reply.
    pub fn pending(&self) -> usize {
        self.queue.borrow().slots.len()
    }

    /// Reply bytes waiting to be written to the client.
    pub fn buffered(&self) -> usize {
        let q = self.queue.borrow();
        q.out.len() + q.held
    }

    /// The client is gone; later replies are dropped.
    pub fn close(&self) {
        let mut q = self.queue.borrow_mut();
        q.closed = true;
        q.slots.clear();
        q.out = BytesMut::new();
    }
}

impl ReplyQueue {
    fn drain_ready(&mut self) {
        while let Some(Slot::Ready(_)) = self.slots.front() {
            if let Some(Slot::Ready(bytes)) = self.slots.pop_front() {
                self.held -= bytes.len();
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

    fn drain(r: &ClientReplies) -> Vec<u8> {
        let mut b = BytesMut::new();
        r.take_output(&mut b);
        b.to_vec()
    }

    #[test]
    fn replies_leave_in_request_order() {
        let r = ClientReplies::default();
        let a = r.reserve();
        let b = r.reserve();
        r.push_local(|o| o.extend_from_slice(b"+PONG\r\n"));
        let c = r.reserve_merge(Merge::new(MergeKind::Sum, 2));
        r.deliver(b, WHOLE, b":2\r\n");
        r.deliver(c, 0, b":1\r\n");
        assert_eq!(drain(&r), b"");
        r.deliver(a, WHOLE, b":1\r\n");
        assert_eq!(drain(&r), b":1\r\n:2\r\n+PONG\r\n");
        r.deliver(c, 1, b":5\r\n");
        assert_eq!(drain(&r), b":6\r\n");
        assert_eq!(r.pending(), 0);
    }
}
