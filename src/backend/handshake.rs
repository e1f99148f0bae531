//! The proxy's own commands in front of a new connection: AUTH with the
//! pool's password (and `redis_username`, to log in as a Redis ACL user), HELLO 3 for RESP3 connections, SELECT for `redis_db`;
//! AUTH alone in front of a side connection.

use bytes::BytesMut;

use super::error::BackendError;
use super::BackendSpec;
use crate::pool::RedisVersion;
use crate::protocol::encode;

/// One handshake command, to judge its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Auth,
    Hello,
    Select,
    /// AUTH to the hosted user, before a hosted call.
    Switch,
    /// AUTH back to the pool's user, after it.
    Restore,
    /// READONLY on a cluster replica's connection: without it the replica
    /// redirects every read to its master.
    ReadOnly,
}

/// The handshake's bytes and its steps with the length of each.
pub(super) fn build(spec: &BackendSpec) -> (BytesMut, Vec<(Step, usize)>) {
    build_steps(spec, true)
}

/// The handshake of a side connection (`side`): AUTH only. What travels
/// there (SCRIPT KILL, FUNCTION KILL, the busy probe's PING) depends on
/// neither the database nor the protocol, and a server running a script,
/// when side connections matter, refuses SELECT (`-BUSY`) but not AUTH.
pub(super) fn build_side(spec: &BackendSpec) -> (BytesMut, Vec<(Step, usize)>) {
    build_steps(spec, false)
}

fn build_steps(spec: &BackendSpec, full: bool) -> (BytesMut, Vec<(Step, usize)>) {
    let mut out = BytesMut::new();
    let mut steps = Vec::new();
    let mut step = |out: &mut BytesMut, s: Step, args: &[&[u8]]| {
        let before = out.len();
        encode::command(out, args.iter().copied());
        steps.push((s, out.len() - before));
    };
    match (&spec.username, &spec.auth) {
        (Some(user), Some(auth)) => step(
            &mut out,
            Step::Auth,
            &[b"AUTH", user.as_bytes(), auth.as_bytes()],
        ),
        (None, Some(auth)) => step(&mut out, Step::Auth, &[b"AUTH", auth.as_bytes()]),
        _ => {}
    }
    if full && spec.resp3 {
        step(&mut out, Step::Hello, &[b"HELLO", b"3"]);
    }
    if full && spec.cluster && spec.replica {
        step(&mut out, Step::ReadOnly, &[b"READONLY"]);
    }
    if full && spec.db != 0 {
        let db = spec.db.to_string();
        step(&mut out, Step::Select, &[b"SELECT", db.as_bytes()]);
    }
    (out, steps)
}

/// The version in the server's answer to HELLO 3, which the connection
/// has anyway: a restarted (perhaps upgraded) server is known again as soon
/// as a RESP3 connection reaches it.
fn learn_version(spec: &BackendSpec, reply: &[u8]) {
    let Ok((hello, _)) = crate::protocol::value::Value::parse(reply) else {
        return;
    };
    if let Some(version) = RedisVersion::from_hello(&hello) {
        spec.health
            .version
            .learn(version, &spec.pool.name, &spec.label);
    }
}

/// Judges a handshake reply. A wrong password is the server's to report, as
/// with nutcracker: the connection stays and requests get the server's own
/// NOAUTH errors (said once in the log). A refused HELLO 3 means a server
/// older than Redis 6: remembered, so clients are told at their own HELLO 3,
/// and not held against the server's health. A failed SELECT would send
/// requests to the wrong database, so it fails the connection.
pub(super) fn check(spec: &BackendSpec, step: Step, reply: &[u8]) -> Result<(), BackendError> {
    let refused = reply.first() == Some(&b'-');
    if step == Step::Hello {
        spec.health.set_speaks_resp3(!refused);
        learn_version(spec, reply);
    }
    if !refused {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&reply[1..reply.len().saturating_sub(2)]).into_owned();
    let server = spec.label.clone();
    match step {
        Step::Auth => {
            tracing::warn!(
                server = %spec.label,
                "server rejected the pool's redis_auth (or redis_username) ({text}); its requests will be refused by the server"
            );
            Ok(())
        }
        Step::Hello => Err(BackendError::NoResp3 {
            server,
            reply: text,
        }),
        Step::Select | Step::Restore | Step::ReadOnly => Err(BackendError::Handshake {
            server,
            reply: text,
        }),
        // The call then runs as the pool's user, which the servers refuse
        // the hosted state: it fails, and nothing else is affected.
        Step::Switch => {
            tracing::warn!(
                server = %spec.label,
                "server rejected redis_hosted_username ({text}); hosted commands will fail"
            );
            Ok(())
        }
    }
}
