//! `pay_invoices`: every invoice issued for a pay link, with what the payer
//! sent (comment, payer data) and, once settled, the preimage. Database
//! layer: imports `db` only.
//!
//! Expiry: the sweeper marks `expired_at` (state stays `open`, so a
//! settlement learned late still records) and writes `invoice.expired` in
//! the same transaction.

use diesel::prelude::*;

use crate::db::schema::pay_invoices;
use crate::db::types::{InvoiceStatus, Msat, PayInvoiceState, PayLinkId};
use crate::db::{DbConn, DbError};

/// An invoice row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pay_invoices)]
pub struct PayInvoice {
    /// Hex payment hash.
    pub payment_hash: String,
    /// The pay link.
    pub pay_link_id: PayLinkId,
    /// BOLT11.
    pub bolt11: String,
    /// Requested amount.
    pub amount_msat: Msat,
    /// LUD-12 comment.
    pub comment: Option<String>,
    /// LUD-18 payer data as received.
    pub payer_data: Option<String>,
    /// Open or settled (expiry is derived from `expires_at`).
    pub state: PayInvoiceState,
    /// Hex preimage, once settled.
    pub preimage: Option<String>,
    /// Amount received.
    pub amount_paid_msat: Option<Msat>,
    /// The node's settle index.
    pub settle_index: Option<i64>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub settled_at: Option<i64>,
}

impl PayInvoice {
    /// Open, settled, or expired (open past `expires_at`) at `now`.
    pub fn status(&self, now: i64) -> InvoiceStatus {
        match self.state {
            PayInvoiceState::Settled => InvoiceStatus::Settled,
            PayInvoiceState::Open if self.expires_at <= now => InvoiceStatus::Expired,
            PayInvoiceState::Open => InvoiceStatus::Open,
        }
    }

    /// Inserts an open invoice.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(pay_invoices::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// By payment hash.
    pub fn find(conn: &mut DbConn, hash: &str) -> Result<Option<PayInvoice>, DbError> {
        Ok(pay_invoices::table
            .find(hash)
            .select(PayInvoice::as_select())
            .first(conn)
            .optional()?)
    }

    /// open → settled. Returns whether this call made the change (so a
    /// settlement seen twice is counted once).
    pub fn mark_settled(
        conn: &mut DbConn,
        hash: &str,
        preimage: &str,
        amount_paid_msat: Msat,
        settle_index: i64,
        settled_at: i64,
    ) -> Result<bool, DbError> {
        use pay_invoices::dsl as i;
        let n = diesel::update(
            i::pay_invoices
                .filter(i::payment_hash.eq(hash))
                .filter(i::state.eq(PayInvoiceState::Open)),
        )
        .set((
            i::state.eq(PayInvoiceState::Settled),
            i::preimage.eq(preimage),
            i::amount_paid_msat.eq(amount_paid_msat),
            i::settle_index.eq(settle_index),
            i::settled_at.eq(settled_at),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Open invoices not yet marked expired and not long past expiry, newest
    /// (most likely to be paid) first: to reconcile with the node.
    pub fn open_since(
        conn: &mut DbConn,
        expires_after: i64,
        limit: i64,
    ) -> Result<Vec<PayInvoice>, DbError> {
        use pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .filter(open_unmarked())
            .filter(i::expires_at.gt(expires_after))
            .order(i::created_at.desc())
            .limit(limit)
            .select(PayInvoice::as_select())
            .load(conn)?)
    }

    /// Invoices of a link, newest first, keyset-paginated below `cursor`.
    pub fn list_for_link(
        conn: &mut DbConn,
        link_id: &PayLinkId,
        limit: i64,
        cursor: Option<(i64, String)>,
    ) -> Result<Vec<PayInvoice>, DbError> {
        use pay_invoices::dsl as i;
        let mut q = i::pay_invoices
            .filter(i::pay_link_id.eq(link_id))
            .into_boxed();
        if let Some((created, hash)) = cursor {
            q = q.filter(
                i::created_at
                    .lt(created)
                    .or(i::created_at.eq(created).and(i::payment_hash.lt(hash))),
            );
        }
        Ok(q.order((i::created_at.desc(), i::payment_hash.desc()))
            .limit(limit)
            .select(PayInvoice::as_select())
            .load(conn)?)
    }

    /// Open invoices past `expires_at <= before` not yet marked expired.
    pub fn due_for_expiry(
        conn: &mut DbConn,
        before: i64,
        limit: i64,
    ) -> Result<Vec<PayInvoice>, DbError> {
        use pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .filter(open_unmarked())
            .filter(i::expires_at.le(before))
            .order(i::expires_at.asc())
            .limit(limit)
            .select(PayInvoice::as_select())
            .load(conn)?)
    }

    /// Marks an open invoice expired. Returns whether this call did it (so
    /// one `invoice.expired` is written, whatever the number of instances).
    pub fn mark_expired(conn: &mut DbConn, hash: &str, now: i64) -> Result<bool, DbError> {
        use pay_invoices::dsl as i;
        let n = diesel::update(
            i::pay_invoices
                .filter(i::payment_hash.eq(hash))
                .filter(open_unmarked()),
        )
        .set(i::expired_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// Open and not yet marked expired: the invoices the reconciler asks the
/// node about and the sweeper may still expire (once).
#[diesel::dsl::auto_type(no_type_alias)]
fn open_unmarked() -> _ {
    let open: PayInvoiceState = PayInvoiceState::Open;
    pay_invoices::state
        .eq(open)
        .and(pay_invoices::expired_at.is_null())
}
