//! Hosted commands: distributed locks, red packets, flash sales and Bloom
//! filters, each one Lua script run atomically on the server that owns its
//! hash tag (EVALSHA, EVAL when the server answers NOSCRIPT). Randomness and
//! time come from the proxy as arguments, so the scripts stay deterministic.
//!
//! This module plans: it checks a command's arguments and names the script,
//! its keys and arguments. Running the plan in the client's pipeline
//! (routing, NOSCRIPT, WAIT retries) is the proxy's; the register of lock
//! waiters that a release wakes, shared by the pool's workers, is here.
//!
//! Keys live in the reserved `rs:` namespace, always routed by their `{tag}`:
//! `rs:lock:{name}`, `rs:rp:{id}:meta|opened|records`,
//! `rs:sk:{sku}:meta|buyers|orders`, `rs:bf:{key}:meta` and `rs:bf:{key}:f<i>`.

mod bloom;
mod error;
mod lock;
pub mod namespace;
mod plan;
mod redpacket;
mod scripts;
mod seckill;
mod waiters;

pub use bloom::bloom_hashes;
pub use error::HostedError;
pub use lock::MAX_WAIT_MS;
pub use plan::{Group, Hosted, Limits, Plan};
pub use scripts::Script;
pub use waiters::{LockWaiters, WaitTicket};

impl Hosted {
    /// Checks the arguments (after the command name) against the pool's
    /// `limits` and plans the call. `name` is the command's name, for errors.
    pub fn plan(
        self,
        name: &'static str,
        args: &[&[u8]],
        limits: &Limits,
    ) -> Result<Plan, HostedError> {
        // Every hosted key is `rs:<kind>:{name}<suffix>`: an empty name, or
        // one that closes the tag at once, leaves the keys no tag in common,
        // and they would hash apart.
        if !matches!(args.first(), Some(n) if n.first().is_some_and(|&b| b != b'}')) {
            return Err(HostedError::BadName { command: name });
        }
        match self.group() {
            Group::Lock => lock::plan(self, name, args),
            Group::RedPacket => redpacket::plan(self, name, args),
            Group::Seckill => seckill::plan(self, name, args),
            Group::Bloom => bloom::plan(self, name, args, limits),
        }
    }
}
