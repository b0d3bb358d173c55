//! Seeded randomness: every random draw is a pure function of (seed, domain, entity).
//!
//! Each entity (the catalog, one user) gets its own ChaCha8 stream, so any user, and so any
//! shard, can be generated alone and yields the same draws as in a full run. ChaCha8 is a
//! named, portable algorithm: its output does not change across platforms or rand releases.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Domain of the catalog (providers and apps).
pub const CATALOG: u64 = 1;
/// Domain of users; the entity is the user id.
pub const USER: u64 = 2;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of one entity of one domain under one seed.
pub fn entity_rng(seed: u64, domain: u64, entity: u64) -> ChaCha8Rng {
    let mut state = seed ^ domain.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(entity);
    rng
}

/// A uniform draw in `[0, 1)` with 53 bits of precision.
#[inline]
pub fn unit(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `true` with probability `p`.
#[inline]
pub fn chance(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// A uniform integer in `[lo, hi)`; `lo` when the range is empty.
#[inline]
pub fn between(rng: &mut impl Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo) as u64;
    lo + ((rng.next_u64() as u128 * span as u128) >> 64) as i64
}

/// Walker's alias table: O(1) draws from a fixed discrete distribution.
#[derive(Clone, Debug)]
pub struct AliasTable {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// Builds the table for `weights` (non-negative, positive sum).
    ///
    /// # Panics
    /// When `weights` is empty or sums to zero.
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        assert!(n > 0 && total > 0.0, "alias table needs a positive weight");
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { prob, alias }
    }

    /// Draws an index with probability proportional to its weight.
    #[inline]
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let x = rng.next_u64();
        let i = (((x >> 32) * self.prob.len() as u64) >> 32) as usize;
        let frac = (x as u32) as f64 * (1.0 / 4_294_967_296.0);
        if frac < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    /// Number of outcomes.
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// `true` when the table has no outcome (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: Vec<u64> = (0..4).map(|_| entity_rng(7, USER, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            entity_rng(7, USER, 1).next_u64(),
            entity_rng(7, USER, 2).next_u64()
        );
        assert_ne!(
            entity_rng(7, USER, 1).next_u64(),
            entity_rng(8, USER, 1).next_u64()
        );
        assert_ne!(
            entity_rng(7, USER, 1).next_u64(),
            entity_rng(7, CATALOG, 1).next_u64()
        );
    }

    #[test]
    fn alias_table_follows_its_weights() {
        let table = AliasTable::new(&[1.0, 0.0, 3.0, 6.0]);
        let mut rng = entity_rng(1, CATALOG, 0);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, expected) in [(0, 0.1), (2, 0.3), (3, 0.6)] {
            let share = counts[i] as f64 / 100_000.0;
            assert!((share - expected).abs() < 0.01, "{i}: {share}");
        }
    }
}
