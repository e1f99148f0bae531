//! A server busy running a script, seen from a pipelined connection of a
//! pool that sets no `timeout`.
//!
//! Redis runs one script at a time and reads nothing more from the
//! connection that sent it until it ends; past its busy-reply-threshold
//! (`lua-time-limit`, 5 s by default) it answers other connections with
//! `-BUSY`. Requests pipelined behind the script on a shared connection would
//! wait as long as it runs: forever for `while true do end`. So when the
//! oldest request has waited [`PROBE_AFTER`], the connection asks the server
//! on a side connection (PING); `-BUSY`, with the head still unanswered
//! [`CONFIRM_AFTER`] later, means the request at the head is a script the
//! server is running. (A script sent on another connection is no reason: the
//! server then answers this connection's requests with `-BUSY` in the same
//! round as the probe.) The head keeps waiting for its own reply,
//! as on Redis; the requests behind it are answered at once with
//! [`BackendError::Busy`] (they stay written and run when the script ends;
//! their replies are dropped), and so are new requests until the head is
//! answered, which SCRIPT KILL brings about. A busy server is not failing:
//! nothing counts against its health and the connection stays.
//!
//! A pool that sets `timeout` keeps its exact semantics: the timeout bounds
//! every request and no probe is sent.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::error::BackendError;
use super::BackendConn;
use crate::pool::counters::add;

/// How long the oldest request waits before the server is asked whether it
/// is busy. A healthy Redis answers in well under a millisecond; the answer
/// to the probe comes once the server's busy-reply-threshold has passed.
pub(super) const PROBE_AFTER: Duration = Duration::from_millis(1000);

/// How long the head must stay unanswered after a probe found the server
/// busy: a server busy with another connection's script answers this
/// connection's requests in the same round as the probe.
pub(super) const CONFIRM_AFTER: Duration = Duration::from_millis(100);

/// The probe's request.
pub(super) const PROBE: &[u8] = b"*1\r\n$4\r\nPING\r\n";

type Probe<'a> = Pin<Box<dyn Future<Output = Result<Bytes, BackendError>> + 'a>>;

/// A connection's watch over its oldest request.
pub(super) struct BusyWatch<'a> {
    /// The probe in flight, and the head it asks about: the connection's
    /// `answered` count when it started.
    probe: Option<(u64, Probe<'a>)>,
    /// A probe found the server busy about this head: its BUSY text, and when
    /// to act on it if the head is still unanswered.
    seen: Option<(u64, String, Instant)>,
    /// No probe before this: probes come one at a time, `PROBE_AFTER` apart.
    not_before: Instant,
}

impl<'a> BusyWatch<'a> {
    pub fn new() -> Self {
        BusyWatch {
            probe: None,
            seen: None,
            not_before: Instant::now(),
        }
    }

    /// When the watch acts next, for a head written and waiting since
    /// `head_since`: a busy answer to confirm, or the next probe.
    pub fn due(&self, head_since: Option<Instant>) -> Option<Instant> {
        if let Some((_, _, at)) = &self.seen {
            return Some(*at);
        }
        if self.probe.is_some() {
            return None;
        }
        head_since.map(|since| (since + PROBE_AFTER).max(self.not_before))
    }

    pub fn start(&mut self, head: u64, probe: Probe<'a>) {
        self.probe = Some((head, probe));
    }

    pub fn running(&self) -> bool {
        self.probe.is_some()
    }

    /// Drops what is about a head answered since.
    pub fn forget_unless_about(&mut self, head: u64) {
        if self.probe.as_ref().is_some_and(|(about, _)| *about != head) {
            self.probe = None;
        }
        if self.seen.as_ref().is_some_and(|(about, ..)| *about != head) {
            self.seen = None;
        }
    }

    /// The probe's answer and the head it was about (pending while none runs).
    pub async fn answer(&mut self) -> (u64, Result<Bytes, BackendError>) {
        let Some((head, probe)) = self.probe.as_mut() else {
            return std::future::pending().await;
        };
        let answer = probe.await;
        let head = *head;
        self.probe = None;
        self.not_before = Instant::now() + PROBE_AFTER;
        (head, answer)
    }

    /// A probe about `head` found the server busy, with this text.
    pub fn saw_busy(&mut self, head: u64, text: String) {
        self.seen = Some((head, text, Instant::now() + CONFIRM_AFTER));
    }

    /// The BUSY text, once `head` has stayed unanswered `CONFIRM_AFTER`
    /// after the probe's answer.
    pub fn confirmed(&mut self, head: u64, now: Instant) -> Option<String> {
        match &self.seen {
            Some((about, _, at)) if *about == head && *at <= now => {
                self.seen.take().map(|(_, text, _)| text)
            }
            _ => None,
        }
    }
}

/// The server's words, when a probe's reply says it is running a script.
pub(super) fn busy_text(reply: &[u8]) -> Option<String> {
    reply
        .starts_with(b"-BUSY ")
        .then(|| String::from_utf8_lossy(&reply[1..reply.len().saturating_sub(2)]).into_owned())
}

impl BackendConn {
    /// The server is running the head's script: the requests queued behind
    /// it get the busy error now, and new ones until the head is answered.
    pub(super) fn mark_busy(&self, reply: String) {
        let behind = {
            let mut st = self.state.borrow_mut();
            st.busy = Some(reply.clone());
            st.queue.abandon_behind_head()
        };
        tracing::warn!(
            server = %self.spec.label,
            "server busy running a script ({reply}); {} requests queued behind it answered with an error",
            behind.len()
        );
        let error = BackendError::Busy {
            server: self.spec.label.clone(),
            reply,
            queued: true,
        };
        add(&self.pool_counters().forward_error, behind.len() as u64);
        for w in behind {
            w.sink.failed(w.tag, &error, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_reply_means_busy() {
        let busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
        assert_eq!(
            busy_text(busy).as_deref(),
            Some("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        );
        assert_eq!(busy_text(b"+PONG\r\n"), None);
        assert_eq!(busy_text(b"-NOAUTH Authentication required.\r\n"), None);
        assert_eq!(busy_text(b"-BUSYGROUP x\r\n"), None);
    }

    #[test]
    fn probes_come_one_at_a_time_and_apart() {
        let mut watch = BusyWatch::new();
        let since = Instant::now();
        assert_eq!(watch.due(None), None);
        assert_eq!(watch.due(Some(since)), Some(since + PROBE_AFTER));
        watch.start(7, Box::pin(std::future::pending()));
        assert_eq!(watch.due(Some(since)), None, "one probe at a time");
        watch.forget_unless_about(7);
        assert!(watch.running());
        watch.forget_unless_about(8);
        assert!(!watch.running(), "the head it asked about was answered");
        watch.not_before = since + 3 * PROBE_AFTER;
        assert_eq!(watch.due(Some(since)), Some(since + 3 * PROBE_AFTER));
    }

    #[test]
    fn a_busy_answer_counts_only_if_the_head_stays_unanswered() {
        let mut watch = BusyWatch::new();
        watch.saw_busy(7, "BUSY x".into());
        let at = watch.due(None).expect("a confirmation is due");
        assert_eq!(watch.confirmed(7, at - CONFIRM_AFTER), None, "too early");
        assert_eq!(watch.confirmed(8, at), None, "another head");
        assert_eq!(watch.confirmed(7, at).as_deref(), Some("BUSY x"));
        assert_eq!(watch.confirmed(7, at), None, "once");
        watch.saw_busy(7, "BUSY x".into());
        watch.forget_unless_about(8);
        assert_eq!(watch.due(None), None, "the head was answered meanwhile");
    }
}
