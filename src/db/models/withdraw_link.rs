//! `withdraw_links`: LUD-03 links. The secret is stored encrypted
//! (`secret_enc`) and found by a keyed hash (`secret_lookup`), never in clear.
//!
//! Database layer (imports only `db`). Also home of the one rule of whether
//! a link can be used now, [`WithdrawLink::availability`], with the SQL of
//! the claim and of the list filters that mirrors it.

use diesel::prelude::*;

use crate::db::schema::withdraw_links;
use crate::db::schema::withdraw_links::dsl as w;
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus, WithdrawalState};
use crate::db::{DbConn, DbError};

/// A withdraw link row; also its insert form (`disabled_at` is `None` for
/// a new link).
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = withdraw_links)]
pub struct WithdrawLink {
    /// Id (`wl_…`).
    pub id: WithdrawLinkId,
    /// Keyed hash of the secret (lookup key).
    pub secret_lookup: String,
    /// AEAD-encrypted secret.
    pub secret_enc: String,
    /// Minimum withdrawable.
    pub min_msat: Msat,
    /// Maximum withdrawable.
    pub max_msat: Msat,
    /// Uses the link was created with.
    pub uses_total: i64,
    /// Uses not yet claimed.
    pub uses_left: i64,
    /// Seconds between two uses.
    pub wait_seconds: i64,
    /// Unix seconds before which no new use may be claimed.
    pub next_use_at: i64,
    /// Unix seconds after which the link is dead.
    pub expires_at: Option<i64>,
    /// Title shown on the page.
    pub title: String,
    /// `defaultDescription` for the wallet's invoice.
    pub description: String,
    /// Webhook target for this link's events.
    pub webhook_url: Option<String>,
    /// Caller's idempotency key.
    pub external_id: Option<String>,
    /// Batch (voucher sheet) this link belongs to.
    pub batch_id: Option<BatchId>,
    /// Serve LUD-14 `balanceCheck`.
    pub balance_check: bool,
    /// LUD-19 `payLink` (a pay link URL) to serve.
    pub pay_link: Option<String>,
    /// Set when disabled.
    pub disabled_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Whether a withdraw link can be used now and, if not, why. The one rule
/// behind the wallet's refusals, the page's state, the admin API's `status`
/// and list filters, and the claim of a use. The claim and the list filters
/// must decide in SQL (atomically, or in the query): their SQL is written
/// next to [`WithdrawLink::availability`] and mirrors it, and
/// `tests/it/availability.rs` holds both to one truth table.
///
/// The order matters when several apply: disabled, then used up, then
/// expired, then the wait between uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// A use may be claimed now.
    Usable,
    /// Uses are left, but the wait between uses has not passed yet.
    Waiting {
        /// Seconds until a use may be claimed.
        secs_left: u64,
    },
    /// No uses left (one may come back if a claimed payment fails).
    UsedUp,
    /// Past `expires_at`.
    Expired,
    /// Disabled by the operator.
    Disabled,
}

impl Availability {
    /// The admin API's status (and list filter) of a link in this state.
    pub fn bucket(self) -> WithdrawLinkStatus {
        match self {
            Availability::Usable | Availability::Waiting { .. } => WithdrawLinkStatus::Active,
            Availability::UsedUp => WithdrawLinkStatus::Spent,
            Availability::Expired => WithdrawLinkStatus::Expired,
            Availability::Disabled => WithdrawLinkStatus::Disabled,
        }
    }
}

impl WithdrawLink {
    /// Whether this link can be used at `now` (unix seconds), and if not,
    /// why. See [`Availability`]; `usable_sql` below is its SQL mirror.
    pub fn availability(&self, now: i64) -> Availability {
        if self.disabled_at.is_some() {
            Availability::Disabled
        } else if self.uses_left <= 0 {
            Availability::UsedUp
        } else if self.is_expired(now) {
            Availability::Expired
        } else {
            match self.wait_secs(now) {
                0 => Availability::Usable,
                secs_left => Availability::Waiting { secs_left },
            }
        }
    }

    /// Disabled or past its expiry: no use can be claimed any more,
    /// whatever happens to its uses (unlike a used-up link, which gets a
    /// use back when a claimed payment fails).
    pub fn is_over(&self, now: i64) -> bool {
        self.disabled_at.is_some() || self.is_expired(now)
    }

    /// Seconds until the next use may be claimed, while uses are left
    /// (0 when it may be claimed now, when no use is left, or when the link
    /// has no wait between uses).
    pub fn wait_secs(&self, now: i64) -> u64 {
        // With no wait, `next_use_at` is only the time of the last claim.
        // Comparing it with a clock read before another claim committed
        // would refuse a wallet while uses remain (issue 11).
        if self.uses_left > 0 && self.wait_seconds > 0 {
            // Negative (the wait has passed) reads as 0.
            u64::try_from(self.next_use_at.saturating_sub(now)).unwrap_or(0)
        } else {
            0
        }
    }

    fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

// The SQL mirrors of `WithdrawLink::availability`. Change them together.

/// SQL of `availability(now) == Usable`: every refusal of
/// [`WithdrawLink::availability`], negated.
#[diesel::dsl::auto_type(no_type_alias)]
fn usable_sql(now: i64) -> _ {
    w::disabled_at
        .is_null()
        .and(w::uses_left.gt(0_i64))
        .and(w::expires_at.is_null().or(w::expires_at.gt(now)))
        .and(w::wait_seconds.eq(0_i64).or(w::next_use_at.le(now)))
}

/// SQL of `availability(now).bucket() == Active`.
#[diesel::dsl::auto_type(no_type_alias)]
fn active_sql(now: i64) -> _ {
    w::disabled_at
        .is_null()
        .and(w::uses_left.gt(0_i64))
        .and(w::expires_at.is_null().or(w::expires_at.gt(now)))
}

/// SQL of `availability(now).bucket() == Spent`.
#[diesel::dsl::auto_type(no_type_alias)]
fn spent_sql() -> _ {
    w::disabled_at.is_null().and(w::uses_left.le(0_i64))
}

/// SQL of `availability(now).bucket() == Expired`.
#[diesel::dsl::auto_type(no_type_alias)]
fn expired_sql(now: i64) -> _ {
    w::disabled_at
        .is_null()
        .and(w::uses_left.gt(0_i64))
        .and(w::expires_at.le(now))
}

/// SQL of `availability(now).bucket() == Disabled`.
#[diesel::dsl::auto_type(no_type_alias)]
fn disabled_sql() -> _ {
    w::disabled_at.is_not_null()
}

impl WithdrawLink {
    /// Inserts one link.
    pub fn insert(conn: &mut DbConn, new: &WithdrawLink) -> Result<(), DbError> {
        diesel::insert_into(withdraw_links::table)
            .values(new)
            .execute(conn)?;
        Ok(())
    }

    /// Inserts many links (a voucher batch) in the caller's transaction.
    pub fn insert_many(conn: &mut DbConn, new: &[WithdrawLink]) -> Result<(), DbError> {
        for n in new {
            Self::insert(conn, n)?;
        }
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &WithdrawLinkId) -> Result<Option<WithdrawLink>, DbError> {
        Ok(withdraw_links::table
            .find(id)
            .select(WithdrawLink::as_select())
            .first(conn)
            .optional()?)
    }

    /// By the keyed hash of its secret.
    pub fn find_by_lookup(
        conn: &mut DbConn,
        lookup: &str,
    ) -> Result<Option<WithdrawLink>, DbError> {
        Ok(withdraw_links::table
            .filter(withdraw_links::secret_lookup.eq(lookup))
            .select(WithdrawLink::as_select())
            .first(conn)
            .optional()?)
    }

    /// By the caller's idempotency key.
    pub fn find_by_external_id(
        conn: &mut DbConn,
        external_id: &str,
    ) -> Result<Option<WithdrawLink>, DbError> {
        Ok(withdraw_links::table
            .filter(withdraw_links::external_id.eq(external_id))
            .select(WithdrawLink::as_select())
            .first(conn)
            .optional()?)
    }

    /// Links of a batch, in creation order.
    pub fn list_batch(conn: &mut DbConn, batch_id: &BatchId) -> Result<Vec<WithdrawLink>, DbError> {
        Ok(withdraw_links::table
            .filter(withdraw_links::batch_id.eq(batch_id))
            .order((withdraw_links::created_at.asc(), withdraw_links::id.asc()))
            .select(WithdrawLink::as_select())
            .load(conn)?)
    }

    /// Newest first, keyset-paginated by `(created_at, id)` below `cursor`.
    pub fn list(
        conn: &mut DbConn,
        status: Option<WithdrawLinkStatus>,
        batch: Option<&BatchId>,
        now: i64,
        limit: i64,
        cursor: Option<(i64, WithdrawLinkId)>,
    ) -> Result<Vec<WithdrawLink>, DbError> {
        let mut q = w::withdraw_links.into_boxed();
        if let Some(b) = batch {
            q = q.filter(w::batch_id.eq(b.clone()));
        }
        if let Some((created, id)) = cursor {
            q = q.filter(
                w::created_at
                    .lt(created)
                    .or(w::created_at.eq(created).and(w::id.lt(id))),
            );
        }
        // The buckets of `availability`, in SQL (see `active_sql` & co.).
        q = match status {
            None => q,
            Some(WithdrawLinkStatus::Active) => q.filter(active_sql(now)),
            Some(WithdrawLinkStatus::Spent) => q.filter(spent_sql()),
            Some(WithdrawLinkStatus::Expired) => q.filter(expired_sql(now)),
            Some(WithdrawLinkStatus::Disabled) => q.filter(disabled_sql()),
        };
        Ok(q.order((w::created_at.desc(), w::id.desc()))
            .limit(limit)
            .select(WithdrawLink::as_select())
            .load(conn)?)
    }

    /// Disables a link (history is kept). Returns whether a row changed.
    pub fn disable(conn: &mut DbConn, id: &WithdrawLinkId, now: i64) -> Result<bool, DbError> {
        let n = diesel::update(
            withdraw_links::table
                .find(id)
                .filter(withdraw_links::disabled_at.is_null()),
        )
        .set((
            withdraw_links::disabled_at.eq(now),
            withdraw_links::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// How many links of each batch in `batches` are in each bucket of
    /// [`Availability::bucket`] at `now`, decided by the same SQL as the
    /// list filters: `(batch, bucket, count)`, buckets with no link left
    /// out.
    pub fn batch_bucket_counts(
        conn: &mut DbConn,
        batches: &[BatchId],
        now: i64,
    ) -> Result<Vec<(BatchId, WithdrawLinkStatus, i64)>, DbError> {
        use diesel::dsl::count_star;
        let ids = || w::batch_id.eq_any(batches.to_vec());
        let mut out = Vec::new();
        let mut add = |status, rows: Vec<(Option<BatchId>, i64)>| {
            out.extend(
                rows.into_iter()
                    .filter_map(|(b, n)| b.map(|b| (b, status, n))),
            );
        };
        add(
            WithdrawLinkStatus::Active,
            w::withdraw_links
                .filter(ids())
                .filter(active_sql(now))
                .group_by(w::batch_id)
                .select((w::batch_id, count_star()))
                .load(conn)?,
        );
        add(
            WithdrawLinkStatus::Spent,
            w::withdraw_links
                .filter(ids())
                .filter(spent_sql())
                .group_by(w::batch_id)
                .select((w::batch_id, count_star()))
                .load(conn)?,
        );
        add(
            WithdrawLinkStatus::Expired,
            w::withdraw_links
                .filter(ids())
                .filter(expired_sql(now))
                .group_by(w::batch_id)
                .select((w::batch_id, count_star()))
                .load(conn)?,
        );
        add(
            WithdrawLinkStatus::Disabled,
            w::withdraw_links
                .filter(ids())
                .filter(disabled_sql())
                .group_by(w::batch_id)
                .select((w::batch_id, count_star()))
                .load(conn)?,
        );
        Ok(out)
    }

    /// The withdrawals of the links of `batches`: `(batch, state, amount,
    /// fee)`.
    #[allow(clippy::type_complexity)]
    pub fn batch_withdrawals(
        conn: &mut DbConn,
        batches: &[BatchId],
    ) -> Result<Vec<(Option<BatchId>, WithdrawalState, Msat, Option<Msat>)>, DbError> {
        use crate::db::schema::withdrawals::dsl as wd;
        Ok(wd::withdrawals
            .inner_join(w::withdraw_links)
            .filter(w::batch_id.eq_any(batches.to_vec()))
            .select((w::batch_id, wd::state, wd::amount_msat, wd::fee_msat))
            .load(conn)?)
    }

    /// Disables every link of a batch that a wallet could still use, or
    /// that could become usable again; returns how many changed. Run in a
    /// transaction, so the batch is disabled as a whole or not at all.
    ///
    /// Left as they are: links already disabled, and spent ones whose
    /// withdrawals are all final (their history stays `spent`). A spent
    /// link with a payment still pending or in flight is disabled too:
    /// should that payment fail, its use comes back, and it must not come
    /// back to a voucher of a disabled batch.
    ///
    /// Returns nothing: callers answer the batch's summary, read after it.
    pub fn disable_batch(conn: &mut DbConn, batch: &BatchId, now: i64) -> Result<(), DbError> {
        use crate::db::schema::withdrawals::dsl as wd;
        // Uses left: the same condition a claim needs (`uses_left > 0`),
        // so a claim racing this UPDATE either took the last use first
        // (and is caught by the second statement, which sees its pending
        // withdrawal) or finds the link disabled.
        diesel::update(
            w::withdraw_links
                .filter(w::batch_id.eq(batch.clone()))
                .filter(w::disabled_at.is_null())
                .filter(w::uses_left.gt(0_i64)),
        )
        .set((w::disabled_at.eq(now), w::updated_at.eq(now)))
        .execute(conn)?;
        let unfinished = wd::withdrawals
            .filter(wd::state.eq_any([WithdrawalState::Pending, WithdrawalState::InFlight]))
            .select(wd::link_id);
        diesel::update(
            w::withdraw_links
                .filter(w::batch_id.eq(batch.clone()))
                .filter(w::disabled_at.is_null())
                .filter(w::id.eq_any(unfinished)),
        )
        .set((w::disabled_at.eq(now), w::updated_at.eq(now)))
        .execute(conn)?;
        Ok(())
    }

    /// Claims one use: a single conditional UPDATE, so that however many
    /// callers race (threads, instances), at most `uses_left` succeed.
    /// DESIGN.md invariant 1.
    pub fn claim_use(conn: &mut DbConn, id: &WithdrawLinkId, now: i64) -> Result<bool, DbError> {
        // `usable_sql` is `availability(now) == Usable`, checked and acted
        // on in one statement.
        let n = diesel::update(
            w::withdraw_links
                .filter(w::id.eq(id))
                .filter(usable_sql(now)),
        )
        .set((
            w::uses_left.eq(w::uses_left - 1),
            w::next_use_at.eq(w::wait_seconds + now),
            w::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Gives one use back after a payment definitely failed (never past
    /// `uses_total`). The caller already knows the withdrawal changed state
    /// exactly once, so there is nothing more to report.
    pub fn give_use_back(conn: &mut DbConn, id: &WithdrawLinkId, now: i64) -> Result<(), DbError> {
        diesel::update(
            w::withdraw_links
                .filter(w::id.eq(id))
                .filter(w::uses_left.lt(w::uses_total)),
        )
        .set((w::uses_left.eq(w::uses_left + 1), w::updated_at.eq(now)))
        .execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
impl WithdrawLink {
    /// A 1,000 msat link row for unit tests: no wait, no expiry, enabled.
    pub(crate) fn sample(uses_total: i64, uses_left: i64) -> WithdrawLink {
        let msat = crate::db::types::Msat::new(1000).unwrap_or_default();
        WithdrawLink {
            id: WithdrawLinkId::from_raw("wl_1"),
            secret_lookup: String::new(),
            secret_enc: String::new(),
            min_msat: msat,
            max_msat: msat,
            uses_total,
            uses_left,
            wait_seconds: 0,
            next_use_at: 0,
            expires_at: None,
            title: String::new(),
            description: String::new(),
            webhook_url: None,
            external_id: None,
            batch_id: None,
            balance_check: false,
            pay_link: None,
            disabled_at: None,
            created_at: 1,
            updated_at: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn link(uses_left: i64, next_use_at: i64) -> WithdrawLink {
        WithdrawLink {
            wait_seconds: 60,
            next_use_at,
            balance_check: true,
            ..WithdrawLink::sample(3, uses_left)
        }
    }

    #[test]
    fn over_means_disabled_or_expired_whatever_the_uses() {
        assert!(!link(1, 0).is_over(NOW));
        assert!(
            !link(0, 0).is_over(NOW),
            "used up is not over: a use may come back"
        );
        let disabled = WithdrawLink {
            disabled_at: Some(NOW - 1),
            ..link(1, 0)
        };
        assert!(disabled.is_over(NOW));
        let expired = WithdrawLink {
            expires_at: Some(NOW),
            ..link(1, 0)
        };
        assert!(expired.is_over(NOW));
        let later = WithdrawLink {
            expires_at: Some(NOW + 1),
            ..link(1, 0)
        };
        assert!(!later.is_over(NOW));
    }

    #[test]
    fn wait_counts_down_only_while_uses_are_left() {
        assert_eq!(link(1, NOW + 60).wait_secs(NOW), 60);
        assert_eq!(link(1, NOW).wait_secs(NOW), 0);
        assert_eq!(link(1, NOW - 5).wait_secs(NOW), 0);
        assert_eq!(
            link(0, NOW + 60).wait_secs(NOW),
            0,
            "no use left: nothing to wait for"
        );
        let no_wait = WithdrawLink {
            wait_seconds: 0,
            ..link(1, NOW + 60)
        };
        assert_eq!(
            no_wait.wait_secs(NOW),
            0,
            "no wait between uses: a later claim's time does not count"
        );
    }
}
