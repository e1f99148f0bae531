//! Ketama consistent hashing, point for point as nutcracker 0.5.0 builds it.
//!
//! Each live server gets `floor(pct * 160 / 4 * n_live) * 4` points, where
//! `pct = weight / total_live_weight`. The arithmetic is f32 with a 1e-10 nudge
//! added in f64, because that is what the C expression does, and the exact
//! point count decides placement. Point group `i` is the md5 of `"<name>-<i>"`;
//! each 16-byte digest yields four little-endian u32 points.

use super::RingMember;

const POINTS_PER_SERVER: f32 = 160.0;
const POINTS_PER_HASH: usize = 4;
/// nutcracker formats `"<name>-<i>"` into a buffer of this size (snprintf), so
/// at most 85 bytes of it are hashed.
const MAX_HOSTLEN: usize = 86;

/// Sorted point values, with the owning server index beside each, kept as two
/// arrays so the binary search touches only the values.
#[derive(Debug, Clone, Default)]
pub struct KetamaRing {
    values: Vec<u32>,
    owners: Vec<u32>,
}

/// How many points nutcracker gives a server of `weight` out of `total_weight`
/// with `n_live` live servers.
pub fn points_for(weight: u32, total_weight: u32, n_live: usize) -> usize {
    let pct = weight as f32 / total_weight as f32;
    let scaled: f32 = pct * POINTS_PER_SERVER / 4.0 * n_live as f32;
    let nudged = (scaled as f64 + 0.0000000001) as f32;
    (nudged.floor() * 4.0) as usize
}

impl KetamaRing {
    pub fn build(live: &[RingMember<'_>]) -> KetamaRing {
        let total_weight: u32 = live.iter().map(|m| m.weight).sum();
        let mut points: Vec<(u32, u32)> = Vec::new();
        let mut label = Vec::with_capacity(MAX_HOSTLEN + 16);
        for member in live {
            let count = points_for(member.weight, total_weight, live.len());
            for group in 0..count / POINTS_PER_HASH {
                label.clear();
                label.extend_from_slice(member.name);
                label.extend_from_slice(format!("-{group}").as_bytes());
                label.truncate(MAX_HOSTLEN - 1);
                let digest = md5::compute(&label).0;
                for quad in digest.chunks_exact(4) {
                    let value = u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]);
                    points.push((value, member.index as u32));
                }
            }
        }
        // Stable, like the glibc merge sort behind nutcracker's qsort, so equal
        // values keep config order.
        points.sort_by_key(|&(value, _)| value);
        KetamaRing {
            values: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.1).collect(),
        }
    }

    /// The server of the first point >= `hash`, wrapping to the first point.
    #[inline]
    pub fn dispatch(&self, hash: u32) -> Option<usize> {
        if self.values.is_empty() {
            return None;
        }
        let mut at = self.values.partition_point(|&v| v < hash);
        if at == self.values.len() {
            at = 0;
        }
        Some(self.owners[at] as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_get_160_points() {
        for n in 1..=10 {
            assert_eq!(points_for(1, n as u32, n), 160, "n={n}");
        }
    }

    /// Expected counts were computed by compiling nutcracker's C expression
    /// with gcc on x86-64 for the same inputs.
    #[test]
    fn weighted_points_follow_c_float_arithmetic() {
        let cases = [
            ((1, 3, 3), 160),
            ((1, 7, 3), 68),
            ((2, 7, 3), 136),
            ((4, 7, 3), 272),
            ((1, 6, 3), 80),
            ((3, 10, 4), 192),
            ((1, 10, 4), 64),
            ((5, 17, 5), 232),
            ((100, 301, 3), 156),
            ((1, 301, 3), 0),
            ((200, 301, 3), 316),
            ((7, 9, 2), 248),
            ((2, 9, 2), 68),
            ((1, 11, 11), 160),
        ];
        for ((w, t, n), want) in cases {
            assert_eq!(points_for(w, t, n), want, "weight {w} of {t}, {n} live");
        }
    }

    #[test]
    fn dispatch_wraps_and_picks_first_point_at_or_above() {
        let ring = KetamaRing {
            values: vec![10, 20, 30],
            owners: vec![0, 1, 2],
        };
        assert_eq!(ring.dispatch(0), Some(0));
        assert_eq!(ring.dispatch(10), Some(0));
        assert_eq!(ring.dispatch(11), Some(1));
        assert_eq!(ring.dispatch(30), Some(2));
        assert_eq!(ring.dispatch(31), Some(0));
        assert_eq!(KetamaRing::default().dispatch(5), None);
    }
}
