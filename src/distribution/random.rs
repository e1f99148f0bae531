//! Random: every key goes to a uniformly chosen live server (weights ignored,
//! as in nutcracker). Useful for caches where any server will do.

use super::RingMember;

#[derive(Debug, Clone, Default)]
pub struct RandomRing {
    live: Vec<u32>,
}

impl RandomRing {
    pub fn build(live: &[RingMember<'_>]) -> RandomRing {
        RandomRing {
            live: live.iter().map(|m| m.index as u32).collect(),
        }
    }

    #[inline]
    pub fn dispatch(&self) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        Some(self.live[fastrand::usize(..self.live.len())] as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}
