//! A user's `commands:` rules, applied in order as Redis ACL applies them,
//! into the set of commands the user may run: one bit per command of the
//! table and per subcommand (`script|flush`), so a request's check is one
//! bit test.
//!
//! Rules: `+@category` / `-@category` (`@all` too), `+command` /
//! `-command` (with its subcommands), `+command|subcommand` /
//! `-command|subcommand`, `allcommands`, `nocommands`.

use crate::command::category::{Categories, ADMIN, SUBS};
use crate::command::{self, subcommand, CommandSpec};

/// The commands a user may run: bit `i` for command `i` of the table, bit
/// `table length + j` for subcommand `j`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSet {
    bits: Box<[u64]>,
}

/// One command or subcommand: its bit and what Redis calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub id: usize,
    /// `get`, `script|flush`.
    pub name: &'static str,
    pub categories: Categories,
}

fn universe() -> usize {
    command::all().len() + subcommand::all().len()
}

/// Every command and subcommand.
fn entries() -> impl Iterator<Item = Entry> {
    let table = command::all().len();
    let commands = command::all().iter().enumerate().map(|(id, c)| Entry {
        id,
        name: c.name,
        categories: c.categories,
    });
    let subs = subcommand::all()
        .iter()
        .enumerate()
        .map(move |(j, s)| Entry {
            id: table + j,
            name: s.name,
            categories: s.categories,
        });
    commands.chain(subs)
}

/// The entry a request runs: the subcommand named by `sub` (its argument 1)
/// when the command has subcommands and Redis knows that one, else the
/// command itself. Allocates nothing.
#[inline]
pub fn entry(spec: &'static CommandSpec, sub: Option<&[u8]>) -> Entry {
    if spec.categories.has(SUBS) {
        if let Some(j) = sub.and_then(|sub| subcommand::lookup(spec, sub)) {
            let s = &subcommand::all()[j];
            return Entry {
                id: command::all().len() + j,
                name: s.name,
                categories: s.categories,
            };
        }
    }
    Entry {
        id: command::index(spec),
        name: spec.name,
        categories: spec.categories,
    }
}

impl CommandSet {
    pub fn none() -> CommandSet {
        CommandSet {
            bits: vec![0; universe().div_ceil(64)].into_boxed_slice(),
        }
    }

    pub fn all() -> CommandSet {
        let mut set = CommandSet::none();
        for e in entries() {
            set.put(e.id, true);
        }
        set
    }

    #[inline]
    pub fn has(&self, id: usize) -> bool {
        self.bits
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn put(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
        }
    }

    /// Whether every command and subcommand is in.
    pub fn is_all(&self) -> bool {
        entries().all(|e| self.has(e.id))
    }

    /// Whether every command of `@admin` is in: what "holds @admin" means.
    pub fn holds_admin(&self) -> bool {
        entries()
            .filter(|e| e.categories.has(ADMIN))
            .all(|e| self.has(e.id))
    }

    /// Applies one rule. The error says what was expected.
    pub fn apply(&mut self, rule: &str) -> Result<(), String> {
        let (on, what) = match rule {
            "allcommands" => (true, "@all"),
            "nocommands" => (false, "@all"),
            _ => match rule.split_at_checked(1) {
                Some(("+", what)) => (true, what),
                Some(("-", what)) => (false, what),
                _ => {
                    return Err(format!(
                        "'{rule}' is not a command rule; expected +@category, -@category, +command, -command, +command|subcommand, allcommands or nocommands"
                    ))
                }
            },
        };
        if let Some(category) = what.strip_prefix('@') {
            return self.category(on, category);
        }
        let name = what.to_ascii_lowercase();
        if let Some((cmd, sub)) = name.split_once('|') {
            let spec = known(cmd)?;
            let j = subcommand::lookup(spec, sub.as_bytes()).ok_or_else(|| {
                format!("'{cmd}' has no subcommand '{sub}' (as Redis 7.0 names them)")
            })?;
            self.put(command::all().len() + j, on);
            return Ok(());
        }
        let spec = known(&name)?;
        self.put(command::index(spec), on);
        let prefix = format!("{name}|");
        for (j, s) in subcommand::all().iter().enumerate() {
            if s.name.starts_with(&prefix) {
                self.put(command::all().len() + j, on);
            }
        }
        Ok(())
    }

    fn category(&mut self, on: bool, name: &str) -> Result<(), String> {
        let bits = if name.eq_ignore_ascii_case("all") {
            None
        } else {
            Some(Categories::by_name(name).ok_or_else(|| {
                let all: Vec<&str> = crate::command::category::NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                format!(
                    "'@{name}' is not a command category; expected @all or one of @{}",
                    all.join(", @")
                )
            })?)
        };
        let chosen: Vec<usize> = entries()
            .filter(|e| bits.is_none_or(|b| e.categories.has(b)))
            .map(|e| e.id)
            .collect();
        for id in chosen {
            self.put(id, on);
        }
        Ok(())
    }
}

fn known(name: &str) -> Result<&'static CommandSpec, String> {
    command::lookup(name.as_bytes())
        .ok_or_else(|| format!("'{name}' is not a command redshard knows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rules: &[&str]) -> CommandSet {
        let mut s = CommandSet::none();
        for r in rules {
            s.apply(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        s
    }

    fn may(s: &CommandSet, cmd: &str, sub: Option<&str>) -> bool {
        let spec = command::lookup(cmd.as_bytes()).unwrap();
        s.has(entry(spec, sub.map(str::as_bytes)).id)
    }

    #[test]
    fn rules_in_order() {
        let reader = set(&["+@read"]);
        assert!(may(&reader, "get", None) && may(&reader, "mget", None));
        assert!(!may(&reader, "set", None) && !may(&reader, "eval", None));
        assert!(may(&reader, "object", Some("encoding")));
        assert!(!may(&reader, "script", Some("flush")));
        let s = set(&["+@all", "-@dangerous", "+keys"]);
        assert!(may(&s, "get", None) && may(&s, "keys", None));
        assert!(!may(&s, "flushall", None) && !may(&s, "sort", None));
        let s = set(&["+@scripting", "-script|flush"]);
        assert!(may(&s, "eval", None) && may(&s, "script", Some("load")));
        assert!(!may(&s, "script", Some("flush")) && may(&s, "script", Some("kill")));
        let s = set(&["allcommands", "-script"]);
        assert!(!may(&s, "script", Some("load")) && !may(&s, "script", Some("flush")));
        assert!(set(&["+@all"]).is_all() && set(&["+@all"]).holds_admin());
        assert!(!set(&["+@all", "-@admin"]).holds_admin());
        assert!(
            !set(&["+@all", "nocommands"]).has(command::index(command::lookup(b"get").unwrap()))
        );
    }

    #[test]
    fn unknown_subcommand_is_the_command_itself() {
        let s = set(&["+script"]);
        assert!(may(&s, "script", Some("nosuch")) && may(&s, "script", None));
        let s = set(&["+@scripting"]);
        assert!(!may(&s, "script", Some("nosuch")));
    }

    #[test]
    fn bad_rules() {
        let mut s = CommandSet::none();
        for bad in [
            "read",
            "+@reed",
            "+nosuch",
            "+script|nosuch",
            "+get|x",
            "",
            "~*",
        ] {
            assert!(s.apply(bad).is_err(), "{bad}");
        }
    }
}
