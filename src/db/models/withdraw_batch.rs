//! `withdraw_batches`: a voucher batch as a unit — the parameters every
//! voucher of it was made with, and the caller's idempotency key
//! (`external_id`, UNIQUE). The vouchers are `withdraw_links` rows with
//! this `batch_id`; their counts and sums are queries of
//! [`super::withdraw_link`].
//!
//! Database layer (imports only `db`).

use diesel::prelude::*;

use crate::db::schema::withdraw_batches;
use crate::db::schema::withdraw_batches::dsl as b;
use crate::db::types::{BatchId, Msat};
use crate::db::{DbConn, DbError};

/// A batch row; also its insert form.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = withdraw_batches)]
pub struct WithdrawBatch {
    /// Id (`wb_…`), the `batch_id` of its links.
    pub id: BatchId,
    /// Caller's idempotency key.
    pub external_id: Option<String>,
    /// Number of vouchers made.
    pub voucher_count: i64,
    /// Minimum of each voucher.
    pub min_msat: Msat,
    /// Maximum of each voucher.
    pub max_msat: Msat,
    /// Uses of each voucher.
    pub uses: i64,
    /// Seconds between two uses of a voucher.
    pub wait_seconds: i64,
    /// Unix seconds after which the vouchers are dead.
    pub expires_at: Option<i64>,
    /// Title.
    pub title: String,
    /// `defaultDescription`.
    pub description: String,
    /// Webhook target of the vouchers' events.
    pub webhook_url: Option<String>,
    /// LUD-14 on every voucher.
    pub balance_check: bool,
    /// LUD-19 on every voucher.
    pub pay_link: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl WithdrawBatch {
    /// Inserts one batch row (in the caller's transaction, before its
    /// links: on SQLite a write transaction must start with a write). A
    /// taken `external_id` is [`DbError::Duplicate`].
    pub fn insert(conn: &mut DbConn, new: &WithdrawBatch) -> Result<(), DbError> {
        diesel::insert_into(withdraw_batches::table)
            .values(new)
            .execute(conn)?;
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &BatchId) -> Result<Option<WithdrawBatch>, DbError> {
        Ok(withdraw_batches::table
            .find(id)
            .select(WithdrawBatch::as_select())
            .first(conn)
            .optional()?)
    }

    /// By the caller's idempotency key.
    pub fn find_by_external_id(
        conn: &mut DbConn,
        external_id: &str,
    ) -> Result<Option<WithdrawBatch>, DbError> {
        Ok(withdraw_batches::table
            .filter(b::external_id.eq(external_id))
            .select(WithdrawBatch::as_select())
            .first(conn)
            .optional()?)
    }

    /// Newest first, keyset-paginated by `(created_at, id)` below `cursor`.
    pub fn list(
        conn: &mut DbConn,
        limit: i64,
        cursor: Option<(i64, BatchId)>,
    ) -> Result<Vec<WithdrawBatch>, DbError> {
        let mut q = b::withdraw_batches.into_boxed();
        if let Some((created, id)) = cursor {
            q = q.filter(
                b::created_at
                    .lt(created)
                    .or(b::created_at.eq(created).and(b::id.lt(id))),
            );
        }
        Ok(q.order((b::created_at.desc(), b::id.desc()))
            .limit(limit)
            .select(WithdrawBatch::as_select())
            .load(conn)?)
    }
}
