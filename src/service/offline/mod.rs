//! Offline receive (issue 14): phone wallets built on the Breez SDK
//! register a push webhook under their pubkey and get an LNURL and a
//! Lightning Address (`shared/spec/OFFLINE-RECEIVE.md`). This file holds the
//! handle and registration: `POST|DELETE /lnurlpay/{pubkey}` and
//! `POST /lnurlpay/{pubkey}/recover`, with breez-lnurl's signed messages
//! or lnurld's versioned one; `payer.rs` relays payers' requests to the
//! phone and checks its replies.
//!
//! What registration guarantees:
//! - every statement is signed by the path's pubkey within ±60 s
//!   ([`crate::lnurl::offline::check`]);
//! - each signed statement changes state at most once: its hash is claimed
//!   in `offline_claims` in the same transaction as the change. A replay of
//!   the same bytes to the same route is answered as the first call was
//!   when the state still is what was signed (a phone retrying a timed-out
//!   call), and 409 otherwise; the same bytes sent to another route are 409;
//! - the webhook is https on a host of `[offline] webhook_hosts`;
//! - usernames share one namespace with pay links' (checked under one lock
//!   in both directions), and a released name stays its owner's for
//!   `[offline] name_hold_days`.
//!
//! Service layer: imports `lnurl` (messages, signatures, bech32), `db`,
//! `config` and [`crate::webhook_target`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{now, Base, Error};
use crate::config::OfflineConfig;
use crate::db::models::offline::{self as rows, OfflineRegistration};
use crate::db::models::PayLink;
use crate::db::{Db, DbError};
use crate::lnurl;
use crate::lnurl::offline::{Route, Signed, SignedBody, StatementError};
use crate::paths;
use crate::text::{self, Rule};
use crate::webhook_target::{check_bound_push_url, check_push_url, PushPolicy};

use super::secrets::Purpose;

mod payer;
mod reply;

pub use reply::ReplyError;

/// The longest webhook URL accepted (the NDS URL with an FCM token is
/// about 250 characters).
const WEBHOOK_URL: Rule = Rule::line(2048);
/// A username before normalisation; its own rule says more.
const USERNAME: Rule = Rule::line(crate::service::pay::MAX_USERNAME_LEN);
/// BOLT12 offers are a few hundred characters.
const OFFER: Rule = Rule::line(4096);
/// A zbase32 signature is 104 characters.
const SIGNATURE: Rule = Rule::line(200);

/// What register and recover answer (breez-lnurl's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Bech32 LNURL of `{public_url}/lnurlp/{pubkey}`, uppercase.
    pub lnurl: String,
    /// `username@domain` when the registration has a username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lightning_address: Option<String>,
}

/// The offline-receive handle.
pub struct OfflineService {
    db: Db,
    config: OfflineConfig,
    /// `[webhooks] allow_private_targets`.
    allow_private: bool,
    /// `public_url`.
    public_url: String,
    /// The authority of `public_url` (host, and port when not the
    /// scheme's): the domain a version 1 statement is bound to.
    domain: String,
    /// Domain of Lightning Addresses.
    address_domain: String,
    /// The node's network: relayed invoices must be of it.
    currency: lightning_invoice::Currency,
    /// Woken when a reply answers a request of this process.
    wake: Arc<Notify>,
    /// Pushes per wallet (`[offline] pushes_per_minute`, `push_burst`).
    /// Keyed by registered pubkeys only, and pruned with the rest.
    push_limit: Option<Arc<governor::DefaultKeyedRateLimiter<String>>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Seals the webhook URLs (their push tokens) in the database.
    keys: super::ServerKeys,
}

/// Whether `stored` (a sealed webhook URL of `pubkey`) is `clear`. A value
/// that does not open is no match.
fn same_webhook(keys: &super::ServerKeys, pubkey: &str, stored: &str, clear: &str) -> bool {
    keys.open(Purpose::PushWebhook, pubkey, stored)
        .is_ok_and(|url| url == clear)
}

impl OfflineService {
    /// Built once by [`Services::new`](super::Services::new).
    pub(crate) fn new(base: &Base) -> OfflineService {
        let config = &base.config;
        let domain = config
            .public_url()
            .ok()
            .map(|u| match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            })
            .unwrap_or_default();
        OfflineService {
            db: base.db.clone(),
            config: config.offline.clone(),
            allow_private: config.webhooks.allow_private_targets,
            public_url: config.public_url.clone(),
            domain,
            address_domain: config.address_domain(),
            currency: base.network.currency(),
            wake: Arc::new(Notify::new()),
            push_limit: std::num::NonZeroU32::new(config.offline.pushes_per_minute)
                .zip(std::num::NonZeroU32::new(config.offline.push_burst))
                .map(|(rate, burst)| {
                    Arc::new(governor::RateLimiter::keyed(
                        governor::Quota::per_minute(rate).allow_burst(burst),
                    ))
                }),
            metrics: base.metrics.clone(),
            keys: base.keys.clone(),
        }
    }

    /// The clear webhook URL of a registration, checked again before a
    /// push: the current `[offline]` policy must allow it and its host must
    /// be the row's `webhook_host`, so a host since taken out of
    /// `webhook_hosts`, or a row whose columns were changed behind
    /// lnurld's back, gets no reply token. The error never holds the URL
    /// (its query is the app's push token).
    pub(crate) fn push_target(&self, r: &OfflineRegistration) -> Result<String, String> {
        let url = self
            .keys
            .open(Purpose::PushWebhook, &r.pubkey, &r.webhook_url)
            .map_err(|e| e.to_string())?;
        check_bound_push_url(&url, &r.webhook_host, self.push_policy())?;
        Ok(url)
    }

    fn push_policy(&self) -> PushPolicy<'_> {
        PushPolicy {
            hosts: &self.config.webhook_hosts,
            allow_http: self.config.allow_insecure_webhooks,
            allow_private: self.allow_private,
        }
    }

    /// `[offline] enabled`: whether the routes exist at all.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// The database's URL (the LISTEN connection is made from it).
    pub fn db_url(&self) -> crate::db::DbUrl {
        self.db.url().clone()
    }

    /// The domain version 1 statements must name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    fn registered(&self, r: &OfflineRegistration) -> Registered {
        let url = format!("{}{}", self.public_url, paths::lnurlp(&r.pubkey));
        Registered {
            lnurl: lnurl::bech32::encode_upper(&url),
            lightning_address: r
                .username
                .as_deref()
                .map(|u| format!("{u}@{}", self.address_domain)),
        }
    }

    /// The path's pubkey, the body's texts, and the statement's time and
    /// signature, in that order.
    fn signed(
        &self,
        route: Route,
        pubkey: &str,
        body: &SignedBody,
    ) -> Result<(String, Signed), Error> {
        let Some(pubkey) = lnurl::offline::normalize_pubkey(pubkey) else {
            return Err(Error::Invalid(
                "the path must name a compressed secp256k1 public key (66 hex characters)".into(),
            ));
        };
        text::check("webhook_url", &body.webhook_url, WEBHOOK_URL)?;
        text::check("signature", &body.signature, SIGNATURE)?;
        if let Some(u) = &body.username {
            text::check("username", u, USERNAME)?;
        }
        if let Some(o) = &body.offer {
            text::check("offer", o, OFFER)?;
        }
        let signed = lnurl::offline::check(route, &self.domain, &pubkey, body, now()).map_err(
            |e: StatementError| {
                if e.is_unauthorized() {
                    Error::Unauthorized(e.to_string())
                } else {
                    Error::Invalid(e.to_string())
                }
            },
        )?;
        Ok((pubkey, signed))
    }

    /// The push webhook, checked against `[offline]`; its host.
    fn webhook_host(&self, webhook_url: &str) -> Result<String, Error> {
        let u = check_push_url(webhook_url, self.push_policy())
            .map_err(|e| Error::Invalid(format!("webhook_url {e}")))?;
        Ok(u.host_str().unwrap_or_default().to_ascii_lowercase())
    }

    fn hold_until(&self, t: i64) -> i64 {
        t + i64::from(self.config.name_hold_days) * 86_400
    }

    /// `POST /lnurlpay/{pubkey}`: registers (or refreshes) a phone wallet.
    /// A body without a username keeps the registered one (apps re-register
    /// at every start); one with a username takes it, releasing the old one
    /// (held for this pubkey), with the offer signed beside it.
    pub async fn register(&self, pubkey: &str, body: SignedBody) -> Result<Registered, Error> {
        let (pubkey, signed) = self.signed(Route::Register, pubkey, &body)?;
        let webhook_host = self.webhook_host(&body.webhook_url)?;
        let username = signed
            .username
            .as_deref()
            .map(|u| {
                let n = crate::service::pay::normalize_username(u)?;
                if lnurl::offline::is_pubkey_form(&n) {
                    return Err(Error::Invalid(
                        "a username may not be 66 hex characters (the form of a pubkey)".into(),
                    ));
                }
                Ok(n)
            })
            .transpose()?;
        if let Some(o) = &signed.offer {
            if !o.starts_with("lno") {
                return Err(Error::Invalid(
                    "offer must be a BOLT12 offer (lno1…)".into(),
                ));
            }
        }
        let t = now();
        let hold_until = self.hold_until(t);
        let expires = body.time + lnurl::offline::TIME_WINDOW_SECS + 1;
        let webhook_url = body.webhook_url.clone();
        let keys = self.keys.clone();
        let row = self
            .db
            .transaction_or(move |c| -> Result<OfflineRegistration, Error> {
                let current = if rows::claim_statement(
                    c,
                    &signed.statement_hash,
                    &pubkey,
                    Route::Register.as_str(),
                    expires,
                )? {
                    OfflineRegistration::find(c, &pubkey)?
                } else {
                    // A replay: answered as before only if nothing changed
                    // since (and it was made to this route).
                    let route = rows::claimed_route(c, &signed.statement_hash)?;
                    let cur = OfflineRegistration::find(c, &pubkey)?;
                    return match cur {
                        Some(r)
                            if route.as_deref() == Some(Route::Register.as_str())
                                && same_webhook(&keys, &pubkey, &r.webhook_url, &webhook_url)
                                && (username.is_none() || r.username == username)
                                && (username.is_none() || r.offer == signed.offer) =>
                        {
                            Ok(r)
                        }
                        _ => Err(replayed()),
                    };
                };
                rows::lock_usernames(c)?;
                let old_name = current.as_ref().and_then(|r| r.username.clone());
                let new_name = username.clone().or_else(|| old_name.clone());
                if let Some(name) = username.as_deref() {
                    if old_name.as_deref() != Some(name) {
                        name_free_for(c, name, &pubkey, t)?;
                    }
                }
                if let (Some(old), true) = (old_name.as_deref(), old_name != new_name) {
                    rows::hold_name(c, old, &pubkey, hold_until)?;
                }
                let offer = match &username {
                    Some(_) => signed.offer.clone(),
                    None => current.as_ref().and_then(|r| r.offer.clone()),
                };
                // Sealed to the row: the URL's query is the app's push token.
                let row = OfflineRegistration {
                    pubkey: pubkey.clone(),
                    username: new_name,
                    webhook_url: keys.seal(Purpose::PushWebhook, &pubkey, &webhook_url)?,
                    webhook_host,
                    offer,
                    created_at: current.as_ref().map_or(t, |r| r.created_at),
                    refreshed_at: t,
                };
                row.save(c).map_err(name_taken)?;
                Ok(row)
            })
            .await?;
        Ok(self.registered(&row))
    }

    /// `DELETE /lnurlpay/{pubkey}`: removes the registration whose webhook
    /// was signed (nothing when there is none, as breez-lnurl does); its
    /// username is held for this pubkey.
    pub async fn unregister(&self, pubkey: &str, body: SignedBody) -> Result<(), Error> {
        let (pubkey, signed) = self.signed(Route::Unregister, pubkey, &body)?;
        let t = now();
        let hold_until = self.hold_until(t);
        let expires = body.time + lnurl::offline::TIME_WINDOW_SECS + 1;
        let webhook_url = body.webhook_url;
        let keys = self.keys.clone();
        self.db
            .transaction_or(move |c| -> Result<(), Error> {
                if !rows::claim_statement(
                    c,
                    &signed.statement_hash,
                    &pubkey,
                    Route::Unregister.as_str(),
                    expires,
                )? {
                    let route = rows::claimed_route(c, &signed.statement_hash)?;
                    let still_there = OfflineRegistration::find(c, &pubkey)?.is_some_and(|r| {
                        same_webhook(&keys, &pubkey, &r.webhook_url, &webhook_url)
                    });
                    return if route.as_deref() == Some(Route::Unregister.as_str()) && !still_there {
                        Ok(())
                    } else {
                        Err(replayed())
                    };
                }
                rows::lock_usernames(c)?;
                // Only the registration of the webhook signed; the delete
                // is conditional on the sealed value read.
                let Some(cur) = OfflineRegistration::find(c, &pubkey)?
                    .filter(|r| same_webhook(&keys, &pubkey, &r.webhook_url, &webhook_url))
                else {
                    return Ok(());
                };
                if let Some(gone) = OfflineRegistration::delete(c, &pubkey, &cur.webhook_url)? {
                    rows::delete_info(c, &pubkey)?;
                    if let Some(name) = gone.username {
                        rows::hold_name(c, &name, &pubkey, hold_until)?;
                    }
                }
                Ok(())
            })
            .await
    }

    /// `POST /lnurlpay/{pubkey}/recover`: the pubkey's registration, for an
    /// app reinstalled with a new push token (so any signed webhook URL
    /// will do). A read: nothing is claimed, so retries work.
    pub async fn recover(&self, pubkey: &str, body: SignedBody) -> Result<Registered, Error> {
        let (pubkey, _) = self.signed(Route::Recover, pubkey, &body)?;
        let row = self
            .db
            .run(move |c| OfflineRegistration::find(c, &pubkey))
            .await?
            .ok_or_else(|| Error::NotFound("no registration for this pubkey".into()))?;
        Ok(self.registered(&row))
    }
}

/// A registration as the operator API shows it (`GET
/// /api/v1/offline/registrations`): never the webhook URL, whose query
/// carries the app's push token; only its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegistrationView {
    /// The wallet's pubkey (66 hex).
    pub pubkey: String,
    /// Its username, if it has one.
    pub username: Option<String>,
    /// `username@domain`, if it has a username.
    pub lightning_address: Option<String>,
    /// The host of its push webhook.
    pub webhook_host: String,
    /// RFC 3339 of the first registration.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 of the last register call (apps re-register at each start;
    /// 30 days without one and the registration expires).
    #[schema(format = DateTime)]
    pub refreshed_at: String,
    /// Pushes sent (or tried) to its webhook.
    pub pushes_sent: u64,
    /// Replies taken: each answered a payer.
    pub replies_accepted: u64,
    /// Replies that failed lnurld's checks (the payer got an error).
    pub replies_refused: u64,
    /// Payers told the wallet did not answer in time.
    pub timeouts: u64,
}

impl OfflineService {
    fn view(&self, r: rows::RegistrationStats) -> RegistrationView {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        RegistrationView {
            lightning_address: r
                .username
                .as_deref()
                .map(|u| format!("{u}@{}", self.address_domain)),
            pubkey: r.pubkey,
            username: r.username,
            webhook_host: r.webhook_host,
            created_at: super::rfc3339(r.created_at),
            refreshed_at: super::rfc3339(r.refreshed_at),
            pushes_sent: count(r.pushes_sent),
            replies_accepted: count(r.replies_accepted),
            replies_refused: count(r.replies_refused),
            timeouts: count(r.timeouts),
        }
    }

    /// The registrations, newest first; `cursor` is the last pubkey of the
    /// previous page.
    pub async fn list_registrations(
        &self,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<RegistrationView>, Option<String>), Error> {
        let limit = super::page_limit(limit)?;
        let (rows, next) = super::keyset_page(
            &self.db,
            limit,
            cursor,
            "a registration",
            |c, pk: String| {
                Ok(rows::RegistrationStats::find(c, &pk)?.map(|r| (r.created_at, r.pubkey)))
            },
            rows::RegistrationStats::list,
            |r| r.pubkey.clone(),
        )
        .await?;
        Ok((rows.into_iter().map(|r| self.view(r)).collect(), next))
    }

    /// The operator removes a registration (`DELETE
    /// /api/v1/offline/registrations/{pubkey}`): payers then get "unknown
    /// address", and its username is held for its pubkey for
    /// `name_hold_days`, as when the wallet unregisters itself, so payers
    /// are never sent to a stranger who takes the name; the wallet gets its
    /// name back by registering again. Requests it has pending time out.
    pub async fn delete_registration(&self, pubkey: &str) -> Result<RegistrationView, Error> {
        let not_found = || Error::NotFound("no registration for this pubkey".into());
        let pubkey = lnurl::offline::normalize_pubkey(pubkey).ok_or_else(not_found)?;
        let hold_until = self.hold_until(now());
        let gone = self
            .db
            .transaction(move |c| {
                rows::lock_usernames(c)?;
                let Some(gone) = rows::delete_registration(c, &pubkey)? else {
                    return Ok(None);
                };
                rows::delete_info(c, &pubkey)?;
                if let Some(name) = &gone.username {
                    rows::hold_name(c, name, &pubkey, hold_until)?;
                }
                Ok(Some(gone))
            })
            .await?
            .ok_or_else(not_found)?;
        Ok(self.view(gone))
    }
}

/// Registrations not refreshed for this long expire (apps re-register at
/// every start).
pub const REGISTRATION_TTL_SECS: i64 = 30 * 86_400;
/// Answered and expired requests are kept this long past their deadline
/// (a late reply still gets 410, not 404).
pub const REQUEST_KEEP_SECS: i64 = 3600;

/// A relayed invoice is kept for LUD-21 verify this long past its expiry
/// (a payer may check a payment days later).
pub const INVOICE_KEEP_SECS: i64 = 30 * 86_400;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Claims of statements whose time window has passed.
    pub claims: usize,
    /// Holds that ran out.
    pub holds: usize,
    /// Requests an hour past their deadline.
    pub requests: usize,
    /// Registrations unrefreshed for 30 days (their names are held).
    pub registrations: usize,
    /// Relayed invoices kept for verify, 30 days past their expiry.
    pub invoices: usize,
}

impl OfflineService {
    /// Deletes what offline receive no longer needs, as of `t`: claims past
    /// their window, holds that ran out, requests an hour past their
    /// deadline, and registrations not refreshed for 30 days (their
    /// usernames are then held for their owners). Run by the retention
    /// worker; every delete re-checks its condition, so instances may race.
    pub async fn purge(&self, t: i64) -> Result<Purged, Error> {
        if let Some(l) = &self.push_limit {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let hold_until = self.hold_until(t);
        Ok(self
            .db
            .transaction(move |c| {
                let stale = rows::stale_registrations(c, t - REGISTRATION_TTL_SECS)?;
                let mut registrations = 0;
                for r in stale {
                    if rows::delete_if_stale(c, &r.pubkey, t - REGISTRATION_TTL_SECS)? {
                        rows::delete_info(c, &r.pubkey)?;
                        registrations += 1;
                        if let Some(name) = r.username {
                            rows::hold_name(c, &name, &r.pubkey, hold_until)?;
                        }
                    }
                }
                Ok(Purged {
                    claims: rows::purge_claims(c, t)?,
                    holds: rows::purge_holds(c, t)?,
                    requests: rows::purge_requests(c, t - REQUEST_KEEP_SECS)?,
                    registrations,
                    invoices: rows::purge_invoices(c, t - INVOICE_KEEP_SECS)?,
                })
            })
            .await?)
    }
}

fn replayed() -> Error {
    Error::Conflict(
        "this signed statement has already been used; sign a new one with the current time".into(),
    )
}

fn name_taken(e: DbError) -> Error {
    match e {
        DbError::Duplicate(_) => Error::Conflict("username is already taken".into()),
        other => other.into(),
    }
}

/// Whether `pubkey` may take `name` at `t`: no pay link has it, no other
/// wallet has it, and it is not held for another wallet. Call with the
/// namespace locked ([`rows::lock_usernames`]). Ends this wallet's own
/// hold of the name.
fn name_free_for(c: &mut crate::db::DbConn, name: &str, pubkey: &str, t: i64) -> Result<(), Error> {
    if PayLink::find_by_username(c, name)?.is_some() {
        return Err(Error::Conflict("username is already taken".into()));
    }
    if OfflineRegistration::find_by_username(c, name)?.is_some_and(|r| r.pubkey != pubkey) {
        return Err(Error::Conflict("username is already taken".into()));
    }
    match rows::name_hold(c, name, t)? {
        Some((holder, until)) if holder != pubkey => Err(Error::Conflict(format!(
            "username is reserved for its previous owner until {}",
            super::rfc3339(until)
        ))),
        Some(_) => Ok(rows::end_hold(c, name)?),
        None => Ok(()),
    }
}

/// Whether a pay link may take `name` at `t`: no wallet has it and it is
/// not held for one. Takes the namespace lock: call it inside the
/// transaction that wrote the pay link, after the write.
pub(crate) fn name_free_for_pay_link(
    c: &mut crate::db::DbConn,
    name: &str,
    t: i64,
) -> Result<(), Error> {
    rows::lock_usernames(c)?;
    if OfflineRegistration::find_by_username(c, name)?.is_some() {
        return Err(Error::Conflict("username is already taken".into()));
    }
    if let Some((_, until)) = rows::name_hold(c, name, t)? {
        return Err(Error::Conflict(format!(
            "username is reserved for the offline wallet that released it, until {}",
            super::rfc3339(until)
        )));
    }
    Ok(())
}
