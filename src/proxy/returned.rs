//! Requests sent again, each into the reply slot it already has: those a
//! failed connection handed back unwritten (routed again once), and those
//! a cluster node did not run but redirected — `MOVED` (to the slot's new
//! master; the pool's slot table learns it and the slot map is asked
//! for), `ASK` (ASKING and the request to the importing node, the table
//! unchanged), `TRYAGAIN` and `CLUSTERDOWN` (again after a short pause) —
//! at most [`MAX_REDIRECTS`] times (a blocking call on a connection of its
//! own, see `owned::blocking`). A request whose reply was anything else is
//! never sent again. Until all are answered the client's next
//! requests wait at the epoch barrier, so its order holds.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::client::{retry_pause, Cause, Returned, IGNORED, MAX_REDIRECTS};
use super::dispatch::{target, waiter, Dispatcher};
use super::error::ClientError;
use super::map_wait::MapAsked;
use super::worker_pool::WorkerPool;
use crate::backend::{BackendError, Tag, Waiter};
use crate::cluster::{Redirect, RedirectKind};
use crate::pool::counters::{add, Redirection};
use crate::pool::PoolSnapshot;
use crate::protocol::{FrameLimits, RequestFramer};
use crate::route::{lookup, CommandSpec, Route, RouteError};

pub(super) const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";

impl Dispatcher {
    /// Sends again what came back since the last call, oldest first.
    pub fn route_returned(&mut self) {
        if !self.client.has_returned() {
            return;
        }
        let pool = Rc::clone(&self.pool);
        for r in self.client.take_returned() {
            match r.cause {
                Cause::Failed(error) => {
                    let to = (r.server, r.readdressed);
                    self.resend_failed(&pool, &r.tag, &r.bytes, to, error)
                }
                Cause::Redirected(reply) => self.follow(&pool, r.tag, r.bytes, &reply),
                Cause::Retry => self.retry(&pool, r.tag, r.bytes),
            }
        }
    }

    /// A request a failed connection never wrote: to the server the
    /// placement now gives its key, or, when its server moved (a Sentinel
    /// failover), to that server at its new address, once. Where the
    /// placement still gives the same server, the client gets the error.
    fn resend_failed(
        &mut self,
        pool: &WorkerPool,
        tag: &Tag,
        bytes: &[u8],
        (server, readdressed): (usize, bool),
        error: BackendError,
    ) {
        let snapshot = pool.runtime.snapshot_arc();
        let (routed, spec) = match self.route_again(&snapshot, bytes) {
            Again::One(s, spec) => (Some(s), Some(spec)),
            Again::Refused(_, spec) => (None, Some(spec)),
            Again::Other(spec) => (None, spec),
        };
        let to = if readdressed { Some(server) } else { routed };
        let conn = match to {
            Some(s) if (s != server || readdressed) && snapshot.placement.is_live(s) => {
                // In the protocol it was sent in: a HELLO 3 the client sent
                // after it is answered already.
                Some(target(pool, &snapshot, spec, s, self.sender(self.epoch.1)))
            }
            _ => None,
        };
        match conn {
            Some(Ok(conn)) => conn.send(bytes, waiter(&self.client, tag.seq, tag.part, true)),
            failed => {
                let error = match failed {
                    Some(Err(e)) => e,
                    _ => error,
                };
                add(&pool.runtime.stats.shard(pool.index).forward_error, 1);
                let error = ClientError::Backend(error);
                self.client.deliver_error(tag.seq, tag.part, &error);
            }
        }
    }

    /// A cluster node's redirection, followed.
    fn follow(&mut self, pool: &WorkerPool, tag: Tag, bytes: Bytes, reply: &[u8]) {
        let hop = Tag {
            hops: tag.hops + 1,
            ..tag
        };
        let stats = pool.runtime.stats.shard(pool.index);
        let Some(redirect) = Redirect::parse(reply) else {
            add(&stats.redirections[Redirection::Retry as usize], 1);
            return self.pause(hop, bytes, Wait::For(retry_pause(tag.hops)));
        };
        let runtime = &pool.runtime;
        let node = match redirect.kind {
            RedirectKind::Moved => {
                add(&stats.redirections[Redirection::Moved as usize], 1);
                runtime.move_slot(redirect.slot, &redirect.addr)
            }
            RedirectKind::Ask => {
                add(&stats.redirections[Redirection::Ask as usize], 1);
                runtime.cluster_node(&redirect.addr)
            }
        };
        let Some(node) = node else {
            // An address the proxy cannot read: the node's word stands.
            return self.client.deliver(tag.seq, tag.part, reply);
        };
        let asking = redirect.kind == RedirectKind::Ask;
        if let Some(call) = self.blocked_call(tag.seq) {
            return self.block_again(call, node, hop, &bytes, asking);
        }
        let snapshot = runtime.snapshot_arc();
        let conn = pool.conn(&snapshot, node, self.client_id, self.epoch.1);
        if asking {
            // Queued together: nothing else on the connection comes between.
            conn.send(ASKING, waiter(&self.client, tag.seq, IGNORED, false));
        }
        conn.send(&bytes, self.hop_waiter(hop));
    }

    /// A request the cluster asked to be sent again (TRYAGAIN, CLUSTERDOWN)
    /// or whose slot no master served, after its pause: routed as the slot
    /// table has it now.
    fn retry(&mut self, pool: &WorkerPool, tag: Tag, bytes: Bytes) {
        let snapshot = pool.runtime.snapshot_arc();
        match self.route_again(&snapshot, &bytes) {
            Again::One(server, spec) => {
                if let Some(call) = self.blocked_call(tag.seq) {
                    return self.block_again(call, server, tag, &bytes, false);
                }
                let sender = self.sender(self.epoch.1);
                match target(pool, &snapshot, Some(spec), server, sender) {
                    Ok(conn) => conn.send(&bytes, self.hop_waiter(tag)),
                    Err(e) => {
                        let error = ClientError::Backend(e);
                        self.client.deliver_error(tag.seq, tag.part, &error)
                    }
                }
            }
            // (A slot map that serves it may be on its way.)
            Again::Refused(RouteError::NoServer, _) if tag.hops < MAX_REDIRECTS - 1 => {
                let last = Tag {
                    hops: MAX_REDIRECTS - 1,
                    ..tag
                };
                self.pause(last, bytes, Wait::ForMap(MapAsked::now(&pool.runtime)))
            }
            Again::Refused(e, spec) => {
                let error = ClientError::route(e, spec.name, &snapshot.config);
                self.client.deliver_error(tag.seq, tag.part, &error)
            }
            // A request that went whole to one slot cannot route otherwise.
            Again::Other(_) => {
                let error = ClientError::route(RouteError::CrossSlot, "", &snapshot.config);
                self.client.deliver_error(tag.seq, tag.part, &error)
            }
        }
    }

    /// Sends `bytes` again once `wait` is over.
    fn pause(&mut self, tag: Tag, bytes: Bytes, wait: Wait) {
        let client = self.client.clone();
        client.pause_returned();
        tokio::task::spawn_local(async move {
            match wait {
                Wait::For(pause) => tokio::time::sleep(pause).await,
                Wait::ForMap(asked) => asked.answered().await,
            }
            client.resume(Returned {
                tag,
                bytes,
                server: 0,
                readdressed: false,
                cause: Cause::Retry,
            });
        });
    }

    /// A hosted call's script redirected: where the node says (see
    /// [`Self::follow`]).
    pub(super) fn follow_hosted(&mut self, redirect: Redirect) {
        let runtime = self.pool.runtime.clone();
        let node = match redirect.kind {
            RedirectKind::Moved => runtime.move_slot(redirect.slot, &redirect.addr),
            RedirectKind::Ask => runtime.cluster_node(&redirect.addr),
        };
        let snapshot = runtime.snapshot_arc();
        match (node, redirect.kind) {
            (Some(node), RedirectKind::Ask) => self.send_step_to(&snapshot, node, true),
            // MOVED: the table says so now.
            _ => self.send_step_to_keys(&snapshot),
        }
    }

    /// The client's waiter for a request sent again under `tag`.
    pub(super) fn hop_waiter(&self, tag: Tag) -> Waiter {
        let mut w = waiter(&self.client, tag.seq, tag.part, tag.retried);
        w.tag.hops = tag.hops;
        w
    }

    /// Where a request sent again goes now, framed from its bytes.
    fn route_again(&mut self, snapshot: &PoolSnapshot, bytes: &[u8]) -> Again {
        let mut framer = RequestFramer::new(FrameLimits::default());
        let Some(req) = framer.next_frame(bytes).ok().flatten() else {
            return Again::Other(None);
        };
        let Some(spec) = lookup(req.arg(0)) else {
            return Again::Other(None);
        };
        match self.router.route(spec, &req, &snapshot.placement) {
            Route::One(server) => Again::One(server, spec),
            Route::Refused(e) => Again::Refused(e, spec),
            _ => Again::Other(Some(spec)),
        }
    }
}

/// What a pause waits for.
enum Wait {
    For(Duration),
    /// The slot map asked for when the pause began.
    ForMap(MapAsked),
}

/// Where a request sent again goes.
enum Again {
    One(usize, &'static CommandSpec),
    Refused(RouteError, &'static CommandSpec),
    Other(Option<&'static CommandSpec>),
}
