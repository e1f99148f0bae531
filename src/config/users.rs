//! `users:` as written: a list of maps (`name`, `password`, `commands`,
//! `keys`), each value a YAML scalar or a list of them. What the entries
//! mean, and whether they are valid, is [`crate::auth`]'s.
//!
//! ```yaml
//! users:
//!   - {name: reader, password: r, commands: ["+@read"], keys: ["app:*"]}
//!   - {name: ops, password: "sha256:5e88...", commands: ["+@all"]}
//! ```

use serde::de::{Deserializer, Error};
use serde::Deserialize;

use super::scalar::ScalarText;
use crate::auth::UserSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    #[serde(deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "some_text")]
    password: Option<String>,
    #[serde(default, deserialize_with = "texts")]
    commands: Option<Vec<String>>,
    #[serde(default, deserialize_with = "texts")]
    keys: Option<Vec<String>>,
}

impl From<RawUser> for UserSpec {
    fn from(raw: RawUser) -> UserSpec {
        UserSpec {
            name: raw.name,
            password: raw.password,
            commands: raw.commands,
            keys: raw.keys,
        }
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScalarText)
}

fn some_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

/// A list of scalars (a single scalar is taken as a list of one).
fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<serde_norway::Value>),
        One(serde_norway::Value),
    }
    let values = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(v) => vec![v],
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_norway::Value::String(s) => Ok(s),
            serde_norway::Value::Number(n) => Ok(n.to_string()),
            serde_norway::Value::Bool(b) => Ok(b.to_string()),
            other => Err(D::Error::custom(format!(
                "expected a list of strings, found {other:?}"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
