//! Running one hosted command: EVALSHA on the server of its tag, EVAL when
//! the server does not have the script yet, retries for LOCK.ACQUIRE WAIT,
//! and the reply delivered to the client's slot in order.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::commands::Plan;
use crate::backend::Waiter;
use crate::protocol::{encode, reply::array_elements, Proto};
use crate::proxy::replies::{ClientReplies, Replies, WHOLE};
use crate::proxy::worker::WorkerPool;

/// Pause between LOCK.ACQUIRE attempts while waiting for the holder.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// Sends the planned script call for the client whose reply slot is `seq`;
/// the reply arrives in that slot. Other clients are never blocked: waiting
/// happens in a task of its own.
pub fn run(
    pool: Rc<WorkerPool>,
    plan: Plan,
    replies: Replies,
    seq: u64,
    client_id: u64,
    proto: Proto,
) {
    tokio::task::spawn_local(async move {
        let reply = execute(&pool, &plan, client_id, proto).await;
        replies.deliver(seq, WHOLE, &reply);
    });
}

async fn execute(pool: &Rc<WorkerPool>, plan: &Plan, client_id: u64, proto: Proto) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_millis(plan.wait_ms);
    loop {
        let mut reply = call_once(pool, plan, client_id, proto, false).await;
        if reply.starts_with(b"-NOSCRIPT") {
            // Not loaded there yet (a new server, or SCRIPT FLUSH): send the body.
            reply = call_once(pool, plan, client_id, proto, true).await;
        }
        if plan.wait_ms > 0 && reply == b":0\r\n" && Instant::now() < deadline {
            tokio::time::sleep(LOCK_RETRY.min(deadline - Instant::now())).await;
            continue;
        }
        if plan.first_of_array {
            let mut ranges = Vec::new();
            if array_elements(&reply, &mut ranges).is_some() {
                if let Some(r) = ranges.first() {
                    return reply[r.clone()].to_vec();
                }
            }
        }
        return reply;
    }
}

/// One EVALSHA (or EVAL) and its reply.
async fn call_once(
    pool: &Rc<WorkerPool>,
    plan: &Plan,
    client_id: u64,
    proto: Proto,
    full: bool,
) -> Vec<u8> {
    let snapshot = pool.runtime.snapshot_arc();
    // Routed now, with the ring as it is (after an ejection or a reload).
    let Some(server) = snapshot.placement.server_for(&plan.keys[0]) else {
        let mut err = BytesMut::new();
        encode::error(
            &mut err,
            &format!(
                "ERR redshard: pool '{}' has no server to take this request",
                snapshot.config.name
            ),
        );
        return err.to_vec();
    };
    let own: Replies = Rc::new(ClientReplies::default());
    let seq = own.reserve();
    let conn = pool.conn(&snapshot, server, client_id, proto);
    let waiter = Waiter::new(own.clone(), seq, WHOLE);
    let numkeys = plan.keys.len().to_string();
    conn.send_with(
        |b| {
            encode::array_header(b, 3 + plan.keys.len() + plan.args.len());
            if full {
                encode::bulk(b, b"EVAL");
                encode::bulk(b, plan.script.body().as_bytes());
            } else {
                encode::bulk(b, b"EVALSHA");
                encode::bulk(b, plan.script.sha().as_bytes());
            }
            encode::bulk(b, numkeys.as_bytes());
            for k in &plan.keys {
                encode::bulk(b, k);
            }
            for a in &plan.args {
                encode::bulk(b, a);
            }
        },
        waiter,
    );
    let mut out = BytesMut::new();
    loop {
        own.take_output(&mut out);
        if !out.is_empty() {
            return out.to_vec();
        }
        own.ready.notified().await;
    }
}
