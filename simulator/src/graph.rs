//! The friend graph of the View-As world: undirected, heavy-tailed, clustered, and a pure
//! function of (seed, users, parameters), so any user's friend list, and so any shard's, is
//! made alone and equals the whole run's.
//!
//! Users sit on a ring in id order. Each has a weight `w` (log-normal around the median
//! degree, capped), and two users at ring distance `d` (at most `reach`) are friends with
//! probability `min(1, w_u · w_v / (d · z))`, decided by a hash of the pair: both ends decide
//! the same, so the graph is undirected. `z` makes a user's expected degree about its weight.
//! The `1 / d` fall-off makes near neighbours likely friends of each other, so friends of
//! friends are often friends (clustering); the log-normal weights give the heavy tail.

use crate::scenario::FriendGraph;

/// Domain of the graph's weights and pairs (see [`crate::rng`] for the others).
const GRAPH: u64 = 3;

/// A 64-bit mix (splitmix64's finalizer): a fast, well-spread hash of one word.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of an unordered pair under `seed`: the same from either end.
#[inline]
pub fn pair_hash(seed: u64, a: u64, b: u64) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    mix(mix(seed.wrapping_add(lo.wrapping_mul(0x9E37_79B9_7F4A_7C15))) ^ hi)
}

/// A uniform draw in `[0, 1)` from a hash.
#[inline]
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The standard normal quantile (Acklam's rational approximation, relative error 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Quantiles of the weight distribution kept in a table: a user's weight is read from it
/// with linear interpolation, a few nanoseconds instead of a logarithm and an exponential.
const QUANTILES: usize = 4096;

/// The friend graph of one world.
#[derive(Clone, Debug)]
pub struct Graph {
    seed: u64,
    users: u64,
    reach: u64,
    /// `z`: the normalisation that makes the expected degree about the weight.
    z: f64,
    /// Share of a user's expected degree drawn on the shuffled ring (far friends).
    far: f64,
    /// The shuffled ring: position `(a·u + b) mod users`, and `a`'s inverse.
    a: u64,
    b: u64,
    a_inverse: u64,
    table: Vec<f64>,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The inverse of `a` modulo `n` (`gcd(a, n) = 1`).
fn inverse(a: u64, n: u64) -> u64 {
    let (mut t, mut new_t, mut r, mut new_r) = (0i128, 1i128, n as i128, a as i128);
    while new_r != 0 {
        let q = r / new_r;
        (t, new_t) = (new_t, t - q * new_t);
        (r, new_r) = (new_r, r - q * new_r);
    }
    t.rem_euclid(n as i128) as u64
}

impl Graph {
    /// The graph of `users` users under `seed` with `params` (already validated).
    pub fn new(params: &FriendGraph, seed: u64, users: u64) -> Self {
        let n = users.max(1);
        // Ring distances 1..=reach on both sides, never more than the ring has.
        let reach = (params.reach as u64).min(n.saturating_sub(1) / 2).max(1);
        let (median, sigma) = (params.median_degree, params.degree_sigma);
        let cap = params.max_degree as f64;
        let table: Vec<f64> = (0..=QUANTILES)
            .map(|i| {
                let p = (i as f64 / QUANTILES as f64).clamp(1e-7, 1.0 - 1e-7);
                (median * (sigma * normal_quantile(p)).exp()).min(cap)
            })
            .collect();
        // E[w]: the mean of the interpolated table.
        let mean_w = table.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / QUANTILES as f64;
        let harmonic: f64 = (1..=reach).map(|d| 1.0 / d as f64).sum();
        let mut a = (mix(seed ^ 0x5851_F42D_4C95_7F2D) % n) | 1;
        while n > 1 && gcd(a, n) != 1 {
            a = (a + 2) % n;
        }
        let b = mix(seed ^ 0x1405_7B7E_F767_814F) % n;
        Graph {
            seed,
            users,
            reach,
            z: mean_w * 2.0 * harmonic,
            far: params.far_share,
            a_inverse: if n > 1 { inverse(a, n) } else { 0 },
            a,
            b,
            table,
        }
    }

    /// The weight of `user`: about its expected degree.
    #[inline]
    pub fn weight(&self, user: u64) -> f64 {
        let h = mix(mix(self.seed ^ GRAPH.wrapping_mul(0xA076_1D64_78BD_642F)) ^ user);
        let x = unit(h) * QUANTILES as f64;
        let i = (x as usize).min(QUANTILES - 1);
        let f = x - i as f64;
        self.table[i] * (1.0 - f) + self.table[i + 1] * f
    }

    fn shuffled(&self, u: u64) -> u64 {
        ((self.a as u128 * u as u128 + self.b as u128) % self.users as u128) as u64
    }

    fn unshuffled(&self, p: u64) -> u64 {
        let n = self.users as u128;
        ((p as u128 + n - self.b as u128) % n * self.a_inverse as u128 % n) as u64
    }

    /// The friends of `user`, in increasing id order, into `out` (cleared first): near ones
    /// on the ring of ids, far ones on a shuffled ring, each pair decided by its own hash.
    pub fn friends_into(&self, user: u64, out: &mut Vec<u64>) {
        out.clear();
        let n = self.users;
        if n < 2 {
            return;
        }
        let wu = self.weight(user);
        debug_assert_eq!(self.unshuffled(self.shuffled(user)), user);
        // Walking the shuffled ring one position at a time moves the id by `a⁻¹` (mod n).
        let step = self.a_inverse;
        let top = self.table[QUANTILES];
        let (near_bound, far_bound) = ((1.0 - self.far) * wu * top, self.far * wu * top);
        let (mut right, mut left) = (user, user);
        for d in 1..=self.reach {
            let scale = d as f64 * self.z;
            // The pair's draw first: the weight is looked up only when the largest weight
            // would link them (most far pairs fail before that).
            // `user ± d` on the ring, without a division (d < n).
            let up = if user >= n - d {
                user - (n - d)
            } else {
                user + d
            };
            let down = if user < d { user + (n - d) } else { user - d };
            for v in [up, down] {
                let x = unit(pair_hash(self.seed, user, v)) * scale;
                if x < near_bound && v != user && x < (1.0 - self.far) * wu * self.weight(v) {
                    out.push(v);
                }
            }
            right = if right >= n - step {
                right - (n - step)
            } else {
                right + step
            };
            left = if left < step {
                left + (n - step)
            } else {
                left - step
            };
            for v in [right, left] {
                let x = unit(pair_hash(!self.seed, user, v)) * scale;
                if x < far_bound && v != user && x < self.far * wu * self.weight(v) {
                    out.push(v);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The friends of `user`, in increasing id order.
    pub fn friends(&self, user: u64) -> Vec<u64> {
        let mut out = Vec::new();
        self.friends_into(user, &mut out);
        out
    }

    /// Calls `each(user, friends)` for every user of `range`, in order.
    pub fn for_each_in(&self, range: std::ops::Range<u64>, mut each: impl FnMut(u64, &[u64])) {
        let mut out = Vec::new();
        for u in range {
            self.friends_into(u, &mut out);
            each(u, &out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FriendGraph {
        FriendGraph {
            median_degree: 16.0,
            degree_sigma: 1.0,
            max_degree: 400,
            reach: 256,
            far_share: 0.5,
        }
    }

    #[test]
    fn friendship_is_symmetric_and_never_reflexive() {
        for users in [2, 3, 7, 50, 3000] {
            let g = Graph::new(&params(), 9, users);
            for u in 0..users.min(300) {
                for v in g.friends(u) {
                    assert_ne!(u, v);
                    assert!(g.friends(v).contains(&u), "{users}: {u} -> {v} one way");
                }
            }
        }
    }

    #[test]
    fn a_range_gives_each_users_own_list() {
        let g = Graph::new(&params(), 4, 5000);
        for range in [0..40, 2480..2520, 4970..5000] {
            g.for_each_in(range, |u, friends| assert_eq!(friends, g.friends(u), "{u}"));
        }
    }

    #[test]
    fn degrees_are_heavy_tailed_and_friends_of_friends_cluster() {
        let users = 20_000;
        let g = Graph::new(&params(), 1, users);
        let mut degrees = Vec::new();
        let (mut closed, mut paths) = (0u64, 0u64);
        g.for_each_in(0..users, |u, friends| {
            degrees.push(friends.len());
            if u % 20 == 0 {
                for (i, &a) in friends.iter().enumerate() {
                    let fa = g.friends(a);
                    for &b in &friends[i + 1..] {
                        paths += 1;
                        closed += fa.binary_search(&b).is_ok() as u64;
                    }
                }
            }
        });
        degrees.sort_unstable();
        let median = degrees[degrees.len() / 2] as f64;
        let p99 = degrees[degrees.len() * 99 / 100] as f64;
        let mean = degrees.iter().sum::<usize>() as f64 / degrees.len() as f64;
        // Near the median asked for, a tail many times it, and a clustering coefficient far
        // above a random graph's of the same density (mean / users, about 0.001).
        assert!((10.0..=22.0).contains(&median), "median {median}");
        assert!(p99 > 5.0 * median, "p99 {p99}, median {median}");
        let clustering = closed as f64 / paths as f64;
        assert!(
            clustering > 50.0 * mean / users as f64,
            "clustering {clustering}"
        );
        assert!(clustering > 0.05, "clustering {clustering}");
    }
}
