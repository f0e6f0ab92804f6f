//! LNURL-withdraw rules (LUD-03, with LUD-14 balanceCheck and LUD-19
//! payLink): creating links, answering the wallet, and claiming a use
//! exactly once (DESIGN.md invariants 1, 4, 5).
//! <https://github.com/lnurl/luds/blob/luds/03.md>

use serde::Serialize;

use super::secrets::random_secret;
use super::{now, rfc3339, Error, Services, MAX_AMOUNT_MSAT};
use crate::db::models::withdraw_link::LinkStatusFilter;
use crate::db::models::{
    NewWithdrawLink, NewWithdrawal, WithdrawLink, Withdrawal, WithdrawalState,
};
use crate::db::{new_id, DbError};
use crate::lnurl;

/// What an operator asks for when creating a link.
#[derive(Debug, Clone)]
pub struct NewLink {
    /// Minimum amount, msat.
    pub min_msat: u64,
    /// Maximum amount, msat (= min for a fixed amount).
    pub max_msat: u64,
    /// Number of uses (default 1).
    pub uses: u64,
    /// Seconds between uses.
    pub wait_seconds: u64,
    /// Unix seconds after which the link is dead.
    pub expires_at: Option<i64>,
    /// Title for pages.
    pub title: String,
    /// `defaultDescription` for the wallet.
    pub description: String,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Idempotency key.
    pub external_id: Option<String>,
    /// Serve LUD-14 balanceCheck.
    pub balance_check: bool,
    /// LUD-19 payLink (an https or lnurlp:// URL).
    pub pay_link: Option<String>,
}

/// A link as shown to the operator, with its secret-bearing URLs.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// Link id.
    pub id: String,
    /// Bech32 LNURL, uppercase (QR form).
    pub lnurl: String,
    /// Plain https URL the LNURL encodes.
    pub url: String,
    /// LUD-17 `lnurlw://` form.
    pub lnurlw: String,
    /// HTML page.
    pub page_url: String,
    /// QR image (SVG).
    pub qr_url: String,
    /// The secret (part of every URL above).
    pub secret: String,
    /// Minimum, msat.
    pub min_msat: u64,
    /// Maximum, msat.
    pub max_msat: u64,
    /// Uses the link was created with.
    pub uses: u64,
    /// Uses left.
    pub uses_left: u64,
    /// Seconds between uses.
    pub wait_seconds: u64,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Idempotency key.
    pub external_id: Option<String>,
    /// Voucher batch.
    pub batch_id: Option<String>,
    /// LUD-14.
    pub balance_check: bool,
    /// LUD-19.
    pub pay_link: Option<String>,
    /// `active`, `spent`, `expired` or `disabled`.
    pub status: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub disabled_at: Option<String>,
    /// Withdrawals (only in single-link views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawals: Option<Vec<WithdrawalView>>,
}

/// One withdrawal as shown to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawalView {
    /// Id.
    pub id: String,
    /// `pending`, `in_flight`, `succeeded`, `failed`.
    pub state: WithdrawalState,
    /// Invoice amount, msat.
    pub amount_msat: u64,
    /// Fee paid, msat.
    pub fee_msat: Option<u64>,
    /// Fee limit, msat.
    pub max_fee_msat: u64,
    /// Hex.
    pub payment_hash: String,
    /// Hex, once paid.
    pub preimage: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The wallet's invoice.
    pub bolt11: String,
    /// Payer attempts.
    pub attempts: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub completed_at: Option<String>,
}

fn link_status(l: &WithdrawLink, now: i64) -> &'static str {
    if l.disabled_at.is_some() {
        "disabled"
    } else if l.uses_left == 0 {
        "spent"
    } else if l.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

impl WithdrawalView {
    fn from_row(w: &Withdrawal) -> WithdrawalView {
        WithdrawalView {
            id: w.id.clone(),
            state: w.state(),
            amount_msat: w.amount_msat.max(0) as u64,
            fee_msat: w.fee_msat.map(|f| f.max(0) as u64),
            max_fee_msat: w.max_fee_msat.max(0) as u64,
            payment_hash: w.payment_hash.clone(),
            preimage: w.preimage.clone(),
            failure_reason: w.failure_reason.clone(),
            bolt11: w.bolt11.clone(),
            attempts: w.attempts.max(0) as u64,
            created_at: rfc3339(w.created_at),
            completed_at: w.completed_at.map(rfc3339),
        }
    }
}

impl Services {
    /// The LUD-03 first-step URL of a secret.
    pub fn withdraw_url(&self, secret: &str) -> String {
        self.url(&format!("/lnurlw/{secret}"))
    }

    fn view(
        &self,
        l: &WithdrawLink,
        withdrawals: Option<&[Withdrawal]>,
    ) -> Result<LinkView, Error> {
        let secret = self.keys.decrypt(&l.secret_enc)?;
        let url = self.withdraw_url(&secret);
        let parsed = url::Url::parse(&url).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(LinkView {
            id: l.id.clone(),
            lnurl: lnurl::bech32::encode_upper(&url),
            lnurlw: lnurl::bech32::lud17(&parsed, lnurl::bech32::Lud17::Withdraw),
            page_url: self.url(&format!("/w/{secret}")),
            qr_url: self.url(&format!("/qr/w/{secret}.svg")),
            url,
            secret,
            min_msat: l.min_msat as u64,
            max_msat: l.max_msat as u64,
            uses: l.uses_total as u64,
            uses_left: l.uses_left as u64,
            wait_seconds: l.wait_seconds as u64,
            expires_at: l.expires_at.map(rfc3339),
            title: l.title.clone(),
            description: l.description.clone(),
            webhook_url: l.webhook_url.clone(),
            external_id: l.external_id.clone(),
            batch_id: l.batch_id.clone(),
            balance_check: l.balance_check,
            pay_link: l.pay_link.clone(),
            status: link_status(l, now()),
            created_at: rfc3339(l.created_at),
            disabled_at: l.disabled_at.map(rfc3339),
            withdrawals: withdrawals.map(|ws| ws.iter().map(WithdrawalView::from_row).collect()),
        })
    }

    fn validate_new_link(&self, n: &NewLink) -> Result<(), Error> {
        if n.min_msat < 1 {
            return Err(Error::Invalid("min_msat must be at least 1".into()));
        }
        if n.max_msat < n.min_msat {
            return Err(Error::Invalid("max_msat must not be below min_msat".into()));
        }
        if n.max_msat > MAX_AMOUNT_MSAT {
            return Err(Error::Invalid("max_msat is too large".into()));
        }
        if n.uses < 1 || n.uses > 1_000_000 {
            return Err(Error::Invalid("uses must be between 1 and 1000000".into()));
        }
        if n.wait_seconds > 366 * 86_400 {
            return Err(Error::Invalid("wait_seconds must be at most a year".into()));
        }
        if let Some(e) = n.expires_at {
            if e <= now() {
                return Err(Error::Invalid("expires_at must be in the future".into()));
            }
        }
        if n.title.chars().count() > 200 {
            return Err(Error::Invalid(
                "title must be at most 200 characters".into(),
            ));
        }
        if n.description.chars().count() > 639 {
            // BOLT11 descriptions are limited to 639 bytes; wallets copy this.
            return Err(Error::Invalid(
                "description must be at most 639 characters".into(),
            ));
        }
        if let Some(x) = &n.external_id {
            if x.is_empty() || x.len() > 200 {
                return Err(Error::Invalid(
                    "external_id must be 1 to 200 characters".into(),
                ));
            }
        }
        if let Some(w) = &n.webhook_url {
            self.validate_webhook_url(w)?;
        }
        if let Some(p) = &n.pay_link {
            let u =
                url::Url::parse(p).map_err(|_| Error::Invalid("pay_link must be a URL".into()))?;
            if !matches!(u.scheme(), "https" | "http" | "lnurlp") || u.host().is_none() {
                return Err(Error::Invalid(
                    "pay_link must be an lnurlp:// or https:// URL".into(),
                ));
            }
        }
        Ok(())
    }

    fn new_row(
        &self,
        n: &NewLink,
        batch_id: Option<String>,
    ) -> Result<(NewWithdrawLink, String), Error> {
        let secret = random_secret();
        let t = now();
        let row = NewWithdrawLink {
            id: new_id("wl"),
            secret_lookup: self.keys.lookup(&secret),
            secret_enc: self.keys.encrypt(&secret)?,
            min_msat: n.min_msat as i64,
            max_msat: n.max_msat as i64,
            uses_total: n.uses as i64,
            uses_left: n.uses as i64,
            wait_seconds: n.wait_seconds as i64,
            next_use_at: 0,
            expires_at: n.expires_at,
            title: n.title.clone(),
            description: n.description.clone(),
            webhook_url: n.webhook_url.clone(),
            external_id: n.external_id.clone(),
            batch_id,
            balance_check: n.balance_check,
            pay_link: n.pay_link.clone(),
            created_at: t,
            updated_at: t,
        };
        Ok((row, secret))
    }

    /// Creates a link; with `external_id`, returns the existing link instead
    /// of creating a second one (`created` tells which).
    pub async fn create_withdraw_link(&self, n: NewLink) -> Result<(LinkView, bool), Error> {
        self.validate_new_link(&n)?;
        if let Some(x) = n.external_id.clone() {
            let existing = self
                .db
                .run(move |c| WithdrawLink::find_by_external_id(c, &x))
                .await?;
            if let Some(l) = existing {
                return Ok((self.view(&l, None)?, false));
            }
        }
        let (row, _secret) = self.new_row(&n, None)?;
        let id = row.id.clone();
        let inserted = self.db.run(move |c| WithdrawLink::insert(c, &row)).await;
        match inserted {
            Ok(()) => {}
            // A concurrent request with the same external_id won the race:
            // answer with its link, never a second one.
            Err(DbError::Duplicate(_)) if n.external_id.is_some() => {
                let x = n.external_id.clone().unwrap_or_default();
                let l = self
                    .db
                    .run(move |c| WithdrawLink::find_by_external_id(c, &x))
                    .await?
                    .ok_or_else(|| Error::Internal("external_id row vanished".into()))?;
                return Ok((self.view(&l, None)?, false));
            }
            Err(e) => return Err(e.into()),
        }
        let l = self
            .db
            .run(move |c| WithdrawLink::find(c, &id))
            .await?
            .ok_or_else(|| Error::Internal("new link not found".into()))?;
        Ok((self.view(&l, None)?, true))
    }

    /// Creates `count` links in one batch (vouchers), all or nothing.
    pub async fn create_withdraw_batch(
        &self,
        count: u32,
        n: NewLink,
    ) -> Result<(String, Vec<LinkView>), Error> {
        if count == 0 || count > 1000 {
            return Err(Error::Invalid("count must be between 1 and 1000".into()));
        }
        if n.external_id.is_some() {
            return Err(Error::Invalid(
                "external_id is not allowed for batches".into(),
            ));
        }
        self.validate_new_link(&n)?;
        let batch_id = new_id("wb");
        let mut rows = Vec::with_capacity(count as usize);
        for _ in 0..count {
            rows.push(self.new_row(&n, Some(batch_id.clone()))?.0);
        }
        let b = batch_id.clone();
        let links = self
            .db
            .transaction(move |c| {
                WithdrawLink::insert_many(c, &rows)?;
                WithdrawLink::list_batch(c, &b)
            })
            .await?;
        let views = links
            .iter()
            .map(|l| self.view(l, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((batch_id, views))
    }

    /// One link with its withdrawals.
    pub async fn get_withdraw_link(&self, id: &str) -> Result<LinkView, Error> {
        let id = id.to_owned();
        let (l, ws) = self
            .db
            .run(move |c| {
                let Some(l) = WithdrawLink::find(c, &id)? else {
                    return Ok(None);
                };
                let ws = Withdrawal::list_for_link(c, &l.id)?;
                Ok(Some((l, ws)))
            })
            .await?
            .ok_or_else(|| Error::NotFound("withdraw link not found".into()))?;
        self.view(&l, Some(&ws))
    }

    /// Links of a batch.
    pub async fn withdraw_batch(&self, batch_id: &str) -> Result<Vec<LinkView>, Error> {
        let b = batch_id.to_owned();
        let links = self
            .db
            .run(move |c| WithdrawLink::list_batch(c, &b))
            .await?;
        if links.is_empty() {
            return Err(Error::NotFound("batch not found".into()));
        }
        links.iter().map(|l| self.view(l, None)).collect()
    }

    /// A page of links, newest first. `cursor` is the last id of the
    /// previous page.
    pub async fn list_withdraw_links(
        &self,
        status: Option<&str>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<LinkView>, Option<String>), Error> {
        let status = match status {
            None | Some("") | Some("all") => None,
            Some("active") => Some(LinkStatusFilter::Active),
            Some("spent") => Some(LinkStatusFilter::Spent),
            Some("disabled") => Some(LinkStatusFilter::Disabled),
            Some("expired") => Some(LinkStatusFilter::Expired),
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "status {other:?} is not one of active, spent, expired, disabled"
                )))
            }
        };
        let limit = super::page_limit(limit)?;
        let t = now();
        let rows = self
            .db
            .run(move |c| {
                let cur = match cursor {
                    None => None,
                    Some(id) => match WithdrawLink::find(c, &id)? {
                        Some(l) => Some((l.created_at, l.id)),
                        None => return Ok(None),
                    },
                };
                Ok(Some(WithdrawLink::list(c, status, t, limit as i64, cur)?))
            })
            .await?
            .ok_or_else(|| Error::Invalid("cursor does not name a link".into()))?;
        let next = if rows.len() == limit as usize {
            rows.last().map(|l| l.id.clone())
        } else {
            None
        };
        let views = rows
            .iter()
            .map(|l| self.view(l, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((views, next))
    }

    /// Disables a link; its history stays.
    pub async fn disable_withdraw_link(&self, id: &str) -> Result<LinkView, Error> {
        let i = id.to_owned();
        let t = now();
        let found = self
            .db
            .run(move |c| {
                WithdrawLink::disable(c, &i, t)?;
                WithdrawLink::find(c, &i)
            })
            .await?;
        if found.is_none() {
            return Err(Error::NotFound("withdraw link not found".into()));
        }
        self.get_withdraw_link(id).await
    }

    async fn link_by_secret(&self, secret: &str) -> Result<WithdrawLink, Error> {
        // Secrets are 32 hex chars; anything else cannot match, so refuse it
        // before hashing arbitrary input.
        if secret.len() != 32 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NotFound("unknown withdraw link".into()));
        }
        let lookup = self.keys.lookup(&secret.to_ascii_lowercase());
        self.db
            .run(move |c| WithdrawLink::find_by_lookup(c, &lookup))
            .await?
            .ok_or_else(|| Error::NotFound("unknown withdraw link".into()))
    }

    /// Why a link cannot be used right now, in words for the wallet user.
    fn unavailable_reason(l: &WithdrawLink, t: i64) -> Option<String> {
        if l.disabled_at.is_some() {
            Some("This withdraw link has been disabled.".into())
        } else if l.uses_left <= 0 {
            Some("This withdraw link has already been used.".into())
        } else if l.expires_at.is_some_and(|e| e <= t) {
            Some("This withdraw link has expired.".into())
        } else if l.next_use_at > t {
            Some(format!(
                "Please wait {} seconds before the next withdrawal.",
                l.next_use_at - t
            ))
        } else {
            None
        }
    }

    /// LUD-03 step 1: the `withdrawRequest` for a secret.
    pub async fn withdraw_request(
        &self,
        secret: &str,
    ) -> Result<lnurl::wire::WithdrawRequest, Error> {
        let l = self.link_by_secret(secret).await?;
        let t = now();
        // LUD-14 (2026 revision): a balance-checked link with nothing to
        // withdraw right now answers min = max = 0, not an ERROR, so the
        // wallet keeps its balanceCheck and payLink.
        let mut zero = false;
        if let Some(r) = Self::unavailable_reason(&l, t) {
            let gone = l.disabled_at.is_some() || l.expires_at.is_some_and(|e| e <= t);
            if !l.balance_check || gone {
                return Err(Error::Unavailable(r));
            }
            zero = true;
        }
        let secret = secret.to_ascii_lowercase();
        let url = self.withdraw_url(&secret);
        Ok(lnurl::wire::WithdrawRequest {
            callback: format!("{url}/callback"),
            k1: self.keys.k1(&secret),
            default_description: if l.description.is_empty() {
                l.title.clone()
            } else {
                l.description.clone()
            },
            min_withdrawable: if zero { 0 } else { l.min_msat as u64 },
            max_withdrawable: if zero { 0 } else { l.max_msat as u64 },
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
            l.min_msat as u64,
            l.max_msat as u64,
        )?;
        let hash = hex::encode(inv.payment_hash);

        // A wallet retrying after a timeout sends the same invoice again.
        if let Some(answer) = self.repeat_answer(&l.id, &hash).await? {
            return answer;
        }
        if let Some(r) = Self::unavailable_reason(&l, t) {
            return Err(Error::Unavailable(r));
        }

        let new = NewWithdrawal {
            id: new_id("wd"),
            link_id: l.id.clone(),
            payment_hash: hash.clone(),
            bolt11: inv.bolt11.clone(),
            amount_msat: inv.amount_msat as i64,
            max_fee_msat: self.config.withdraw.max_fee_msat(inv.amount_msat) as i64,
            state: WithdrawalState::Pending.as_str().to_owned(),
            attempts: 0,
            created_at: t,
            updated_at: t,
        };
        let link_id = l.id.clone();
        // One transaction: the conditional UPDATE (first, so SQLite takes the
        // write lock before reading) and the INSERT with a UNIQUE hash.
        let claimed = self
            .db
            .transaction(move |c| {
                if !WithdrawLink::claim_use(c, &link_id, t)? {
                    return Ok(false);
                }
                Withdrawal::insert(c, &new)?;
                Ok(true)
            })
            .await;
        match claimed {
            Ok(true) => {
                self.payer_wake.notify_waiters();
                self.payer_wake.notify_one();
                tracing::info!(link = %l.id, payment_hash = %hash, amount_msat = inv.amount_msat, "withdrawal claimed");
                Ok(())
            }
            Ok(false) => {
                // Lost the race (or the link changed): say why.
                let id = l.id.clone();
                let fresh = self.db.run(move |c| WithdrawLink::find(c, &id)).await?;
                let reason = fresh
                    .and_then(|f| Self::unavailable_reason(&f, now()))
                    .unwrap_or_else(|| "This withdraw link cannot be used right now.".into());
                Err(Error::Unavailable(reason))
            }
            Err(DbError::Duplicate(_)) => match self.repeat_answer(&l.id, &hash).await? {
                Some(answer) => answer,
                None => Err(Error::Conflict(
                    "This invoice has already been used.".into(),
                )),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// If this payment hash was seen before, the answer to give.
    async fn repeat_answer(
        &self,
        link_id: &str,
        hash: &str,
    ) -> Result<Option<Result<(), Error>>, Error> {
        let h = hash.to_owned();
        let existing = self
            .db
            .run(move |c| Withdrawal::find_by_hash(c, &h))
            .await?;
        Ok(existing.map(|w| {
            if w.link_id != link_id {
                return Err(Error::Conflict(
                    "This invoice has already been used.".into(),
                ));
            }
            match w.state() {
                WithdrawalState::Pending
                | WithdrawalState::InFlight
                | WithdrawalState::Succeeded => Ok(()),
                WithdrawalState::Failed => Err(Error::Conflict(format!(
                    "Paying this invoice failed ({}); please try again with a new invoice.",
                    w.failure_reason.as_deref().unwrap_or("unknown reason")
                ))),
            }
        }))
    }
}
