//! A hosted command in the client's pipeline, as a small state machine: send
//! EVALSHA on the server of its tag; on NOSCRIPT send EVAL with the body; for
//! `LOCK.ACQUIRE ... WAIT`, try again until the lock is had or the wait is
//! over; a step that never reached its server goes once more where the ring
//! now sends it.
//!
//! A waiter's attempts are what it costs the lock's server, so they are
//! spaced by an exponential back-off with jitter, from [`FIRST_PAUSE`] to
//! [`PAUSE_CAP`], and a release through the proxy (any worker) wakes a waiter
//! at once, so the back-off delays only what the proxy cannot see: a lock
//! that expired or was released through another proxy.
//!
//! The dispatcher drives it in the client's own session, not a task of its
//! own: while a call is in progress the client's later requests wait (as
//! behind a blocking command in Redis), so each attempt and re-send happens
//! before anything the client sent after it, and the call ends when the
//! client leaves.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::client::StepOutcome;
use super::error::ClientError;
use crate::hosted::{LockWaiters, Plan, WaitTicket};
use crate::protocol::encode;
use crate::protocol::reply::array_elements;

/// The first pause between LOCK.ACQUIRE attempts while another owner holds
/// the lock: a lock held for a few milliseconds is had about as soon as with
/// steady polling. Each pause after doubles it.
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause: with the jitter (each pause drawn from its half to its
/// whole) a waiter makes at most 10 attempts a second, about 7 on average,
/// so 200 waiters cost the lock's server under 4,000 commands a second (an
/// attempt is EVALSHA plus the HGET in it); and a lock that expires is had
/// at most 200 ms after.
pub const PAUSE_CAP: Duration = Duration::from_millis(200);

/// A lock that another owner holds: LOCK.ACQUIRE's "not acquired".
const NOT_ACQUIRED: &[u8] = b":0\r\n";

/// LOCK.RELEASE's "released" (no holds left).
const RELEASED: &[u8] = b":0\r\n";

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
    /// WAIT: the pause before the next attempt, before its jitter.
    pause: Duration,
    /// WAIT: the waiter's place among the lock's, so a release wakes it.
    ticket: Option<WaitTicket>,
    /// A step that never reached its server was sent again once.
    resent: bool,
    /// Redirections followed (cluster pools).
    hops: u8,
}

/// What the dispatcher does next.
#[derive(Debug)]
pub enum CallStep {
    /// Send the script (again).
    Send,
    /// Nothing until the retry time or a release of the lock.
    Wait,
    /// The call's answer, for the client's slot.
    Done(Bytes),
    Failed(ClientError),
    /// A cluster node sent it elsewhere (`MOVED` or `ASK`, its reply).
    Redirect(crate::cluster::Redirect),
}

/// A waiter's pause between attempts: over at `until`, or when `wake` is
/// notified (a release of its lock).
#[derive(Debug)]
pub struct Pause {
    until: Instant,
    wake: Option<Arc<Notify>>,
}

impl Pause {
    pub async fn over(self) {
        match self.wake {
            Some(wake) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(self.until) => {}
                    _ = wake.notified() => {}
                }
            }
            None => tokio::time::sleep_until(self.until).await,
        }
    }
}

impl HostedCall {
    /// A call of `plan`; a WAIT registers among `waiters` from the start, so a
    /// release while its first attempt is in flight is not missed.
    pub fn new(plan: Plan, name: &'static str, seq: u64, waiters: &Arc<LockWaiters>) -> HostedCall {
        let deadline =
            (plan.wait_ms > 0).then(|| Instant::now() + Duration::from_millis(plan.wait_ms));
        let ticket = match (deadline, plan.keys.first()) {
            (Some(_), Some(lock)) => Some(waiters.wait_for(lock)),
            _ => None,
        };
        HostedCall {
            plan,
            name,
            seq,
            full: false,
            deadline,
            retry_at: None,
            pause: FIRST_PAUSE,
            ticket,
            resent: false,
            hops: 0,
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

    /// The pause before the next WAIT attempt, while waiting between attempts.
    pub fn pause(&self) -> Option<Pause> {
        self.retry_at.map(|until| Pause {
            until,
            wake: self.ticket.as_ref().map(WaitTicket::wake),
        })
    }

    /// The lock this call's answer freed (a LOCK.RELEASE that left no holds),
    /// whose waiters may now have it.
    pub fn freed_lock(&self, answer: &[u8]) -> Option<&[u8]> {
        if self.plan.frees_lock && answer == RELEASED {
            self.plan.keys.first().map(Vec::as_slice)
        } else {
            None
        }
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
                        self.retry_at = Some((now + self.next_pause()).min(deadline));
                        CallStep::Wait
                    }
                    _ => CallStep::Done(self.answer(reply)),
                }
            }
            StepOutcome::Failed {
                error,
                unsent_to,
                readdressed,
            } => {
                if unsent_to.is_some_and(|s| readdressed || moved(s)) && !self.resent {
                    self.resent = true;
                    return CallStep::Send;
                }
                CallStep::Failed(ClientError::Backend(error))
            }
            // Followed a few times, as a plain request's: MOVED and ASK at
            // once, TRYAGAIN (its slot's keys half migrated) and
            // CLUSTERDOWN after a pause that doubles; then the cluster's
            // word is the answer.
            StepOutcome::Redirected { reply } => {
                if self.hops >= super::client::MAX_REDIRECTS {
                    return CallStep::Done(reply);
                }
                self.hops += 1;
                match crate::cluster::Redirect::parse(&reply) {
                    Some(r) => CallStep::Redirect(r),
                    None if leaving => CallStep::Done(reply),
                    None => {
                        let pause = super::client::retry_pause(self.hops - 1);
                        self.retry_at = Some(Instant::now() + pause);
                        CallStep::Wait
                    }
                }
            }
        }
    }

    /// The pause before the next attempt: drawn from the back-off step's half
    /// to its whole, so waiters that started together spread out; the step
    /// doubles up to the cap. A wake-up does not reset it: a waiter that
    /// lost the race for a released lock waits for the next release.
    fn next_pause(&mut self) -> Duration {
        let step = self.pause;
        self.pause = (step * 2).min(PAUSE_CAP);
        let micros = step.as_micros() as u64;
        Duration::from_micros(fastrand::u64(micros / 2..=micros))
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
