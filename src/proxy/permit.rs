//! Where the request path meets [`crate::auth`]: who the client is (after a
//! reload too), the one permission check of each request once its command
//! and keys are known and before it goes anywhere, and what follows a
//! failed login (counted, logged with the client's address, never the
//! password; past the pool's `max_auth_failures` the connection closes).

use std::rc::Rc;

use super::dispatch::Dispatcher;
use super::error::ClientError;
use crate::auth::{self, Denied};
use crate::pool::counters::{add, Denial};
use crate::route::{Action, CommandSpec, Request};

impl Dispatcher {
    /// Whether the client is logged in, against the pool's users as they
    /// are now (a reload may have changed them since its last command).
    #[inline]
    pub(super) fn logged_in(&mut self) -> bool {
        let pool = Rc::clone(&self.pool);
        let snapshot = pool.runtime.snapshot();
        self.state.login.follow(&snapshot.config.users);
        self.state.login.user().is_some()
    }

    /// The permission check: `false` once the client has the refusal (and
    /// a transaction being queued is aborted, as Redis does).
    #[inline]
    pub(super) fn permit(&mut self, spec: &'static CommandSpec, req: &Request<'_>) -> bool {
        let Some(user) = self.state.login.user() else {
            return true;
        };
        let hosted = match spec.action {
            Action::Hosted(h) => self
                .pool
                .runtime
                .snapshot()
                .config
                .hosted
                .contains(&h.group()),
            _ => false,
        };
        match auth::check(&user.perms, spec, req, hosted, self.router.scratch()) {
            Ok(()) => true,
            Err(denied) => {
                self.refuse(denied);
                false
            }
        }
    }

    #[cold]
    fn refuse(&mut self, denied: Denied) {
        self.txn_queuing_failed();
        let stats = self.pool.runtime.stats.shard(self.pool.index);
        let kind = match denied {
            Denied::Command(_) => Denial::Cmd,
            _ => Denial::Key,
        };
        add(&stats.acl_denied[kind as usize], 1);
        add(
            &stats.commands[crate::pool::counters::Group::Refused as usize],
            1,
        );
        self.client.push_error(&ClientError::NoPerm(denied));
    }

    /// After AUTH or HELLO: a failed login is counted and logged; `true`
    /// when it was the last the connection gets.
    pub(super) fn login_failed(&mut self) -> bool {
        let Some(failure) = self.state.login.take_failure() else {
            return false;
        };
        let runtime = &self.pool.runtime;
        add(
            &runtime.stats.shard(self.pool.index).acl_denied[Denial::Auth as usize],
            1,
        );
        let limit = runtime.snapshot().config.max_auth_failures;
        let peer = self
            .state
            .login
            .peer()
            .map_or_else(|| "unknown".to_string(), |p| p.to_string());
        let user = failure.user.as_deref().unwrap_or("(no such user)");
        let closing = failure.count >= limit;
        tracing::warn!(
            pool = %runtime.name,
            peer = %peer,
            user,
            failures = failure.count,
            "failed login from {peer} as {user} ({} of {limit}{})",
            failure.count,
            if closing { "; closing the connection" } else { "" }
        );
        closing
    }
}
