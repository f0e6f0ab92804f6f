//! Settlement of pay-link invoices: record a settlement (idempotent; the
//! invoice, the stored settle index and `invoice.settled` in one
//! transaction), reconcile open invoices with the node (what a settlement
//! stream cannot replay), and expire unpaid invoices with
//! `invoice.expired`. Service layer: imports `db`, `node`, the outbox
//! of `service::webhooks` and the receipt outbox of `service::zaps` (which
//! never call back into pay).

use futures_util::StreamExt;

use super::PayService;
use crate::db::models::{NodeRecord, PayInvoice};
use crate::db::types::Msat;
use crate::metrics::Counter;
use crate::node::{
    InvoiceState, InvoiceStatus, NodeError, PaymentHash, Settlement, SettlementStream,
};
use crate::service::webhooks::{self, EventType};
use crate::service::zaps;
use crate::service::{now, Error};

/// Most invoices the expiry sweeper marks in one transaction.
pub const EXPIRY_BATCH: i64 = 500;
/// How many node lookups the expiry sweeper and the reconciler have in
/// flight at once.
const LOOKUPS_AT_ONCE: usize = 16;
/// Open invoices the reconciler reads from the database per page.
const RECONCILE_PAGE: i64 = 500;

/// The settlement a node's answer about `hash` reports: only a `Settled`
/// invoice with its preimage (lnd returns a preimage for open invoices too,
/// so the preimage alone proves nothing).
pub(super) fn settlement_of(hash: PaymentHash, st: &InvoiceStatus) -> Option<Settlement> {
    match (st.state, st.preimage) {
        (InvoiceState::Settled, Some(p)) => Some(Settlement {
            payment_hash: hash,
            preimage: p,
            amount_paid_msat: st.amount_paid_msat,
            settle_index: st.settle_index,
            settled_at: st.settled_at,
        }),
        _ => None,
    }
}

impl PayService {
    /// Records one settlement of the current node and raises that node's
    /// settle index, in one transaction. Idempotent: returns whether this
    /// call settled the invoice.
    pub async fn record_settlement(&self, s: &Settlement) -> Result<bool, Error> {
        let node = self.node_pubkey.clone();
        let (hash, pre, paid, idx, at) = (
            s.payment_hash.to_hex(),
            s.preimage.to_hex(),
            Msat::saturating(s.amount_paid_msat),
            i64::try_from(s.settle_index).unwrap_or(i64::MAX),
            if s.settled_at > 0 {
                s.settled_at
            } else {
                now()
            },
        );
        let (ob, zob) = (self.outbox.clone(), self.zaps.clone());
        let (changed, zap) = self
            .db
            .transaction(move |c| {
                // Write first (SQLite takes the write lock before reading).
                let changed = PayInvoice::mark_settled(c, &node, &hash, &pre, paid, idx, at)?;
                if idx > 0 {
                    NodeRecord::raise_settle_index(c, &node, idx)?;
                }
                // The zap receipt and its outbox rows, then invoice.settled
                // (which shows the receipt's id), in the same transaction,
                // written once.
                let mut zap = false;
                if changed {
                    zap = zaps::write_receipt(c, &zob, &hash, now())?;
                    webhooks::invoice_event(c, &ob, EventType::InvoiceSettled, &hash, now())?;
                }
                Ok((changed, zap))
            })
            .await?;
        if zap {
            self.zaps.wake();
        }
        if changed {
            self.outbox.wake();
            self.metrics.count(Counter::InvoicesSettled);
            tracing::info!(payment_hash = %s.payment_hash, amount_msat = s.amount_paid_msat, "invoice settled");
        }
        Ok(changed)
    }

    /// Marks open invoices past their expiry as expired and writes
    /// `invoice.expired`, batch after batch until none is due, so a flood
    /// of invoices is worked off in one pass instead of 50 per sweep. Each
    /// batch asks the node about its invoices first (a few at a time), so
    /// a settlement the watcher has not recorded yet is recorded instead,
    /// and then marks the rest in one short transaction of at most
    /// [`EXPIRY_BATCH`] invoices and their events.
    pub async fn expire_invoices(&self) -> Result<usize, Error> {
        let t = now();
        let mut after: Option<(i64, String)> = None;
        let mut expired = 0;
        loop {
            let cursor = after.take();
            let due = self
                .db
                .run(move |c| PayInvoice::due_for_expiry(c, t, cursor, EXPIRY_BATCH))
                .await?;
            let full = due.len() == EXPIRY_BATCH as usize;
            after = due.last().map(|i| (i.expires_at, i.payment_hash.clone()));
            let (n, node_error) = self.expire_batch(due).await?;
            expired += n;
            if let Some(e) = node_error {
                // Cannot tell about the rest now; the next sweep tries again.
                return Err(e.into());
            }
            if !full {
                return Ok(expired);
            }
        }
    }

    /// One batch of [`Self::expire_invoices`]: what it marked, and the
    /// node's error if the node stopped answering (the invoices decided
    /// before that are marked all the same).
    async fn expire_batch(
        &self,
        due: Vec<PayInvoice>,
    ) -> Result<(usize, Option<NodeError>), Error> {
        let (node, current) = (&self.node, self.node_pubkey.as_str());
        let mut answers = futures_util::stream::iter(due.into_iter().map(|inv| async move {
            // Another node's invoice is not this node's to answer for
            // (invariant 7): it expires without asking.
            let ours = inv.node_pubkey.as_deref().is_none_or(|n| n == current);
            let answer = match PaymentHash::from_hex(&inv.payment_hash) {
                Some(h) if ours => Some((h, node.invoice(h).await)),
                // Not a hash the node could know: nothing to ask.
                _ => None,
            };
            (inv, answer)
        }))
        .buffer_unordered(LOOKUPS_AT_ONCE);
        let mut to_expire = Vec::new();
        let mut node_error = None;
        while let Some((inv, answer)) = answers.next().await {
            match answer {
                Some((hash, Ok(Some(st)))) if st.state == InvoiceState::Settled => {
                    if let Some(s) = settlement_of(hash, &st) {
                        self.record_settlement(&s).await?;
                        continue;
                    }
                    // Note: a node that says Settled but gives no preimage
                    // falls through, and the invoice is marked expired (with
                    // `invoice.expired`) although it was paid. Kept as it is;
                    // a late settlement still records, because the state
                    // stays `open`.
                }
                // Held HTLCs may still settle: look again next sweep.
                Some((_, Ok(Some(st)))) if st.state == InvoiceState::Accepted => continue,
                Some((_, Ok(_))) | None => {}
                Some((_, Err(e))) => {
                    // Stop asking (dropping the stream cancels the lookups
                    // in flight); what was decided is still marked.
                    node_error = Some(e);
                    break;
                }
            }
            to_expire.push(inv.payment_hash);
        }
        drop(answers);
        let (ob, t) = (self.outbox.clone(), now());
        let expired = self
            .db
            .transaction(move |c| {
                // Write first (SQLite takes the write lock before reading).
                let marked = PayInvoice::mark_expired_many(c, &to_expire, t)?;
                webhooks::invoice_events_of(c, &ob, EventType::InvoiceExpired, &marked, t)?;
                Ok(marked.len())
            })
            .await?;
        if expired > 0 {
            self.outbox.wake();
        }
        Ok((expired, node_error))
    }

    /// The highest settle index recorded for the current node.
    pub async fn stored_settle_index(&self) -> Result<u64, Error> {
        let node = self.node_pubkey.clone();
        let stored = self
            .db
            .run(move |c| NodeRecord::settle_index(c, &node))
            .await?;
        // Never negative (only raised from a u64); 0 reads as "from the start".
        Ok(u64::try_from(stored).unwrap_or(0))
    }

    /// The node's settlements after the highest settle index recorded, so
    /// that none is missed or counted twice across restarts.
    pub async fn settlements(&self) -> Result<SettlementStream, Error> {
        let from = self.stored_settle_index().await?;
        Ok(self.node.settlements(from).await?)
    }

    /// Asks the node about every open invoice it issued (page by page,
    /// a few lookups at a time, whatever the invoices' age) and records
    /// those it says are settled. Covers what a settlement stream cannot
    /// replay: lnd replays nothing from index 0, and lnd's SQL invoice store
    /// replays in creation order, so a crash between two replayed
    /// settlements can leave one behind the stored index.
    pub async fn reconcile_open_invoices(&self) -> Result<usize, Error> {
        let mut after: Option<(i64, String)> = None;
        let mut settled = 0;
        loop {
            let (node, cursor) = (self.node_pubkey.clone(), after.take());
            let page = self
                .db
                .run(move |c| PayInvoice::open_of_node(c, &node, cursor, RECONCILE_PAGE))
                .await?;
            let full = page.len() == RECONCILE_PAGE as usize;
            after = page.last().map(|i| (i.created_at, i.payment_hash.clone()));
            let hashes: Vec<PaymentHash> = page
                .iter()
                .filter_map(|inv| PaymentHash::from_hex(&inv.payment_hash))
                .collect();
            let node = &self.node;
            let mut answers = futures_util::stream::iter(
                hashes
                    .into_iter()
                    .map(|h| async move { (h, node.invoice(h).await) }),
            )
            .buffer_unordered(LOOKUPS_AT_ONCE);
            while let Some((hash, answer)) = answers.next().await {
                if let Some(s) = answer?.and_then(|st| settlement_of(hash, &st)) {
                    if self.record_settlement(&s).await? {
                        settled += 1;
                    }
                }
            }
            if !full {
                return Ok(settled);
            }
        }
    }
}
