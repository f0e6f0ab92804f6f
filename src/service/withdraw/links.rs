//! Withdraw links as the operator manages them: create one (idempotent by
//! `external_id`) or a voucher batch (all or nothing), read one with its
//! withdrawals, list them page by page, disable one.
//!
//! Service layer: imports `db` models and the server keys; formats no HTTP.

use super::vouchers::BatchCreated;
use super::WithdrawService;
use super::{count as stored_count, with_withdrawals, LinkView, NewLink};
use crate::db::models::{WithdrawBatch, WithdrawLink};
use crate::db::types::{BatchId, Msat, WithdrawLinkId, WithdrawLinkStatus};
use crate::db::DbError;
use crate::service::secrets::{random_secret, Purpose};
use crate::service::{found, keyset_page, now, page_limit, rfc3339, Error, MAX_AMOUNT_MSAT};
use crate::text::{self, Rule};

/// The rules of a withdraw link's text fields ([`crate::text`]); the
/// lengths are also checked below with their own messages.
const TITLE: Rule = Rule::line(200);
/// BOLT11 descriptions are limited to 639 bytes; wallets copy this.
const DESCRIPTION: Rule = Rule::multiline(639);
const EXTERNAL_ID: Rule = Rule::line(200);
const URL: Rule = Rule::line(2048);

const LINK_NOT_FOUND: &str = "withdraw link not found";
/// The most vouchers one batch may hold.
pub const MAX_BATCH_COUNT: u32 = 1000;
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

/// The parameters an `external_id` stands for: a retry must repeat them
/// all to be answered with what it made the first time.
#[derive(Debug, PartialEq)]
struct Params {
    /// Vouchers (batches only).
    count: Option<u64>,
    min_msat: u64,
    max_msat: u64,
    uses: u64,
    wait_seconds: u64,
    expires_at: Option<i64>,
    title: String,
    description: String,
    webhook_url: Option<String>,
    balance_check: bool,
    pay_link: Option<String>,
}

impl Params {
    fn of_request(n: &NewLink, count: Option<u64>) -> Params {
        Params {
            count,
            min_msat: n.min_msat,
            max_msat: n.max_msat,
            uses: n.uses,
            wait_seconds: n.wait_seconds,
            expires_at: n.expires_at,
            title: n.title.clone(),
            description: n.description.clone(),
            webhook_url: n.webhook_url.clone(),
            balance_check: n.balance_check,
            pay_link: n.pay_link.clone(),
        }
    }

    fn of_link(l: &WithdrawLink) -> Params {
        Params {
            count: None,
            min_msat: l.min_msat.get(),
            max_msat: l.max_msat.get(),
            uses: stored_count(l.uses_total),
            wait_seconds: stored_count(l.wait_seconds),
            expires_at: l.expires_at,
            title: l.title.clone(),
            description: l.description.clone(),
            webhook_url: l.webhook_url.clone(),
            balance_check: l.balance_check,
            pay_link: l.pay_link.clone(),
        }
    }

    fn of_batch(b: &WithdrawBatch) -> Params {
        Params {
            count: Some(stored_count(b.voucher_count)),
            min_msat: b.min_msat.get(),
            max_msat: b.max_msat.get(),
            uses: stored_count(b.uses),
            wait_seconds: stored_count(b.wait_seconds),
            expires_at: b.expires_at,
            title: b.title.clone(),
            description: b.description.clone(),
            webhook_url: b.webhook_url.clone(),
            balance_check: b.balance_check,
            pay_link: b.pay_link.clone(),
        }
    }

    /// The request's field names that differ from `self`.
    fn differences(&self, asked: &Params) -> Vec<&'static str> {
        let mut d = Vec::new();
        let mut check = |same: bool, name| {
            if !same {
                d.push(name);
            }
        };
        check(self.count == asked.count, "count");
        check(self.min_msat == asked.min_msat, "min_msat");
        check(self.max_msat == asked.max_msat, "max_msat");
        check(self.uses == asked.uses, "uses");
        check(self.wait_seconds == asked.wait_seconds, "wait_seconds");
        check(self.expires_at == asked.expires_at, "expires_at");
        check(self.title == asked.title, "title");
        check(self.description == asked.description, "description");
        check(self.webhook_url == asked.webhook_url, "webhook_url");
        check(self.balance_check == asked.balance_check, "balance_check");
        check(self.pay_link == asked.pay_link, "pay_link");
        d
    }

    /// The stored parameters as the conflict message shows them.
    fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.count {
            s.push_str(&format!("count={c}, "));
        }
        s.push_str(&format!(
            "min_msat={}, max_msat={}, uses={}, wait_seconds={}, expires_at={}, title={:?}",
            self.min_msat,
            self.max_msat,
            self.uses,
            self.wait_seconds,
            self.expires_at.map_or_else(|| "never".to_owned(), rfc3339),
            self.title,
        ));
        s
    }
}

/// The refusal of a reused `external_id` `x` that names `what`, stored
/// with `stored`, when a request asked for `asked`.
fn conflict(x: &str, what: &str, stored: &Params, asked: &Params) -> Error {
    let differ = stored.differences(asked);
    let differ = if differ.is_empty() {
        String::new()
    } else {
        format!(" ({} differ)", differ.join(", "))
    };
    Error::ExternalIdConflict(format!(
        "external_id {x:?} already names {what}, made with other parameters{differ}; stored: {}",
        stored.describe()
    ))
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
        let id = WithdrawLinkId::generate();
        let row = WithdrawLink {
            secret_lookup: self.keys.lookup(&secret),
            secret_enc: self.keys.seal(Purpose::LinkSecret, id.as_str(), &secret)?,
            id,
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

    /// Creates a link. With an `external_id` that already names a link
    /// made with the same parameters, returns that link instead of making a
    /// second one (`created` tells which); with other parameters, or one
    /// that names a batch, refuses with `ExternalIdConflict`.
    pub async fn create_withdraw_link(&self, n: NewLink) -> Result<(LinkView, bool), Error> {
        self.validate_new_link(&n)?;
        if let Some(x) = n.external_id.clone() {
            if let Some(existing) = self.replay_link(&x, &n).await? {
                return Ok((existing, false));
            }
        }
        let (row, _secret) = self.new_row(&n, None)?;
        let id = row.id.clone();
        let inserted = self.db.write(move |c| WithdrawLink::insert(c, &row)).await;
        match (inserted, &n.external_id) {
            (Ok(()), _) => {}
            // A concurrent request with the same external_id won the race:
            // answer as if this one came second, never with a second link.
            (Err(DbError::Duplicate(_)), Some(x)) => {
                return self
                    .replay_link(x, &n)
                    .await?
                    .map(|v| (v, false))
                    .ok_or_else(|| Error::Internal("external_id row vanished".into()));
            }
            (Err(e), _) => return Err(e.into()),
        }
        let l = self
            .db
            .run(move |c| WithdrawLink::find(c, &id))
            .await?
            .ok_or_else(|| Error::Internal("new link not found".into()))?;
        Ok((self.view(&l, None)?, true))
    }

    /// What a retry with `external_id` = `x` answers: the stored link when
    /// `n` repeats its parameters, `None` when `x` is new, a conflict when
    /// `x` names another link or a batch.
    async fn replay_link(&self, x: &str, n: &NewLink) -> Result<Option<LinkView>, Error> {
        let key = x.to_owned();
        let (link, batch) = self
            .db
            .run(move |c| {
                Ok((
                    WithdrawLink::find_by_external_id(c, &key)?,
                    WithdrawBatch::find_by_external_id(c, &key)?,
                ))
            })
            .await?;
        let asked = Params::of_request(n, None);
        if let Some(l) = link {
            let stored = Params::of_link(&l);
            if stored != asked {
                return Err(conflict(
                    x,
                    &format!("withdraw link {}", l.id),
                    &stored,
                    &asked,
                ));
            }
            return Ok(Some(self.view(&l, None)?));
        }
        if let Some(b) = batch {
            return Err(conflict(
                x,
                &format!("voucher batch {}", b.id),
                &Params::of_batch(&b),
                &asked,
            ));
        }
        Ok(None)
    }

    /// Creates `count` links in one batch (vouchers), all or nothing. With
    /// an `external_id` that already names a batch made with the same
    /// parameters, answers that batch and makes no voucher (`created` is
    /// false); with other parameters, or one that names a single link,
    /// refuses with `ExternalIdConflict`.
    pub async fn create_withdraw_batch(
        &self,
        count: u32,
        n: NewLink,
    ) -> Result<(BatchCreated, bool), Error> {
        if count == 0 || count > MAX_BATCH_COUNT {
            return Err(Error::Invalid(format!(
                "count must be between 1 and {MAX_BATCH_COUNT}"
            )));
        }
        self.validate_new_link(&n)?;
        if let Some(x) = n.external_id.clone() {
            if let Some(existing) = self.replay_batch(&x, count, &n).await? {
                return Ok((existing, false));
            }
        }
        let batch_id = BatchId::generate();
        let mut rows = Vec::new();
        for _ in 0..count {
            // The external_id is the batch's, not any one voucher's.
            let mut row = self.new_row(&n, Some(batch_id.clone()))?.0;
            row.external_id = None;
            rows.push(row);
        }
        let first = rows
            .first()
            .ok_or_else(|| Error::Internal("empty batch".into()))?;
        let batch = WithdrawBatch {
            id: batch_id.clone(),
            external_id: n.external_id.clone(),
            voucher_count: i64::from(count),
            min_msat: first.min_msat,
            max_msat: first.max_msat,
            uses: first.uses_total,
            wait_seconds: first.wait_seconds,
            expires_at: first.expires_at,
            title: first.title.clone(),
            description: first.description.clone(),
            webhook_url: first.webhook_url.clone(),
            balance_check: first.balance_check,
            pay_link: first.pay_link.clone(),
            created_at: first.created_at,
        };
        let inserted = self
            .db
            .transaction(move |c| {
                // The batch row first: its UNIQUE external_id decides a
                // race between two retries before any voucher is written.
                WithdrawBatch::insert(c, &batch)?;
                WithdrawLink::insert_many(c, &rows)
            })
            .await;
        match (inserted, &n.external_id) {
            (Ok(()), _) => {}
            (Err(DbError::Duplicate(_)), Some(x)) => {
                return self
                    .replay_batch(x, count, &n)
                    .await?
                    .map(|b| (b, false))
                    .ok_or_else(|| Error::Internal("external_id batch vanished".into()));
            }
            (Err(e), _) => return Err(e.into()),
        }
        Ok((self.batch_created(&batch_id).await?, true))
    }

    /// [`Self::replay_link`] for a batch of `count`.
    async fn replay_batch(
        &self,
        x: &str,
        count: u32,
        n: &NewLink,
    ) -> Result<Option<BatchCreated>, Error> {
        let key = x.to_owned();
        let (batch, link) = self
            .db
            .run(move |c| {
                Ok((
                    WithdrawBatch::find_by_external_id(c, &key)?,
                    WithdrawLink::find_by_external_id(c, &key)?,
                ))
            })
            .await?;
        let asked = Params::of_request(n, Some(u64::from(count)));
        if let Some(b) = batch {
            let stored = Params::of_batch(&b);
            if stored != asked {
                return Err(conflict(
                    x,
                    &format!("voucher batch {}", b.id),
                    &stored,
                    &asked,
                ));
            }
            return Ok(Some(self.batch_created(&b.id).await?));
        }
        if let Some(l) = link {
            return Err(conflict(
                x,
                &format!("withdraw link {} (not a batch)", l.id),
                &Params::of_link(&l),
                &asked,
            ));
        }
        Ok(None)
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
        self.list_withdraw_links_in(None, status, limit, cursor)
            .await
    }

    /// [`Self::list_withdraw_links`], only the links of `batch` when given
    /// (an unknown batch has none).
    pub async fn list_withdraw_links_in(
        &self,
        batch: Option<BatchId>,
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
            move |c, limit, below| WithdrawLink::list(c, status, batch.as_ref(), t, limit, below),
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
        let forget = self.first_steps.forget_after(id.as_str());
        let found = self
            .db
            .write(move |c| {
                WithdrawLink::disable(c, &i, t)?;
                WithdrawLink::find(c, &i)
            })
            .await;
        drop(forget);
        if found?.is_none() {
            return Err(Error::NotFound(LINK_NOT_FOUND.into()));
        }
        self.get_withdraw_link(id).await
    }
}
