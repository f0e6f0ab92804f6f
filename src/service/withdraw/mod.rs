//! LNURL-withdraw (LUD-03, with LUD-14 balanceCheck and LUD-19 payLink):
//! creating links, answering the wallet, claiming a use exactly once, paying
//! it, and what a person holding the link is shown (DESIGN.md invariants 1,
//! 2, 4, 5). <https://github.com/lnurl/luds/blob/luds/03.md>
//!
//! Service layer: imports `db` models, `lnurl` and the server keys; formats
//! no HTTP. This file holds the handle, [`WithdrawService`] (what
//! `svc.withdraw()` returns, with only the pieces of the base it needs), and
//! what the parts share: the operator's views of a link and its
//! withdrawals, URLs from [`crate::paths`], and finding a link by its secret.
//!
//! - [`links`]: create (one or a batch), get, list, disable;
//! - [`wallet`]: the wallet's two LUD-03 steps (request, callback);
//! - [`payout`]: the payer's steps (send, track, record the outcome);
//! - [`status`]: the page and its live state;
//! - [`vouchers`]: printable voucher sheets and their signed URLs.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::cache::RowCache;
use super::secrets::Purpose;
use super::webhooks::Outbox;
use super::{found, now, rfc3339, Base, Error, ServerKeys};
use crate::config::WithdrawConfig;
use crate::db::models::{WithdrawLink, Withdrawal, WithdrawalState};
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus, WithdrawalId};
use crate::db::{Db, DbConn, DbError};
use crate::lnurl;
use crate::metrics::Metrics;
use crate::node::{LightningNode, Network};
use crate::paths::{self, QrFormat};

pub mod links;
pub mod payout;
pub mod status;
pub mod vouchers;
pub mod wallet;

/// What an operator asks for when creating a link. Amounts and counts are
/// as asked (plain numbers): checking them, and the errors that say what
/// is wrong, is the service's job.
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
/// `Deserialize` too: it is the API's own type, so clients (and the tests)
/// read it back as it was written.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkView {
    /// Link id.
    pub id: WithdrawLinkId,
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
    /// Minimum.
    pub min_msat: Msat,
    /// Maximum.
    pub max_msat: Msat,
    /// Uses the link was created with.
    pub uses: u64,
    /// Uses left.
    pub uses_left: u64,
    /// Seconds between uses.
    pub wait_seconds: u64,
    /// RFC 3339.
    #[schema(format = DateTime)]
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
    pub batch_id: Option<BatchId>,
    /// LUD-14.
    pub balance_check: bool,
    /// LUD-19.
    pub pay_link: Option<String>,
    /// `active`, `spent`, `expired` or `disabled`.
    pub status: WithdrawLinkStatus,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    /// Withdrawals (only in single-link views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawals: Option<Vec<WithdrawalView>>,
}

/// One withdrawal as shown to the operator (`Deserialize`: see
/// [`LinkView`]).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WithdrawalView {
    /// Id.
    pub id: WithdrawalId,
    /// `pending`, `in_flight`, `succeeded`, `failed`, `needs_review`.
    pub state: WithdrawalState,
    /// Invoice amount.
    pub amount_msat: Msat,
    /// Fee paid.
    pub fee_msat: Option<Msat>,
    /// Fee limit.
    pub max_fee_msat: Msat,
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
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// The node it was handed to (none while `pending`).
    #[serde(default)]
    pub node_pubkey: Option<String>,
}

impl WithdrawalView {
    pub(crate) fn from_row(w: &Withdrawal) -> WithdrawalView {
        WithdrawalView {
            id: w.id.clone(),
            state: w.state,
            amount_msat: w.amount_msat,
            fee_msat: w.fee_msat,
            max_fee_msat: w.max_fee_msat,
            payment_hash: w.payment_hash.clone(),
            preimage: w.preimage.clone(),
            failure_reason: w.failure_reason.clone(),
            bolt11: w.bolt11.clone(),
            attempts: count(w.attempts),
            created_at: rfc3339(w.created_at),
            completed_at: w.completed_at.map(rfc3339),
            node_pubkey: w.node_pubkey.clone(),
        }
    }
}

/// The withdraw handle: links, the LUD-03 flow, payouts, pages, vouchers.
/// Holds only what those need; built once by
/// [`Services::new`](super::Services::new).
pub struct WithdrawService {
    db: Db,
    node: Arc<dyn LightningNode>,
    keys: ServerKeys,
    metrics: Arc<Metrics>,
    /// `[withdraw]`: fee limits, payment timeout, lease length.
    config: WithdrawConfig,
    /// `public_url`, the prefix of every URL handed out.
    public_url: String,
    /// Network of the node: a wallet's invoice must be for it.
    network: Network,
    /// Identity of this process for the payer's leases.
    instance_id: String,
    /// The node's pubkey: the payer takes, tracks and re-sends only rows
    /// of this node (invariant 7).
    node_pubkey: String,
    /// Where `withdraw.succeeded`/`withdraw.failed` are written.
    outbox: Outbox,
    /// Wakes the payer when a withdrawal was committed.
    payer_wake: Arc<Notify>,
    /// Closed when the payer releases its leases at shutdown (see
    /// [`payout::LeaseGate`]).
    leases: payout::LeaseGate,
    /// Link rows for `withdrawRequest`, by secret lookup (see
    /// [`RowCache`]); every change to a link here forgets it.
    first_steps: RowCache<WithdrawLink>,
}

impl WithdrawService {
    /// Built once by [`Services::new`](super::Services::new).
    pub(crate) fn new(base: &Base, outbox: Outbox, payer_wake: Arc<Notify>) -> WithdrawService {
        WithdrawService {
            db: base.db.clone(),
            node: base.node.clone(),
            keys: base.keys.clone(),
            metrics: base.metrics.clone(),
            config: base.config.withdraw.clone(),
            public_url: base.config.public_url.clone(),
            network: base.network,
            instance_id: base.instance_id.clone(),
            node_pubkey: base.node_pubkey.clone(),
            outbox,
            payer_wake,
            leases: payout::LeaseGate::default(),
            first_steps: RowCache::new(base.config.first_step_cache()),
        }
    }

    /// Resolves when a wallet's claim was committed since the last call
    /// (or while nobody waited): the payer's wake-up. Meant for the one
    /// payer loop of the process (see the wake in
    /// [`withdraw_callback`](Self::withdraw_callback)).
    pub async fn claim_committed(&self) {
        self.payer_wake.notified().await;
    }

    /// How long the payer waits for a final state when it tracks a
    /// payment: half a lease, 1 to 20 seconds.
    pub fn track_wait(&self) -> Duration {
        Duration::from_secs((u64::from(self.config.lease_secs) / 2).clamp(1, 20))
    }

    /// `[withdraw] shutdown_grace_secs`: how long the payer may hand
    /// withdrawals over to the node after the HTTP server has stopped.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.shutdown_grace_secs))
    }

    /// `public_url` + `path` (path starts with `/`).
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.public_url, path)
    }

    /// The LUD-03 first-step URL of a secret.
    pub fn withdraw_url(&self, secret: &str) -> String {
        self.url(&paths::lnurlw(secret))
    }

    fn view(
        &self,
        l: &WithdrawLink,
        withdrawals: Option<&[Withdrawal]>,
    ) -> Result<LinkView, Error> {
        let secret = self
            .keys
            .open(Purpose::LinkSecret, l.id.as_str(), &l.secret_enc)?;
        let url = self.withdraw_url(&secret);
        let parsed = url::Url::parse(&url).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(LinkView {
            id: l.id.clone(),
            lnurl: lnurl::bech32::encode_upper(&url),
            lnurlw: lnurl::bech32::lud17(&parsed, lnurl::bech32::Lud17::Withdraw),
            page_url: self.url(&paths::withdraw_page(&secret)),
            qr_url: self.url(&paths::qr_withdraw(&secret, QrFormat::Svg)),
            url,
            secret,
            min_msat: l.min_msat,
            max_msat: l.max_msat,
            uses: count(l.uses_total),
            uses_left: count(l.uses_left),
            wait_seconds: count(l.wait_seconds),
            expires_at: l.expires_at.map(rfc3339),
            title: l.title.clone(),
            description: l.description.clone(),
            webhook_url: l.webhook_url.clone(),
            external_id: l.external_id.clone(),
            batch_id: l.batch_id.clone(),
            balance_check: l.balance_check,
            pay_link: l.pay_link.clone(),
            status: l.availability(now()).bucket(),
            created_at: rfc3339(l.created_at),
            disabled_at: l.disabled_at.map(rfc3339),
            withdrawals: withdrawals.map(|ws| ws.iter().map(WithdrawalView::from_row).collect()),
        })
    }

    /// The list views of `links` (without their withdrawals).
    fn views(&self, links: &[WithdrawLink]) -> Result<Vec<LinkView>, Error> {
        links.iter().map(|l| self.view(l, None)).collect()
    }

    /// As [`Self::link_by_secret`], from the first-step cache when it holds
    /// the row: for `withdrawRequest` only (the callback reads afresh).
    async fn first_step_link(&self, secret: &str) -> Result<Arc<WithdrawLink>, Error> {
        if !secret_shape_ok(secret) {
            return Err(Error::NotFound("unknown withdraw link".into()));
        }
        let lookup = self.keys.lookup(&secret.to_ascii_lowercase());
        if let Some(l) = self.first_steps.get(&lookup) {
            return Ok(l);
        }
        let read = self.first_steps.begin();
        let key = lookup.clone();
        let l = Arc::new(
            found(&self.db, "unknown withdraw link", move |c| {
                WithdrawLink::find_by_lookup(c, &key)
            })
            .await?,
        );
        self.first_steps
            .put(read, &lookup, l.id.as_str(), l.clone());
        Ok(l)
    }

    /// The link with this secret; `NotFound` for an unknown one.
    async fn link_by_secret(&self, secret: &str) -> Result<WithdrawLink, Error> {
        if !secret_shape_ok(secret) {
            return Err(Error::NotFound("unknown withdraw link".into()));
        }
        let lookup = self.keys.lookup(&secret.to_ascii_lowercase());
        found(&self.db, "unknown withdraw link", move |c| {
            WithdrawLink::find_by_lookup(c, &lookup)
        })
        .await
    }
}

/// The link `find` finds, with its withdrawals, oldest first, read on the
/// same connection; `None` when `find` finds no link.
fn with_withdrawals(
    c: &mut DbConn,
    find: impl FnOnce(&mut DbConn) -> Result<Option<WithdrawLink>, DbError>,
) -> Result<Option<(WithdrawLink, Vec<Withdrawal>)>, DbError> {
    let Some(l) = find(c)? else {
        return Ok(None);
    };
    let ws = Withdrawal::list_for_link(c, &l.id)?;
    Ok(Some((l, ws)))
}

/// A stored count (uses, seconds, attempts) as shown: never negative, so
/// the conversion cannot fail; 0 if a row ever held a negative one.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Whether `secret` has the shape of a link secret (32 hex characters);
/// anything else cannot match and is refused before hashing arbitrary input.
fn secret_shape_ok(secret: &str) -> bool {
    secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::secret_shape_ok;

    #[test]
    fn only_32_hex_digits_have_the_shape_of_a_secret() {
        assert!(secret_shape_ok("0123456789abcdefABCDEF0123456789"));
        // Hex but short, long, or empty; the right length but not hex.
        for s in [
            "abc",
            "0123456789abcdef0123456789abcdef0",
            "",
            "0123456789abcdef0123456789abcdeg",
        ] {
            assert!(!secret_shape_ok(s), "{s:?}");
        }
    }
}
