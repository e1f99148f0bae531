//! A hosted command in the client's pipeline: EVALSHA on the server of its
//! tag, EVAL when that server answers NOSCRIPT, and for `LOCK.ACQUIRE ...
//! WAIT` further attempts until the lock is had or the wait is over.
//!
//! It runs in the client's own session, not a task of its own: while it is in
//! progress the client's later requests wait (as behind a blocking command
//! in Redis), so each attempt and re-send happens before anything the client
//! sent after it, and the call ends when the client leaves.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::client::{StepOutcome, HOSTED};
use super::dispatch::Dispatcher;
use super::error::ClientError;
use super::reply_queue::WHOLE;
use crate::hosted::{Hosted, Plan};
use crate::protocol::encode;
use crate::protocol::reply::array_elements;
use crate::route::{server_of_keys, CommandSpec, Request};

/// Pause between LOCK.ACQUIRE attempts while another owner holds the lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// A hosted call in progress.
#[derive(Debug)]
pub struct HostedCall {
    plan: Plan,
    /// The command's name, for errors.
    name: &'static str,
    /// The client's reply slot.
    seq: u64,
    /// Sent as EVAL with the body (the server said NOSCRIPT).
    full: bool,
    /// WAIT: when to give up.
    deadline: Option<Instant>,
    /// WAIT: the next attempt, while waiting between attempts.
    retry_at: Option<Instant>,
    /// WAIT: the last "not acquired" reply, the answer if the wait ends.
    last: Option<Bytes>,
    /// A step that never reached its server was sent again once.
    resent: bool,
}

impl Dispatcher {
    /// Plans a hosted command and sends its first step.
    pub(super) fn start_hosted(&mut self, h: Hosted, spec: &CommandSpec, req: &Request<'_>) {
        let words: Vec<&[u8]> = (1..req.argc()).map(|i| req.arg(i)).collect();
        let plan = match h.plan(spec.name, &words) {
            Ok(plan) => plan,
            Err(e) => return self.client.push_error(&ClientError::Hosted(e)),
        };
        let now = Instant::now();
        let deadline = (plan.wait_ms > 0).then(|| now + Duration::from_millis(plan.wait_ms));
        let seq = self.client.reserve();
        self.hosted = Some(HostedCall {
            plan,
            name: spec.name,
            seq,
            full: false,
            deadline,
            retry_at: None,
            last: None,
            resent: false,
        });
        self.send_step();
    }

    /// Sends the call's script to the server its keys have now.
    fn send_step(&mut self) {
        let Some(call) = self.hosted.as_ref() else {
            return;
        };
        let snapshot = self.pool.runtime.snapshot_arc();
        let keys = call.plan.keys.iter().map(|k| k.as_slice());
        let server = match server_of_keys(keys, &snapshot.placement) {
            Ok(s) => s,
            Err(e) => {
                let config = &snapshot.config;
                let error = ClientError::route(e, call.name, &config.name, config.hash_tag);
                return self.finish_error(&error);
            }
        };
        let waiter = self.waiter(call.seq, HOSTED, false);
        let conn = self
            .pool
            .conn(&snapshot, server, self.client_id, self.state.proto);
        let (plan, full) = (&call.plan, call.full);
        conn.send_with(|b| encode_call(b, plan, full), waiter);
    }

    /// Acts on the outcome of the step in flight, if it came. `leaving`: the
    /// client is gone, so a WAIT ends now with "not acquired".
    pub fn advance_hosted(&mut self, leaving: bool) {
        let Some(call) = self.hosted.as_mut() else {
            return;
        };
        if let Some(outcome) = self.client.take_step() {
            match outcome {
                StepOutcome::Reply(reply) => {
                    if reply.starts_with(b"-NOSCRIPT") && !call.full {
                        // Not loaded there (a new server, SCRIPT FLUSH): the body.
                        call.full = true;
                        return self.send_step();
                    }
                    let waiting = call.deadline.is_some_and(|d| Instant::now() < d);
                    if waiting && !leaving && &reply[..] == b":0\r\n" {
                        let deadline = call.deadline.unwrap_or_else(Instant::now);
                        call.retry_at = Some((Instant::now() + LOCK_RETRY).min(deadline));
                        call.last = Some(reply);
                        return;
                    }
                    return self.finish(&reply);
                }
                StepOutcome::Failed { error, unsent_to } => {
                    let moved = unsent_to.is_some_and(|s| {
                        let snapshot = self.pool.runtime.snapshot();
                        !snapshot.placement.is_live(s)
                    });
                    if moved && !call.resent {
                        call.resent = true;
                        return self.send_step();
                    }
                    return self.finish_error(&ClientError::Backend(error));
                }
            }
        }
        if leaving && call.retry_at.is_some() {
            let last = call
                .last
                .take()
                .unwrap_or_else(|| Bytes::from_static(b":0\r\n"));
            self.finish(&last);
        }
    }

    /// When the next WAIT attempt is due, while waiting between attempts.
    pub fn hosted_retry_at(&self) -> Option<Instant> {
        self.hosted.as_ref().and_then(|c| c.retry_at)
    }

    /// The WAIT pause is over: try the lock again.
    pub fn retry_hosted(&mut self) {
        if let Some(call) = self.hosted.as_mut() {
            call.retry_at = None;
            self.send_step();
        }
    }

    /// The call's answer, into its slot; the client's next requests may go.
    fn finish(&mut self, reply: &[u8]) {
        let Some(call) = self.hosted.take() else {
            return;
        };
        if call.plan.first_of_array {
            let mut ranges = Vec::new();
            if array_elements(reply, &mut ranges).is_some() {
                if let Some(r) = ranges.first() {
                    return self.client.deliver(call.seq, WHOLE, &reply[r.clone()]);
                }
            }
        }
        self.client.deliver(call.seq, WHOLE, reply);
    }

    fn finish_error(&mut self, error: &ClientError) {
        if let Some(call) = self.hosted.take() {
            self.client.deliver_error(call.seq, WHOLE, error);
        }
    }
}

/// EVALSHA sha numkeys keys... args... (or EVAL body ...).
fn encode_call(b: &mut bytes::BytesMut, plan: &Plan, full: bool) {
    encode::array_header(b, 3 + plan.keys.len() + plan.args.len());
    if full {
        encode::bulk(b, b"EVAL");
        encode::bulk(b, plan.script.body().as_bytes());
    } else {
        encode::bulk(b, b"EVALSHA");
        encode::bulk(b, plan.script.sha().as_bytes());
    }
    encode::bulk_decimal(b, plan.keys.len() as i64);
    for k in &plan.keys {
        encode::bulk(b, k);
    }
    for a in &plan.args {
        encode::bulk(b, a);
    }
}
