//! LNURL-pay rules (LUD-06) with Lightning Addresses (LUD-16), success
//! actions (LUD-09/10), comments (LUD-12), payer data (LUD-18), long
//! descriptions (LUD-20) and verify (LUD-21). DESIGN.md invariant 3: the
//! description hash of every invoice is sha256 of the exact metadata string
//! served (plus the payer data where LUD-18 applies), and its amount is the
//! requested one.
//! <https://github.com/lnurl/luds/blob/luds/06.md>

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::webhooks::{self, EventType};
use super::{now, rfc3339, Error, Services, MAX_AMOUNT_MSAT};
use crate::db::models::node_state::{self, SETTLE_INDEX};
use crate::db::models::{PayInvoice, PayLink};
use crate::db::{new_id, DbError};
use crate::lnurl;
use crate::lnurl::metadata::{ImageMime, Metadata};
use crate::lnurl::wire::{PayCallbackResponse, PayRequest, PayerDataSpec, SuccessAction};
use crate::node::{InvoiceRequest, InvoiceState, PaymentHash, Preimage, Settlement};

/// Longest username accepted.
pub const MAX_USERNAME_LEN: usize = 64;
/// Largest `comment_allowed` (whole GET URLs are practically ~2000 chars).
pub const MAX_COMMENT_ALLOWED: u32 = 1000;

/// A success action as the operator configures it. For `aes` the operator
/// gives the plaintext; each invoice gets it encrypted with its own preimage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// `png` or `jpeg`.
    pub mime: String,
    /// Base64 data.
    pub base64: String,
}

/// What an operator gives to create (or fully describe) a pay link.
#[derive(Debug, Clone, Default)]
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
    /// LUD-12 (0 = off).
    pub comment_allowed: u32,
    /// LUD-09/10.
    pub success_action: Option<SuccessActionConfig>,
    /// LUD-18.
    pub payer_data: Option<PayerDataSpec>,
    /// Webhook target.
    pub webhook_url: Option<String>,
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
}

/// A pay link as shown to the operator and the pages.
#[derive(Debug, Clone, Serialize)]
pub struct PayLinkView {
    /// Id.
    pub id: String,
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
    /// minSendable, msat.
    pub min_msat: u64,
    /// maxSendable, msat.
    pub max_msat: u64,
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
    /// `active` or `disabled`.
    pub status: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An issued invoice as shown to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct PayInvoiceView {
    /// Hex.
    pub payment_hash: String,
    /// BOLT11.
    pub bolt11: String,
    /// Requested amount, msat.
    pub amount_msat: u64,
    /// LUD-12 comment.
    pub comment: Option<String>,
    /// LUD-18 payer data (parsed JSON).
    pub payer_data: Option<serde_json::Value>,
    /// `open`, `settled` or `expired`.
    pub state: &'static str,
    /// Hex, once settled.
    pub preimage: Option<String>,
    /// msat, once settled.
    pub amount_paid_msat: Option<u64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339.
    pub settled_at: Option<String>,
}

impl PayInvoiceView {
    /// From a row, deriving `expired`.
    pub fn from_row(i: &PayInvoice, t: i64) -> PayInvoiceView {
        let state = match i.state.as_str() {
            "settled" => "settled",
            _ if i.expires_at <= t => "expired",
            _ => "open",
        };
        PayInvoiceView {
            payment_hash: i.payment_hash.clone(),
            bolt11: i.bolt11.clone(),
            amount_msat: i.amount_msat.max(0) as u64,
            comment: i.comment.clone(),
            payer_data: i
                .payer_data
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            state,
            preimage: i.preimage.clone(),
            amount_paid_msat: i.amount_paid_msat.map(|a| a.max(0) as u64),
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

fn image_mime(m: &str) -> Result<ImageMime, Error> {
    match m.to_ascii_lowercase().as_str() {
        "png" | "image/png" => Ok(ImageMime::Png),
        "jpeg" | "jpg" | "image/jpeg" => Ok(ImageMime::Jpeg),
        other => Err(Error::Invalid(format!(
            "image.mime {other:?} is not png or jpeg"
        ))),
    }
}

impl Services {
    fn pay_url(&self, id: &str) -> String {
        self.url(&format!("/lnurlp/{id}"))
    }

    /// `{public}/.well-known/lnurlp/{username}`.
    pub fn address_url(&self, username: &str) -> String {
        self.url(&format!("/.well-known/lnurlp/{username}"))
    }

    fn pay_view(&self, l: &PayLink) -> Result<PayLinkView, Error> {
        let url = self.pay_url(&l.id);
        let parsed = url::Url::parse(&url).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(PayLinkView {
            id: l.id.clone(),
            lnurl: lnurl::bech32::encode_upper(&url),
            lnurlp: lnurl::bech32::lud17(&parsed, lnurl::bech32::Lud17::Pay),
            lightning_address: l
                .username
                .as_ref()
                .map(|u| format!("{u}@{}", self.config.address_domain())),
            page_url: self.url(&format!("/p/{}", l.id)),
            qr_url: self.url(&format!("/qr/p/{}.svg", l.id)),
            url,
            min_msat: l.min_msat.max(0) as u64,
            max_msat: l.max_msat.max(0) as u64,
            description: l.description.clone(),
            long_description: l.long_description.clone(),
            username: l.username.clone(),
            comment_allowed: l.comment_allowed.clamp(0, u32::MAX as i64) as u32,
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
            status: if l.disabled_at.is_some() {
                "disabled"
            } else {
                "active"
            },
            created_at: rfc3339(l.created_at),
            updated_at: rfc3339(l.updated_at),
        })
    }

    /// Checks a spec and builds the row's derived columns (metadata).
    fn build_pay_row(
        &self,
        id: String,
        s: &PayLinkSpec,
        created_at: i64,
    ) -> Result<PayLink, Error> {
        if s.min_msat < 1 {
            return Err(Error::Invalid("min_msat must be at least 1".into()));
        }
        if s.max_msat < s.min_msat {
            return Err(Error::Invalid("max_msat must not be below min_msat".into()));
        }
        if s.max_msat > MAX_AMOUNT_MSAT {
            return Err(Error::Invalid("max_msat is too large".into()));
        }
        let description = s.description.trim();
        if description.is_empty() {
            return Err(Error::Invalid("description is required".into()));
        }
        if description.chars().count() > 1000 {
            return Err(Error::Invalid(
                "description must be at most 1000 characters".into(),
            ));
        }
        if let Some(l) = &s.long_description {
            if l.chars().count() > 10_000 {
                return Err(Error::Invalid(
                    "long_description must be at most 10000 characters".into(),
                ));
            }
        }
        if s.comment_allowed > MAX_COMMENT_ALLOWED {
            return Err(Error::Invalid(format!(
                "comment_allowed must be at most {MAX_COMMENT_ALLOWED}"
            )));
        }
        let username = s.username.as_deref().map(normalize_username).transpose()?;
        if let Some(w) = &s.webhook_url {
            self.validate_webhook_url(w)?;
        }
        if let Some(sa) = &s.success_action {
            let host = self
                .config
                .public_url()
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let probe = match sa {
                SuccessActionConfig::Message { message } => SuccessAction::Message {
                    message: message.clone(),
                },
                SuccessActionConfig::Url { description, url } => SuccessAction::Url {
                    description: description.clone(),
                    url: url.clone(),
                },
                SuccessActionConfig::Aes {
                    description,
                    plaintext,
                } => {
                    // Encrypt once with a throwaway key to check the size limit.
                    let (ciphertext, iv) = lnurl::aes::encrypt(&[0u8; 32], plaintext, [0u8; 16])
                        .map_err(|e| Error::Invalid(format!("success_action: {e}")))?;
                    SuccessAction::Aes {
                        description: description.clone(),
                        ciphertext,
                        iv,
                    }
                }
            };
            probe
                .validate(&host)
                .map_err(|e| Error::Invalid(format!("success_action: {e}")))?;
        }
        if let Some(pd) = &s.payer_data {
            if pd.auth.is_some() {
                return Err(Error::Invalid(
                    "payer_data.auth (LUD-18 auth) is not supported".into(),
                ));
            }
        }
        let mut meta = Metadata::new(description);
        if let Some(l) = &s.long_description {
            meta = meta.long_desc(l);
        }
        if let Some(img) = &s.image {
            meta = meta
                .image(image_mime(&img.mime)?, &img.base64)
                .map_err(|e| Error::Invalid(format!("image: {e}")))?;
        }
        if let Some(u) = &username {
            meta = meta.identifier(&format!("{u}@{}", self.config.address_domain()));
        }
        let success_action = s
            .success_action
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let payer_data = s
            .payer_data
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(PayLink {
            id,
            username,
            description: description.to_owned(),
            long_description: s.long_description.clone(),
            image_mime: s.image.as_ref().map(|i| i.mime.clone()),
            image_base64: s.image.as_ref().map(|i| i.base64.clone()),
            min_msat: s.min_msat as i64,
            max_msat: s.max_msat as i64,
            comment_allowed: s.comment_allowed as i64,
            success_action,
            payer_data,
            metadata: meta.to_json_string(),
            webhook_url: s.webhook_url.clone(),
            disabled_at: None,
            created_at,
            updated_at: now(),
        })
    }

    fn username_taken(e: DbError) -> Error {
        match e {
            DbError::Duplicate(_) => Error::Conflict("username is already taken".into()),
            other => other.into(),
        }
    }

    /// Creates a pay link (a Lightning Address when `username` is set).
    pub async fn create_pay_link(&self, s: PayLinkSpec) -> Result<PayLinkView, Error> {
        let row = self.build_pay_row(new_id("pl"), &s, now())?;
        let r = row.clone();
        self.db
            .run(move |c| r.insert(c))
            .await
            .map_err(Self::username_taken)?;
        self.pay_view(&row)
    }

    /// Applies a partial update; the metadata (and so every later invoice's
    /// description hash) is rebuilt as one new link version.
    pub async fn update_pay_link(&self, id: &str, p: PayLinkPatch) -> Result<PayLinkView, Error> {
        let i = id.to_owned();
        let cur = self
            .db
            .run(move |c| PayLink::find(c, &i))
            .await?
            .ok_or_else(|| Error::NotFound("pay link not found".into()))?;
        if cur.disabled_at.is_some() {
            return Err(Error::Conflict("pay link is disabled".into()));
        }
        let view = self.pay_view(&cur)?;
        let image = match (cur.image_mime.clone(), cur.image_base64.clone()) {
            (Some(mime), Some(base64)) => Some(ImageConfig { mime, base64 }),
            _ => None,
        };
        let s = PayLinkSpec {
            min_msat: p.min_msat.unwrap_or(view.min_msat),
            max_msat: p.max_msat.unwrap_or(view.max_msat),
            description: p.description.unwrap_or(view.description),
            long_description: p.long_description.unwrap_or(view.long_description),
            image: p.image.unwrap_or(image),
            username: p.username.unwrap_or(view.username),
            comment_allowed: p.comment_allowed.unwrap_or(view.comment_allowed),
            success_action: p.success_action.unwrap_or(view.success_action),
            payer_data: p.payer_data.unwrap_or(view.payer_data),
            webhook_url: p.webhook_url.unwrap_or(view.webhook_url),
        };
        let row = self.build_pay_row(cur.id.clone(), &s, cur.created_at)?;
        let r = row.clone();
        let saved = self
            .db
            .run(move |c| r.save_if_active(c))
            .await
            .map_err(Self::username_taken)?;
        if !saved {
            return Err(Error::Conflict("pay link is disabled".into()));
        }
        self.pay_view(&row)
    }

    /// Disables a pay link and frees its username; invoices are kept.
    pub async fn disable_pay_link(&self, id: &str) -> Result<PayLinkView, Error> {
        let i = id.to_owned();
        let t = now();
        let row = self
            .db
            .run(move |c| {
                PayLink::disable(c, &i, t)?;
                PayLink::find(c, &i)
            })
            .await?
            .ok_or_else(|| Error::NotFound("pay link not found".into()))?;
        self.pay_view(&row)
    }

    /// One pay link (also disabled ones; `status` tells).
    pub async fn get_pay_link(&self, id: &str) -> Result<PayLinkView, Error> {
        let i = id.to_owned();
        let l = self
            .db
            .run(move |c| PayLink::find(c, &i))
            .await?
            .ok_or_else(|| Error::NotFound("pay link not found".into()))?;
        self.pay_view(&l)
    }

    async fn active_pay_link(&self, id: &str) -> Result<PayLink, Error> {
        if id.is_empty() || id.len() > 64 {
            return Err(Error::NotFound("unknown pay link".into()));
        }
        let i = id.to_owned();
        match self.db.run(move |c| PayLink::find(c, &i)).await? {
            Some(l) if l.disabled_at.is_none() => Ok(l),
            _ => Err(Error::NotFound("unknown pay link".into())),
        }
    }

    async fn link_for_username(&self, username: &str) -> Result<PayLink, Error> {
        // LUD-16 tags: `user+tag` resolves `user`.
        let base = username.split('+').next().unwrap_or_default();
        let Ok(u) = normalize_username(base) else {
            return Err(Error::NotFound(format!("unknown user {username:?}")));
        };
        let lookup = u.clone();
        match self
            .db
            .run(move |c| PayLink::find_by_username(c, &lookup))
            .await?
        {
            Some(l) if l.disabled_at.is_none() => Ok(l),
            _ => Err(Error::NotFound(format!("unknown user {u:?}"))),
        }
    }

    /// The active pay link behind a Lightning Address username
    /// (case-insensitive; a `+tag` is ignored).
    pub async fn pay_link_by_username(&self, username: &str) -> Result<PayLinkView, Error> {
        let l = self.link_for_username(username).await?;
        self.pay_view(&l)
    }

    /// Pay links, newest first.
    pub async fn list_pay_links(
        &self,
        addresses_only: bool,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<PayLinkView>, Option<String>), Error> {
        let limit = super::page_limit(limit)?;
        let rows = self
            .db
            .run(move |c| {
                let cur = match cursor {
                    None => None,
                    Some(id) => match PayLink::find(c, &id)? {
                        Some(l) => Some((l.created_at, l.id)),
                        None => return Ok(None),
                    },
                };
                Ok(Some(PayLink::list(c, addresses_only, limit as i64, cur)?))
            })
            .await?
            .ok_or_else(|| Error::Invalid("cursor does not name a pay link".into()))?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|l| l.id.clone()))
            .flatten();
        let views = rows
            .iter()
            .map(|l| self.pay_view(l))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((views, next))
    }

    /// Invoices of a pay link, newest first; `cursor` is the last payment
    /// hash of the previous page.
    pub async fn list_pay_invoices(
        &self,
        link_id: &str,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<PayInvoiceView>, Option<String>), Error> {
        let limit = super::page_limit(limit)?;
        self.get_pay_link(link_id).await?;
        let id = link_id.to_owned();
        let rows = self
            .db
            .run(move |c| {
                let cur = match cursor {
                    None => None,
                    Some(h) => match PayInvoice::find(c, &h)? {
                        Some(i) if i.pay_link_id == id => Some((i.created_at, i.payment_hash)),
                        _ => return Ok(None),
                    },
                };
                Ok(Some(PayInvoice::list_for_link(c, &id, limit as i64, cur)?))
            })
            .await?
            .ok_or_else(|| Error::Invalid("cursor does not name an invoice of this link".into()))?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|i| i.payment_hash.clone()))
            .flatten();
        let t = now();
        Ok((
            rows.iter()
                .map(|i| PayInvoiceView::from_row(i, t))
                .collect(),
            next,
        ))
    }

    fn pay_request_of(&self, l: &PayLink) -> PayRequest {
        PayRequest {
            callback: format!("{}/callback", self.pay_url(&l.id)),
            min_sendable: l.min_msat.max(0) as u64,
            max_sendable: l.max_msat.max(0) as u64,
            metadata: l.metadata.clone(),
            comment_allowed: (l.comment_allowed > 0).then_some(l.comment_allowed as u32),
            payer_data: l
                .payer_data
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
        }
    }

    /// LUD-06 step 1 for `/lnurlp/{id}`.
    pub async fn pay_request(&self, id: &str) -> Result<PayRequest, Error> {
        let l = self.active_pay_link(id).await?;
        Ok(self.pay_request_of(&l))
    }

    /// LUD-16 step 1 for `/.well-known/lnurlp/{username}`.
    pub async fn address_pay_request(&self, username: &str) -> Result<PayRequest, Error> {
        let l = self.link_for_username(username).await?;
        Ok(self.pay_request_of(&l))
    }

    /// LUD-06 step 2: checks everything the payer sent, then asks the node
    /// for an invoice of exactly `amount` msat whose description hash is
    /// sha256(metadata [+ payerdata]). Nothing is written and the node is
    /// not called when a check fails.
    pub async fn pay_callback(
        &self,
        id: &str,
        amount: Option<&str>,
        comment: Option<&str>,
        payerdata: Option<&str>,
    ) -> Result<PayCallbackResponse, Error> {
        let l = self.active_pay_link(id).await?;
        let amount_msat = parse_amount(amount, l.min_msat.max(0) as u64, l.max_msat.max(0) as u64)?;

        let comment = comment.filter(|c| !c.is_empty());
        if let Some(c) = comment {
            if l.comment_allowed <= 0 {
                return Err(Error::Invalid("This link does not accept comments.".into()));
            }
            let n = c.chars().count();
            if n as i64 > l.comment_allowed {
                return Err(Error::Invalid(format!(
                    "Comment is too long: {n} characters, at most {} allowed.",
                    l.comment_allowed
                )));
            }
        }

        let spec: Option<PayerDataSpec> = l
            .payer_data
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        // LUD-18: hash metadata + payerdata only when payerData was offered
        // and the wallet sent it; otherwise the bare metadata.
        let payerdata = match (&spec, payerdata.filter(|p| !p.is_empty())) {
            (Some(spec), Some(pd)) => {
                if pd.len() > 4096 {
                    return Err(Error::Invalid("payerdata is too long".into()));
                }
                lnurl::check_payer_data(spec, pd)?;
                Some(pd)
            }
            (Some(spec), None) => {
                lnurl::check_payer_data(spec, "{}")?;
                None
            }
            (None, _) => None,
        };
        let description_hash = lnurl::description_hash(&l.metadata, payerdata);

        let action: Option<SuccessActionConfig> = l
            .success_action
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let preimage = match action {
            Some(SuccessActionConfig::Aes { .. }) => {
                let mut p = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut p);
                Some(Preimage(p))
            }
            _ => None,
        };
        let expiry_secs = self.config.pay.invoice_expiry_secs;
        let created = self
            .node
            .create_invoice(InvoiceRequest {
                amount_msat,
                description_hash,
                expiry_secs,
                preimage,
            })
            .await?;
        let success_action = match action {
            None => None,
            Some(SuccessActionConfig::Message { message }) => {
                Some(SuccessAction::Message { message })
            }
            Some(SuccessActionConfig::Url { description, url }) => {
                Some(SuccessAction::Url { description, url })
            }
            Some(SuccessActionConfig::Aes {
                description,
                plaintext,
            }) => {
                let p = preimage.ok_or_else(|| Error::Internal("aes without preimage".into()))?;
                let mut iv = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut iv);
                let (ciphertext, iv) = lnurl::aes::encrypt(&p.0, &plaintext, iv)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Some(SuccessAction::Aes {
                    description,
                    ciphertext,
                    iv,
                })
            }
        };
        let t = now();
        let hash = created.payment_hash.to_hex();
        let row = PayInvoice {
            payment_hash: hash.clone(),
            pay_link_id: l.id.clone(),
            bolt11: created.bolt11.clone(),
            amount_msat: amount_msat as i64,
            comment: comment.map(str::to_owned),
            payer_data: payerdata.map(str::to_owned),
            state: "open".into(),
            preimage: None,
            amount_paid_msat: None,
            settle_index: None,
            expires_at: t + expiry_secs as i64,
            created_at: t,
            settled_at: None,
        };
        self.db.run(move |c| row.insert(c)).await?;
        Ok(PayCallbackResponse {
            pr: created.bolt11,
            routes: Vec::new(),
            success_action,
            disposable: Some(false),
            verify: Some(self.url(&format!("/lnurlp/verify/{hash}"))),
        })
    }

    /// LUD-21 verify. Asks the node when the database still says open, so
    /// the answer is right even before the watcher has caught up.
    pub async fn verify_invoice(
        &self,
        payment_hash: &str,
    ) -> Result<lnurl::wire::VerifyResponse, Error> {
        let Some(hash) = PaymentHash::from_hex(payment_hash) else {
            return Err(Error::NotFound("Not found".into()));
        };
        let h = hash.to_hex();
        let inv = self
            .db
            .run(move |c| PayInvoice::find(c, &h))
            .await?
            .ok_or_else(|| Error::NotFound("Not found".into()))?;
        if inv.state == "settled" {
            return Ok(lnurl::wire::VerifyResponse {
                settled: true,
                preimage: inv.preimage,
                pr: inv.bolt11,
            });
        }
        if let Some(st) = self.node.invoice(hash).await? {
            if st.state == InvoiceState::Settled {
                if let Some(p) = st.preimage {
                    self.record_settlement(&Settlement {
                        payment_hash: hash,
                        preimage: p,
                        amount_paid_msat: st.amount_paid_msat,
                        settle_index: st.settle_index,
                        settled_at: st.settled_at,
                    })
                    .await?;
                    return Ok(lnurl::wire::VerifyResponse {
                        settled: true,
                        preimage: Some(p.to_hex()),
                        pr: inv.bolt11,
                    });
                }
            }
        }
        Ok(lnurl::wire::VerifyResponse {
            settled: false,
            preimage: None,
            pr: inv.bolt11,
        })
    }

    /// Records one settlement and raises the stored settle index, in one
    /// transaction. Idempotent: returns whether this call settled the invoice.
    pub async fn record_settlement(&self, s: &Settlement) -> Result<bool, Error> {
        let (hash, pre, paid, idx, at) = (
            s.payment_hash.to_hex(),
            s.preimage.to_hex(),
            s.amount_paid_msat.min(i64::MAX as u64) as i64,
            s.settle_index.min(i64::MAX as u64) as i64,
            if s.settled_at > 0 {
                s.settled_at
            } else {
                now()
            },
        );
        let ob = self.outbox();
        let changed = self
            .db
            .transaction(move |c| {
                // Write first (SQLite takes the write lock before reading).
                let changed = PayInvoice::mark_settled(c, &hash, &pre, paid, idx, at)?;
                if idx > 0 {
                    node_state::raise(c, SETTLE_INDEX, idx)?;
                }
                // invoice.settled in the same transaction, written once.
                if changed {
                    webhooks::invoice_event(c, &ob, EventType::InvoiceSettled, &hash, now())?;
                }
                Ok(changed)
            })
            .await?;
        if changed {
            self.wake_webhooks();
            self.metrics.incr("lnurld_invoices_settled_total");
            tracing::info!(payment_hash = %s.payment_hash, amount_msat = s.amount_paid_msat, "invoice settled");
        }
        Ok(changed)
    }

    /// Marks open invoices past their expiry as expired and writes
    /// `invoice.expired`, one transaction each. Asks the node first, so a
    /// settlement the watcher has not recorded yet is recorded instead.
    pub async fn expire_invoices(&self) -> Result<usize, Error> {
        let t = now();
        let due = self
            .db
            .run(move |c| PayInvoice::due_for_expiry(c, t, 50))
            .await?;
        let mut expired = 0;
        for inv in due {
            if let Some(hash) = PaymentHash::from_hex(&inv.payment_hash) {
                match self.node.invoice(hash).await {
                    Ok(Some(st)) if st.state == InvoiceState::Settled => {
                        if let Some(p) = st.preimage {
                            self.record_settlement(&Settlement {
                                payment_hash: hash,
                                preimage: p,
                                amount_paid_msat: st.amount_paid_msat,
                                settle_index: st.settle_index,
                                settled_at: st.settled_at,
                            })
                            .await?;
                            continue;
                        }
                    }
                    // Held HTLCs may still settle: look again later.
                    Ok(Some(st)) if st.state == InvoiceState::Accepted => continue,
                    Ok(_) => {}
                    // Cannot tell now; the next sweep tries again.
                    Err(e) => return Err(e.into()),
                }
            }
            let (h, ob, t) = (inv.payment_hash.clone(), self.outbox(), now());
            let changed = self
                .db
                .transaction(move |c| {
                    let changed = PayInvoice::mark_expired(c, &h, t)?;
                    if changed {
                        webhooks::invoice_event(c, &ob, EventType::InvoiceExpired, &h, t)?;
                    }
                    Ok(changed)
                })
                .await?;
            if changed {
                expired += 1;
            }
        }
        if expired > 0 {
            self.wake_webhooks();
        }
        Ok(expired)
    }

    /// The highest settle index recorded.
    pub async fn stored_settle_index(&self) -> Result<u64, Error> {
        Ok(self
            .db
            .run(|c| node_state::get(c, SETTLE_INDEX))
            .await?
            .max(0) as u64)
    }

    /// Asks the node about every open invoice that has not long expired and
    /// records those it says are settled. Covers what a settlement stream
    /// cannot replay (lnd replays nothing from index 0).
    pub async fn reconcile_open_invoices(&self) -> Result<usize, Error> {
        let since = now() - 86_400;
        let open = self
            .db
            .run(move |c| PayInvoice::open_since(c, since, 10_000))
            .await?;
        let mut settled = 0;
        for inv in open {
            let Some(hash) = PaymentHash::from_hex(&inv.payment_hash) else {
                continue;
            };
            if let Some(st) = self.node.invoice(hash).await? {
                if let (InvoiceState::Settled, Some(p)) = (st.state, st.preimage) {
                    let s = Settlement {
                        payment_hash: hash,
                        preimage: p,
                        amount_paid_msat: st.amount_paid_msat,
                        settle_index: st.settle_index,
                        settled_at: st.settled_at,
                    };
                    if self.record_settlement(&s).await? {
                        settled += 1;
                    }
                }
            }
        }
        Ok(settled)
    }
}

/// LUD-06 `amount`: a whole number of msat within the link's bounds.
fn parse_amount(amount: Option<&str>, min: u64, max: u64) -> Result<u64, Error> {
    let a = amount
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Invalid("Missing amount parameter (millisatoshis).".into()))?;
    if !a.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid(format!(
            "Amount {a:?} is not a whole number of millisatoshis."
        )));
    }
    let n: u64 = match a.parse() {
        Ok(n) => n,
        Err(_) => {
            return Err(Error::Invalid(format!(
                "Amount is above the maximum of {max} millisatoshis."
            )))
        }
    };
    if n < min {
        return Err(Error::Invalid(format!(
            "Amount {n} is below the minimum of {min} millisatoshis."
        )));
    }
    if n > max {
        return Err(Error::Invalid(format!(
            "Amount {n} is above the maximum of {max} millisatoshis."
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_msat_within_bounds() {
        assert_eq!(
            parse_amount(Some("1000"), 1000, 2000).expect("test input is valid"),
            1000
        );
        for bad in [
            "",
            "0",
            "999",
            "2001",
            "1e3",
            "1000.0",
            "-1000",
            "+1000",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(parse_amount(Some(bad), 1000, 2000).is_err(), "{bad}");
        }
        assert!(parse_amount(None, 1, 2).is_err());
    }

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
