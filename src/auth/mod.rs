//! Users and permissions on the client side: a pool's `users:` (or the one
//! `default` user nutcracker's `redis_auth` makes), logging in with AUTH and
//! HELLO, and the one permission check every request passes before it is
//! sent anywhere.
//!
//! Pure: no I/O. The proxy calls [`check()`] on its request path and keeps a
//! [`Login`] per client; the refusal texts are `ClientError`'s.
//!
//! - [`users`]: the users, built from the config and checked there.
//! - [`rules`]: ACL-style command rules into a set of commands.
//! - [`glob`]: key patterns, as Redis matches them.
//! - [`password`]: digests compared in constant time.
//! - [`login`]: who a connection is, across reloads; failed logins.
//! - [`check`](mod@check): the check of one request.

pub mod check;
pub mod glob;
pub mod login;
pub mod password;
pub mod rules;
pub mod users;

pub use check::{check, Denied};
pub use login::{AuthError, Failure, Login, Peer};
pub use password::Password;
pub use users::{User, UserError, UserSpec, Users};
