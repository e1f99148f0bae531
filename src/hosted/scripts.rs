//! The Lua scripts, compiled into the binary, with the SHA-1 EVALSHA names
//! them by (computed once, on first use).

use std::sync::OnceLock;

#[derive(Debug)]
pub struct Script {
    body: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    const fn new(body: &'static str) -> Script {
        Script {
            body,
            sha: OnceLock::new(),
        }
    }

    pub fn body(&self) -> &'static str {
        self.body
    }

    /// Lower-case hex SHA-1 of the body.
    pub fn sha(&self) -> &str {
        self.sha.get_or_init(|| {
            sha1_smol::Sha1::from(self.body.as_bytes())
                .digest()
                .to_string()
        })
    }
}

pub static LOCK_ACQUIRE: Script = Script::new(include_str!("lua/lock_acquire.lua"));
pub static LOCK_RELEASE: Script = Script::new(include_str!("lua/lock_release.lua"));
pub static LOCK_EXTEND: Script = Script::new(include_str!("lua/lock_extend.lua"));
pub static LOCK_OWNER: Script = Script::new(include_str!("lua/lock_owner.lua"));
pub static RP_CREATE: Script = Script::new(include_str!("lua/rp_create.lua"));
pub static RP_GRAB: Script = Script::new(include_str!("lua/rp_grab.lua"));
pub static RP_OPEN: Script = Script::new(concat!(
    include_str!("lua/expire_with_parent.lua"),
    include_str!("lua/rp_open.lua")
));
pub static RP_INFO: Script = Script::new(include_str!("lua/rp_info.lua"));
pub static RP_RECORDS: Script = Script::new(include_str!("lua/rp_records.lua"));
pub static SK_CREATE: Script = Script::new(include_str!("lua/sk_create.lua"));
pub static SK_BUY: Script = Script::new(concat!(
    include_str!("lua/expire_with_parent.lua"),
    include_str!("lua/sk_buy.lua")
));
pub static SK_INFO: Script = Script::new(include_str!("lua/sk_info.lua"));
pub static BF_RESERVE: Script = Script::new(include_str!("lua/bf_reserve.lua"));
pub static BF_ADD: Script = Script::new(include_str!("lua/bf_add.lua"));
pub static BF_EXISTS: Script = Script::new(include_str!("lua/bf_exists.lua"));
pub static BF_INFO: Script = Script::new(include_str!("lua/bf_info.lua"));
