//! Pay-link management: create, update, disable, get and list pay links
//! and their invoices; the checks of a spec and the metadata it yields
//! (DESIGN.md invariant 3); the lookups by id and by LUD-16 username that
//! the wallet routes share. Service layer: imports `lnurl` (metadata,
//! success actions) and `db`.

use super::{
    normalize_username, ImageConfig, PayInvoiceView, PayLinkPatch, PayLinkSpec, PayLinkView,
    PayService, SuccessActionConfig, MAX_COMMENT_ALLOWED,
};
use std::sync::Arc;

use crate::db::models::{PayInvoice, PayLink, ZapPublication};
use crate::db::types::{Msat, PayLinkId, PayLinkStatus};
use crate::db::DbError;
use crate::lnurl;
use crate::lnurl::metadata::{ImageMime, Metadata};
use crate::lnurl::wire::SuccessAction;
use crate::service::{found, keyset_page, now, page_limit, Error, MAX_AMOUNT_MSAT};
use crate::text::{self, Rule};

/// The rules of a pay link's text fields (lengths of the text ones are
/// checked below with their own messages; these catch control characters
/// and bound the rest).
const DESCRIPTION: Rule = Rule::multiline(1000);
const LONG_DESCRIPTION: Rule = Rule::multiline(10_000);
const USERNAME: Rule = Rule::line(super::MAX_USERNAME_LEN);
const IMAGE_MIME: Rule = Rule::line(32);
/// The JSON body limit bounds it; only its characters are checked here.
const IMAGE_BASE64: Rule = Rule::line(256 * 1024);
/// LUD-09: ≤ 144 characters (`validate` says so in its own words).
const ACTION_TEXT: Rule = Rule::multiline(144);
const ACTION_DESCRIPTION: Rule = Rule::line(144);
const URL: Rule = Rule::line(2048);
/// LUD-10's size limit is checked by encrypting it.
const ACTION_PLAINTEXT: Rule = Rule::multiline(4096);

/// Every string of a spec is text of its kind ([`crate::text`]), before
/// anything else is looked at.
fn check_text(s: &PayLinkSpec) -> Result<(), Error> {
    text::check("description", &s.description, DESCRIPTION)?;
    if let Some(l) = &s.long_description {
        text::check("long_description", l, LONG_DESCRIPTION)?;
    }
    if let Some(i) = &s.image {
        text::check("image.mime", &i.mime, IMAGE_MIME)?;
        text::check("image.base64", &i.base64, IMAGE_BASE64)?;
    }
    if let Some(u) = &s.username {
        text::check("username", u, USERNAME)?;
    }
    if let Some(w) = &s.webhook_url {
        text::check("webhook_url", w, URL)?;
    }
    match &s.success_action {
        None => {}
        Some(SuccessActionConfig::Message { message }) => {
            text::check("success_action.message", message, ACTION_TEXT)?;
        }
        Some(SuccessActionConfig::Url { description, url }) => {
            text::check(
                "success_action.description",
                description,
                ACTION_DESCRIPTION,
            )?;
            text::check("success_action.url", url, URL)?;
        }
        Some(SuccessActionConfig::Aes {
            description,
            plaintext,
        }) => {
            text::check(
                "success_action.description",
                description,
                ACTION_DESCRIPTION,
            )?;
            text::check("success_action.plaintext", plaintext, ACTION_PLAINTEXT)?;
        }
    }
    Ok(())
}

/// What the admin API answers for an unknown pay link id.
const PAY_LINK_NOT_FOUND: &str = "pay link not found";

fn image_mime(m: &str) -> Result<ImageMime, Error> {
    match m.to_ascii_lowercase().as_str() {
        "png" | "image/png" => Ok(ImageMime::Png),
        "jpeg" | "jpg" | "image/jpeg" => Ok(ImageMime::Jpeg),
        other => Err(Error::Invalid(format!(
            "image.mime {other:?} is not png or jpeg"
        ))),
    }
}

/// An optional spec field as its stored JSON text.
fn stored_json(v: Option<&impl serde::Serialize>) -> Result<Option<String>, Error> {
    v.map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The checks of a spec that need nothing else, in the order their errors
/// are reported; returns the trimmed description.
fn check_limits(s: &PayLinkSpec) -> Result<&str, Error> {
    check_text(s)?;
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
    Ok(description)
}

impl PayService {
    /// Checks a spec and builds the row's derived columns (metadata).
    fn build_pay_row(
        &self,
        id: PayLinkId,
        s: &PayLinkSpec,
        created_at: i64,
    ) -> Result<PayLink, Error> {
        let description = check_limits(s)?;
        let username = s.username.as_deref().map(normalize_username).transpose()?;
        if let Some(w) = &s.webhook_url {
            self.outbox.check_link_url(w)?;
        }
        if let Some(sa) = &s.success_action {
            self.check_success_action(sa)?;
        }
        if let Some(pd) = &s.payer_data {
            if pd.auth.is_some() {
                return Err(Error::Invalid(
                    "payer_data.auth (LUD-18 auth) is not supported".into(),
                ));
            }
        }
        let metadata = self.metadata_of(description, s, username.as_deref())?;
        // Within MAX_AMOUNT_MSAT (checked above), so both fit a column.
        let (min_msat, max_msat) = Msat::new(s.min_msat)
            .zip(Msat::new(s.max_msat))
            .ok_or_else(|| Error::Invalid("max_msat is too large".into()))?;
        let success_action = stored_json(s.success_action.as_ref())?;
        let payer_data = stored_json(s.payer_data.as_ref())?;
        Ok(PayLink {
            id,
            username,
            description: description.to_owned(),
            long_description: s.long_description.clone(),
            image_mime: s.image.as_ref().map(|i| i.mime.clone()),
            image_base64: s.image.as_ref().map(|i| i.base64.clone()),
            min_msat,
            max_msat,
            comment_allowed: i64::from(s.comment_allowed),
            success_action,
            payer_data,
            metadata,
            webhook_url: s.webhook_url.clone(),
            allows_nostr: s.allows_nostr.unwrap_or(true),
            disabled_at: None,
            created_at,
            updated_at: now(),
        })
    }

    /// Checks a configured success action as a wallet would see it (LUD-09
    /// url on the public host, LUD-10 within the size limit).
    fn check_success_action(&self, sa: &SuccessActionConfig) -> Result<(), Error> {
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
            .validate(&self.public_host)
            .map_err(|e| Error::Invalid(format!("success_action: {e}")))
    }

    /// The exact metadata string served, whose sha256 every invoice of the
    /// link commits to (DESIGN.md invariant 3).
    fn metadata_of(
        &self,
        description: &str,
        s: &PayLinkSpec,
        username: Option<&str>,
    ) -> Result<String, Error> {
        let mut meta = Metadata::new(description);
        if let Some(l) = &s.long_description {
            meta = meta.long_desc(l);
        }
        if let Some(img) = &s.image {
            meta = meta
                .image(image_mime(&img.mime)?, &img.base64)
                .map_err(|e| Error::Invalid(format!("image: {e}")))?;
        }
        if let Some(u) = username {
            meta = meta.identifier(&self.lightning_address(u));
        }
        Ok(meta.to_json_string())
    }

    fn username_taken(e: DbError) -> Error {
        match e {
            DbError::Duplicate(_) => Error::Conflict("username is already taken".into()),
            other => other.into(),
        }
    }

    /// Creates a pay link (a Lightning Address when `username` is set).
    pub async fn create_pay_link(&self, s: PayLinkSpec) -> Result<PayLinkView, Error> {
        let row = self.build_pay_row(PayLinkId::generate(), &s, now())?;
        let r = row.clone();
        // A username may have been served as another link's a moment ago.
        let forget = self.first_steps.forget_all_after();
        let inserted = self
            .db
            .transaction_or(move |c| -> Result<(), Error> {
                r.insert(c).map_err(Self::username_taken)?;
                // Usernames are shared with offline wallets (issue 14).
                if let Some(u) = &r.username {
                    crate::service::offline::name_free_for_pay_link(c, u, now())?;
                }
                Ok(())
            })
            .await;
        drop(forget);
        inserted?;
        self.pay_view(&row)
    }

    /// Applies a partial update; the metadata (and so every later invoice's
    /// description hash) is rebuilt as one new link version.
    pub async fn update_pay_link(
        &self,
        id: &PayLinkId,
        p: PayLinkPatch,
    ) -> Result<PayLinkView, Error> {
        let cur = self.find_pay_link(id).await?;
        if cur.status() == PayLinkStatus::Disabled {
            return Err(Error::Conflict("pay link is disabled".into()));
        }
        let view = self.pay_view(&cur)?;
        let image = match (cur.image_mime.clone(), cur.image_base64.clone()) {
            (Some(mime), Some(base64)) => Some(ImageConfig { mime, base64 }),
            _ => None,
        };
        let s = PayLinkSpec {
            min_msat: p.min_msat.unwrap_or(view.min_msat.get()),
            max_msat: p.max_msat.unwrap_or(view.max_msat.get()),
            description: p.description.unwrap_or(view.description),
            long_description: p.long_description.unwrap_or(view.long_description),
            image: p.image.unwrap_or(image),
            username: p.username.unwrap_or(view.username),
            comment_allowed: p.comment_allowed.unwrap_or(view.comment_allowed),
            success_action: p.success_action.unwrap_or(view.success_action),
            payer_data: p.payer_data.unwrap_or(view.payer_data),
            webhook_url: p.webhook_url.unwrap_or(view.webhook_url),
            allows_nostr: Some(p.allows_nostr.unwrap_or(view.allows_nostr)),
        };
        let row = self.build_pay_row(cur.id.clone(), &s, cur.created_at)?;
        let r = row.clone();
        let forget = self.first_steps.forget_all_after();
        let saved = self
            .db
            .transaction_or(move |c| -> Result<bool, Error> {
                let saved = r.save_if_active(c).map_err(Self::username_taken)?;
                if let (true, Some(u)) = (saved, &r.username) {
                    crate::service::offline::name_free_for_pay_link(c, u, now())?;
                }
                Ok(saved)
            })
            .await;
        drop(forget);
        let saved = saved?;
        if !saved {
            return Err(Error::Conflict("pay link is disabled".into()));
        }
        self.pay_view(&row)
    }

    /// Disables a pay link and frees its username; invoices are kept.
    pub async fn disable_pay_link(&self, id: &PayLinkId) -> Result<PayLinkView, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound(PAY_LINK_NOT_FOUND.into()));
        }
        let i = id.to_owned();
        let t = now();
        let forget = self.first_steps.forget_all_after();
        let row = self
            .db
            .write(move |c| {
                PayLink::disable(c, &i, t)?;
                PayLink::find(c, &i)
            })
            .await;
        drop(forget);
        let row = row?.ok_or_else(|| Error::NotFound(PAY_LINK_NOT_FOUND.into()))?;
        self.pay_view(&row)
    }

    /// One pay link (also disabled ones; `status` tells).
    pub async fn get_pay_link(&self, id: &PayLinkId) -> Result<PayLinkView, Error> {
        let l = self.find_pay_link(id).await?;
        self.pay_view(&l)
    }

    /// The link with this id; a malformed id finds nothing without a
    /// query, as an unknown one does.
    async fn find_pay_link(&self, id: &PayLinkId) -> Result<PayLink, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound(PAY_LINK_NOT_FOUND.into()));
        }
        let i = id.to_owned();
        found(&self.db, PAY_LINK_NOT_FOUND, move |c| PayLink::find(c, &i)).await
    }

    pub(super) async fn active_pay_link(&self, id: &PayLinkId) -> Result<PayLink, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound("unknown pay link".into()));
        }
        let i = id.to_owned();
        match self.db.run(move |c| PayLink::find(c, &i)).await? {
            Some(l) if l.status() == PayLinkStatus::Active => Ok(l),
            _ => Err(Error::NotFound("unknown pay link".into())),
        }
    }

    /// As [`Self::active_pay_link`], from the first-step cache when it
    /// holds the row: for `payRequest` only (the callback reads afresh).
    pub(super) async fn first_step_pay_link(&self, id: &PayLinkId) -> Result<Arc<PayLink>, Error> {
        let key = format!("id:{id}");
        let l = match self.first_steps.get(&key) {
            Some(l) => l,
            None => {
                if !id.is_well_formed() {
                    return Err(Error::NotFound("unknown pay link".into()));
                }
                let read = self.first_steps.begin();
                let i = id.to_owned();
                let Some(l) = self.db.run(move |c| PayLink::find(c, &i)).await? else {
                    return Err(Error::NotFound("unknown pay link".into()));
                };
                let l = Arc::new(l);
                self.first_steps.put(read, &key, l.id.as_str(), l.clone());
                l
            }
        };
        if l.status() != PayLinkStatus::Active {
            return Err(Error::NotFound("unknown pay link".into()));
        }
        Ok(l)
    }

    /// As [`Self::link_for_username`], from the first-step cache when it
    /// holds the row.
    pub(super) async fn first_step_address(&self, username: &str) -> Result<Arc<PayLink>, Error> {
        let base = username.split('+').next().unwrap_or_default();
        let Ok(u) = normalize_username(base) else {
            return Err(Error::NotFound(format!("unknown user {username:?}")));
        };
        let key = format!("user:{u}");
        let l = match self.first_steps.get(&key) {
            Some(l) => l,
            None => {
                let read = self.first_steps.begin();
                let lookup = u.clone();
                let Some(l) = self
                    .db
                    .run(move |c| PayLink::find_by_username(c, &lookup))
                    .await?
                else {
                    return Err(Error::NotFound(format!("unknown user {u:?}")));
                };
                let l = Arc::new(l);
                self.first_steps.put(read, &key, l.id.as_str(), l.clone());
                l
            }
        };
        if l.status() != PayLinkStatus::Active {
            return Err(Error::NotFound(format!("unknown user {u:?}")));
        }
        Ok(l)
    }

    pub(super) async fn link_for_username(&self, username: &str) -> Result<PayLink, Error> {
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
            Some(l) if l.status() == PayLinkStatus::Active => Ok(l),
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
        cursor: Option<PayLinkId>,
    ) -> Result<(Vec<PayLinkView>, Option<PayLinkId>), Error> {
        let limit = page_limit(limit)?;
        let (rows, next) = keyset_page(
            &self.db,
            limit,
            cursor,
            "a pay link",
            |c, id| Ok(PayLink::find(c, &id)?.map(|l| (l.created_at, l.id))),
            move |c, limit, below| PayLink::list(c, addresses_only, limit, below),
            |l| l.id.clone(),
        )
        .await?;
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
        link_id: &PayLinkId,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<PayInvoiceView>, Option<String>), Error> {
        let limit = page_limit(limit)?;
        self.get_pay_link(link_id).await?;
        let (id, of_link) = (link_id.to_owned(), link_id.to_owned());
        let (rows, next) = keyset_page(
            &self.db,
            limit,
            cursor,
            "an invoice of this link",
            move |c, h| {
                Ok(PayInvoice::find(c, &h)?
                    .filter(|i| i.pay_link_id == of_link)
                    .map(|i| (i.created_at, i.payment_hash)))
            },
            move |c, limit, below| PayInvoice::list_for_link(c, &id, limit, below),
            |i| i.payment_hash.clone(),
        )
        .await?;
        let zaps: Vec<String> = rows
            .iter()
            .filter(|i| i.zap_request.is_some())
            .map(|i| i.payment_hash.clone())
            .collect();
        let publications = self
            .db
            .run(move |c| ZapPublication::for_invoices(c, &zaps))
            .await?;
        let t = now();
        Ok((
            rows.iter()
                .map(|i| PayInvoiceView::from_row(i, t, &publications))
                .collect(),
            next,
        ))
    }
}
