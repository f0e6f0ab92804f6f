//! The buckets' store: `governor`'s keyed state with a cap on its keys, pruned of idle ones.

use super::*;

/// How often idle keys are forgotten. A key is idle once its bucket is
/// full again, so with the default rates every key of a client that
/// stopped a minute ago goes.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A keyed state store for `governor` with a cap on its keys: a key that
/// is not yet known while the store is full is measured as a fresh bucket
/// and not stored. That lets such a client through (this limiter forgets
/// it) rather than refusing everybody new: the other limiters still hold,
/// and the next prune makes room.
pub struct BoundedStore<K> {
    map: Mutex<HashMap<K, Nanos>>,
    cap: usize,
}

impl<K> BoundedStore<K> {
    pub(super) fn new(cap: usize) -> Self {
        BoundedStore {
            map: Mutex::new(HashMap::new()),
            cap,
        }
    }

    pub(super) fn map(&self) -> MutexGuard<'_, HashMap<K, Nanos>> {
        // The map holds plain numbers: a panic elsewhere cannot leave it
        // half-written.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.map();
        let known = map.get(key).copied();
        let (outcome, next) = f(known)?;
        if known.is_some() || map.len() < self.cap {
            map.insert(key.clone(), next);
        }
        Ok(outcome)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map().retain(|_, tat| *tat > drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map().shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map().len()
    }

    fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// One keyed token bucket.
pub(super) type Limiter<K> = RateLimiter<K, BoundedStore<K>, DefaultClock>;

/// A limiter for `per_minute` and `burst`, or `None` when either is `0`.
pub(super) fn limiter<K: Hash + Eq + Clone>(
    per_minute: u32,
    burst: u32,
    cap: usize,
) -> Option<Limiter<K>> {
    let quota =
        Quota::per_minute(NonZeroU32::new(per_minute)?).allow_burst(NonZeroU32::new(burst)?);
    Some(RateLimiter::new(
        quota,
        BoundedStore::new(cap),
        DefaultClock::default(),
    ))
}

/// Whole seconds until `retry` may pass, at least 1 (what `Retry-After`
/// and the LUD reason say).
pub(super) fn whole_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Checks `key` against `l`: `Err(seconds to wait)` when refused.
pub(super) fn check<K: Hash + Eq + Clone>(l: &Limiter<K>, key: &K) -> Result<(), u64> {
    l.check_key(key)
        .map_err(|not_until| whole_secs(not_until.wait_time_from(l.clock().now())))
}
