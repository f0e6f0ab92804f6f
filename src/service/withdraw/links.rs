//! Withdraw links as the operator manages them: create one (idempotent by
//! `external_id`) or a voucher batch (all or nothing), read one with its
//! withdrawals, list them page by page, disable one.
//!
//! Service layer: imports `db` models and the server keys; formats no HTTP.

use super::WithdrawService;
use super::{with_withdrawals, LinkView, NewLink};
use crate::db::models::WithdrawLink;
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus};
use crate::db::DbError;
use crate::service::secrets::random_secret;
use crate::service::{found, keyset_page, now, page_limit, Error, MAX_AMOUNT_MSAT};
use crate::text::{self, Rule};

/// The rules of a withdraw link's text fields ([`crate::text`]); the
/// lengths are also checked below with their own messages.
const TITLE: Rule = Rule::line(200);
/// BOLT11 descriptions are limited to 639 bytes; wallets copy this.
const DESCRIPTION: Rule = Rule::multiline(639);
const EXTERNAL_ID: Rule = Rule::line(200);
const URL: Rule = Rule::line(2048);

const LINK_NOT_FOUND: &str = "withdraw link not found";
const BATCH_NOT_FOUND: &str = "batch not found";

/// Every string of a new link is text of its kind, before anything else is
/// looked at.
fn check_text(n: &NewLink) -> Result<(), Error> {
    text::check("title", &n.title, TITLE)?;
    text::check("description", &n.description, DESCRIPTION)?;
    if let Some(x) = &n.external_id {
        text::check("external_id", x, EXTERNAL_ID)?;
    }
    if let Some(w) = &n.webhook_url {
        text::check("webhook_url", w, URL)?;
    }
    if let Some(p) = &n.pay_link {
        text::check("pay_link", p, URL)?;
    }
    Ok(())
}

impl WithdrawService {
    fn validate_new_link(&self, n: &NewLink) -> Result<(), Error> {
        check_text(n)?;
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
            self.outbox.check_link_url(w)?;
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

    /// The row of a link `n` (already validated, so the conversions to
    /// column values cannot fail; should they, nothing is written).
    fn new_row(
        &self,
        n: &NewLink,
        batch_id: Option<BatchId>,
    ) -> Result<(WithdrawLink, String), Error> {
        let too_large = |what: &str| Error::Invalid(format!("{what} is too large"));
        let msat = |v: u64, what| Msat::new(v).ok_or_else(|| too_large(what));
        let int = |v: u64, what| i64::try_from(v).map_err(|_| too_large(what));
        let secret = random_secret();
        let t = now();
        let row = WithdrawLink {
            id: WithdrawLinkId::generate(),
            secret_lookup: self.keys.lookup(&secret),
            secret_enc: self.keys.encrypt(&secret)?,
            min_msat: msat(n.min_msat, "min_msat")?,
            max_msat: msat(n.max_msat, "max_msat")?,
            uses_total: int(n.uses, "uses")?,
            uses_left: int(n.uses, "uses")?,
            wait_seconds: int(n.wait_seconds, "wait_seconds")?,
            next_use_at: 0,
            expires_at: n.expires_at,
            title: n.title.clone(),
            description: n.description.clone(),
            webhook_url: n.webhook_url.clone(),
            external_id: n.external_id.clone(),
            batch_id,
            balance_check: n.balance_check,
            pay_link: n.pay_link.clone(),
            disabled_at: None,
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
    ) -> Result<(BatchId, Vec<LinkView>), Error> {
        if count == 0 || count > 1000 {
            return Err(Error::Invalid("count must be between 1 and 1000".into()));
        }
        if n.external_id.is_some() {
            return Err(Error::Invalid(
                "external_id is not allowed for batches".into(),
            ));
        }
        self.validate_new_link(&n)?;
        let batch_id = BatchId::generate();
        let mut rows = Vec::new();
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
        Ok((batch_id, self.views(&links)?))
    }

    /// One link with its withdrawals.
    pub async fn get_withdraw_link(&self, id: &WithdrawLinkId) -> Result<LinkView, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound(LINK_NOT_FOUND.into()));
        }
        let id = id.clone();
        let (l, ws) = found(&self.db, LINK_NOT_FOUND, move |c| {
            with_withdrawals(c, |c| WithdrawLink::find(c, &id))
        })
        .await?;
        self.view(&l, Some(&ws))
    }

    /// Links of a batch.
    pub async fn withdraw_batch(&self, batch_id: &BatchId) -> Result<Vec<LinkView>, Error> {
        if !batch_id.is_well_formed() {
            return Err(Error::NotFound(BATCH_NOT_FOUND.into()));
        }
        let b = batch_id.clone();
        let links = self
            .db
            .run(move |c| WithdrawLink::list_batch(c, &b))
            .await?;
        if links.is_empty() {
            return Err(Error::NotFound(BATCH_NOT_FOUND.into()));
        }
        self.views(&links)
    }

    /// A page of links, newest first. `cursor` is the last id of the
    /// previous page.
    pub async fn list_withdraw_links(
        &self,
        status: Option<&str>,
        limit: Option<u32>,
        cursor: Option<WithdrawLinkId>,
    ) -> Result<(Vec<LinkView>, Option<WithdrawLinkId>), Error> {
        let status = match status {
            None | Some("") | Some("all") => None,
            Some(other) => Some(WithdrawLinkStatus::parse(other).ok_or_else(|| {
                Error::Invalid(format!(
                    "status {other:?} is not one of {}",
                    WithdrawLinkStatus::choices()
                ))
            })?),
        };
        let limit = page_limit(limit)?;
        let t = now();
        let (rows, next) = keyset_page(
            &self.db,
            limit,
            cursor,
            "a link",
            |c, id| Ok(WithdrawLink::find(c, &id)?.map(|l| (l.created_at, l.id))),
            move |c, limit, below| WithdrawLink::list(c, status, t, limit, below),
            |l| l.id.clone(),
        )
        .await?;
        Ok((self.views(&rows)?, next))
    }

    /// Disables a link; its history stays.
    pub async fn disable_withdraw_link(&self, id: &WithdrawLinkId) -> Result<LinkView, Error> {
        if !id.is_well_formed() {
            return Err(Error::NotFound(LINK_NOT_FOUND.into()));
        }
        let i = id.clone();
        let t = now();
        let found = self
            .db
            .run(move |c| {
                WithdrawLink::disable(c, &i, t)?;
                WithdrawLink::find(c, &i)
            })
            .await?;
        if found.is_none() {
            return Err(Error::NotFound(LINK_NOT_FOUND.into()));
        }
        self.get_withdraw_link(id).await
    }
}
