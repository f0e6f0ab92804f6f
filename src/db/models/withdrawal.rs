//! `withdrawals`: one row per claimed use of a withdraw link, written
//! `pending` before the node is asked to pay (DESIGN.md invariant 2).
//!
//! States: `pending` (claimed, never sent to the node) → `in_flight` (a payer
//! took it and may have asked the node; from here on it is only ever
//! *tracked*, never paid blindly again) → `succeeded` | `failed`
//! ([`WithdrawalState`], defined with the other stored states in
//! `db/types.rs`).
//!
//! Database layer (imports only `db`).

use diesel::prelude::*;

use crate::db::schema::withdrawals;
pub use crate::db::types::WithdrawalState;
use crate::db::types::{Msat, WithdrawLinkId, WithdrawalId};
use crate::db::{DbConn, DbError};

/// A withdrawal row; also its insert form (a new row is `pending`, with
/// the outcome fields and the lease `None`).
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = withdrawals)]
pub struct Withdrawal {
    /// Id (`wd_…`).
    pub id: WithdrawalId,
    /// The withdraw link.
    pub link_id: WithdrawLinkId,
    /// Hex payment hash (UNIQUE: an invoice is paid at most once).
    pub payment_hash: String,
    /// The wallet's invoice.
    pub bolt11: String,
    /// Invoice amount.
    pub amount_msat: Msat,
    /// Routing fee limit.
    pub max_fee_msat: Msat,
    /// See [`WithdrawalState`].
    pub state: WithdrawalState,
    /// Fee paid (on success).
    pub fee_msat: Option<Msat>,
    /// Hex preimage (on success).
    pub preimage: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// How many times a payer took it.
    pub attempts: i64,
    /// Payer instance holding the lease.
    pub lease_owner: Option<String>,
    /// Unix seconds until which the lease holds.
    pub lease_until: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds of the final state.
    pub completed_at: Option<i64>,
    /// Pubkey of the node it was handed to (`None` while `pending`).
    /// Only that node is ever asked about it again (invariant 7).
    pub node_pubkey: Option<String>,
}

impl Withdrawal {
    /// A new `pending` row with a fresh id: no outcome and no lease yet.
    pub fn pending(
        link_id: WithdrawLinkId,
        payment_hash: String,
        bolt11: String,
        amount_msat: Msat,
        max_fee_msat: Msat,
        now: i64,
    ) -> Withdrawal {
        Withdrawal {
            id: WithdrawalId::generate(),
            link_id,
            payment_hash,
            bolt11,
            amount_msat,
            max_fee_msat,
            state: WithdrawalState::Pending,
            fee_msat: None,
            preimage: None,
            failure_reason: None,
            attempts: 0,
            lease_owner: None,
            lease_until: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            node_pubkey: None,
        }
    }

    /// Inserts a `pending` withdrawal.
    pub fn insert(conn: &mut DbConn, new: &Withdrawal) -> Result<(), DbError> {
        diesel::insert_into(withdrawals::table)
            .values(new)
            .execute(conn)?;
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &WithdrawalId) -> Result<Option<Withdrawal>, DbError> {
        Ok(withdrawals::table
            .find(id)
            .select(Withdrawal::as_select())
            .first(conn)
            .optional()?)
    }

    /// By payment hash.
    pub fn find_by_hash(conn: &mut DbConn, hash: &str) -> Result<Option<Withdrawal>, DbError> {
        Ok(withdrawals::table
            .filter(withdrawals::payment_hash.eq(hash))
            .select(Withdrawal::as_select())
            .first(conn)
            .optional()?)
    }

    /// All withdrawals of a link, oldest first.
    pub fn list_for_link(
        conn: &mut DbConn,
        link_id: &WithdrawLinkId,
    ) -> Result<Vec<Withdrawal>, DbError> {
        Ok(withdrawals::table
            .filter(withdrawals::link_id.eq(link_id))
            .order((withdrawals::created_at.asc(), withdrawals::id.asc()))
            .select(Withdrawal::as_select())
            .load(conn)?)
    }

    /// Ids of `pending` rows, oldest first. On PostgreSQL the rows are
    /// locked `FOR UPDATE SKIP LOCKED` (the caller's transaction then moves
    /// them to `in_flight`), so concurrent payers pick disjoint rows instead
    /// of queueing on the same ones.
    pub fn lock_pending(conn: &mut DbConn, limit: i64) -> Result<Vec<WithdrawalId>, DbError> {
        let q = withdrawals::table
            .filter(withdrawals::state.eq(WithdrawalState::Pending))
            .order(withdrawals::created_at.asc())
            .limit(limit)
            .select(withdrawals::id);
        Ok(match conn {
            DbConn::Pg(c) => q.for_update().skip_locked().load(c)?,
            DbConn::Sqlite(c) => q.load(c)?,
        })
    }

    /// Takes up to `limit` `pending` rows for this payer (pending →
    /// in_flight with a lease) and returns them (see [`crate::db::claim_rows`]).
    pub fn take_pending_batch(
        conn: &mut DbConn,
        lease: &Lease<'_>,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Withdrawal>, DbError> {
        crate::db::claim_rows(
            conn,
            |c| Self::lock_pending(c, limit),
            |c, id| Self::take_pending(c, id, lease, now),
            Self::find,
        )
    }

    /// Takes a `pending` row for paying: pending → in_flight with a lease,
    /// bound to the node that will be asked to pay it. The conditional
    /// UPDATE is what makes one payer the only payer.
    pub fn take_pending(
        conn: &mut DbConn,
        id: &WithdrawalId,
        lease: &Lease<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        use withdrawals::dsl as w;
        let n = diesel::update(
            w::withdrawals
                .filter(w::id.eq(id))
                .filter(w::state.eq(WithdrawalState::Pending)),
        )
        .set((
            w::state.eq(WithdrawalState::InFlight),
            w::lease_owner.eq(lease.owner),
            w::lease_until.eq(lease.until),
            w::node_pubkey.eq(lease.node),
            w::attempts.eq(w::attempts + 1),
            w::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// `in_flight` rows of `node` whose lease has run out (their payer
    /// died or gave them up): these are tracked, never paid blindly. Rows
    /// handed to another node are not listed: that node alone knows them.
    pub fn expired_in_flight(
        conn: &mut DbConn,
        node: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Withdrawal>, DbError> {
        use withdrawals::dsl as w;
        Ok(w::withdrawals
            .filter(w::state.eq(WithdrawalState::InFlight))
            .filter(w::node_pubkey.eq(node))
            .filter(w::lease_until.is_null().or(w::lease_until.lt(now)))
            .order(w::updated_at.asc())
            .limit(limit)
            .select(Withdrawal::as_select())
            .load(conn)?)
    }

    /// Takes (or renews) the lease of an `in_flight` row if it is free or
    /// already ours, and was handed to the lease's node: a row in flight on
    /// another node is never leased, so never tracked or re-sent here.
    pub fn lease_in_flight(
        conn: &mut DbConn,
        id: &WithdrawalId,
        lease: &Lease<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        use withdrawals::dsl as w;
        let n = diesel::update(
            in_flight(id).filter(w::node_pubkey.eq(lease.node)).filter(
                w::lease_until
                    .is_null()
                    .or(w::lease_until.lt(now))
                    .or(w::lease_owner.eq(lease.owner)),
            ),
        )
        .set((
            w::lease_owner.eq(lease.owner),
            w::lease_until.eq(lease.until),
            w::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Gives up every lease `owner` holds on an `in_flight` row (a payer
    /// shutting down), so the next payer tracks those rows at once instead
    /// of waiting for the leases to run out. Only `owner`'s own leases: a
    /// row another instance has taken over is left alone. Returns the ids
    /// released.
    pub fn release_leases(
        conn: &mut DbConn,
        owner: &str,
        now: i64,
    ) -> Result<Vec<WithdrawalId>, DbError> {
        use withdrawals::dsl as w;
        let no_owner: Option<String> = None;
        let no_lease: Option<i64> = None;
        conn.transaction(|c| {
            let held = || {
                w::withdrawals
                    .filter(w::state.eq(WithdrawalState::InFlight))
                    .filter(w::lease_owner.eq(owner))
            };
            // A write first, so that SQLite takes its write lock before the
            // read (see `Db::transaction`); the owner stays until the ids
            // are read, and the rows are locked (PostgreSQL) meanwhile.
            let n = diesel::update(held())
                .set((w::lease_until.eq(no_lease), w::updated_at.eq(now)))
                .execute(c)?;
            if n == 0 {
                return Ok(Vec::new());
            }
            let ids: Vec<WithdrawalId> = held().select(w::id).load(c)?;
            diesel::update(held())
                .set(w::lease_owner.eq(no_owner))
                .execute(c)?;
            Ok(ids)
        })
    }

    /// Ids of up to `limit` `pending` rows, oldest first (for the log at
    /// shutdown: what no payer has taken yet).
    pub fn pending_ids(conn: &mut DbConn, limit: i64) -> Result<Vec<WithdrawalId>, DbError> {
        use withdrawals::dsl as w;
        Ok(w::withdrawals
            .filter(w::state.eq(WithdrawalState::Pending))
            .order(w::created_at.asc())
            .limit(limit)
            .select(w::id)
            .load(conn)?)
    }

    /// in_flight → succeeded. Returns whether this call made the change.
    pub fn mark_succeeded(
        conn: &mut DbConn,
        id: &WithdrawalId,
        fee_msat: Msat,
        preimage: Option<String>,
        now: i64,
    ) -> Result<bool, DbError> {
        use withdrawals::dsl as w;
        let n = diesel::update(in_flight(id))
            .set((
                w::state.eq(WithdrawalState::Succeeded),
                w::fee_msat.eq(fee_msat),
                w::preimage.eq(preimage),
                completed(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// in_flight → failed. Returns whether this call made the change (the
    /// caller gives the use back only then, in the same transaction).
    pub fn mark_failed(
        conn: &mut DbConn,
        id: &WithdrawalId,
        reason: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        use withdrawals::dsl as w;
        let n = diesel::update(in_flight(id))
            .set((
                w::state.eq(WithdrawalState::Failed),
                w::failure_reason.eq(reason),
                completed(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }
}

/// Who takes a row, until when, for which node.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// The payer instance.
    pub owner: &'a str,
    /// Unix seconds.
    pub until: i64,
    /// Pubkey of the node the payer pays through.
    pub node: &'a str,
}

/// Node switches: what is still in flight on a node, and moving it aside.
impl Withdrawal {
    /// `in_flight` rows handed to `node`, oldest first.
    pub fn in_flight_on(conn: &mut DbConn, node: &str) -> Result<Vec<Withdrawal>, DbError> {
        use withdrawals::dsl as w;
        Ok(w::withdrawals
            .filter(w::state.eq(WithdrawalState::InFlight))
            .filter(w::node_pubkey.eq(node))
            .order((w::created_at.asc(), w::id.asc()))
            .select(Withdrawal::as_select())
            .load(conn)?)
    }

    /// in_flight on `node` → needs_review, lease given up. Returns the ids
    /// moved. Nothing pays, tracks or gives back such a row afterwards.
    pub fn set_aside_for_review(
        conn: &mut DbConn,
        node: &str,
        now: i64,
    ) -> Result<Vec<WithdrawalId>, DbError> {
        use withdrawals::dsl as w;
        let ids: Vec<WithdrawalId> = Self::in_flight_on(conn, node)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut moved = Vec::new();
        for id in ids {
            let n = diesel::update(in_flight(&id).filter(w::node_pubkey.eq(node)))
                .set((
                    w::state.eq(WithdrawalState::NeedsReview),
                    w::lease_owner.eq(None::<String>),
                    w::lease_until.eq(None::<i64>),
                    w::updated_at.eq(now),
                ))
                .execute(conn)?;
            if n == 1 {
                moved.push(id);
            }
        }
        Ok(moved)
    }
}

/// The row `id` while it is `in_flight`: the only row a lease or an
/// outcome is written to, so that a final state is written once.
#[diesel::dsl::auto_type(no_type_alias)]
fn in_flight<'a>(id: &'a WithdrawalId) -> _ {
    let in_flight: WithdrawalState = WithdrawalState::InFlight;
    withdrawals::table
        .filter(withdrawals::id.eq(id))
        .filter(withdrawals::state.eq(in_flight))
}

/// What every final state sets besides its outcome: the lease is given up
/// and the time of completion noted.
#[diesel::dsl::auto_type(no_type_alias)]
fn completed(now: i64) -> _ {
    let no_owner: Option<String> = None;
    let no_lease: Option<i64> = None;
    (
        withdrawals::lease_owner.eq(no_owner),
        withdrawals::lease_until.eq(no_lease),
        withdrawals::updated_at.eq(now),
        withdrawals::completed_at.eq(now),
    )
}

/// Retention: finished withdrawals only (never `pending` or `in_flight`,
/// which the payer still owns).
impl Withdrawal {
    /// Ids of up to `limit` succeeded or failed withdrawals completed
    /// before `before`, oldest first.
    pub fn finished_before(
        conn: &mut DbConn,
        before: i64,
        limit: i64,
    ) -> Result<Vec<WithdrawalId>, DbError> {
        use withdrawals::dsl as w;
        Ok(w::withdrawals
            .filter(finished_before(before))
            .order(w::completed_at.asc())
            .limit(limit)
            .select(w::id)
            .load(conn)?)
    }

    /// Deletes those of `ids` that are still finished before `before` (the
    /// condition is checked again here). Returns how many went.
    pub fn delete_finished(
        conn: &mut DbConn,
        ids: &[WithdrawalId],
        before: i64,
    ) -> Result<usize, DbError> {
        use withdrawals::dsl as w;
        Ok(diesel::delete(
            w::withdrawals
                .filter(w::id.eq_any(ids))
                .filter(finished_before(before)),
        )
        .execute(conn)?)
    }
}

/// Succeeded or failed, and completed before `before`.
#[diesel::dsl::auto_type(no_type_alias)]
fn finished_before(before: i64) -> _ {
    let done: [WithdrawalState; 2] = [WithdrawalState::Succeeded, WithdrawalState::Failed];
    withdrawals::state
        .eq_any(done)
        .and(withdrawals::completed_at.lt(before))
}
