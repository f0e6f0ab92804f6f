//! `pay_invoices`: every invoice issued for a pay link, with what the payer
//! sent (comment, payer data) and, once settled, the preimage. Database
//! layer: imports `db` only.
//!
//! Expiry: the sweeper marks `expired_at` (state stays `open`, so a
//! settlement learned late still records) and writes `invoice.expired` in
//! the same transaction.

use diesel::prelude::*;

use crate::db::models::PayLink;
use crate::db::schema::{pay_invoices, pay_links};
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
    /// Pubkey of the node that issued it (invariant 7): only that node is
    /// asked about it, and only that node's settlements settle it.
    pub node_pubkey: Option<String>,
    /// NIP-57: the zap request (kind 9734) exactly as received; the
    /// description hash is sha256 of it.
    pub zap_request: Option<String>,
    /// NIP-57: the signed zap receipt (kind 9735), written when the invoice
    /// settles.
    pub zap_receipt: Option<String>,
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
        node: &str,
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
                .filter(i::state.eq(PayInvoiceState::Open))
                // Another node's settlement of the same hash is not ours.
                .filter(i::node_pubkey.eq(node).or(i::node_pubkey.is_null())),
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

    /// Stores the signed zap receipt of a settled invoice (in the
    /// settlement's transaction).
    pub fn set_zap_receipt(conn: &mut DbConn, hash: &str, receipt: &str) -> Result<(), DbError> {
        use pay_invoices::dsl as i;
        diesel::update(i::pay_invoices.filter(i::payment_hash.eq(hash)))
            .set(i::zap_receipt.eq(receipt))
            .execute(conn)?;
        Ok(())
    }

    /// One page of the open invoices of `node` not yet marked expired,
    /// whatever their age, in `(created_at, payment_hash)` order after
    /// `after`: to reconcile every one of them with the node.
    pub fn open_of_node(
        conn: &mut DbConn,
        node: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<PayInvoice>, DbError> {
        use pay_invoices::dsl as i;
        let mut q = i::pay_invoices
            .filter(open_unmarked())
            .filter(i::node_pubkey.eq(node))
            .into_boxed();
        if let Some((created, hash)) = after {
            q = q.filter(
                i::created_at
                    .gt(created)
                    .or(i::created_at.eq(created).and(i::payment_hash.gt(hash))),
            );
        }
        Ok(q.order((i::created_at.asc(), i::payment_hash.asc()))
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

    /// Open invoices past `expires_at <= before` not yet marked expired,
    /// oldest expiry first, keyset-paginated above `after` (expires_at,
    /// payment_hash) so that one pass of the sweeper moves on past the
    /// invoices it leaves open (held HTLCs) instead of reading them again.
    pub fn due_for_expiry(
        conn: &mut DbConn,
        before: i64,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<PayInvoice>, DbError> {
        use pay_invoices::dsl as i;
        let mut q = i::pay_invoices
            .filter(open_unmarked())
            .filter(i::expires_at.le(before))
            .into_boxed();
        if let Some((at, hash)) = after {
            q = q.filter(
                i::expires_at
                    .gt(at)
                    .or(i::expires_at.eq(at).and(i::payment_hash.gt(hash))),
            );
        }
        Ok(q.order((i::expires_at.asc(), i::payment_hash.asc()))
            .limit(limit)
            .select(PayInvoice::as_select())
            .load(conn)?)
    }

    /// Marks those of `hashes` that are still open and unmarked as expired
    /// at `now`, and returns them with their links (for their
    /// `invoice.expired` events). One statement, so each invoice is marked
    /// (and its event written) once, whatever the number of sweepers.
    pub fn mark_expired_many(
        conn: &mut DbConn,
        hashes: &[String],
        now: i64,
    ) -> Result<Vec<(PayInvoice, PayLink)>, DbError> {
        use pay_invoices::dsl as i;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let marked = diesel::update(
            i::pay_invoices
                .filter(i::payment_hash.eq_any(hashes))
                .filter(open_unmarked()),
        )
        .set(i::expired_at.eq(now))
        .returning(i::payment_hash);
        // RETURNING is per backend in diesel's MultiConnection.
        let marked: Vec<String> = match conn {
            DbConn::Pg(c) => marked.get_results(c)?,
            DbConn::Sqlite(c) => marked.get_results(c)?,
        };
        if marked.is_empty() {
            return Ok(Vec::new());
        }
        Ok(i::pay_invoices
            .inner_join(pay_links::table)
            .filter(i::payment_hash.eq_any(&marked))
            .order(i::payment_hash.asc())
            .select((PayInvoice::as_select(), PayLink::as_select()))
            .load(conn)?)
    }

    /// Open invoices of a link that have not expired at `now`: what the
    /// per-link cap counts (index `pay_invoices_link_open`).
    pub fn count_open(conn: &mut DbConn, link_id: &PayLinkId, now: i64) -> Result<i64, DbError> {
        use pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .filter(i::pay_link_id.eq(link_id))
            .filter(i::state.eq(PayInvoiceState::Open))
            .filter(i::expires_at.gt(now))
            .count()
            .get_result(conn)?)
    }

    /// Inserts an open invoice unless its link has `cap` or more open
    /// invoices, or was disabled meanwhile. Call inside a transaction. The
    /// link's row is taken first, so concurrent inserts for one link count
    /// one after the other: on PostgreSQL with `SELECT … FOR UPDATE` (a row
    /// lock; other links are not held up), on SQLite with a no-op UPDATE,
    /// which takes the database's write lock (a write transaction there
    /// must start with a write, or it can fail with SQLITE_BUSY).
    pub fn insert_capped(
        &self,
        conn: &mut DbConn,
        cap: i64,
        now: i64,
    ) -> Result<CappedInsert, DbError> {
        let active = pay_links::table
            .find(&self.pay_link_id)
            .filter(pay_links::disabled_at.is_null());
        let locked = match conn {
            DbConn::Pg(c) => active
                .select(pay_links::id)
                .for_update()
                .load::<PayLinkId>(c)?
                .len(),
            DbConn::Sqlite(c) => diesel::update(active)
                .set(pay_links::id.eq(pay_links::id))
                .execute(c)?,
        };
        if locked != 1 {
            return Ok(CappedInsert::LinkInactive);
        }
        if Self::count_open(conn, &self.pay_link_id, now)? >= cap {
            return Ok(CappedInsert::Full);
        }
        self.insert(conn)?;
        Ok(CappedInsert::Inserted)
    }

    /// When the sweeper marked this invoice expired and when verify last
    /// asked the node about it (`None` each: not yet).
    pub fn marks(conn: &mut DbConn, hash: &str) -> Result<(Option<i64>, Option<i64>), DbError> {
        use pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .find(hash)
            .select((i::expired_at, i::node_checked_at))
            .first::<(Option<i64>, Option<i64>)>(conn)
            .optional()?
            .unwrap_or((None, None)))
    }

    /// Takes the right to ask the node about an open, unmarked invoice now:
    /// true for exactly one caller per `every` seconds (a conditional
    /// UPDATE, so it holds across requests and instances).
    pub fn claim_node_check(
        conn: &mut DbConn,
        hash: &str,
        now: i64,
        every: i64,
    ) -> Result<bool, DbError> {
        use pay_invoices::dsl as i;
        let n = diesel::update(
            i::pay_invoices
                .filter(i::payment_hash.eq(hash))
                .filter(open_unmarked())
                .filter(
                    i::node_checked_at
                        .is_null()
                        .or(i::node_checked_at.le(now - every)),
                ),
        )
        .set(i::node_checked_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Hashes of up to `limit` unpaid invoices marked expired before
    /// `before` (retention). Settled invoices are never returned.
    pub fn expired_before(
        conn: &mut DbConn,
        before: i64,
        limit: i64,
    ) -> Result<Vec<String>, DbError> {
        use pay_invoices::dsl as i;
        Ok(i::pay_invoices
            .filter(expired_before(before))
            .order(i::expired_at.asc())
            .limit(limit)
            .select(i::payment_hash)
            .load(conn)?)
    }

    /// Deletes those of `hashes` that are still unpaid and marked expired
    /// before `before` (the condition is checked again here, so a late
    /// settlement is never deleted). Returns how many went.
    pub fn delete_expired(
        conn: &mut DbConn,
        hashes: &[String],
        before: i64,
    ) -> Result<usize, DbError> {
        use pay_invoices::dsl as i;
        Ok(diesel::delete(
            i::pay_invoices
                .filter(i::payment_hash.eq_any(hashes))
                .filter(expired_before(before)),
        )
        .execute(conn)?)
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

/// What [`PayInvoice::insert_capped`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CappedInsert {
    /// The invoice was inserted.
    Inserted,
    /// The link already has `cap` open invoices; nothing was written.
    Full,
    /// The link was disabled (or deleted) meanwhile; nothing was written.
    LinkInactive,
}

/// Unpaid and marked expired before `before`: what retention may delete.
#[diesel::dsl::auto_type(no_type_alias)]
fn expired_before(before: i64) -> _ {
    let open: PayInvoiceState = PayInvoiceState::Open;
    pay_invoices::state
        .eq(open)
        .and(pay_invoices::expired_at.lt(before))
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
