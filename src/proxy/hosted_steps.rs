//! A hosted command as the dispatcher runs it: planned, its script sent to
//! the server of its keys (after ASKING when a cluster node says to ask
//! there), its outcome judged, and its answer put in the client's slot.

use super::client::{HOSTED, IGNORED};
use super::dispatch::{waiter, Dispatcher};
use super::error::ClientError;
use super::hosted_call::{CallStep, HostedCall, Pause};
use super::reply_queue::WHOLE;
use crate::hosted::{Hosted, Limits};
use crate::pool::PoolSnapshot;
use crate::route::{server_of_keys, CommandSpec, Request};

impl Dispatcher {
    /// Plans a hosted command and sends its first step.
    pub(super) fn start_hosted(
        &mut self,
        h: Hosted,
        spec: &CommandSpec,
        req: &Request<'_>,
        snapshot: &PoolSnapshot,
    ) {
        let words: Vec<&[u8]> = (1..req.argc()).map(|i| req.arg(i)).collect();
        let limits = Limits {
            bloom_max_bytes: snapshot.config.bloom_max_bytes,
        };
        match h.plan(spec.name, &words, &limits) {
            Ok(plan) => {
                let seq = self.client.reserve();
                let waiters = &self.pool.runtime.lock_waiters;
                self.hosted = Some(HostedCall::new(plan, spec.name, seq, waiters));
                self.send_step_to_keys(snapshot);
            }
            Err(e) => self.client.push_error(&ClientError::Hosted(e)),
        }
    }

    /// Sends the hosted call's script to the server its keys have in
    /// `snapshot`.
    pub(super) fn send_step_to_keys(&mut self, snapshot: &PoolSnapshot) {
        let Some(call) = self.hosted.as_ref() else {
            return;
        };
        match server_of_keys(call.keys(), &snapshot.placement) {
            Ok(server) => self.send_step_to(snapshot, server, false),
            Err(e) => {
                let error = ClientError::route(e, call.name, &snapshot.config);
                self.end_hosted(Err(error));
            }
        }
    }

    /// Sends the hosted call's script to `server`, after ASKING when a
    /// cluster node said to ask there.
    pub(super) fn send_step_to(&mut self, snapshot: &PoolSnapshot, server: usize, asking: bool) {
        let Some(call) = self.hosted.as_ref() else {
            return;
        };
        let conn = self
            .pool
            .conn(snapshot, server, self.client_id, self.state.proto);
        if asking {
            conn.send(
                b"*1\r\n$6\r\nASKING\r\n",
                waiter(&self.client, 0, IGNORED, false),
            );
        }
        conn.send_hosted(
            |b| call.encode(b),
            waiter(&self.client, call.seq, HOSTED, false),
        );
    }

    /// Acts on the hosted call's last step, if its outcome came. `leaving`:
    /// the client is gone, so a WAIT ends now with "not acquired".
    pub fn advance_hosted(&mut self, leaving: bool) {
        let Some(call) = self.hosted.as_mut() else {
            return;
        };
        let next = match self.client.take_step() {
            Some(outcome) => {
                let runtime = &self.pool.runtime;
                call.judge(outcome, leaving, |s| {
                    !runtime.snapshot().placement.is_live(s)
                })
            }
            None if leaving => match call.abandon() {
                Some(answer) => CallStep::Done(answer),
                None => return,
            },
            None => return,
        };
        match next {
            CallStep::Send => self.send_step_to_keys(&self.pool.runtime.snapshot_arc()),
            CallStep::Wait => {}
            CallStep::Done(answer) => self.end_hosted(Ok(answer)),
            CallStep::Failed(error) => self.end_hosted(Err(error)),
            CallStep::Redirect(r) => self.follow_hosted(r),
        }
    }

    /// The pause before the next WAIT attempt, while waiting between attempts.
    pub fn hosted_pause(&self) -> Option<Pause> {
        self.hosted.as_ref().and_then(HostedCall::pause)
    }

    /// The WAIT pause is over (or the lock was released): try it again.
    pub fn retry_hosted(&mut self) {
        if let Some(call) = self.hosted.as_mut() {
            call.retry_due();
            self.send_step_to_keys(&self.pool.runtime.snapshot_arc());
        }
    }

    /// The call's answer into its slot; the client's next requests may go.
    pub(super) fn end_hosted(&mut self, answer: Result<bytes::Bytes, ClientError>) {
        let Some(call) = self.hosted.take() else {
            return;
        };
        match answer {
            Ok(reply) => {
                if let Some(lock) = call.freed_lock(&reply) {
                    self.pool.runtime.lock_waiters.released(lock);
                }
                self.client.deliver(call.seq, WHOLE, &reply)
            }
            Err(e) => self.client.deliver_error(call.seq, WHOLE, &e),
        }
    }
}
