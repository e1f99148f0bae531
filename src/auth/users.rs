//! A pool's users, as its `users:` defines them, ready for a request's check:
//! each with its password digest, the set of commands its rules allow, its
//! key patterns, and whether it holds `@admin`.
//!
//! Without `users:` the pool has one user, `default`, as nutcracker had:
//! its password is `redis_auth` (none: every client is `default` from the
//! start), and it may run every command, but is no administrator (SCRIPT
//! FLUSH and KILL, and plain writes to the hosted state, need a user of
//! `users:` that holds `@admin`).

use std::sync::Arc;

use super::password::Password;
use super::rules::CommandSet;

/// A `users:` entry as written.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub name: String,
    pub password: Option<String>,
    pub commands: Option<Vec<String>>,
    pub keys: Option<Vec<String>>,
}

/// Why a `users:` list is refused: the message, and the text of the
/// config to find its line by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub near: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub password: Password,
    pub perms: Perms,
}

/// What a user may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Perms {
    pub commands: CommandSet,
    /// Key patterns; `None`: every key.
    pub keys: Option<Vec<Vec<u8>>>,
    /// Every `@admin` command allowed: may run SCRIPT FLUSH and KILL and
    /// write the hosted state under `rs:`.
    pub admin: bool,
    /// Every command, every key, `@admin`: nothing to check.
    pub unrestricted: bool,
}

impl Perms {
    fn new(commands: CommandSet, keys: Option<Vec<Vec<u8>>>) -> Perms {
        let admin = commands.holds_admin();
        Perms {
            unrestricted: admin && keys.is_none() && commands.is_all(),
            commands,
            keys,
            admin,
        }
    }

    /// Whether `key` matches one of the user's patterns.
    pub fn key_ok(&self, key: &[u8]) -> bool {
        match &self.keys {
            None => true,
            Some(patterns) => patterns.iter().any(|p| super::glob::matches(p, key)),
        }
    }
}

/// The users of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Users {
    list: Vec<Arc<User>>,
    /// No `users:`: the one `default` user nutcracker's `redis_auth` makes.
    implicit: bool,
}

pub const DEFAULT: &str = "default";

impl Users {
    /// The pool without `users:`: `default`, with `redis_auth` as its
    /// password, every command and key, but not holding `@admin`: SCRIPT
    /// FLUSH and KILL and plain writes to `rs:` are refused, the rest is as
    /// under nutcracker.
    pub fn implicit(redis_auth: Option<&str>) -> Users {
        // nutcracker compares redis_auth as written, so a value that looks
        // like `sha256:<hex>` is a password all the same.
        let password = redis_auth.map_or(Password::Nopass, |p| Password::plain(p.as_bytes()));
        Users {
            list: vec![Arc::new(User {
                name: DEFAULT.into(),
                password,
                perms: Perms {
                    commands: CommandSet::all(),
                    keys: None,
                    // Not an admin, though every command is allowed: an
                    // administrator is a user `users:` defines.
                    admin: false,
                    unrestricted: false,
                },
            })],
            implicit: true,
        }
    }

    /// The users of a `users:` list.
    pub fn build(specs: &[UserSpec]) -> Result<Users, UserError> {
        let mut list: Vec<Arc<User>> = Vec::with_capacity(specs.len());
        for spec in specs {
            let user = build_user(spec)?;
            if list.iter().any(|u| u.name == user.name) {
                return Err(UserError {
                    message: format!("user '{}' is defined twice; each name once", user.name),
                    near: user.name,
                });
            }
            list.push(Arc::new(user));
        }
        if list.is_empty() {
            return Err(UserError {
                message: "the list is empty; define at least one user, or leave 'users' out".into(),
                near: "users".into(),
            });
        }
        Ok(Users {
            list,
            implicit: false,
        })
    }

    /// The user called `name`.
    pub fn find(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.list.iter().find(|u| u.name.as_bytes() == name)
    }

    /// The user a new connection is: `default` when it needs no password.
    pub fn at_connect(&self) -> Option<Arc<User>> {
        self.find(DEFAULT.as_bytes())
            .filter(|u| u.password == Password::Nopass)
            .cloned()
    }

    /// No `users:`, and `redis_auth` unset: AUTH has nothing to check
    /// (nutcracker's "Client sent AUTH, but no password is set").
    pub fn without_passwords(&self) -> bool {
        self.implicit && self.list.iter().all(|u| u.password == Password::Nopass)
    }
}

fn build_user(spec: &UserSpec) -> Result<User, UserError> {
    let name = spec.name.clone();
    let fail = |message: String, near: &str| UserError {
        message: format!("user '{name}': {message}"),
        near: near.to_string(),
    };
    if name.is_empty() || name.bytes().any(|b| b <= b' ' || b > b'~') {
        return Err(UserError {
            message: format!(
                "'{name}' is not a user name; expected letters, digits or punctuation, no spaces"
            ),
            near: "name".into(),
        });
    }
    let password = match &spec.password {
        Some(p) => Password::parse(p).map_err(|m| fail(m, "password"))?,
        None if name == DEFAULT => Password::Nopass,
        None => {
            return Err(fail(
                "'password' is missing; only 'default' may go without one".into(),
                &name,
            ))
        }
    };
    let Some(rules) = &spec.commands else {
        return Err(fail(
            "'commands' is missing; list its rules, e.g. [\"+@all\"] or [\"+@read\", \"-@dangerous\"]"
                .into(),
            &name,
        ));
    };
    let mut commands = CommandSet::none();
    for rule in rules {
        commands.apply(rule).map_err(|m| fail(m, rule))?;
    }
    let keys = spec
        .keys
        .as_ref()
        .map(|globs| globs.iter().map(|g| g.as_bytes().to_vec()).collect());
    Ok(User {
        name,
        password,
        perms: Perms::new(commands, keys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, password: Option<&str>, commands: &[&str]) -> UserSpec {
        UserSpec {
            name: name.into(),
            password: password.map(Into::into),
            commands: Some(commands.iter().map(|s| s.to_string()).collect()),
            keys: None,
        }
    }

    #[test]
    fn implicit_default() {
        let open = Users::implicit(None);
        assert!(open.without_passwords());
        let d = open.at_connect().unwrap();
        assert!(!d.perms.admin && !d.perms.unrestricted && d.perms.keys.is_none());
        assert!(d.perms.commands.is_all());
        let closed = Users::implicit(Some("sha256:x"));
        assert!(closed.at_connect().is_none() && !closed.without_passwords());
        assert!(closed
            .find(b"default")
            .unwrap()
            .password
            .verify(b"sha256:x"));
    }

    #[test]
    fn defined_users() {
        let mut reader = spec("reader", Some("r"), &["+@read"]);
        reader.keys = Some(vec!["app:*".into()]);
        let users = Users::build(&[reader, spec("admin", Some("a"), &["+@all"])]).unwrap();
        assert!(users.at_connect().is_none());
        let r = users.find(b"reader").unwrap();
        assert!(r.perms.key_ok(b"app:1") && !r.perms.key_ok(b"other"));
        assert!(users.find(b"admin").unwrap().perms.unrestricted);
        let open = Users::build(&[spec("default", None, &["+@read"])]).unwrap();
        assert!(open.at_connect().is_some() && !open.without_passwords());
    }

    #[test]
    fn refused() {
        let cases = [
            (vec![spec("a", None, &["+@all"])], "'password' is missing"),
            (vec![spec("a b", Some("x"), &["+@all"])], "not a user name"),
            (
                vec![spec("a", Some("x"), &["+@reed"])],
                "'@reed' is not a command category",
            ),
            (
                vec![spec("a", Some("x"), &[]), spec("a", Some("y"), &[])],
                "defined twice",
            ),
            (vec![], "the list is empty"),
        ];
        for (specs, want) in cases {
            let e = Users::build(&specs).unwrap_err();
            assert!(e.message.contains(want), "{e:?}");
        }
        let mut no_rules = spec("a", Some("x"), &[]);
        no_rules.commands = None;
        assert!(Users::build(&[no_rules])
            .unwrap_err()
            .message
            .contains("'commands' is missing"));
    }
}
