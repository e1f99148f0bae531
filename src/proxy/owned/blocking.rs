//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP, XREAD and XREADGROUP with BLOCK) on a connection of the
//! client's own: the server may hold it as long as the command says, and
//! nobody else's requests wait behind it. In a cluster pool a node may
//! redirect it (its slot moved, before or while it waited): it is sent
//! again where the node says, on a new connection of its own.

use std::rc::Rc;
use std::time::Duration;

use super::{Blocked, Owned};
use crate::backend::Tag;
use crate::pool::PoolSnapshot;
use crate::proxy::client::IGNORED;
use crate::proxy::dispatch::{waiter, Dispatcher, Next};
use crate::proxy::error::ClientError;
use crate::proxy::reply_queue::WHOLE;
use crate::proxy::returned::ASKING;
use crate::route::blocking::{blocks, Blocks};
use crate::route::{BlockArg, CommandSpec, Request};

/// How long past its own timeout a blocking call may wait for its reply
/// when the pool sets no `timeout`: the server answers at the timeout, so
/// this only bounds a server that stopped answering.
const GRACE: Duration = Duration::from_secs(2);

impl Dispatcher {
    /// A command that may block: on a dedicated connection when it does.
    pub(in crate::proxy) fn blocking(
        &mut self,
        arg: BlockArg,
        spec: &CommandSpec,
        req: &Request<'_>,
    ) -> Next {
        let wait = blocks(arg, req);
        let pool = Rc::clone(&self.pool);
        let snapshot = pool.runtime.snapshot_arc();
        if wait == Blocks::No {
            return self.send_whole(spec, req, &snapshot);
        }
        let Some(server) = self.one_server(spec, req, &snapshot) else {
            return Next::Continue;
        };
        // Its earlier requests answered first: the dedicated connection
        // must not overtake them.
        if !self.all_answered() {
            return Next::Hold;
        }
        self.enter_epoch(snapshot.version);
        let conn = match pool.dedicated(&snapshot, server, self.state.proto) {
            Ok(conn) => conn,
            Err(e) => {
                self.client.push_error(&ClientError::Backend(e));
                return Next::Continue;
            }
        };
        let seq = self.client.reserve();
        let w = waiter(&self.client, seq, WHOLE, false);
        let deadline = deadline(wait, &snapshot);
        conn.conn()
            .send_blocking(|b| req.encode_whole(b), w, deadline);
        self.owned = Owned::Draining {
            conns: vec![conn],
            blocked: Some(Blocked { seq, deadline }),
            clean: true,
        };
        Next::Continue
    }

    /// The client's blocking call in flight, if `seq` is it.
    pub(in crate::proxy) fn blocked_call(&self, seq: u64) -> Option<Blocked> {
        match self.owned {
            Owned::Draining {
                blocked: Some(b), ..
            } if b.seq == seq => Some(b),
            _ => None,
        }
    }

    /// The blocking call a cluster node redirected, sent to `node` (after
    /// `ASKING` when the node said ASK) on a new connection of the client's
    /// own, with its whole timeout again (the node answered at once, or
    /// when its slot moved away). The old connection answered its last
    /// request, so it is given back.
    pub(in crate::proxy) fn block_again(
        &mut self,
        call: Blocked,
        node: usize,
        tag: Tag,
        bytes: &[u8],
        asking: bool,
    ) {
        let pool = Rc::clone(&self.pool);
        let snapshot = pool.runtime.snapshot_arc();
        let conn = match pool.dedicated(&snapshot, node, self.state.proto) {
            Ok(conn) => conn,
            Err(e) => {
                let error = ClientError::Backend(e);
                return self.client.deliver_error(tag.seq, tag.part, &error);
            }
        };
        if asking {
            let ignored = waiter(&self.client, tag.seq, IGNORED, false);
            conn.conn().send(ASKING, ignored);
        }
        let w = self.hop_waiter(tag);
        conn.conn()
            .send_blocking(|b| b.extend_from_slice(bytes), w, call.deadline);
        if let Owned::Draining { conns, .. } = &mut self.owned {
            for old in std::mem::replace(conns, vec![conn]) {
                old.recycle();
            }
        }
    }
}

/// How long a blocking call's reply may take: its own timeout and a grace
/// (the pool's `timeout` when it sets one), or forever.
fn deadline(wait: Blocks, snapshot: &PoolSnapshot) -> Option<Duration> {
    let grace = snapshot
        .config
        .timeout_ms
        .map_or(GRACE, Duration::from_millis);
    match wait {
        Blocks::Forever => None,
        Blocks::For(d) => Some(d + grace),
        Blocks::No => unreachable!("sent as any request"),
    }
}
