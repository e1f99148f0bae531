//! Who a client connection is: the user it logged in as (or `default`, when
//! that needs no password), against the pool's users as they are now. A
//! reload that changes the users reaches the connection at its next
//! command: it stays logged in as the same user if that user still exists
//! with the same password (and gets the new rules), else it is as a new
//! connection is. Failed logins are counted for the whole connection (a
//! success or a RESET does not wipe them), so the pool's
//! `max_auth_failures` bounds the guesses a connection gets.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use super::password::verify_nobody;
use super::users::{User, Users, DEFAULT};

/// Where a client connects from, for the log of failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    /// A unix socket: the peer's process and user, where the kernel says.
    Unix {
        pid: Option<i32>,
        uid: Option<u32>,
    },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix { pid, uid } => {
                f.write_str("unix socket")?;
                if let Some(pid) = pid {
                    write!(f, " pid {pid}")?;
                }
                if let Some(uid) = uid {
                    write!(f, " uid {uid}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a login failed. Data only: `ClientError` has the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No user has a password (no `users:`, no `redis_auth`).
    NoPasswordSet,
    /// `AUTH password` where `default` has no password.
    DefaultNopass,
    /// Unknown user or wrong password: the same answer for both.
    WrongPass,
}

/// A failed login, for the log: never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The user named, when it exists (an unknown name may be a password
    /// typed in the wrong place, so it is not shown).
    pub user: Option<String>,
    /// Failures on this connection so far.
    pub count: u32,
}

#[derive(Debug, Clone)]
pub struct Login {
    users: Arc<Users>,
    user: Option<Arc<User>>,
    peer: Option<Peer>,
    failures: u32,
    failed: Option<Failure>,
}

impl Login {
    pub fn new(users: &Arc<Users>, peer: Option<Peer>) -> Login {
        Login {
            users: Arc::clone(users),
            user: users.at_connect(),
            peer,
            failures: 0,
            failed: None,
        }
    }

    /// Follows the pool's users, as a reload may have changed them.
    #[inline]
    pub fn follow(&mut self, users: &Arc<Users>) {
        if !Arc::ptr_eq(&self.users, users) {
            self.switch(users);
        }
    }

    #[cold]
    fn switch(&mut self, users: &Arc<Users>) {
        let same = self.user.as_ref().and_then(|old| {
            users
                .find(old.name.as_bytes())
                .filter(|new| new.password == old.password)
                .cloned()
        });
        self.user = same.or_else(|| users.at_connect());
        self.users = Arc::clone(users);
    }

    /// The user this connection is, if logged in.
    #[inline]
    pub fn user(&self) -> Option<&User> {
        self.user.as_deref()
    }

    pub fn peer(&self) -> Option<Peer> {
        self.peer
    }

    /// `AUTH [name] password`, `HELLO ... AUTH name password`.
    pub fn attempt(&mut self, name: Option<&[u8]>, password: &[u8]) -> Result<(), AuthError> {
        if self.users.without_passwords() {
            return Err(AuthError::NoPasswordSet);
        }
        let found = self.users.find(name.unwrap_or(DEFAULT.as_bytes())).cloned();
        match found {
            Some(u) if name.is_none() && u.password == super::Password::Nopass => {
                Err(AuthError::DefaultNopass)
            }
            Some(u) if u.password.verify(password) => {
                self.user = Some(u);
                Ok(())
            }
            found => {
                if found.is_none() {
                    verify_nobody(password);
                }
                self.failures = self.failures.saturating_add(1);
                self.failed = Some(Failure {
                    user: found.map(|u| u.name.clone()),
                    count: self.failures,
                });
                self.user = self.users.at_connect();
                Err(AuthError::WrongPass)
            }
        }
    }

    /// The failure of the last attempt, once.
    pub fn take_failure(&mut self) -> Option<Failure> {
        self.failed.take()
    }

    /// RESET: as a new connection, but the failures stay counted.
    pub fn reset(&mut self) {
        self.user = self.users.at_connect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::UserSpec;

    fn users(password: &str, commands: &[&str]) -> Arc<Users> {
        Arc::new(
            Users::build(&[UserSpec {
                name: "app".into(),
                password: Some(password.into()),
                commands: Some(commands.iter().map(|s| s.to_string()).collect()),
                keys: None,
            }])
            .unwrap(),
        )
    }

    #[test]
    fn attempts_and_failures() {
        let u = users("pw", &["+@read"]);
        let mut l = Login::new(&u, None);
        assert!(l.user().is_none());
        assert_eq!(l.attempt(Some(b"app"), b"no"), Err(AuthError::WrongPass));
        assert_eq!(l.take_failure().unwrap().user.as_deref(), Some("app"));
        assert_eq!(l.attempt(Some(b"pw"), b"app"), Err(AuthError::WrongPass));
        let f = l.take_failure().unwrap();
        assert_eq!((f.user, f.count), (None, 2));
        assert_eq!(l.attempt(None, b"pw"), Err(AuthError::WrongPass));
        assert_eq!(l.attempt(Some(b"app"), b"pw"), Ok(()));
        assert_eq!(l.user().unwrap().name, "app");
        l.reset();
        assert!(l.user().is_none());
        assert_eq!(l.attempt(Some(b"app"), b"x"), Err(AuthError::WrongPass));
        assert_eq!(l.take_failure().unwrap().count, 4, "RESET keeps the count");
        let open = Arc::new(Users::implicit(None));
        let mut l = Login::new(&open, None);
        assert_eq!(l.attempt(None, b"x"), Err(AuthError::NoPasswordSet));
        assert!(l.user().is_some());
    }

    #[test]
    fn a_reload_reaches_a_logged_in_client() {
        let before = users("pw", &["+@read"]);
        let mut l = Login::new(&before, None);
        l.attempt(Some(b"app"), b"pw").unwrap();
        // New rules, same password: still logged in, with the new rules.
        let rules = users("pw", &["+@all"]);
        l.follow(&rules);
        assert!(l.user().unwrap().perms.unrestricted);
        // A new password: logged out.
        l.follow(&users("new", &["+@all"]));
        assert!(l.user().is_none());
        // redis_auth turned on: the open default is gone.
        let mut l = Login::new(&Arc::new(Users::implicit(None)), None);
        assert!(l.user().is_some());
        l.follow(&Arc::new(Users::implicit(Some("secret"))));
        assert!(l.user().is_none());
    }
}
