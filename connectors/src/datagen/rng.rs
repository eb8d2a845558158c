//! Counter-based randomness for datagen.
//!
//! Row i's values come from a SplitMix64 stream seeded by a hash of (seed, i), never from the
//! state left behind by row i-1: the engine backfills a new view by regenerating rows [0, P), and
//! reads ranges in whatever split suits it, so every row must be reproducible on its own.

/// SplitMix64's increment (2^64 / golden ratio, odd, so `i * GAMMA` is a bijection on u64).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective, well-avalanching 64-bit mixer.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives an independent key for one purpose (rows, users, IP pools) from the user's seed, so
/// e.g. user 7's profile and row 7's values are unrelated.
pub(crate) const fn derive_key(seed: u64, purpose: u64) -> u64 {
    mix64(seed ^ mix64(purpose.wrapping_mul(GAMMA)))
}

/// One hash of (key, index): for per-entity attributes that must be stable across rows.
pub(crate) const fn hash2(key: u64, index: u64) -> u64 {
    mix64(key ^ index.wrapping_mul(GAMMA))
}

/// A short SplitMix64 stream for one row (or one entity).
#[derive(Debug, Clone)]
pub(crate) struct CounterRng {
    state: u64,
}

impl CounterRng {
    /// The stream for `index` under `key`; distinct indices get distinct starting states.
    pub(crate) const fn new(key: u64, index: u64) -> Self {
        Self {
            state: hash2(key, index),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// Uniform in [0, n) by multiply-shift (no division, bias < 2^-32).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn per_mille(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// In [0, n), skewed towards 0: density of u² makes index 0 about sqrt(n) times likelier than
    /// the last, which is the "a few users/products get most of the traffic" shape we want.
    pub(crate) fn skewed(&mut self, n: u32) -> u32 {
        let u = self.unit();
        ((u * u * f64::from(n)) as u32).min(n.saturating_sub(1))
    }

    /// Approximately standard normal (Irwin–Hall of four uniforms): cheap, no logs or trig, and
    /// bounded at ±3.46, which is plenty for response-time noise.
    pub(crate) fn normal(&mut self) -> f64 {
        let r = self.next_u64();
        let sum = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
        (sum as f64 / 65536.0 - 2.0) * 3f64.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = CounterRng::new(1, 42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = CounterRng::new(1, 42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c = CounterRng::new(1, 43).next_u64();
        assert_eq!(a, b);
        assert!(!a.contains(&c));
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = CounterRng::new(7, 0);
        for _ in 0..10_000 {
            assert!(r.below(10) < 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.skewed(5000) < 5000);
        }
    }

    #[test]
    fn normal_has_roughly_unit_variance() {
        let mut r = CounterRng::new(3, 9);
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        assert_ne!(derive_key(0, 1), derive_key(0, 2));
        assert_ne!(derive_key(0, 1), derive_key(1, 1));
    }
}
