//! The Lua scripts, compiled into the binary, with the SHA-1 EVALSHA names
//! them by.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    LockAcquire,
    LockRelease,
    LockExtend,
    LockOwner,
    RpCreate,
    RpGrab,
    RpOpen,
    RpInfo,
    RpRecords,
    SkCreate,
    SkBuy,
    SkInfo,
    BfReserve,
    BfAdd,
    BfExists,
    BfInfo,
}

const BODIES: [(Script, &str); 16] = [
    (Script::LockAcquire, include_str!("lua/lock_acquire.lua")),
    (Script::LockRelease, include_str!("lua/lock_release.lua")),
    (Script::LockExtend, include_str!("lua/lock_extend.lua")),
    (Script::LockOwner, include_str!("lua/lock_owner.lua")),
    (Script::RpCreate, include_str!("lua/rp_create.lua")),
    (Script::RpGrab, include_str!("lua/rp_grab.lua")),
    (Script::RpOpen, include_str!("lua/rp_open.lua")),
    (Script::RpInfo, include_str!("lua/rp_info.lua")),
    (Script::RpRecords, include_str!("lua/rp_records.lua")),
    (Script::SkCreate, include_str!("lua/sk_create.lua")),
    (Script::SkBuy, include_str!("lua/sk_buy.lua")),
    (Script::SkInfo, include_str!("lua/sk_info.lua")),
    (Script::BfReserve, include_str!("lua/bf_reserve.lua")),
    (Script::BfAdd, include_str!("lua/bf_add.lua")),
    (Script::BfExists, include_str!("lua/bf_exists.lua")),
    (Script::BfInfo, include_str!("lua/bf_info.lua")),
];

impl Script {
    pub fn body(self) -> &'static str {
        BODIES
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, b)| *b)
            .unwrap_or("")
    }

    /// Lower-case hex SHA-1 of the body.
    pub fn sha(self) -> &'static str {
        static SHAS: OnceLock<Vec<(Script, String)>> = OnceLock::new();
        let shas = SHAS.get_or_init(|| {
            BODIES
                .iter()
                .map(|(s, b)| (*s, sha1_smol::Sha1::from(b.as_bytes()).digest().to_string()))
                .collect()
        });
        shas.iter()
            .find(|(s, _)| *s == self)
            .map(|(_, h)| h.as_str())
            .unwrap_or("")
    }
}
