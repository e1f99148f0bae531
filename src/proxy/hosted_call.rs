//! A hosted command in the client's pipeline, as a small state machine: send
//! EVALSHA on the server of its tag; on NOSCRIPT send EVAL with the body; for
//! `LOCK.ACQUIRE ... WAIT`, try again every few milliseconds until the lock
//! is had or the wait is over; a step that never reached its server goes once
//! more where the ring now sends it.
//!
//! The dispatcher drives it in the client's own session, not a task of its
//! own: while a call is in progress the client's later requests wait (as
//! behind a blocking command in Redis), so each attempt and re-send happens
//! before anything the client sent after it, and the call ends when the
//! client leaves.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::client::StepOutcome;
use super::error::ClientError;
use crate::hosted::Plan;
use crate::protocol::encode;
use crate::protocol::reply::array_elements;

/// Pause between LOCK.ACQUIRE attempts while another owner holds the lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// A lock that another owner holds: LOCK.ACQUIRE's "not acquired".
const NOT_ACQUIRED: &[u8] = b":0\r\n";

/// A hosted call in progress.
#[derive(Debug)]
pub struct HostedCall {
    plan: Plan,
    /// The command's name, for errors.
    pub name: &'static str,
    /// The client's reply slot.
    pub seq: u64,
    /// Sent as EVAL with the body (the server said NOSCRIPT).
    full: bool,
    /// WAIT: when to give up.
    deadline: Option<Instant>,
    /// WAIT: the next attempt, while waiting between attempts.
    retry_at: Option<Instant>,
    /// A step that never reached its server was sent again once.
    resent: bool,
}

/// What the dispatcher does next.
#[derive(Debug)]
pub enum CallStep {
    /// Send the script (again).
    Send,
    /// Nothing until the retry time.
    Wait,
    /// The call's answer, for the client's slot.
    Done(Bytes),
    Failed(ClientError),
}

impl HostedCall {
    pub fn new(plan: Plan, name: &'static str, seq: u64) -> HostedCall {
        let deadline =
            (plan.wait_ms > 0).then(|| Instant::now() + Duration::from_millis(plan.wait_ms));
        HostedCall {
            plan,
            name,
            seq,
            full: false,
            deadline,
            retry_at: None,
            resent: false,
        }
    }

    /// The script's keys, which decide its server.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.plan.keys.iter().map(|k| k.as_slice())
    }

    /// EVALSHA sha numkeys keys... args... (or EVAL body ...).
    pub fn encode(&self, b: &mut BytesMut) {
        let plan = &self.plan;
        encode::array_header(b, 3 + plan.keys.len() + plan.args.len());
        if self.full {
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

    /// When the next WAIT attempt is due, while waiting between attempts.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The WAIT pause is over.
    pub fn retry_due(&mut self) {
        self.retry_at = None;
    }

    /// Judges the outcome of the step in flight. `leaving`: the client is
    /// gone, so a WAIT ends now. `moved(server)`: whether the ring no longer
    /// sends the call's keys to `server`.
    pub fn judge(
        &mut self,
        outcome: StepOutcome,
        leaving: bool,
        moved: impl FnOnce(usize) -> bool,
    ) -> CallStep {
        match outcome {
            StepOutcome::Reply(reply) => {
                if reply.starts_with(b"-NOSCRIPT") && !self.full {
                    // Not loaded there (a new server, SCRIPT FLUSH): the body.
                    self.full = true;
                    return CallStep::Send;
                }
                let now = Instant::now();
                match self.deadline {
                    Some(deadline) if now < deadline && !leaving && &reply[..] == NOT_ACQUIRED => {
                        self.retry_at = Some((now + LOCK_RETRY).min(deadline));
                        CallStep::Wait
                    }
                    _ => CallStep::Done(self.answer(reply)),
                }
            }
            StepOutcome::Failed { error, unsent_to } => {
                if unsent_to.is_some_and(moved) && !self.resent {
                    self.resent = true;
                    return CallStep::Send;
                }
                CallStep::Failed(ClientError::Backend(error))
            }
        }
    }

    /// The client left while the call waited between attempts: its answer
    /// now, "not acquired".
    pub fn abandon(&mut self) -> Option<Bytes> {
        self.retry_at
            .take()
            .map(|_| Bytes::from_static(NOT_ACQUIRED))
    }

    /// The command's reply from the script's: BF.ADD and BF.EXISTS answer for
    /// one item where the script answers for a list.
    fn answer(&self, reply: Bytes) -> Bytes {
        if self.plan.first_of_array {
            let mut ranges = Vec::new();
            if array_elements(&reply, &mut ranges).is_some() {
                if let Some(r) = ranges.first() {
                    return reply.slice(r.clone());
                }
            }
        }
        reply
    }
}
