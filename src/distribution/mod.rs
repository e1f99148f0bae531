//! Distributions: given the live servers, build a ring; given a key's hash,
//! dispatch to a server index. Each distribution is a build/dispatch pair, as in
//! nutcracker, and a ring is rebuilt from scratch whenever the live set changes
//! (an ejection is just a rebuild without that server).

mod ketama;
mod modula;
mod random;

pub use ketama::KetamaRing;
pub use modula::ModulaRing;
pub use random::RandomRing;

use std::fmt;
use std::str::FromStr;

/// What `distribution:` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    Ketama,
    Modula,
    Random,
}

impl Distribution {
    pub const ALL: [(Distribution, &'static str); 3] = [
        (Distribution::Ketama, "ketama"),
        (Distribution::Modula, "modula"),
        (Distribution::Random, "random"),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Ketama => "ketama",
            Distribution::Modula => "modula",
            Distribution::Random => "random",
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid distribution; expected one of: ketama, modula, random")]
pub struct UnknownDistribution(pub String);

impl FromStr for Distribution {
    type Err = UnknownDistribution;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(d, _)| *d)
            .ok_or_else(|| UnknownDistribution(s.to_string()))
    }
}

/// One server as a ring sees it: its position in the config's server list, the
/// name that is hashed for its ketama points, and its weight.
#[derive(Debug, Clone, Copy)]
pub struct RingMember<'a> {
    pub index: usize,
    pub name: &'a [u8],
    pub weight: u32,
}

/// A built distribution over the live servers of one pool.
#[derive(Debug, Clone)]
pub enum Ring {
    Ketama(KetamaRing),
    Modula(ModulaRing),
    Random(RandomRing),
}

impl Ring {
    /// Builds the ring for `live`, which lists only the servers that take keys,
    /// in config order.
    pub fn build(kind: Distribution, live: &[RingMember<'_>]) -> Ring {
        match kind {
            Distribution::Ketama => Ring::Ketama(KetamaRing::build(live)),
            Distribution::Modula => Ring::Modula(ModulaRing::build(live)),
            Distribution::Random => Ring::Random(RandomRing::build(live)),
        }
    }

    /// The config index of the server for `hash`; `None` when no server is live.
    #[inline]
    pub fn dispatch(&self, hash: u32) -> Option<usize> {
        match self {
            Ring::Ketama(r) => r.dispatch(hash),
            Ring::Modula(r) => r.dispatch(hash),
            Ring::Random(r) => r.dispatch(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Ring::Ketama(r) => r.is_empty(),
            Ring::Modula(r) => r.is_empty(),
            Ring::Random(r) => r.is_empty(),
        }
    }
}
