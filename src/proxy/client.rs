//! The client side of the backend's contract: where a client's replies and
//! failures land. Replies fill the reply queue; a request that never reached
//! its server comes back here, to be routed again by the session in order;
//! the step of a hosted call in progress lands aside, for the session to act
//! on. Nothing here sends: the session does, so order stays its business.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::error::ClientError;
use super::merge::Merge;
use super::reply_queue::{ReplyQueue, WHOLE};
use super::rewrite::Rewrite;
use crate::backend::{BackendError, ReplySink, Tag, Unsent};
use crate::memory::{budget, ClientAccount};

/// The part index of a hosted call's script step (its reply is judged by the
/// session before it fills the client's slot).
pub const HOSTED: u32 = u32::MAX - 1;

/// The part index of a request whose reply nobody reads: the MULTI a
/// transaction sends once its server is known (the client had its `+OK`).
pub const IGNORED: u32 = u32::MAX - 2;

/// The part index of a command queued in a transaction that spans servers:
/// it fills its slot whole, and an error in it is noted, so EXEC discards
/// the transaction on every server.
pub const QUEUED: u32 = u32::MAX - 3;

/// Marks part `i` of a command split by key inside MULTI (`QUEUED_PART |
/// i`): each piece's `+QUEUED` is a part of the client's one `+QUEUED`, and
/// an error in it is noted as for [`QUEUED`].
pub const QUEUED_PART: u32 = 1 << 30;

/// The part of a split command's piece queued inside MULTI, if `part` is one.
fn queued_part(part: u32) -> Option<u32> {
    (part & (3 << 30) == QUEUED_PART).then_some(part & !QUEUED_PART)
}

/// The part index of what a subscriber connection sends unasked
/// (confirmations, messages); the tag's `seq` is the server's index.
pub const SUBSCRIBER: u32 = u32::MAX - 4;

/// What came from one of the client's subscriber connections.
#[derive(Debug)]
pub enum PubsubEvent {
    /// A frame (a confirmation or a message), from the server of this index.
    Frame { server: usize, frame: Bytes },
    /// The connection to this server ended.
    Lost { server: usize, error: BackendError },
}

/// A request handed back to be sent again: by a failed connection before
/// any of its bytes were written, or by a cluster node that redirected it.
#[derive(Debug)]
pub struct Returned {
    pub tag: Tag,
    pub bytes: Bytes,
    /// The server it was meant for.
    pub server: usize,
    /// That server moved (a Sentinel failover): it goes to the same server
    /// at its new address.
    pub readdressed: bool,
    pub cause: Cause,
}

/// Why a request came back.
#[derive(Debug)]
pub enum Cause {
    /// Its connection failed before writing it.
    Failed(BackendError),
    /// A cluster node answered this (MOVED, ASK, TRYAGAIN, CLUSTERDOWN).
    Redirected(Bytes),
    /// Its pause is over (after TRYAGAIN or CLUSTERDOWN, or waiting for a
    /// slot map that serves its slot): routed again as it is now.
    Retry,
}

/// What became of a hosted call's last script step.
#[derive(Debug)]
pub enum StepOutcome {
    Reply(Bytes),
    Failed {
        error: BackendError,
        /// The server it was meant for, when none of it was written.
        unsent_to: Option<usize>,
        /// That server moved to a new address (a Sentinel failover).
        readdressed: bool,
    },
    /// A cluster node redirected it (MOVED, ASK, TRYAGAIN, CLUSTERDOWN).
    Redirected {
        reply: Bytes,
    },
}

#[derive(Debug)]
pub struct Client {
    pub queue: RefCell<ReplyQueue>,
    /// Wakes the session: replies ready, a request returned, a step done.
    pub ready: Notify,
    returned: RefCell<Vec<Returned>>,
    /// Requests pausing before they are sent again (cluster retries): they
    /// count as returned, so the client's order waits for them.
    pausing: std::cell::Cell<usize>,
    step: RefCell<Option<StepOutcome>>,
    /// A command queued in a transaction across servers was refused.
    queued_error: std::cell::Cell<bool>,
    /// Frames from subscriber connections, for the session to place.
    pubsub: RefCell<Vec<PubsubEvent>>,
    /// The client's share of the proxy-wide memory bound.
    pub memory: ClientAccount,
}

impl Client {
    pub fn new(output_limit: usize) -> Client {
        Client {
            queue: RefCell::new(ReplyQueue::new(output_limit)),
            ready: Notify::new(),
            returned: RefCell::new(Vec::new()),
            pausing: std::cell::Cell::new(0),
            step: RefCell::new(None),
            queued_error: std::cell::Cell::new(false),
            pubsub: RefCell::new(Vec::new()),
            memory: budget().client(),
        }
    }

    /// Takes the next reply slot.
    #[inline]
    pub fn reserve(&self) -> u64 {
        self.queue.borrow_mut().reserve()
    }

    /// Takes the next reply slot, for a reply merged from `merge`'s parts.
    pub fn reserve_merge(&self, merge: Merge) -> u64 {
        self.queue.borrow_mut().reserve_merge(merge)
    }

    /// Takes the next reply slot, for a reply `rewrite` changes.
    pub fn reserve_rewrite(&self, rewrite: Rewrite) -> u64 {
        self.queue.borrow_mut().reserve_rewrite(rewrite)
    }

    /// Fills slot `seq` (part `part`) and wakes the session when bytes are
    /// ready to write.
    pub fn deliver(&self, seq: u64, part: u32, reply: &[u8]) {
        let ready = self.queue.borrow_mut().deliver(seq, part, reply);
        self.account_output();
        if ready {
            self.ready.notify_one();
        }
    }

    /// Counts the replies queued against the memory bound, as they land:
    /// a burst from a server is counted before the session next runs. A
    /// client chosen to be closed drops them at once.
    pub fn account_output(&self) {
        let mut queue = self.queue.borrow_mut();
        self.memory.set_output(queue.held_bytes());
        if self.memory.evicted() {
            queue.close();
            self.memory.set_output(0);
            self.ready.notify_one();
        }
    }

    /// Fills slot `seq` (part `part`) with an error.
    pub fn deliver_error(&self, seq: u64, part: u32, error: &ClientError) {
        let mut buf = BytesMut::new();
        error.write(&mut buf);
        self.deliver(seq, part, &buf);
    }

    /// A reply the proxy makes itself, in order.
    pub fn push_local(&self, write: impl FnOnce(&mut BytesMut)) {
        let ready = self.queue.borrow_mut().push_local(write);
        self.account_output();
        if ready {
            self.ready.notify_one();
        }
    }

    pub fn push_error(&self, error: &ClientError) {
        self.push_local(|out| error.write(out));
    }

    /// Requests handed back since the last call, oldest first.
    pub fn take_returned(&self) -> Vec<Returned> {
        let mut r = std::mem::take(&mut *self.returned.borrow_mut());
        r.sort_by_key(|r| r.tag.seq);
        r
    }

    pub fn has_returned(&self) -> bool {
        !self.returned.borrow().is_empty() || self.pausing.get() > 0
    }

    /// A returned request starts a pause (see [`Self::resume`]).
    pub fn pause_returned(&self) {
        self.pausing.set(self.pausing.get() + 1);
    }

    /// A paused request is due: it is routed again with the returned ones.
    pub fn resume(&self, r: Returned) {
        self.pausing.set(self.pausing.get().saturating_sub(1));
        self.returned.borrow_mut().push(r);
        self.wake();
    }

    /// Whether a command queued across servers was refused since the last
    /// call.
    pub fn take_queued_error(&self) -> bool {
        self.queued_error.replace(false)
    }

    /// What came from subscriber connections since the last call, in order
    /// (`into` is emptied first, and reused).
    pub fn take_pubsub(&self, into: &mut Vec<PubsubEvent>) {
        into.clear();
        std::mem::swap(into, &mut *self.pubsub.borrow_mut());
    }

    /// The outcome of the hosted step in flight, once it came.
    pub fn take_step(&self) -> Option<StepOutcome> {
        self.step.borrow_mut().take()
    }

    fn wake(&self) {
        self.ready.notify_one();
    }
}

impl ReplySink for Client {
    fn reply(&self, tag: Tag, reply: &[u8]) {
        match tag.part {
            IGNORED => return,
            SUBSCRIBER => {
                self.pubsub.borrow_mut().push(PubsubEvent::Frame {
                    server: tag.seq as usize,
                    frame: Bytes::copy_from_slice(reply),
                });
                return self.wake();
            }
            QUEUED => {
                if reply.first() == Some(&b'-') {
                    self.queued_error.set(true);
                }
                return self.deliver(tag.seq, WHOLE, reply);
            }
            p => {
                if let Some(part) = queued_part(p) {
                    if reply.first() == Some(&b'-') {
                        self.queued_error.set(true);
                    }
                    return self.deliver(tag.seq, part, reply);
                }
            }
        }
        if tag.part == HOSTED {
            *self.step.borrow_mut() = Some(StepOutcome::Reply(Bytes::copy_from_slice(reply)));
            return self.wake();
        }
        self.deliver(tag.seq, tag.part, reply);
    }

    fn failed(&self, tag: Tag, error: &BackendError, unsent: Option<Unsent<'_>>) {
        match tag.part {
            IGNORED => return,
            SUBSCRIBER => {
                self.pubsub.borrow_mut().push(PubsubEvent::Lost {
                    server: tag.seq as usize,
                    error: error.clone(),
                });
                return self.wake();
            }
            QUEUED => {
                self.queued_error.set(true);
                let error = ClientError::Backend(error.clone());
                return self.deliver_error(tag.seq, WHOLE, &error);
            }
            p => {
                if let Some(part) = queued_part(p) {
                    self.queued_error.set(true);
                    let error = ClientError::Backend(error.clone());
                    return self.deliver_error(tag.seq, part, &error);
                }
            }
        }
        if tag.part == HOSTED {
            *self.step.borrow_mut() = Some(StepOutcome::Failed {
                error: error.clone(),
                unsent_to: unsent.map(|u| u.server),
                readdressed: unsent.is_some_and(|u| u.readdressed),
            });
            return self.wake();
        }
        match unsent {
            // Whole requests only: a part of a split is answered with the
            // error (the merge reports it) rather than split again. A part
            // for a master that moved goes to it again as it is.
            Some(u) if (tag.part == WHOLE || u.readdressed) && !tag.retried => {
                self.returned.borrow_mut().push(Returned {
                    tag,
                    bytes: Bytes::copy_from_slice(u.bytes),
                    server: u.server,
                    readdressed: u.readdressed,
                    cause: Cause::Failed(error.clone()),
                });
                self.wake();
            }
            _ => self.deliver_error(tag.seq, tag.part, &ClientError::Backend(error.clone())),
        }
    }

    fn redirected(&self, tag: Tag, reply: &[u8], request: &[u8]) {
        match tag.part {
            IGNORED => return,
            // Set up on a connection of the client's own: it stays there.
            p if p == SUBSCRIBER || p == QUEUED || queued_part(p).is_some() => {
                return self.reply(tag, reply)
            }
            HOSTED => {
                *self.step.borrow_mut() = Some(StepOutcome::Redirected {
                    reply: Bytes::copy_from_slice(reply),
                });
                return self.wake();
            }
            _ => {}
        }
        if tag.hops >= MAX_REDIRECTS {
            return match crate::cluster::Redirect::parse(reply) {
                Some(_) => {
                    let last = String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned();
                    let error = ClientError::TooManyRedirects {
                        hops: tag.hops,
                        last,
                    };
                    self.deliver_error(tag.seq, tag.part, &error)
                }
                // TRYAGAIN, CLUSTERDOWN: the cluster's own word, after the
                // retries.
                None => self.deliver(tag.seq, tag.part, reply),
            };
        }
        self.returned.borrow_mut().push(Returned {
            tag,
            bytes: Bytes::copy_from_slice(request),
            server: 0,
            readdressed: false,
            cause: Cause::Redirected(Bytes::copy_from_slice(reply)),
        });
        self.wake();
    }
}

/// Redirections one request follows at most (Redis Cluster clients' usual
/// bound): more means the slot map moves faster than it can be followed.
pub const MAX_REDIRECTS: u8 = 5;

/// The pause before sending again after TRYAGAIN or CLUSTERDOWN, when the
/// request was redirected `hops` times before: 10 ms, doubled per
/// redirection, so five take about 300 ms in all.
pub fn retry_pause(hops: u8) -> std::time::Duration {
    std::time::Duration::from_millis(10) * (1u32 << hops.min(6))
}
