//! LNURL-pay rules (LUD-06) with Lightning Addresses (LUD-16), success
//! actions (LUD-09/10), comments (LUD-12), payer data (LUD-18), long
//! descriptions (LUD-20) and verify (LUD-21). DESIGN.md invariant 3: the
//! description hash of every invoice is sha256 of the exact metadata string
//! served (plus the payer data where LUD-18 applies), and its amount is the
//! requested one.
//! <https://github.com/lnurl/luds/blob/luds/06.md>
//!
//! Service layer: imports `lnurl`, `db`, `node`, [`crate::webhook_target`]
//! (a link's `webhook_url`) and the outbox of `service::webhooks` (never
//! the other way round).
//!
//! - `mod.rs`: what the operator gives (spec, patch) and sees (views); the
//!   [`PayService`] handle with the URLs and Lightning Addresses it hands
//!   out;
//! - `links.rs`: pay-link management, checks and metadata, lookups by id
//!   and username;
//! - `wallet.rs`: the wallet's protocol (pay request, callback, verify);
//! - `settlement.rs`: recording settlements, reconciling with the node,
//!   expiring unpaid invoices.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cache::RowCache;
use super::webhooks::Outbox;
use super::zaps::ZapOutbox;
use super::{rfc3339, Base, Error};
use crate::db::models::{PayInvoice, PayLink, ZapPublication};
use crate::db::types::{InvoiceStatus, Msat, PayLinkId, PayLinkStatus, ZapPublicationState};
use crate::db::Db;
use crate::lnurl;
use crate::lnurl::wire::PayerDataSpec;
use crate::metrics::Metrics;
use crate::node::LightningNode;
use crate::paths::{self, QrFormat};

mod links;
mod settlement;
mod wallet;

/// Longest username accepted.
pub const MAX_USERNAME_LEN: usize = 64;
/// Largest `comment_allowed` (whole GET URLs are practically ~2000 chars).
pub const MAX_COMMENT_ALLOWED: u32 = 1000;

/// A success action as the operator configures it. For `aes` the operator
/// gives the plaintext; each invoice gets it encrypted with its own preimage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "tag", rename_all = "lowercase", deny_unknown_fields)]
pub enum SuccessActionConfig {
    /// LUD-09 message.
    Message {
        /// ≤ 144 characters.
        message: String,
    },
    /// LUD-09 url (same domain as the callback).
    Url {
        /// ≤ 144 characters.
        description: String,
        /// http(s) URL on the public host.
        url: String,
    },
    /// LUD-10 aes.
    Aes {
        /// ≤ 144 characters.
        description: String,
        /// The secret text revealed after payment.
        plaintext: String,
    },
}

/// Image for the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// `png` or `jpeg`.
    pub mime: String,
    /// Base64 data.
    pub base64: String,
}

/// What an operator gives to create (or fully describe) a pay link; also
/// the body of `POST /api/v1/pay-links`, so it refuses unknown fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
// What serde says it expected on a body of the wrong type, as the admin
// API has always said it.
#[serde(deny_unknown_fields, expecting = "struct CreateBody")]
pub struct PayLinkSpec {
    /// minSendable, msat.
    pub min_msat: u64,
    /// maxSendable, msat.
    pub max_msat: u64,
    /// `text/plain`.
    pub description: String,
    /// LUD-20.
    pub long_description: Option<String>,
    /// Metadata image.
    pub image: Option<ImageConfig>,
    /// LUD-16 username.
    pub username: Option<String>,
    /// LUD-12 (0 = off; absent or `null` in JSON means 0).
    #[serde(default, deserialize_with = "zero_if_null")]
    pub comment_allowed: u32,
    /// LUD-09/10.
    pub success_action: Option<SuccessActionConfig>,
    /// LUD-18.
    pub payer_data: Option<PayerDataSpec>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// NIP-57: take zaps on this link while `[nostr] enabled = true`
    /// (absent: `true`).
    pub allows_nostr: Option<bool>,
}

/// `null` reads as 0, as an absent field does.
fn zero_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(0))
}

/// A partial update; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct PayLinkPatch {
    /// See [`PayLinkSpec`].
    pub min_msat: Option<u64>,
    /// See [`PayLinkSpec`].
    pub max_msat: Option<u64>,
    /// See [`PayLinkSpec`].
    pub description: Option<String>,
    /// See [`PayLinkSpec`].
    pub long_description: Option<Option<String>>,
    /// See [`PayLinkSpec`].
    pub image: Option<Option<ImageConfig>>,
    /// See [`PayLinkSpec`].
    pub username: Option<Option<String>>,
    /// See [`PayLinkSpec`].
    pub comment_allowed: Option<u32>,
    /// See [`PayLinkSpec`].
    pub success_action: Option<Option<SuccessActionConfig>>,
    /// See [`PayLinkSpec`].
    pub payer_data: Option<Option<PayerDataSpec>>,
    /// See [`PayLinkSpec`].
    pub webhook_url: Option<Option<String>>,
    /// See [`PayLinkSpec`].
    pub allows_nostr: Option<bool>,
}

/// A pay link as shown to the operator and the pages (and, deserialized,
/// as clients such as the tests read it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayLinkView {
    /// Id.
    pub id: PayLinkId,
    /// Bech32 LNURL of `url`, uppercase (QR form).
    pub lnurl: String,
    /// `{public}/lnurlp/{id}`.
    pub url: String,
    /// LUD-17 `lnurlp://` form.
    pub lnurlp: String,
    /// `username@domain` when it has a username.
    pub lightning_address: Option<String>,
    /// HTML page.
    pub page_url: String,
    /// QR image (SVG).
    pub qr_url: String,
    /// minSendable.
    pub min_msat: Msat,
    /// maxSendable.
    pub max_msat: Msat,
    /// `text/plain`.
    pub description: String,
    /// LUD-20.
    pub long_description: Option<String>,
    /// LUD-16 username.
    pub username: Option<String>,
    /// LUD-12.
    pub comment_allowed: u32,
    /// LUD-09/10 as configured.
    pub success_action: Option<SuccessActionConfig>,
    /// LUD-18 spec.
    pub payer_data: Option<PayerDataSpec>,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// The exact metadata string served.
    pub metadata: String,
    /// NIP-57: whether the link takes zaps (advertised only while `[nostr]
    /// enabled = true`).
    pub allows_nostr: bool,
    /// `active` or `disabled`.
    pub status: PayLinkStatus,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// An issued invoice as shown to the operator (and, deserialized, as
/// clients such as the tests read it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayInvoiceView {
    /// Hex.
    pub payment_hash: String,
    /// BOLT11.
    pub bolt11: String,
    /// Requested amount.
    pub amount_msat: Msat,
    /// LUD-12 comment.
    pub comment: Option<String>,
    /// LUD-18 payer data (parsed JSON).
    pub payer_data: Option<serde_json::Value>,
    /// `open`, `settled` or `expired`.
    pub state: InvoiceStatus,
    /// Hex, once settled.
    pub preimage: Option<String>,
    /// Received, once settled.
    pub amount_paid_msat: Option<Msat>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub settled_at: Option<String>,
    /// NIP-57: the zap this invoice was for, with its receipt's publishing
    /// state per relay.
    pub zap: Option<ZapView>,
}

/// A zap (NIP-57) as the operator sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZapView {
    /// Sender, recipient, zapped event, receipt id.
    #[serde(flatten)]
    pub summary: lnurl::zap::ZapSummary,
    /// The zap request (kind 9734) exactly as received; the invoice's
    /// description hash is its sha256.
    pub request: String,
    /// The signed receipt (kind 9735), once paid.
    pub receipt: Option<serde_json::Value>,
    /// Publishing of the receipt, one entry per relay (empty until paid).
    pub relays: Vec<ZapRelayView>,
}

/// The receipt's publishing at one relay.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZapRelayView {
    /// The relay URL.
    pub relay: String,
    /// `pending`, `published` or `failed`.
    pub state: ZapPublicationState,
    /// Attempts made.
    pub attempts: i64,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// RFC 3339, while pending.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// RFC 3339, when the relay accepted it.
    #[schema(format = DateTime)]
    pub published_at: Option<String>,
}

impl PayInvoiceView {
    /// From a row, deriving `expired`; `publications` may hold other
    /// invoices' rows too.
    pub fn from_row(i: &PayInvoice, t: i64, publications: &[ZapPublication]) -> PayInvoiceView {
        let state = i.status(t);
        let zap = i.zap_request.as_deref().map(|request| ZapView {
            summary: lnurl::zap::summary(request, i.zap_receipt.as_deref()).unwrap_or(
                lnurl::zap::ZapSummary {
                    sender: String::new(),
                    recipient: String::new(),
                    event_id: None,
                    receipt_id: None,
                },
            ),
            request: request.to_owned(),
            receipt: i
                .zap_receipt
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            relays: publications
                .iter()
                .filter(|p| p.payment_hash == i.payment_hash)
                .map(|p| ZapRelayView {
                    relay: p.relay.clone(),
                    state: p.state,
                    attempts: p.attempts,
                    last_error: p.last_error.clone(),
                    next_attempt_at: (p.state == ZapPublicationState::Pending)
                        .then(|| rfc3339(p.next_attempt_at)),
                    published_at: p.published_at.map(rfc3339),
                })
                .collect(),
        });
        PayInvoiceView {
            zap,
            payment_hash: i.payment_hash.clone(),
            bolt11: i.bolt11.clone(),
            amount_msat: i.amount_msat,
            comment: i.comment.clone(),
            payer_data: i
                .payer_data
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            state,
            preimage: i.preimage.clone(),
            amount_paid_msat: i.amount_paid_msat,
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
            settled_at: i.settled_at.map(rfc3339),
        }
    }
}

/// Normalises and checks a LUD-16 username: lowercased, `a-z0-9-_.` only.
pub fn normalize_username(u: &str) -> Result<String, Error> {
    let u = u.trim().to_ascii_lowercase();
    if u.is_empty() || u.len() > MAX_USERNAME_LEN {
        return Err(Error::Invalid(format!(
            "username must be 1 to {MAX_USERNAME_LEN} characters"
        )));
    }
    if let Some(bad) = u
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(Error::Invalid(format!(
            "username may contain only a-z, 0-9, '-', '_' and '.' (LUD-16); {bad:?} is not allowed"
        )));
    }
    Ok(u)
}

/// The pay handle: pay links, Lightning Addresses, invoices, settlement.
/// Holds only what these need; built once by [`Services::new`](super::Services::new).
pub struct PayService {
    db: Db,
    node: Arc<dyn LightningNode>,
    metrics: Arc<Metrics>,
    /// Where `invoice.settled`/`invoice.expired` are written, and the wake
    /// of the delivery worker.
    outbox: Outbox,
    /// `public_url`, the prefix of every URL handed out.
    public_url: String,
    /// Host of `public_url`: LUD-09 url actions must point there.
    public_host: String,
    /// Domain of Lightning Addresses.
    address_domain: String,
    /// `[pay] invoice_expiry_secs`.
    invoice_expiry_secs: u32,
    /// `[pay] max_open_invoices_per_link` (0 = no cap).
    max_open_invoices_per_link: i64,
    /// The node's pubkey: invoices are recorded as its, and only its
    /// invoices are looked up on it (invariant 7).
    node_pubkey: String,
    /// Link rows for `payRequest`, by `id:` and `user:` key (see
    /// [`RowCache`]); every change to a pay link here forgets them all.
    first_steps: RowCache<PayLink>,
    /// NIP-57: the server's Nostr key, the relay guard, and where receipts
    /// are written.
    zaps: ZapOutbox,
}

impl PayService {
    /// Built once by [`Services::new`](super::Services::new).
    pub(crate) fn new(base: &Base, outbox: Outbox, zaps: ZapOutbox) -> PayService {
        let config = &base.config;
        PayService {
            db: base.db.clone(),
            node: base.node.clone(),
            metrics: base.metrics.clone(),
            outbox,
            public_url: config.public_url.clone(),
            public_host: config
                .public_url()
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default(),
            address_domain: config.address_domain(),
            invoice_expiry_secs: config.pay.invoice_expiry_secs,
            max_open_invoices_per_link: i64::from(config.pay.max_open_invoices_per_link),
            node_pubkey: base.node_pubkey.clone(),
            first_steps: RowCache::new(config.first_step_cache()),
            zaps,
        }
    }

    /// `public_url` + `path` (path starts with `/`).
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.public_url, path)
    }

    fn pay_url(&self, id: &PayLinkId) -> String {
        self.url(&paths::lnurlp(id.as_str()))
    }

    /// The Lightning Address of `username` on this server.
    pub fn lightning_address(&self, username: &str) -> String {
        format!("{username}@{}", self.address_domain)
    }

    /// The uppercase LNURL of a Lightning Address: LUD-16's
    /// `{public_url}/.well-known/lnurlp/{username}`, bech32-encoded (LUD-01),
    /// so wallets that do not know addresses can still scan it.
    pub fn address_lnurl(&self, username: &str) -> String {
        lnurl::bech32::encode_upper(&self.url(&paths::well_known_lnurlp(username)))
    }

    fn pay_view(&self, l: &PayLink) -> Result<PayLinkView, Error> {
        let url = self.pay_url(&l.id);
        let parsed = url::Url::parse(&url).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(PayLinkView {
            id: l.id.clone(),
            lnurl: lnurl::bech32::encode_upper(&url),
            lnurlp: lnurl::bech32::lud17(&parsed, lnurl::bech32::Lud17::Pay),
            lightning_address: l.username.as_deref().map(|u| self.lightning_address(u)),
            page_url: self.url(&paths::pay_page(l.id.as_str())),
            qr_url: self.url(&paths::qr_pay(l.id.as_str(), QrFormat::Svg)),
            url,
            min_msat: l.min_msat,
            max_msat: l.max_msat,
            description: l.description.clone(),
            long_description: l.long_description.clone(),
            username: l.username.clone(),
            comment_allowed: l.comment_chars(),
            success_action: l
                .success_action
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            payer_data: l
                .payer_data
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            webhook_url: l.webhook_url.clone(),
            metadata: l.metadata.clone(),
            allows_nostr: l.allows_nostr,
            status: l.status(),
            created_at: rfc3339(l.created_at),
            updated_at: rfc3339(l.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_lud16() {
        assert_eq!(
            normalize_username("Alice").expect("test input is valid"),
            "alice"
        );
        assert_eq!(
            normalize_username("a.b-c_9").expect("test input is valid"),
            "a.b-c_9"
        );
        for bad in ["", "al ice", "alice+tag", "ålice", "a/b", "a@b"] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
    }
}
