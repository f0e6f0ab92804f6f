//! `withdraw_links`: LUD-03 links. The secret is stored encrypted
//! (`secret_enc`) and found by a keyed hash (`secret_lookup`), never in clear.

use diesel::prelude::*;

use crate::db::schema::withdraw_links;
use crate::db::{DbConn, DbError};

/// A withdraw link row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = withdraw_links)]
pub struct WithdrawLink {
    /// Id (`wl_…`).
    pub id: String,
    /// Keyed hash of the secret (lookup key).
    pub secret_lookup: String,
    /// AEAD-encrypted secret.
    pub secret_enc: String,
    /// Minimum withdrawable, msat.
    pub min_msat: i64,
    /// Maximum withdrawable, msat.
    pub max_msat: i64,
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
    pub batch_id: Option<String>,
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

/// Insert form of [`WithdrawLink`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = withdraw_links)]
pub struct NewWithdrawLink {
    /// See [`WithdrawLink`].
    pub id: String,
    /// See [`WithdrawLink`].
    pub secret_lookup: String,
    /// See [`WithdrawLink`].
    pub secret_enc: String,
    /// See [`WithdrawLink`].
    pub min_msat: i64,
    /// See [`WithdrawLink`].
    pub max_msat: i64,
    /// See [`WithdrawLink`].
    pub uses_total: i64,
    /// See [`WithdrawLink`].
    pub uses_left: i64,
    /// See [`WithdrawLink`].
    pub wait_seconds: i64,
    /// See [`WithdrawLink`].
    pub next_use_at: i64,
    /// See [`WithdrawLink`].
    pub expires_at: Option<i64>,
    /// See [`WithdrawLink`].
    pub title: String,
    /// See [`WithdrawLink`].
    pub description: String,
    /// See [`WithdrawLink`].
    pub webhook_url: Option<String>,
    /// See [`WithdrawLink`].
    pub external_id: Option<String>,
    /// See [`WithdrawLink`].
    pub batch_id: Option<String>,
    /// See [`WithdrawLink`].
    pub balance_check: bool,
    /// See [`WithdrawLink`].
    pub pay_link: Option<String>,
    /// See [`WithdrawLink`].
    pub created_at: i64,
    /// See [`WithdrawLink`].
    pub updated_at: i64,
}

/// Filter for listing links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatusFilter {
    /// Usable now or later (uses left, not disabled, not expired).
    Active,
    /// No uses left.
    Spent,
    /// Disabled by the operator.
    Disabled,
    /// Past `expires_at`.
    Expired,
}

impl WithdrawLink {
    /// Inserts one link.
    pub fn insert(conn: &mut DbConn, new: &NewWithdrawLink) -> Result<(), DbError> {
        diesel::insert_into(withdraw_links::table)
            .values(new)
            .execute(conn)?;
        Ok(())
    }

    /// Inserts many links (a voucher batch) in the caller's transaction.
    pub fn insert_many(conn: &mut DbConn, new: &[NewWithdrawLink]) -> Result<(), DbError> {
        for n in new {
            Self::insert(conn, n)?;
        }
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<WithdrawLink>, DbError> {
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
    pub fn list_batch(conn: &mut DbConn, batch_id: &str) -> Result<Vec<WithdrawLink>, DbError> {
        Ok(withdraw_links::table
            .filter(withdraw_links::batch_id.eq(batch_id))
            .order((withdraw_links::created_at.asc(), withdraw_links::id.asc()))
            .select(WithdrawLink::as_select())
            .load(conn)?)
    }

    /// Newest first, keyset-paginated by `(created_at, id)` below `cursor`.
    pub fn list(
        conn: &mut DbConn,
        status: Option<LinkStatusFilter>,
        now: i64,
        limit: i64,
        cursor: Option<(i64, String)>,
    ) -> Result<Vec<WithdrawLink>, DbError> {
        use withdraw_links::dsl as w;
        let mut q = w::withdraw_links.into_boxed();
        if let Some((created, id)) = cursor {
            q = q.filter(
                w::created_at
                    .lt(created)
                    .or(w::created_at.eq(created).and(w::id.lt(id))),
            );
        }
        q = match status {
            None => q,
            Some(LinkStatusFilter::Disabled) => q.filter(w::disabled_at.is_not_null()),
            Some(LinkStatusFilter::Spent) => q
                .filter(w::disabled_at.is_null())
                .filter(w::uses_left.eq(0)),
            Some(LinkStatusFilter::Expired) => q
                .filter(w::disabled_at.is_null())
                .filter(w::uses_left.gt(0))
                .filter(w::expires_at.le(now)),
            Some(LinkStatusFilter::Active) => q
                .filter(w::disabled_at.is_null())
                .filter(w::uses_left.gt(0))
                .filter(w::expires_at.is_null().or(w::expires_at.gt(now))),
        };
        Ok(q.order((w::created_at.desc(), w::id.desc()))
            .limit(limit)
            .select(WithdrawLink::as_select())
            .load(conn)?)
    }

    /// Disables a link (history is kept). Returns whether a row changed.
    pub fn disable(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, DbError> {
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

    /// Claims one use: a single conditional UPDATE, so that however many
    /// callers race (threads, instances), at most `uses_left` succeed.
    /// DESIGN.md invariant 1.
    pub fn claim_use(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, DbError> {
        use withdraw_links::dsl as w;
        let n = diesel::update(
            w::withdraw_links
                .filter(w::id.eq(id))
                .filter(w::uses_left.gt(0))
                .filter(w::disabled_at.is_null())
                .filter(w::expires_at.is_null().or(w::expires_at.gt(now)))
                .filter(w::next_use_at.le(now)),
        )
        .set((
            w::uses_left.eq(w::uses_left - 1),
            w::next_use_at.eq(w::wait_seconds + now),
            w::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Gives one use back after a payment definitely failed.
    pub fn give_use_back(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, DbError> {
        use withdraw_links::dsl as w;
        let n = diesel::update(
            w::withdraw_links
                .filter(w::id.eq(id))
                .filter(w::uses_left.lt(w::uses_total)),
        )
        .set((w::uses_left.eq(w::uses_left + 1), w::updated_at.eq(now)))
        .execute(conn)?;
        Ok(n == 1)
    }
}
