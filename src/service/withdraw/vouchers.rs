//! Printable voucher sheets: the links of a batch that can still be
//! withdrawn, and the signed, expiring URLs that open a sheet without an
//! API token (stateless, so any instance sharing the server key accepts
//! them).
//!
//! Service layer: imports `db` models and the server keys; formats no HTTP.

use subtle::ConstantTimeEq;

use super::WithdrawService;
use crate::db::models::WithdrawLink;
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus};
use crate::paths;
use crate::service::{now, Error};

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

    /// The sheet of a batch, for an operator with an API token (the batch
    /// API answers it as `vouchers_url`).
    pub fn vouchers_url(&self, batch_id: &BatchId) -> String {
        self.url(&paths::vouchers(batch_id.as_str()))
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
