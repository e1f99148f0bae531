//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP, XREAD and XREADGROUP with BLOCK) on a connection of the
//! client's own: the server may hold it as long as the command says, and
//! nobody else's requests wait behind it.

use std::rc::Rc;
use std::time::Duration;

use super::Owned;
use crate::proxy::dispatch::{waiter, Dispatcher, Next};
use crate::proxy::error::ClientError;
use crate::proxy::reply_queue::WHOLE;
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
        let grace = snapshot
            .config
            .timeout_ms
            .map_or(GRACE, Duration::from_millis);
        let deadline = match wait {
            Blocks::Forever => None,
            Blocks::For(d) => Some(d + grace),
            Blocks::No => unreachable!("sent above"),
        };
        let seq = self.client.reserve();
        let w = waiter(&self.client, seq, WHOLE, false);
        conn.conn().send_timed(|b| req.encode_whole(b), w, deadline);
        self.owned = Owned::Draining {
            conns: vec![conn],
            blocked: Some(seq),
            clean: true,
        };
        Next::Continue
    }
}
