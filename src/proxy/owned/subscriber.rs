//! A subscriber: (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE on connections the
//! client owns, one per server concerned: a channel's server (by the pool's
//! hash and tag, where PUBLISH sends it), every live server for a pattern.
//!
//! The servers confirm each name; the client gets the proxy's confirmation,
//! counted over all of its subscriptions, in the reply slot of its command
//! once every server concerned confirmed (so a message published after the
//! client saw a confirmation reaches it). Messages are written as they come,
//! except that one from a server with a confirmation still to come is held
//! just before that confirmation: the client sees each server's frames in the
//! server's own order, so no message of a channel follows its UNSUBSCRIBE's
//! confirmation.

use std::collections::VecDeque;

use super::subscriber_conns::{
    live_servers, place_frame, send_steps, Pending, PendingStep, Subscriber,
};
use super::subscriptions::command_word;
use crate::protocol::{encode, Proto};
use crate::proxy::client::{PubsubEvent, SUBSCRIBER};
use crate::proxy::dispatch::{waiter, Dispatcher, Next};
use crate::proxy::error::ClientError;
use crate::proxy::reply_queue::WHOLE;
use crate::route::{Request, RouteError, SubCmd, SubKind};

impl Dispatcher {
    /// (P|S)SUBSCRIBE or (P|S)UNSUBSCRIBE.
    pub(in crate::proxy) fn subscription(&mut self, cmd: SubCmd, req: &Request<'_>) -> Next {
        let names: Vec<&[u8]> = (1..req.argc()).map(|i| req.arg(i)).collect();
        let (kind, subscribe) = match cmd {
            SubCmd::Subscribe(k) => (k, true),
            SubCmd::Unsubscribe(k) => (k, false),
        };
        let snapshot = self.pool.runtime.snapshot_arc();
        let placement = &snapshot.placement;
        let live = live_servers(placement);
        let proto = self.state.proto;
        let sub = self
            .subscriber
            .get_or_insert_with(|| Box::new(Subscriber::new(proto)));
        // The servers that must hear of it, known before anything changes,
        // so a refusal leaves the client as it was.
        let mut servers: Vec<usize> = Vec::new();
        if subscribe {
            for name in &names {
                if sub.subs.has(kind, name) {
                    continue;
                }
                let wanted = match kind {
                    SubKind::Pattern => sub.subs.pattern_servers(&live).to_vec(),
                    _ => placement.server_for(name).into_iter().collect(),
                };
                if wanted.is_empty() {
                    let error =
                        ClientError::route(RouteError::NoServer, spec_name(cmd), &snapshot.config);
                    self.client.push_error(&error);
                    self.drop_subscriber_if_done();
                    return Next::Continue;
                }
                servers.extend(wanted);
            }
        }
        servers.sort_unstable();
        servers.dedup();
        let mut opened = Vec::new();
        for &server in &servers {
            if sub.conns.contains_key(&server) {
                continue;
            }
            match self.pool.dedicated(&snapshot, server, sub.proto) {
                Ok(conn) => {
                    let listener = waiter(&self.client, server as u64, SUBSCRIBER, false);
                    conn.conn().listen(listener);
                    sub.conns.insert(server, conn);
                    opened.push(server);
                }
                Err(e) => {
                    for s in opened {
                        sub.conns.remove(&s);
                    }
                    self.client.push_error(&ClientError::Backend(e));
                    self.drop_subscriber_if_done();
                    return Next::Continue;
                }
            }
        }
        let steps = if subscribe {
            // Every name was placed above, with this placement.
            let server_of = |n: &[u8]| placement.server_for(n).unwrap_or_default();
            sub.subs.subscribe(kind, &names, proto, server_of, &live)
        } else {
            sub.subs.unsubscribe(kind, &names, proto)
        };
        let seq = self.client.reserve();
        let id = sub.next_id;
        sub.next_id += 1;
        send_steps(sub, kind, subscribe, id, &steps);
        sub.commands.push_back(Pending {
            id,
            seq,
            steps: steps
                .into_iter()
                .map(|s| PendingStep {
                    frame: s.frame,
                    before: Vec::new(),
                    remaining: s.servers.len(),
                })
                .collect(),
        });
        self.settle_subscriber();
        Next::Continue
    }

    /// Places what the subscriber connections sent. `true` when one of them
    /// was lost: the client has the error and must be closed (it has missed
    /// messages; its library reconnects and subscribes again).
    pub fn pump_subscriber(&mut self) -> bool {
        let Some(sub) = self.subscriber.as_mut() else {
            return false;
        };
        let mut events = std::mem::take(&mut sub.events);
        self.client.take_pubsub(&mut events);
        let mut lost = None;
        for event in events.drain(..) {
            match event {
                PubsubEvent::Frame { server, frame } => {
                    if frame.first() == Some(&b'-') {
                        let text =
                            String::from_utf8_lossy(&frame[1..frame.len().saturating_sub(2)]);
                        lost = Some(ClientError::SubscriptionRefused(text.into_owned()));
                        break;
                    }
                    place_frame(sub, &self.client, server, frame);
                }
                PubsubEvent::Lost { server: _, error } => {
                    lost = Some(ClientError::Backend(error));
                    break;
                }
            }
        }
        sub.events = events;
        if let Some(error) = lost {
            self.end_subscriber(Some(&error));
            return true;
        }
        self.settle_subscriber();
        false
    }

    /// Whether the client has subscriptions (or some on their way).
    pub fn subscribed(&self) -> bool {
        self.subscriber.is_some()
    }

    /// Whether the client is in RESP2's subscriber mode, where only
    /// subscription commands, PING, QUIT and RESET are allowed.
    pub(in crate::proxy) fn in_subscriber_mode(&self) -> bool {
        self.state.proto == Proto::Resp2 && self.subscriber.as_ref().is_some_and(|s| s.subscribed())
    }

    /// PING in RESP2's subscriber mode: `["pong", arg or ""]`.
    pub(in crate::proxy) fn subscriber_pong(&mut self, req: &Request<'_>) {
        let arg: &[u8] = if req.argc() > 1 { req.arg(1) } else { b"" };
        self.client.push_local(|out| {
            encode::array_header(out, 2);
            encode::bulk(out, b"pong");
            encode::bulk(out, arg);
        });
    }

    /// Drops the subscriptions (RESET, the client gone, a lost connection):
    /// commands still awaiting confirmations get theirs as they stand, or
    /// `error`; the connections close, so the servers forget the client.
    pub(in crate::proxy) fn end_subscriber(&mut self, error: Option<&ClientError>) {
        let Some(sub) = self.subscriber.take() else {
            return;
        };
        for cmd in &sub.commands {
            match error {
                Some(e) => self.client.deliver_error(cmd.seq, WHOLE, e),
                None => self.client.deliver(cmd.seq, WHOLE, &cmd.reply()),
            }
        }
        if sub.commands.is_empty() {
            if let Some(e) = error {
                self.client.push_error(e);
            }
        }
    }

    /// The client's channels moved (a reload, an ejection): a PUBLISH now
    /// goes where it does not listen, so it is told and closed.
    pub fn subscriber_misplaced(&mut self) -> bool {
        let Some(sub) = self.subscriber.as_ref() else {
            return false;
        };
        let snapshot = self.pool.runtime.snapshot();
        let placement = &snapshot.placement;
        if sub.placed_as(|name| placement.server_for(name), &live_servers(placement)) {
            return false;
        }
        drop(snapshot);
        self.end_subscriber(Some(&ClientError::SubscriptionMoved));
        true
    }

    /// Answers the commands whose confirmations are all in; closes the
    /// connections that hold nothing and await nothing.
    fn settle_subscriber(&mut self) {
        let Some(sub) = self.subscriber.as_mut() else {
            return;
        };
        while sub.commands.front().is_some_and(Pending::done) {
            if let Some(cmd) = sub.commands.pop_front() {
                self.client.deliver(cmd.seq, WHOLE, &cmd.reply());
            }
        }
        let (subs, awaiting) = (&sub.subs, &sub.awaiting);
        let done: Vec<usize> = sub
            .conns
            .keys()
            .copied()
            .filter(|&s| !subs.holds(s) && awaiting.get(&s).is_none_or(VecDeque::is_empty))
            .collect();
        // Every subscription there confirmed gone: the server sends nothing
        // more on it, and another client may own it.
        for server in done {
            if let Some(conn) = sub.conns.remove(&server) {
                conn.conn().detach_listener();
                conn.recycle();
            }
        }
        self.drop_subscriber_if_done();
    }

    fn drop_subscriber_if_done(&mut self) {
        if self
            .subscriber
            .as_ref()
            .is_some_and(|s| s.finished() && s.conns.is_empty())
        {
            self.subscriber = None;
        }
    }
}

/// The name a subscription command's errors give.
fn spec_name(cmd: SubCmd) -> &'static str {
    let (kind, subscribe) = match cmd {
        SubCmd::Subscribe(k) => (k, true),
        SubCmd::Unsubscribe(k) => (k, false),
    };
    command_word(kind, subscribe)
}
