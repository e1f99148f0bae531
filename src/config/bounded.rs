//! Numeric keys, each read within its range: the range is part of the key's
//! type in [`super::schema::RawPool`], so a value outside it is refused while
//! the YAML is read and its error carries the line, pool and key like any
//! other bad value. A value the proxy would act on (a count of connections,
//! a timeout, a buffer size) can then never be one that aborts or hangs it:
//! `server_connections: 1000000000` once asked for an 8 GB allocation.
//!
//! nutcracker reads every value as a string, so `timeout: "400"` works there
//! and here.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

pub(super) const KIB: u64 = 1 << 10;
pub(super) const MIB: u64 = 1 << 20;
pub(super) const GIB: u64 = 1 << 30;
/// The longest time a timeout key takes: a request or a retry wait beyond
/// an hour is no timeout, and a mistyped one would look like a hang.
pub(super) const HOUR_MS: u64 = 3_600_000;

/// A number of type `T` within `MIN..=MAX`, counted in `U`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounded<T, U, const MIN: u64, const MAX: u64>(T, PhantomData<U>);

/// A whole number (connections, a limit, a database index).
pub(super) type Count<T, const MIN: u64, const MAX: u64> = Bounded<T, Whole, MIN, MAX>;
/// Milliseconds.
pub(super) type Millis<const MIN: u64, const MAX: u64> = Bounded<u64, Ms, MIN, MAX>;
/// Bytes, written as a number or with a unit (`64mb`).
pub(super) type Size<const MIN: u64, const MAX: u64> = Bounded<usize, Bytes, MIN, MAX>;

impl<T, U, const MIN: u64, const MAX: u64> Bounded<T, U, MIN, MAX> {
    pub fn get(self) -> T {
        self.0
    }
}

/// How a kind of number is read and named in errors.
pub(super) trait Unit {
    /// What the error says is expected, before the range.
    const EXPECTED: &'static str;
    /// The unit, after the range.
    const AFTER: &'static str = "";
    /// The value, and the text to show for it in an error.
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, String), D::Error>;
    /// An end of the range as the error shows it.
    fn show(v: u64) -> String {
        v.to_string()
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Whole;
#[derive(Debug, Clone, Copy)]
pub(super) struct Ms;
#[derive(Debug, Clone, Copy)]
pub(super) struct Bytes;

impl Unit for Whole {
    const EXPECTED: &'static str = "a whole number";
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, String), D::Error> {
        let v = d.deserialize_any(WholeNumber)?;
        Ok((v, v.to_string()))
    }
}

impl Unit for Ms {
    const EXPECTED: &'static str = "a time";
    const AFTER: &'static str = " ms";
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, String), D::Error> {
        Whole::read(d)
    }
}

impl Unit for Bytes {
    const EXPECTED: &'static str = "a size";
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, String), D::Error> {
        let text = d.deserialize_any(super::scalar::ScalarText)?;
        let v = parse_size(&text).map_err(de::Error::custom)?;
        Ok((v, text.trim().to_string()))
    }
    fn show(v: u64) -> String {
        show_size(v)
    }
}

impl<'de, T, U, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<T, U, MIN, MAX>
where
    T: TryFrom<u64>,
    U: Unit,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (v, text) = U::read(d)?;
        let range = format!(
            "expected {} from {} to {}{}",
            U::EXPECTED,
            U::show(MIN),
            U::show(MAX),
            U::AFTER
        );
        if v == 0 && MIN > 0 {
            return Err(de::Error::custom(format!("cannot be 0; {range}")));
        }
        if !(MIN..=MAX).contains(&v) {
            return Err(de::Error::custom(format!(
                "{text} is out of range; {range}"
            )));
        }
        T::try_from(v)
            .map(|t| Bounded(t, PhantomData))
            .map_err(|_| de::Error::custom(format!("{text} is too large for this machine")))
    }
}

/// A size as redis.conf writes it: bytes, or a number with a unit (`64mb`,
/// `512kb`, `1gb`; k/m/g are powers of 1000, kb/mb/gb of 1024).
pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = t.split_at(digits);
    let not_a_size = || format!("'{text}' is not a size; expected bytes, e.g. 1048576 or 1mb");
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return Err(not_a_size()),
    };
    let n: u64 = num.parse().map_err(|_| not_a_size())?;
    match n.checked_mul(mult) {
        Some(0) => Err(format!(
            "'{text}' is zero; expected a size of at least 1 byte"
        )),
        Some(v) => Ok(v),
        None => Err(format!("'{text}' is too large")),
    }
}

/// `bytes` in the largest binary unit that divides it (`4mb`, `1536kb`).
pub fn show_size(bytes: u64) -> String {
    match bytes {
        0 => "0".to_string(),
        b if b % (1 << 30) == 0 => format!("{}gb", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}mb", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}kb", b >> 10),
        b => b.to_string(),
    }
}

/// A whole number of 0 or more, as a YAML number or a string of digits.
struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of 0 or more")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| {
            E::custom(format!(
                "{v} is negative; expected a whole number of 0 or more"
            ))
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!(
                "'{v}' is not a number; expected a whole number of 0 or more"
            )));
        }
        v.parse::<u64>()
            .map_err(|_| E::custom(format!("'{v}' is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_their_largest_unit() {
        assert_eq!(show_size(4 << 20), "4mb");
        assert_eq!(show_size(1536 << 10), "1536kb");
        assert_eq!(show_size(1 << 30), "1gb");
        assert_eq!(show_size(1000), "1000");
        assert_eq!(parse_size("4mb"), Ok(4 << 20));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert!(parse_size("0").unwrap_err().contains("is zero"));
        assert!(parse_size("4xb").unwrap_err().contains("not a size"));
    }
}
