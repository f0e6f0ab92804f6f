//! Voucher batches as units: a batch's summary (counts by state, amounts,
//! what was withdrawn), the list of batches, disabling a batch at once;
//! printable voucher sheets (the links of a batch that can still be
//! withdrawn), and the signed, expiring URLs that open a sheet without an
//! API token (stateless, so any instance sharing the server key accepts
//! them). Creating a batch, idempotent by `external_id`, is in
//! [`super::links`].
//!
//! Service layer: imports `db` models and the server keys; formats no HTTP.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{count as stored_count, LinkView, WithdrawService};
use crate::db::models::{WithdrawBatch, WithdrawLink, WithdrawalState};
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus};
use crate::paths;
use crate::service::{keyset_page, now, page_limit, rfc3339, Error};

const BATCH_NOT_FOUND: &str = "batch not found";

/// The answer to creating a batch (and to its idempotent retry): the
/// vouchers, and a signed link to their printable sheet.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchCreated {
    /// Batch id.
    pub batch_id: BatchId,
    /// The caller's idempotency key.
    pub external_id: Option<String>,
    /// Number of vouchers.
    pub count: u64,
    /// The printable sheet, signed: opens in a browser without a token
    /// until `vouchers_url_expires_at` (a new one: `POST
    /// …/batch/{id}/sheet-url`).
    pub vouchers_url: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub vouchers_url_expires_at: String,
    /// The vouchers, in creation order.
    pub links: Vec<LinkView>,
}

/// A batch as a unit: what it was made with, and where its vouchers are
/// now. The counts are the links' `status` buckets, so they add up to
/// `count`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchView {
    /// Batch id.
    pub batch_id: BatchId,
    /// The caller's idempotency key.
    pub external_id: Option<String>,
    /// Vouchers made.
    pub count: u64,
    /// Vouchers a wallet can still use.
    pub active: u64,
    /// Vouchers used up.
    pub spent: u64,
    /// Vouchers past their expiry, unused.
    pub expired: u64,
    /// Vouchers disabled.
    pub disabled: u64,
    /// Minimum of each voucher.
    pub min_msat: Msat,
    /// Maximum of each voucher.
    pub max_msat: Msat,
    /// Uses of each voucher.
    pub uses: u64,
    /// Seconds between uses.
    pub wait_seconds: u64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The most the batch can pay out: `count × max_msat × uses`
    /// (saturating at `u64::MAX`, which no real batch nears).
    pub total_msat: u64,
    /// Paid out (withdrawals that succeeded).
    pub withdrawn_msat: u64,
    /// Claimed, payment pending or in flight.
    pub pending_msat: u64,
    /// Routing fees of the paid withdrawals.
    pub fees_msat: u64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl BatchView {
    fn new(
        b: &WithdrawBatch,
        counts: &HashMap<WithdrawLinkStatus, u64>,
        withdrawals: &[(WithdrawalState, Msat, Option<Msat>)],
    ) -> BatchView {
        let n = |s| counts.get(&s).copied().unwrap_or(0);
        let (mut withdrawn, mut pending, mut fees) = (0u64, 0u64, 0u64);
        for (state, amount, fee) in withdrawals {
            match state {
                WithdrawalState::Succeeded => {
                    withdrawn = withdrawn.saturating_add(amount.get());
                    fees = fees.saturating_add(fee.map_or(0, Msat::get));
                }
                // Under review: its outcome is unknown, so it is counted
                // as still on its way.
                WithdrawalState::Pending
                | WithdrawalState::InFlight
                | WithdrawalState::NeedsReview => {
                    pending = pending.saturating_add(amount.get());
                }
                WithdrawalState::Failed => {}
            }
        }
        let count = stored_count(b.voucher_count);
        let uses = stored_count(b.uses);
        BatchView {
            batch_id: b.id.clone(),
            external_id: b.external_id.clone(),
            count,
            active: n(WithdrawLinkStatus::Active),
            spent: n(WithdrawLinkStatus::Spent),
            expired: n(WithdrawLinkStatus::Expired),
            disabled: n(WithdrawLinkStatus::Disabled),
            min_msat: b.min_msat,
            max_msat: b.max_msat,
            uses,
            wait_seconds: stored_count(b.wait_seconds),
            expires_at: b.expires_at.map(rfc3339),
            title: b.title.clone(),
            description: b.description.clone(),
            total_msat: count.saturating_mul(b.max_msat.get()).saturating_mul(uses),
            withdrawn_msat: withdrawn,
            pending_msat: pending,
            fees_msat: fees,
            created_at: rfc3339(b.created_at),
        }
    }
}

/// The views of `batches`, with their links' counts and withdrawals read
/// on the same connection.
fn batch_views(
    c: &mut crate::db::DbConn,
    batches: &[WithdrawBatch],
    t: i64,
) -> Result<Vec<BatchView>, crate::db::DbError> {
    let ids: Vec<BatchId> = batches.iter().map(|b| b.id.clone()).collect();
    let mut counts: HashMap<BatchId, HashMap<WithdrawLinkStatus, u64>> = HashMap::new();
    for (b, status, n) in WithdrawLink::batch_bucket_counts(c, &ids, t)? {
        counts.entry(b).or_default().insert(status, stored_count(n));
    }
    let mut paid: HashMap<BatchId, Vec<_>> = HashMap::new();
    for (b, state, amount, fee) in WithdrawLink::batch_withdrawals(c, &ids)? {
        if let Some(b) = b {
            paid.entry(b).or_default().push((state, amount, fee));
        }
    }
    let none = HashMap::new();
    Ok(batches
        .iter()
        .map(|b| {
            BatchView::new(
                b,
                counts.get(&b.id).unwrap_or(&none),
                paid.get(&b.id).map_or(&[][..], Vec::as_slice),
            )
        })
        .collect())
}

/// Default lifetime of a signed voucher sheet URL.
pub const SHEET_URL_DEFAULT_TTL_SECS: u64 = 15 * 60;
/// Longest lifetime an operator may ask for (a voucher sheet holds
/// spendable secrets: the URL should not outlive a print job by much).
pub const SHEET_URL_MAX_TTL_SECS: u64 = 24 * 3600;

/// Characters escaped in a path segment we build (ids are `[a-z0-9_-]`).
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');

/// One voucher on a sheet.
#[derive(Debug, Clone)]
pub struct Voucher {
    /// Link id (printed small, for the operator's records).
    pub id: WithdrawLinkId,
    /// Uppercase bech32 LNURL (what the QR encodes).
    pub lnurl: String,
    /// Minimum.
    pub min_msat: Msat,
    /// Maximum.
    pub max_msat: Msat,
    /// Title.
    pub title: String,
    /// Uses the link was created with.
    pub uses: u64,
    /// Unix seconds of expiry, if any.
    pub expires_at: Option<i64>,
}

/// A printable batch.
#[derive(Debug, Clone)]
pub struct VoucherSheet {
    /// Batch id.
    pub batch_id: BatchId,
    /// Vouchers that can still be withdrawn, in creation order.
    pub vouchers: Vec<Voucher>,
    /// Links of the batch left off because they are used, expired or
    /// disabled (printing them would hand out dead paper).
    pub left_off: usize,
}

impl WithdrawService {
    /// The withdraw links of a batch that can still be withdrawn.
    pub async fn voucher_sheet(&self, batch_id: &BatchId) -> Result<VoucherSheet, Error> {
        let links = self.withdraw_batch(batch_id).await?;
        let total = links.len();
        let vouchers: Vec<Voucher> = links
            .into_iter()
            .filter(|l| l.status == WithdrawLinkStatus::Active)
            .map(|l| Voucher {
                id: l.id,
                lnurl: l.lnurl,
                min_msat: l.min_msat,
                max_msat: l.max_msat,
                title: l.title,
                uses: l.uses,
                expires_at: l.expires_at.as_deref().and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                        .map(|t| t.unix_timestamp())
                }),
            })
            .collect();
        Ok(VoucherSheet {
            batch_id: batch_id.clone(),
            left_off: total - vouchers.len(),
            vouchers,
        })
    }

    /// The answer to a batch's creation (or its replay): its links and a
    /// signed sheet URL of the default lifetime.
    pub(super) async fn batch_created(&self, batch_id: &BatchId) -> Result<BatchCreated, Error> {
        let b = batch_id.clone();
        let (batch, links) = self
            .db
            .run(move |c| {
                Ok((
                    WithdrawBatch::find(c, &b)?,
                    WithdrawLink::list_batch(c, &b)?,
                ))
            })
            .await?;
        let batch = batch.ok_or_else(|| Error::Internal("new batch not found".into()))?;
        let (vouchers_url, expires_at) =
            self.voucher_sheet_url(batch_id, SHEET_URL_DEFAULT_TTL_SECS);
        Ok(BatchCreated {
            batch_id: batch.id,
            external_id: batch.external_id,
            count: stored_count(batch.voucher_count),
            vouchers_url,
            vouchers_url_expires_at: rfc3339(expires_at),
            links: self.views(&links)?,
        })
    }

    /// The summary of a batch.
    pub async fn batch_summary(&self, batch_id: &BatchId) -> Result<BatchView, Error> {
        if !batch_id.is_well_formed() {
            return Err(Error::NotFound(BATCH_NOT_FOUND.into()));
        }
        let b = batch_id.clone();
        let t = now();
        self.db
            .run(move |c| match WithdrawBatch::find(c, &b)? {
                Some(batch) => Ok(batch_views(c, &[batch], t)?.pop()),
                None => Ok(None),
            })
            .await?
            .ok_or_else(|| Error::NotFound(BATCH_NOT_FOUND.into()))
    }

    /// A page of batches with their summaries, newest first. `cursor` is
    /// the last id of the previous page.
    pub async fn list_batches(
        &self,
        limit: Option<u32>,
        cursor: Option<BatchId>,
    ) -> Result<(Vec<BatchView>, Option<BatchId>), Error> {
        let limit = page_limit(limit)?;
        let (rows, next) = keyset_page(
            &self.db,
            limit,
            cursor,
            "a batch",
            |c, id| Ok(WithdrawBatch::find(c, &id)?.map(|b| (b.created_at, b.id))),
            WithdrawBatch::list,
            |b| b.id.clone(),
        )
        .await?;
        let t = now();
        let views = self.db.run(move |c| batch_views(c, &rows, t)).await?;
        Ok((views, next))
    }

    /// Disables every voucher of a batch that is not spent, in one
    /// transaction (see [`WithdrawLink::disable_batch`]); answers the
    /// summary after it. Disabling a disabled batch changes nothing.
    pub async fn disable_batch(&self, batch_id: &BatchId) -> Result<BatchView, Error> {
        if !batch_id.is_well_formed() {
            return Err(Error::NotFound(BATCH_NOT_FOUND.into()));
        }
        let b = batch_id.clone();
        let t = now();
        let forget = self.first_steps.forget_all_after();
        let view = self
            .db
            .transaction(move |c| {
                // The UPDATEs first: on SQLite a write transaction must
                // start with a write. An unknown batch updates nothing.
                WithdrawLink::disable_batch(c, &b, t)?;
                match WithdrawBatch::find(c, &b)? {
                    Some(batch) => Ok(batch_views(c, &[batch], t)?.pop()),
                    None => Ok(None),
                }
            })
            .await;
        drop(forget);
        view?.ok_or_else(|| Error::NotFound(BATCH_NOT_FOUND.into()))
    }

    /// Whether a voucher batch exists (without decrypting its secrets).
    pub async fn voucher_batch_exists(&self, batch_id: &BatchId) -> Result<bool, Error> {
        if !batch_id.is_well_formed() {
            return Ok(false);
        }
        let b = batch_id.clone();
        let links = self
            .db
            .run(move |c| WithdrawLink::list_batch(c, &b))
            .await?;
        Ok(!links.is_empty())
    }

    fn sheet_mac(&self, batch_id: &BatchId, expires_at: i64) -> String {
        // The lookup key is a keyed hash (HMAC-SHA256) under a server key
        // that never leaves the process; the prefix keeps this message apart
        // from link secrets (32 hex characters), so a token is never the
        // lookup value of a secret and vice versa.
        self.keys
            .lookup(&format!("lnurld/v1/voucher-sheet:{batch_id}:{expires_at}"))
    }

    /// A query token `t` for the voucher sheet of `batch_id`, valid until
    /// `expires_at` (unix seconds): `{expires_at}.{hmac}`. Stateless, so any
    /// instance sharing the server key accepts it.
    pub fn voucher_sheet_token(&self, batch_id: &BatchId, expires_at: i64) -> String {
        format!("{expires_at}.{}", self.sheet_mac(batch_id, expires_at))
    }

    /// A signed voucher sheet URL valid for `ttl_secs` (clamped to
    /// 1 s ..= [`SHEET_URL_MAX_TTL_SECS`]); returns the URL and its expiry
    /// (unix seconds).
    pub fn voucher_sheet_url(&self, batch_id: &BatchId, ttl_secs: u64) -> (String, i64) {
        // At most a day once clamped, so it always fits.
        let ttl = i64::try_from(ttl_secs.clamp(1, SHEET_URL_MAX_TTL_SECS)).unwrap_or(1);
        let expires_at = now() + ttl;
        let t = self.voucher_sheet_token(batch_id, expires_at);
        let segment =
            percent_encoding::utf8_percent_encode(batch_id.as_str(), PATH_SEGMENT).to_string();
        let url = self.url(&format!("{}?t={t}", paths::vouchers(&segment)));
        (url, expires_at)
    }

    /// Checks a voucher sheet token for `batch_id`: right MAC (compared in
    /// constant time) and not expired.
    pub fn check_voucher_sheet_token(&self, batch_id: &BatchId, token: &str) -> Result<(), Error> {
        let refused = || Error::Unauthorized("invalid or expired voucher sheet link".into());
        let (exp, mac) = token.split_once('.').ok_or_else(refused)?;
        if exp.is_empty() || exp.len() > 12 || !exp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused());
        }
        let expires_at: i64 = exp.parse().map_err(|_| refused())?;
        let expected = self.sheet_mac(batch_id, expires_at);
        let ok =
            expected.len() == mac.len() && bool::from(expected.as_bytes().ct_eq(mac.as_bytes()));
        if !ok || expires_at <= now() {
            return Err(refused());
        }
        Ok(())
    }
}
