//! `dev_invoices`, `dev_payments` and `dev_node_state`: what the embedded
//! dev node (`node/dev.rs`) remembers, so that its invoices, payments,
//! settle indexes and balance survive restarts. Database layer: imports
//! `db` only. lnurld's own rules never read these tables.
//!
//! Every write of the dev node runs in one transaction that starts with
//! [`DevNodeState::lock`], so the dev node's writes are serialized on both
//! backends.

use diesel::prelude::*;

use crate::db::schema::{dev_invoices, dev_node_state, dev_payments};
use crate::db::types::{DevInvoiceState, DevPaymentFailure, DevPaymentState, Msat};
use crate::db::{DbConn, DbError};

/// The one row of `dev_node_state`.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = dev_node_state)]
pub struct DevNodeState {
    /// Always 1.
    pub id: i64,
    /// The last add index handed out.
    pub add_index: i64,
    /// The last settle index handed out.
    pub settle_index: i64,
    /// Received minus sent, msat (negative once more was sent than received).
    pub net_msat: i64,
}

impl DevNodeState {
    /// Takes the dev node's write lock (a no-op UPDATE of its row: a write
    /// first, so SQLite queues it, and a row lock held until commit on
    /// PostgreSQL) and reads the row. Call it first in a transaction.
    pub fn lock(conn: &mut DbConn) -> Result<DevNodeState, DbError> {
        let n = diesel::update(dev_node_state::table.find(1i64))
            .set(dev_node_state::id.eq(dev_node_state::id))
            .execute(conn)?;
        if n != 1 {
            return Err(DbError::Query(diesel::result::Error::NotFound));
        }
        Self::read(conn)
    }

    /// Reads the row without locking it.
    pub fn read(conn: &mut DbConn) -> Result<DevNodeState, DbError> {
        Ok(dev_node_state::table
            .find(1i64)
            .select(DevNodeState::as_select())
            .first(conn)?)
    }

    /// Writes the counters and the balance back (under [`Self::lock`]).
    pub fn store(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::update(dev_node_state::table.find(1i64))
            .set((
                dev_node_state::add_index.eq(self.add_index),
                dev_node_state::settle_index.eq(self.settle_index),
                dev_node_state::net_msat.eq(self.net_msat),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// An invoice of the dev node.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dev_invoices)]
pub struct DevInvoice {
    /// Hex payment hash.
    pub payment_hash: String,
    /// BOLT11.
    pub bolt11: String,
    /// Hex preimage.
    pub preimage: String,
    /// Amount of the invoice (and of its settlement).
    pub amount_msat: Msat,
    /// Open or settled.
    pub state: DevInvoiceState,
    /// The node's add index.
    pub add_index: i64,
    /// Set when settled.
    pub settle_index: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, when settled.
    pub settled_at: Option<i64>,
}

impl DevInvoice {
    /// Inserts a new (open) invoice; a hash already there is `Duplicate`.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(dev_invoices::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// By payment hash.
    pub fn find(conn: &mut DbConn, hash: &str) -> Result<Option<DevInvoice>, DbError> {
        Ok(dev_invoices::table
            .find(hash)
            .select(DevInvoice::as_select())
            .first(conn)
            .optional()?)
    }

    /// open → settled with `settle_index` at `at`; whether it changed.
    pub fn mark_settled(
        conn: &mut DbConn,
        hash: &str,
        settle_index: i64,
        at: i64,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            dev_invoices::table
                .filter(dev_invoices::payment_hash.eq(hash))
                .filter(dev_invoices::state.eq(DevInvoiceState::Open)),
        )
        .set((
            dev_invoices::state.eq(DevInvoiceState::Settled),
            dev_invoices::settle_index.eq(Some(settle_index)),
            dev_invoices::settled_at.eq(Some(at)),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Settled invoices with a settle index above `after`, lowest first, at
    /// most `limit`.
    pub fn settled_after(
        conn: &mut DbConn,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DevInvoice>, DbError> {
        Ok(dev_invoices::table
            .filter(dev_invoices::state.eq(DevInvoiceState::Settled))
            .filter(dev_invoices::settle_index.gt(after))
            .order(dev_invoices::settle_index.asc())
            .limit(limit)
            .select(DevInvoice::as_select())
            .load(conn)?)
    }
}

/// A payment of the dev node (or its refusal).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = dev_payments, treat_none_as_null = true)]
pub struct DevPayment {
    /// Hex payment hash.
    pub payment_hash: String,
    /// BOLT11 that was paid.
    pub bolt11: String,
    /// Amount of the invoice.
    pub amount_msat: Msat,
    /// Fee paid (always 0: the dev node has no route).
    pub fee_msat: Msat,
    /// Succeeded or failed.
    pub state: DevPaymentState,
    /// Why it failed; set exactly when failed.
    pub failure_reason: Option<DevPaymentFailure>,
    /// Hex preimage, known only when it paid one of its own invoices.
    pub preimage: Option<String>,
    /// Unix seconds of the first attempt.
    pub created_at: i64,
    /// Unix seconds of the last attempt.
    pub updated_at: i64,
}

impl DevPayment {
    /// By payment hash.
    pub fn find(conn: &mut DbConn, hash: &str) -> Result<Option<DevPayment>, DbError> {
        Ok(dev_payments::table
            .find(hash)
            .select(DevPayment::as_select())
            .first(conn)
            .optional()?)
    }

    /// Records this attempt: inserts it, or overwrites an earlier (failed)
    /// attempt of the same hash, keeping that one's `created_at`. Under
    /// [`DevNodeState::lock`], so no other attempt runs in between.
    pub fn record(&self, conn: &mut DbConn) -> Result<(), DbError> {
        match Self::find(conn, &self.payment_hash)? {
            Some(earlier) => {
                let row = DevPayment {
                    created_at: earlier.created_at,
                    ..self.clone()
                };
                diesel::update(dev_payments::table.find(&self.payment_hash))
                    .set(&row)
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(dev_payments::table)
                    .values(self)
                    .execute(conn)?;
            }
        }
        Ok(())
    }
}
