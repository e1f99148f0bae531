//! A subscriber's record: its subscriptions, the connection to each server
//! that holds some, the confirmations each server still owes and the
//! client's commands waiting for them. How it changes is in `subscriber`.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::subscriptions::{command_word, frame_kind, is_confirmation, Step, Subscriptions};
use crate::backend::Dedicated;
use crate::protocol::{encode, Proto};
use crate::proxy::client::PubsubEvent;
use crate::route::SubKind;

/// A client's subscriptions and the connections that carry them.
#[derive(Debug)]
pub struct Subscriber {
    pub(super) subs: Subscriptions,
    pub(super) conns: HashMap<usize, Dedicated>,
    /// Per server, the steps it has yet to confirm, oldest first.
    pub(super) awaiting: HashMap<usize, VecDeque<StepRef>>,
    /// Commands with confirmations still to come, oldest first.
    pub(super) commands: VecDeque<Pending>,
    pub(super) next_id: u64,
    /// The protocol the connections speak (the client's when it subscribed).
    pub proto: Proto,
    /// Scratch for the events taken from the client.
    pub(super) events: Vec<PubsubEvent>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct StepRef {
    pub(super) command: u64,
    pub(super) step: usize,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) id: u64,
    /// The client's reply slot.
    pub(super) seq: u64,
    pub(super) steps: Vec<PendingStep>,
}

#[derive(Debug)]
pub(super) struct PendingStep {
    pub(super) frame: Bytes,
    /// Messages that came before this step's confirmation, from a server
    /// that confirms it.
    pub(super) before: Vec<Bytes>,
    pub(super) remaining: usize,
}

impl Pending {
    pub(super) fn done(&self) -> bool {
        self.steps.iter().all(|s| s.remaining == 0)
    }

    /// The slot's bytes: each confirmation, after the messages held for it.
    pub(super) fn reply(&self) -> BytesMut {
        let mut out = BytesMut::new();
        for s in &self.steps {
            s.before.iter().for_each(|m| out.extend_from_slice(m));
            out.extend_from_slice(&s.frame);
        }
        out
    }
}

impl Subscriber {
    pub(super) fn new(proto: Proto) -> Subscriber {
        Subscriber {
            subs: Subscriptions::default(),
            conns: HashMap::new(),
            awaiting: HashMap::new(),
            commands: VecDeque::new(),
            next_id: 0,
            proto,
            events: Vec::new(),
        }
    }

    /// Whether the client has any subscription (RESP2's subscriber mode).
    pub fn subscribed(&self) -> bool {
        !self.subs.is_empty()
    }

    /// Nothing subscribed and nothing in flight: the subscriber can go.
    pub(super) fn finished(&self) -> bool {
        self.subs.is_empty() && self.commands.is_empty()
    }

    /// Whether the client's channels are still where `server_of` puts them
    /// now, and its patterns on every live server (after a reload, an
    /// ejection or a rejoin, a PUBLISH may go where it does not listen).
    pub(super) fn placed_as(
        &self,
        server_of: impl Fn(&[u8]) -> Option<usize>,
        live: &[usize],
    ) -> bool {
        let patterns = self.subs.patterns_on();
        self.subs
            .placed()
            .all(|(name, s)| server_of(name) == Some(s))
            && (patterns.is_empty() || patterns == live)
    }
}

/// Sends each server its names, in one command, and notes the
/// confirmations each server owes, in the order it will send them.
pub(super) fn send_steps(
    sub: &mut Subscriber,
    kind: SubKind,
    subscribe: bool,
    id: u64,
    steps: &[Step],
) {
    let word = command_word(kind, subscribe);
    let mut per_server: Vec<(usize, Vec<&[u8]>)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for &server in &step.servers {
            sub.awaiting.entry(server).or_default().push_back(StepRef {
                command: id,
                step: i,
            });
            let name = step.name.as_deref().unwrap_or_default();
            match per_server.iter_mut().find(|(s, _)| *s == server) {
                Some((_, names)) => names.push(name),
                None => per_server.push((server, vec![name])),
            }
        }
    }
    for (server, mut names) in per_server {
        if let Some(conn) = sub.conns.get(&server) {
            names.insert(0, word.as_bytes());
            conn.conn()
                .send_untracked(|b| encode::command(b, names.into_iter()));
        }
    }
}

/// A confirmation counts for the step its server owes first; a message
/// goes out now, or just before the first confirmation its server owes.
pub(super) fn place_frame(
    sub: &mut Subscriber,
    client: &Rc<crate::proxy::client::Client>,
    server: usize,
    frame: Bytes,
) {
    let owed = sub.awaiting.get_mut(&server);
    let confirmation = frame_kind(&frame).is_some_and(is_confirmation);
    let Some(owed) = owed.filter(|q| !q.is_empty()) else {
        if !confirmation {
            client.push_local(|out| out.extend_from_slice(&frame));
        }
        return;
    };
    let first = owed[0];
    if confirmation {
        owed.pop_front();
    }
    let Some(cmd) = sub.commands.iter_mut().find(|c| c.id == first.command) else {
        return;
    };
    let step = &mut cmd.steps[first.step];
    if confirmation {
        step.remaining -= 1;
    } else {
        step.before.push(frame);
    }
}

pub(super) fn live_servers(placement: &crate::pool::Placement) -> Vec<usize> {
    (0..placement.server_count())
        .filter(|&s| placement.is_live(s))
        .collect()
}
