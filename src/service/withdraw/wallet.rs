//! The wallet's side of LUD-03: step 1 answers the `withdrawRequest`
//! (LUD-14 balanceCheck, LUD-19 payLink), step 2 checks the invoice, claims
//! one use exactly once and commits a `pending` withdrawal for the payer
//! (DESIGN.md invariants 1, 4, 5). A wallet repeating an accepted invoice is
//! told OK again. <https://github.com/lnurl/luds/blob/luds/03.md>
//!
//! Service layer: imports `db` models, `lnurl` and the server keys; formats
//! no HTTP.

use super::WithdrawService;
use crate::db::models::withdraw_link::Availability;
use crate::db::models::{WithdrawLink, Withdrawal, WithdrawalState};
use crate::db::types::{Msat, WithdrawLinkId};
use crate::db::DbError;
use crate::lnurl;
use crate::paths;
use crate::service::{now, Error};

/// Why a link cannot be used right now, in words for the wallet user.
fn refusal(a: Availability) -> Option<String> {
    match a {
        Availability::Usable => None,
        Availability::Disabled => Some("This withdraw link has been disabled.".into()),
        Availability::UsedUp => Some("This withdraw link has already been used.".into()),
        Availability::Expired => Some("This withdraw link has expired.".into()),
        Availability::Waiting { secs_left } => Some(format!(
            "Please wait {secs_left} seconds before the next withdrawal."
        )),
    }
}

impl WithdrawService {
    /// LUD-03 step 1: the `withdrawRequest` for a secret.
    pub async fn withdraw_request(
        &self,
        secret: &str,
    ) -> Result<lnurl::wire::WithdrawRequest, Error> {
        let l = self.first_step_link(secret).await?;
        let t = now();
        // LUD-14 (2026 revision): a balance-checked link with nothing to
        // withdraw right now answers min = max = 0, not an ERROR, so the
        // wallet keeps its balanceCheck and payLink.
        let mut zero = false;
        if let Some(r) = refusal(l.availability(t)) {
            if !l.balance_check || l.is_over(t) {
                return Err(Error::Unavailable(r));
            }
            zero = true;
        }
        let secret = secret.to_ascii_lowercase();
        let url = self.withdraw_url(&secret);
        Ok(lnurl::wire::WithdrawRequest {
            callback: self.url(&paths::lnurlw_callback(&secret)),
            k1: self.keys.k1(&secret),
            default_description: if l.description.is_empty() {
                l.title.clone()
            } else {
                l.description.clone()
            },
            min_withdrawable: if zero { 0 } else { l.min_msat.get() },
            max_withdrawable: if zero { 0 } else { l.max_msat.get() },
            balance_check: l.balance_check.then(|| url.clone()),
            pay_link: l.pay_link.clone(),
        })
    }

    /// LUD-03 step 2: checks the wallet's invoice, claims one use and
    /// commits a `pending` withdrawal, then wakes the payer. Returns before
    /// any payment is attempted. Repeating an accepted `(k1, pr)` is OK.
    pub async fn withdraw_callback(&self, secret: &str, k1: &str, pr: &str) -> Result<(), Error> {
        let l = self.link_by_secret(secret).await?;
        if !self.keys.k1_matches(&secret.to_ascii_lowercase(), k1) {
            return Err(Error::Invalid("Wrong k1 for this withdraw link.".into()));
        }
        let t = now();
        let inv = lnurl::invoice::check_withdraw_invoice(
            pr,
            self.network.currency(),
            t,
            l.min_msat.get(),
            l.max_msat.get(),
        )?;
        let hash = hex::encode(inv.payment_hash);

        // A wallet retrying after a timeout sends the same invoice again.
        if let Some(answer) = self.repeat_answer(&l.id, &hash).await? {
            return answer;
        }
        if let Some(r) = refusal(l.availability(t)) {
            return Err(Error::Unavailable(r));
        }

        let new = self.new_withdrawal(&l.id, &inv, &hash, t)?;
        // Forgotten whatever the outcome, even if this future is dropped
        // after the claim committed.
        let forget = self.first_steps.forget_after(l.id.as_str());
        let claimed = self.claim_and_record(new).await;
        drop(forget);
        match claimed {
            Ok(true) => {
                // `notify_one` alone: there is one waiter (this process's
                // payer loop), and it is not always waiting (it may be
                // taking or tracking rows). `notify_one` then keeps a permit
                // that its next wait consumes, so this claim is not missed;
                // `notify_waiters` keeps none and would be lost. The two
                // used together only woke the payer twice (one scan for
                // nothing).
                self.payer_wake.notify_one();
                tracing::info!(link = %l.id, payment_hash = %hash, amount_msat = inv.amount_msat, "withdrawal claimed");
                Ok(())
            }
            Ok(false) => Err(self.why_not_claimed(&l.id).await?),
            Err(DbError::Duplicate(_)) => match self.repeat_answer(&l.id, &hash).await? {
                Some(answer) => answer,
                None => Err(Error::Conflict(
                    "This invoice has already been used.".into(),
                )),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The `pending` row a claimed use becomes.
    fn new_withdrawal(
        &self,
        link_id: &WithdrawLinkId,
        inv: &lnurl::invoice::CheckedInvoice,
        hash: &str,
        t: i64,
    ) -> Result<Withdrawal, Error> {
        // Checked against the link's `max_msat`, which is a column value.
        let amount_msat = Msat::new(inv.amount_msat)
            .ok_or_else(|| Error::Internal("invoice amount out of range".into()))?;
        Ok(Withdrawal::pending(
            link_id.clone(),
            hash.to_owned(),
            inv.bolt11.clone(),
            amount_msat,
            Msat::saturating(self.config.max_fee_msat(inv.amount_msat)),
            t,
        ))
    }

    /// Claims one use of `new.link_id` and inserts `new`, or does neither.
    /// `Ok(false)`: the link could not be claimed; `Duplicate`: the invoice
    /// is already recorded.
    async fn claim_and_record(&self, new: Withdrawal) -> Result<bool, DbError> {
        let t = new.created_at;
        // One transaction: the conditional UPDATE (first, so SQLite takes the
        // write lock before reading) and the INSERT with a UNIQUE hash.
        self.db
            .transaction(move |c| {
                if !WithdrawLink::claim_use(c, &new.link_id, t)? {
                    return Ok(false);
                }
                Withdrawal::insert(c, &new)?;
                Ok(true)
            })
            .await
    }

    /// Why a claim was refused: lost the race (or the link changed).
    async fn why_not_claimed(&self, link_id: &WithdrawLinkId) -> Result<Error, Error> {
        let id = link_id.clone();
        let fresh = self.db.run(move |c| WithdrawLink::find(c, &id)).await?;
        let reason = fresh
            .and_then(|f| refusal(f.availability(now())))
            .unwrap_or_else(|| "This withdraw link cannot be used right now.".into());
        Ok(Error::Unavailable(reason))
    }

    /// If this payment hash was seen before, the answer to give.
    async fn repeat_answer(
        &self,
        link_id: &WithdrawLinkId,
        hash: &str,
    ) -> Result<Option<Result<(), Error>>, Error> {
        let h = hash.to_owned();
        let existing = self
            .db
            .run(move |c| Withdrawal::find_by_hash(c, &h))
            .await?;
        Ok(existing.map(|w| {
            if w.link_id != *link_id {
                return Err(Error::Conflict(
                    "This invoice has already been used.".into(),
                ));
            }
            match w.state {
                WithdrawalState::Pending
                | WithdrawalState::InFlight
                | WithdrawalState::NeedsReview
                | WithdrawalState::Succeeded => Ok(()),
                WithdrawalState::Failed => Err(Error::Conflict(format!(
                    "Paying this invoice failed ({}); please try again with a new invoice.",
                    w.failure_reason.as_deref().unwrap_or("unknown reason")
                ))),
            }
        }))
    }
}
