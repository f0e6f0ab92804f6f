//! Retention (DESIGN.md invariant 8: everything kept is pruned on a stated
//! schedule): deletes finished records older than `[retention]` says, in
//! small batches. Service layer: imports `db` and the config.
//!
//! What goes, and what never does:
//! - webhook events `delivered`, or `failed`/`no_target`, after their
//!   periods (with their delivery attempts); `pending` events never (the
//!   delivery worker still owns them);
//! - pay invoices that expired unpaid, counted from when the sweeper
//!   marked them (their `invoice.expired` event carries its own copy);
//!   open and settled invoices never: settled ones are the operator's
//!   record of money received;
//! - withdrawals that succeeded or failed, only when
//!   `finished_withdrawals_days` is set; `pending` and `in_flight` ones
//!   never (the payer owns them, invariant 2).
//!
//! Each batch is at most [`PRUNE_BATCH`] rows in its own short transaction,
//! with a pause between batches: SQLite has one writer, and a long delete
//! would hold back every callback and settlement behind it.

use std::time::Duration;

use crate::config::RetentionConfig;
use crate::db::models::{Event, PayInvoice, Withdrawal};
use crate::db::types::EventState;
use crate::db::Db;
use crate::service::{now, Error};

/// Most rows deleted in one transaction.
pub const PRUNE_BATCH: i64 = 500;
/// Pause between batches, so other writers get the database in between.
const PAUSE: Duration = Duration::from_millis(20);
const DAY_SECS: i64 = 86_400;

/// How many rows one pass deleted, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Delivered webhook events.
    pub delivered_events: usize,
    /// Failed and `no_target` webhook events.
    pub failed_events: usize,
    /// Pay invoices that expired unpaid.
    pub expired_invoices: usize,
    /// Finished withdrawals.
    pub withdrawals: usize,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> usize {
        self.delivered_events + self.failed_events + self.expired_invoices + self.withdrawals
    }
}

/// The retention handle.
pub struct RetentionService {
    db: Db,
    config: RetentionConfig,
}

/// The cut-off of a period of `days` (0 = keep forever: `None`).
fn cutoff(days: u32, t: i64) -> Option<i64> {
    (days > 0).then(|| t - i64::from(days) * DAY_SECS)
}

impl RetentionService {
    /// Built once by [`Services::new`](super::Services::new).
    pub(crate) fn new(db: Db, config: RetentionConfig) -> RetentionService {
        RetentionService { db, config }
    }

    /// How often the pruning worker runs.
    pub fn every(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.prune_every_secs))
    }

    /// One pass: everything past its period goes, batch by batch.
    pub async fn prune(&self) -> Result<Pruned, Error> {
        let t = now();
        let c = &self.config;
        let mut done = Pruned::default();
        if let Some(before) = cutoff(c.delivered_events_days, t) {
            done.delivered_events = self.events(EventState::Delivered, before).await?;
        }
        if let Some(before) = cutoff(c.failed_events_days, t) {
            done.failed_events = self.events(EventState::Failed, before).await?
                + self.events(EventState::NoTarget, before).await?;
        }
        if let Some(before) = cutoff(c.expired_invoices_days, t) {
            done.expired_invoices = self
                .batches(move |db| async move {
                    let hashes = db
                        .run(move |c| PayInvoice::expired_before(c, before, PRUNE_BATCH))
                        .await?;
                    let seen = hashes.len();
                    let n = db
                        .write(move |c| PayInvoice::delete_expired(c, &hashes, before))
                        .await?;
                    Ok((seen, n))
                })
                .await?;
        }
        if let Some(before) = cutoff(c.finished_withdrawals_days, t) {
            done.withdrawals = self
                .batches(move |db| async move {
                    let ids = db
                        .run(move |c| Withdrawal::finished_before(c, before, PRUNE_BATCH))
                        .await?;
                    let seen = ids.len();
                    let n = db
                        .write(move |c| Withdrawal::delete_finished(c, &ids, before))
                        .await?;
                    Ok((seen, n))
                })
                .await?;
        }
        Ok(done)
    }

    /// Events in `state` final before `before`, with their attempts.
    async fn events(&self, state: EventState, before: i64) -> Result<usize, Error> {
        self.batches(move |db| async move {
            let ids = db
                .run(move |c| Event::finished_before(c, state, before, PRUNE_BATCH))
                .await?;
            let seen = ids.len();
            let n = db
                .transaction(move |c| Event::delete_finished(c, &ids, state, before))
                .await?;
            Ok((seen, n))
        })
        .await
    }

    /// Runs `batch` (which returns how many rows it looked at and how many
    /// it deleted) until a batch finds less than a full one or deletes
    /// nothing (rows changed under it: the next pass takes them).
    async fn batches<F, Fut>(&self, batch: F) -> Result<usize, Error>
    where
        F: Fn(Db) -> Fut,
        Fut: std::future::Future<Output = Result<(usize, usize), crate::db::DbError>>,
    {
        let mut total = 0;
        loop {
            let (seen, deleted) = batch(self.db.clone()).await?;
            total += deleted;
            if seen < PRUNE_BATCH as usize || deleted == 0 {
                return Ok(total);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_forever() {
        assert_eq!(cutoff(0, 1_000_000), None);
        assert_eq!(cutoff(1, 1_000_000), Some(1_000_000 - DAY_SECS));
        assert_eq!(cutoff(30, 10_000_000), Some(10_000_000 - 30 * DAY_SECS));
    }
}
