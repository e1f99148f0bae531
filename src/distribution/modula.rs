//! Modula: each live server appears `weight` times, in config order; a key goes
//! to slot `hash % slots`.

use super::RingMember;

#[derive(Debug, Clone, Default)]
pub struct ModulaRing {
    slots: Vec<u32>,
}

impl ModulaRing {
    pub fn build(live: &[RingMember<'_>]) -> ModulaRing {
        let slots = live
            .iter()
            .flat_map(|m| std::iter::repeat_n(m.index as u32, m.weight as usize))
            .collect();
        ModulaRing { slots }
    }

    #[inline]
    pub fn dispatch(&self, hash: u32) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        Some(self.slots[hash as usize % self.slots.len()] as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_repeat_slots() {
        let live = [
            RingMember {
                index: 0,
                name: b"a",
                weight: 2,
            },
            RingMember {
                index: 3,
                name: b"b",
                weight: 1,
            },
        ];
        let ring = ModulaRing::build(&live);
        let got: Vec<_> = (0..6).map(|h| ring.dispatch(h).unwrap()).collect();
        assert_eq!(got, vec![0, 0, 3, 0, 0, 3]);
    }
}
