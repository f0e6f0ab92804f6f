//! `zap_publications`: the NIP-57 receipt outbox, one row per (invoice,
//! relay). Database layer: imports `db` only.
//!
//! Rows are inserted in the transaction that settles the invoice (the
//! signed receipt itself is on the invoice row, `zap_receipt`), so a crash
//! cannot lose one. The zap worker claims due rows with a short lease as
//! the webhook worker claims events (PostgreSQL `FOR UPDATE SKIP LOCKED`;
//! SQLite a conditional UPDATE per row), so with several instances one row
//! is being sent by one of them at a time.
//!
//! States: `pending` → `published` (the relay answered `OK` true) |
//! `failed` (no acceptance before `give_up_at`).

use diesel::prelude::*;

use crate::db::schema::zap_publications;
use crate::db::types::ZapPublicationState;
use crate::db::{DbConn, DbError};

/// A publication row (also its insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = zap_publications)]
pub struct ZapPublication {
    /// Id (`zpub_…`).
    pub id: String,
    /// The settled invoice whose receipt this is.
    pub payment_hash: String,
    /// The relay URL, as the zap request listed it.
    pub relay: String,
    /// Publishing state.
    pub state: ZapPublicationState,
    /// Attempts made.
    pub attempts: i64,
    /// Unix seconds of the next attempt (while pending).
    pub next_attempt_at: i64,
    /// Unix seconds after which a failed attempt is not retried.
    pub give_up_at: i64,
    /// Instance holding the lease.
    pub lease_owner: Option<String>,
    /// Unix seconds until which the lease holds.
    pub lease_until: Option<i64>,
    /// What went wrong last (transport error, the relay's refusal).
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds of the relay's `OK` true.
    pub published_at: Option<i64>,
}

impl ZapPublication {
    /// Inserts rows (inside the settlement's transaction).
    pub fn insert_many(conn: &mut DbConn, rows: &[ZapPublication]) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Multi-row INSERT is per backend in diesel's MultiConnection.
        let q = diesel::insert_into(zap_publications::table).values(rows);
        match conn {
            DbConn::Pg(c) => q.execute(c)?,
            DbConn::Sqlite(c) => q.execute(c)?,
        };
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &String) -> Result<Option<ZapPublication>, DbError> {
        Ok(zap_publications::table
            .find(id)
            .select(ZapPublication::as_select())
            .first(conn)
            .optional()?)
    }

    /// The rows of these invoices, by relay.
    pub fn for_invoices(
        conn: &mut DbConn,
        hashes: &[String],
    ) -> Result<Vec<ZapPublication>, DbError> {
        use zap_publications::dsl as z;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(z::zap_publications
            .filter(z::payment_hash.eq_any(hashes))
            .order((z::payment_hash.asc(), z::relay.asc()))
            .select(ZapPublication::as_select())
            .load(conn)?)
    }

    /// Ids of due pending rows whose lease is free, oldest first. On
    /// PostgreSQL they are locked `FOR UPDATE SKIP LOCKED` (the caller's
    /// transaction then leases them), so instances pick disjoint rows.
    fn lock_due(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<String>, DbError> {
        use zap_publications::dsl as z;
        let q = z::zap_publications
            .filter(z::state.eq(ZapPublicationState::Pending))
            .filter(z::next_attempt_at.le(now))
            .filter(z::lease_until.is_null().or(z::lease_until.lt(now)))
            .order(z::next_attempt_at.asc())
            .limit(limit)
            .select(z::id);
        Ok(match conn {
            DbConn::Pg(c) => q.for_update().skip_locked().load(c)?,
            DbConn::Sqlite(c) => q.load(c)?,
        })
    }

    /// Leases one due pending row to `owner`: the conditional UPDATE makes
    /// one instance its only sender until the lease runs out.
    fn lease(
        conn: &mut DbConn,
        id: &String,
        owner: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        use zap_publications::dsl as z;
        let n = diesel::update(
            z::zap_publications
                .filter(z::id.eq(id))
                .filter(z::state.eq(ZapPublicationState::Pending))
                .filter(z::next_attempt_at.le(now))
                .filter(z::lease_until.is_null().or(z::lease_until.lt(now))),
        )
        .set((
            z::lease_owner.eq(owner),
            z::lease_until.eq(lease_until),
            z::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Claims up to `limit` due rows for `owner` (see [`crate::db::claim_rows`]).
    pub fn claim_due(
        conn: &mut DbConn,
        owner: &str,
        lease_until: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ZapPublication>, DbError> {
        crate::db::claim_rows(
            conn,
            |c| Self::lock_due(c, now, limit),
            |c, id| Self::lease(c, id, owner, lease_until, now),
            Self::find,
        )
    }

    /// The signed receipt of a row's invoice.
    pub fn receipt_of(conn: &mut DbConn, payment_hash: &str) -> Result<Option<String>, DbError> {
        use crate::db::schema::pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .filter(i::payment_hash.eq(payment_hash))
            .select(i::zap_receipt)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten())
    }

    /// pending → published, whoever holds the lease now: the relay has
    /// the receipt either way.
    pub fn mark_published(conn: &mut DbConn, id: &String, now: i64) -> Result<bool, DbError> {
        use zap_publications::dsl as z;
        let n = diesel::update(
            z::zap_publications
                .filter(z::id.eq(id))
                .filter(z::state.eq(ZapPublicationState::Pending)),
        )
        .set((
            z::state.eq(ZapPublicationState::Published),
            z::attempts.eq(z::attempts + 1),
            z::published_at.eq(now),
            z::last_error.eq(None::<String>),
            z::lease_owner.eq(None::<String>),
            z::lease_until.eq(None::<i64>),
            z::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// After a failed attempt: try again at `next_at`, or give up
    /// (`failed`) when it is `None`. Only while `owner` holds the lease.
    pub fn mark_attempt_failed(
        conn: &mut DbConn,
        id: &String,
        owner: &str,
        error: &str,
        next_at: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        use zap_publications::dsl as z;
        let n = diesel::update(leased(id, owner))
            .set((
                z::state.eq(if next_at.is_some() {
                    ZapPublicationState::Pending
                } else {
                    ZapPublicationState::Failed
                }),
                z::attempts.eq(z::attempts + 1),
                z::next_attempt_at.eq(next_at.unwrap_or(now)),
                z::last_error.eq(error),
                z::lease_owner.eq(None::<String>),
                z::lease_until.eq(None::<i64>),
                z::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }
}

/// The pending row `id` leased to `owner`: an attempt's outcome is written
/// only to such a row, so an instance whose lease ran out records nothing.
#[diesel::dsl::auto_type(no_type_alias)]
fn leased<'a>(id: &'a String, owner: &'a str) -> _ {
    let state: ZapPublicationState = ZapPublicationState::Pending;
    zap_publications::table
        .filter(zap_publications::id.eq(id))
        .filter(zap_publications::state.eq(state))
        .filter(zap_publications::lease_owner.eq(owner))
}
