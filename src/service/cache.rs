//! The rows behind the LNURL first steps (`withdrawRequest`, `payRequest`),
//! kept in memory for a short time so that a wallet's first request costs
//! no database call (issue 12). The answer is still computed from the row
//! at each request (a withdraw link's wait time and expiry depend on the
//! clock).
//!
//! Every change this process makes to such a row removes it here after
//! the change has committed (`forget`/`forget_all`), and a read that
//! overlapped a change is not stored (the epoch check in `put`), so this
//! process never serves a row older than its own last write. A change made
//! by another process (a second instance, a CLI command) is seen within
//! the time to live, `first_step_cache_secs` (README, Configuration). The
//! callbacks never use this: they read the row afresh, and the claim's own
//! SQL decides.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept at most; past it the cache starts afresh (a bound on
/// memory against a stranger walking many valid ids, without bookkeeping
/// for eviction order).
const MAX_ENTRIES: usize = 10_000;

struct Entry<T> {
    row_id: String,
    at: Instant,
    value: Arc<T>,
}

struct Entries<T> {
    by_key: HashMap<String, Entry<T>>,
    /// The keys that hold each row (a pay link by id and by username).
    keys_of: HashMap<String, Vec<String>>,
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Entries {
            by_key: HashMap::new(),
            keys_of: HashMap::new(),
        }
    }
}

/// Rows by lookup key, each for at most `ttl`.
pub struct RowCache<T> {
    ttl: Duration,
    /// Raised by every `forget`: a read that began before it stores nothing.
    epoch: AtomicU64,
    entries: Mutex<Entries<T>>,
}

/// Where a read began, for [`RowCache::put`].
#[derive(Clone, Copy)]
pub struct Epoch(u64);

impl<T> RowCache<T> {
    /// A cache keeping rows for `ttl`; `Duration::ZERO` keeps nothing.
    pub fn new(ttl: Duration) -> RowCache<T> {
        RowCache {
            ttl,
            epoch: AtomicU64::new(0),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The row under `key`, if it is younger than the time to live.
    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let e = entries.by_key.get(key)?;
        (e.at.elapsed() < self.ttl).then(|| e.value.clone())
    }

    /// Call before reading a row from the database; pass the result to
    /// [`Self::put`].
    pub fn begin(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::Acquire))
    }

    /// Keeps `value` (row `row_id`) under `key`, unless a change was
    /// forgotten since `read` began (the value may predate it).
    pub fn put(&self, read: Epoch, key: &str, row_id: &str, value: Arc<T>) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        // Checked under the lock that `forget` takes after raising the
        // epoch: either we see the raise, or `forget` sees our entry.
        if self.epoch.load(Ordering::Acquire) != read.0 {
            return;
        }
        if entries.by_key.len() >= MAX_ENTRIES {
            *entries = Entries::default();
        }
        let old = entries.by_key.insert(
            key.to_owned(),
            Entry {
                row_id: row_id.to_owned(),
                at: Instant::now(),
                value,
            },
        );
        if old.as_ref().is_some_and(|o| o.row_id == row_id) {
            return;
        }
        entries
            .keys_of
            .entry(row_id.to_owned())
            .or_default()
            .push(key.to_owned());
    }

    /// Drops every entry of row `row_id`: call after a change to it has
    /// committed.
    pub fn forget(&self, row_id: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(keys) = entries.keys_of.remove(row_id) {
            for k in keys {
                entries.by_key.remove(&k);
            }
        }
    }

    /// Forgets row `row_id` when the returned guard is dropped: hold it
    /// across the write's `.await`, so the row is forgotten after the
    /// commit even if the caller's future is dropped meanwhile (a client
    /// that hung up), whatever the write's outcome.
    pub fn forget_after(&self, row_id: &str) -> Forget<'_, T> {
        Forget {
            cache: self,
            row_id: Some(row_id.to_owned()),
        }
    }

    /// As [`Self::forget_after`], for [`Self::forget_all`].
    pub fn forget_all_after(&self) -> Forget<'_, T> {
        Forget {
            cache: self,
            row_id: None,
        }
    }

    /// Drops everything: after a change that touched rows not named one by
    /// one (a whole voucher batch, a username that moved).
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            *entries = Entries::default();
        }
    }
}

/// See [`RowCache::forget_after`].
pub struct Forget<'a, T> {
    cache: &'a RowCache<T>,
    /// `None`: everything.
    row_id: Option<String>,
}

impl<T> Drop for Forget<'_, T> {
    fn drop(&mut self) {
        match &self.row_id {
            Some(id) => self.cache.forget(id),
            None => self.cache.forget_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> RowCache<u32> {
        RowCache::new(Duration::from_secs(60))
    }

    #[test]
    fn a_read_overlapping_a_change_is_not_kept() {
        let c = cache();
        let read = c.begin();
        c.forget("row");
        c.put(read, "k", "row", Arc::new(1));
        assert!(c.get("k").is_none());
        let read = c.begin();
        c.put(read, "k", "row", Arc::new(2));
        assert_eq!(c.get("k").as_deref(), Some(&2));
    }

    #[test]
    fn forgetting_a_row_drops_all_its_keys_and_only_them() {
        let c = cache();
        let read = c.begin();
        c.put(read, "by-id", "a", Arc::new(1));
        c.put(read, "by-name", "a", Arc::new(1));
        c.put(read, "other", "b", Arc::new(2));
        c.forget("a");
        assert!(c.get("by-id").is_none());
        assert!(c.get("by-name").is_none());
        assert_eq!(c.get("other").as_deref(), Some(&2));
        c.put(c.begin(), "other", "b", Arc::new(2));
        drop(c.forget_after("b"));
        assert!(c.get("other").is_none());
        c.put(c.begin(), "other", "b", Arc::new(2));
        drop(c.forget_all_after());
        assert!(c.get("other").is_none());
    }

    #[test]
    fn entries_age_out_and_zero_keeps_nothing() {
        let c: RowCache<u32> = RowCache::new(Duration::from_millis(1));
        c.put(c.begin(), "k", "a", Arc::new(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get("k").is_none());
        let off: RowCache<u32> = RowCache::new(Duration::ZERO);
        off.put(off.begin(), "k", "a", Arc::new(1));
        assert!(off.get("k").is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = cache();
        for n in 0..=MAX_ENTRIES {
            c.put(c.begin(), &n.to_string(), &n.to_string(), Arc::new(1));
        }
        let kept = c.entries.lock().map(|e| e.by_key.len()).unwrap_or(0);
        assert!(kept <= MAX_ENTRIES, "{kept}");
    }
}
