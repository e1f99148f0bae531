//! A user's password as the proxy keeps it: its SHA-256, as Redis ACL keeps
//! `>password` and takes `#<hash>`. A password given at AUTH is hashed and
//! the two digests are compared in constant time (`subtle`), so neither the
//! length of the password nor the position of its first wrong byte shows in
//! the time the answer takes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a user's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// No password: anyone may log in as this user (Redis's `nopass`).
    Nopass,
    /// The SHA-256 of the password.
    Sha256([u8; 32]),
}

impl std::fmt::Debug for Password {
    /// Never the digest: a config dump in a log must not help a guesser.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Nopass => f.write_str("Nopass"),
            Password::Sha256(_) => f.write_str("Sha256(..)"),
        }
    }
}

/// The prefix of a password given by its digest.
const HASHED: &str = "sha256:";

impl Password {
    /// A password as the config writes it: plain, or `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<Password, String> {
        let Some(hex) = text.strip_prefix(HASHED) else {
            if text.is_empty() {
                return Err("the password is empty; leave 'password' out for a user that needs none (only 'default' may)".into());
            }
            return Ok(Password::plain(text.as_bytes()));
        };
        let bad = || {
            format!("'{HASHED}' must be followed by the 64 hex digits of the password's SHA-256 (e.g. from `printf %s PASSWORD | sha256sum`)")
        };
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            out[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Password::Sha256(out))
    }

    /// A password taken as written, never as a digest.
    pub fn plain(text: &[u8]) -> Password {
        Password::Sha256(digest(text))
    }

    /// Whether `given` is the password. Constant time in the password.
    pub fn verify(&self, given: &[u8]) -> bool {
        match self {
            Password::Nopass => true,
            Password::Sha256(expected) => bool::from(digest(given).ct_eq(expected)),
        }
    }
}

/// Checks `given` against nothing in the time a real check takes: for an
/// unknown user, so the answer's timing does not tell which users exist.
pub fn verify_nobody(given: &[u8]) {
    let _ = bool::from(digest(given).ct_eq(&[0u8; 32]));
}

fn digest(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed() {
        let plain = Password::parse("secret").unwrap();
        assert!(plain.verify(b"secret"));
        assert!(!plain.verify(b"secreT") && !plain.verify(b"") && !plain.verify(b"secret "));
        // printf %s secret | sha256sum
        let hashed = Password::parse(
            "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
        )
        .unwrap();
        assert_eq!(hashed, plain);
        assert!(Password::Nopass.verify(b"anything"));
        for bad in [
            "",
            "sha256:abc",
            "sha256:zz",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(Password::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{plain:?}"), "Sha256(..)");
    }
}
