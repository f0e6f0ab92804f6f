//! Offline receive, the payer side: a payer's request becomes a row in
//! `offline_requests` and a push to the phone; the payer waits until the
//! phone's reply (checked by [`crate::lnurl::offline_reply`], taken in
//! `reply.rs`) answers the row, or `[offline] reply_timeout_secs` pass.
//!
//! - The reply URL carries a 256-bit random token; only its sha256 is kept.
//! - Concurrent info requests for one wallet share one row and one push
//!   (the row's UNIQUE `coalesce_key`); an answered info is served from
//!   `offline_info` while the phone's `max-age` (at most 24 h) lasts.
//! - The answering UPDATE is conditional (`state = 'waiting'` and before
//!   the deadline), so a reply counts once and never after the payer was
//!   told the wallet did not answer. Waiters are woken in-process, on
//!   PostgreSQL also by `pg_notify` sent in the answering transaction (one
//!   LISTEN connection per instance, `lib.rs`), and they poll the row every
//!   `[offline] poll_ms`, so a reply that reaches another instance is seen
//!   even when a notification is lost.
//! - Pushes go only to the registered webhook, whose resolved addresses are
//!   checked as webhook deliveries' are.

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::OfflineService;
use crate::db::models::offline::{
    state, OfflineInfo, OfflineInvoice, OfflineRegistration, OfflineRequest, Tally,
};
use crate::db::DbError;
use crate::lnurl::offline_reply as wire;
use crate::metrics::Counter;
use crate::paths;
use crate::service::{now, Error};
use crate::webhook_target::forbidden_ip;

/// Why a request was not written (inside its transaction).
enum Relay {
    /// `max_pending_per_pubkey` payers wait already.
    TooManyWaiting,
    /// The push limit: retry after this many seconds.
    Limited(u64),
    /// The database.
    Db(DbError),
}

impl From<DbError> for Relay {
    fn from(e: DbError) -> Self {
        Relay::Db(e)
    }
}

/// What a payer waits for.
enum Kind {
    Info,
    Invoice {
        amount_msat: u64,
        comment: Option<String>,
    },
    Verify {
        payment_hash: String,
    },
}

pub(super) fn hash_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn timed_out() -> Error {
    Error::Unavailable("the recipient's wallet did not answer in time; try again later".into())
}

impl OfflineService {
    fn poll(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.poll_ms))
    }

    /// Whether replies are announced with `pg_notify` (and so whether this
    /// instance should LISTEN).
    pub fn notifies(&self) -> bool {
        self.config.enabled && self.config.notify
    }

    /// What wakes this instance's waiting payers (the LISTEN loop calls it).
    pub fn waker(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    fn reply_url(&self, token: &str) -> String {
        format!("{}{}", self.public_url, paths::offline_reply(token))
    }

    fn callback_url(&self, pubkey: &str) -> String {
        format!("{}{}", self.public_url, paths::offline_invoice(pubkey))
    }

    /// The verify URL of a payment hash; with `{payment_hash}` itself, the
    /// template pushed to the phone.
    pub(crate) fn verify_url(&self, pubkey: &str, payment_hash: &str) -> String {
        format!(
            "{}{}",
            self.public_url,
            paths::offline_verify(pubkey, payment_hash)
        )
    }

    async fn registration(&self, pubkey: &str) -> Result<OfflineRegistration, Error> {
        let unknown = || Error::NotFound("unknown address".into());
        let pubkey = crate::lnurl::offline::normalize_pubkey(pubkey).ok_or_else(unknown)?;
        self.db
            .run(move |c| OfflineRegistration::find(c, &pubkey))
            .await?
            .ok_or_else(unknown)
    }

    /// `GET /lnurlp/{pubkey}`: the wallet's pay request (LUD-06), from the
    /// cache or from the phone.
    pub async fn pay_request(&self, pubkey: &str) -> Result<Value, Error> {
        let reg = self.registration(pubkey).await?;
        let pk = reg.pubkey.clone();
        let t = now();
        if let Some(info) = self.db.run(move |c| OfflineInfo::find(c, &pk)).await? {
            if info.cached_until > t {
                return serde_json::from_str(&info.body)
                    .map_err(|e| Error::Internal(e.to_string()));
            }
        }
        self.relay(&reg, Kind::Info).await
    }

    /// `GET /.well-known/lnurlp/{username}` for a wallet's username (a
    /// `+tag` is ignored). A name its owner released answers "unknown
    /// address"; `None` when no wallet has or had it.
    pub async fn address_request(&self, username: &str) -> Option<Result<Value, Error>> {
        let base = username.split('+').next().unwrap_or_default();
        let name = crate::service::pay::normalize_username(base).ok()?;
        let t = now();
        let n = name.clone();
        let found = self
            .db
            .run(move |c| {
                Ok((
                    OfflineRegistration::find_by_username(c, &n)?,
                    super::rows::name_hold(c, &n, t)?,
                ))
            })
            .await;
        match found {
            Err(e) => Some(Err(e.into())),
            Ok((Some(reg), _)) => Some(self.pay_request(&reg.pubkey).await),
            Ok((None, Some(_))) => Some(Err(Error::NotFound("unknown address".into()))),
            Ok((None, None)) => None,
        }
    }

    /// `GET /lnurlpay/{pubkey}/invoice?amount=&comment=`: an invoice from
    /// the phone, checked. The amount must be whole sats within the bounds
    /// of the pay request the wallet last gave.
    pub async fn invoice(
        &self,
        pubkey: &str,
        amount: Option<&str>,
        comment: Option<&str>,
    ) -> Result<Value, Error> {
        let reg = self.registration(pubkey).await?;
        let amount_msat = amount
            .ok_or_else(|| Error::Invalid("amount is missing".into()))?
            .parse::<u64>()
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| {
                Error::Invalid("amount must be a whole number of msat above 0".into())
            })?;
        if amount_msat % 1000 != 0 {
            return Err(Error::Invalid(
                "amount must be whole sats (a multiple of 1000 msat): this wallet cannot receive millisatoshis".into(),
            ));
        }
        if comment.is_some_and(|c| c.chars().count() > 1000) {
            return Err(Error::Invalid("comment is too long".into()));
        }
        let pk = reg.pubkey.clone();
        let info = self
            .db
            .run(move |c| OfflineInfo::find(c, &pk))
            .await?
            .ok_or_else(|| Error::Unavailable("ask for this address's pay request first".into()))?;
        let (min, max) = (info.min_msat.max(0) as u64, info.max_msat.max(0) as u64);
        if amount_msat < min || amount_msat > max {
            return Err(Error::Invalid(format!(
                "amount must be between {min} and {max} msat"
            )));
        }
        self.relay(
            &reg,
            Kind::Invoice {
                amount_msat,
                comment: comment.map(str::to_owned),
            },
        )
        .await
    }

    /// `GET /lnurlpay/{pubkey}/{payment_hash}` (LUD-21): whether an invoice
    /// the phone gave with lnurld's verify URL was paid. A proved payment
    /// is answered by lnurld alone; an unsettled answer is served again
    /// while the phone's `max-age` lasts, at most 60 s and never past the
    /// invoice's expiry; otherwise the
    /// phone is asked with `lnurlpay_verify` (concurrent payers of one hash
    /// share the push). A hash lnurld never relayed for this wallet with
    /// its verify URL wakes nobody: "Not found".
    pub async fn verify(&self, pubkey: &str, payment_hash: &str) -> Result<Value, Error> {
        let not_found = || Error::NotFound("Not found".into());
        let pk = crate::lnurl::offline::normalize_pubkey(pubkey).ok_or_else(not_found)?;
        let hash = payment_hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let h = hash.clone();
        let inv = self
            .db
            .run(move |c| OfflineInvoice::find(c, &h))
            .await?
            .filter(|i| i.pubkey == pk && i.verifiable)
            .ok_or_else(not_found)?;
        if let Some(p) = &inv.preimage {
            let proved = wire::VerifyAnswer {
                settled: true,
                preimage: Some(p.clone()),
            };
            return Ok(proved.to_json(&inv.bolt11));
        }
        if inv.verify_cached_until > now() {
            if let Some(body) = &inv.verify_body {
                return serde_json::from_str(body).map_err(|e| Error::Internal(e.to_string()));
            }
        }
        let reg = self.registration(&inv.pubkey).await?;
        self.relay(&reg, Kind::Verify { payment_hash: hash }).await
    }

    /// Writes the request, pushes it (unless an info request for the
    /// wallet already waits: then it waits on that one) and waits for the
    /// answer.
    async fn relay(&self, reg: &OfflineRegistration, kind: Kind) -> Result<Value, Error> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let t = now();
        let timeout = Duration::from_secs(u64::from(self.config.reply_timeout_secs));
        let deadline = t + i64::from(self.config.reply_timeout_secs);
        let (kind_name, coalesce_key, amount_msat, comment, callback, push) = match &kind {
            Kind::Verify { payment_hash } => (
                "verify",
                Some(format!("verify:{payment_hash}")),
                None,
                None,
                self.verify_url(&reg.pubkey, payment_hash),
                wire::verify_push(payment_hash, &self.reply_url(&token)),
            ),
            Kind::Info => {
                let cb = self.callback_url(&reg.pubkey);
                let push = wire::info_push(&cb, &self.reply_url(&token));
                (
                    "info",
                    Some(format!("info:{}", reg.pubkey)),
                    None,
                    None,
                    cb,
                    push,
                )
            }
            Kind::Invoice {
                amount_msat,
                comment,
            } => {
                let template = self.verify_url(&reg.pubkey, "{payment_hash}");
                let push = wire::invoice_push(
                    *amount_msat,
                    comment.as_deref(),
                    &template,
                    &self.reply_url(&token),
                );
                let amount = i64::try_from(*amount_msat)
                    .map_err(|_| Error::Invalid("amount is too large".into()))?;
                (
                    "invoice",
                    None,
                    Some(amount),
                    comment.clone(),
                    template,
                    push,
                )
            }
        };
        let row = OfflineRequest {
            id: crate::db::new_id("orq"),
            token_hash: hash_hex(&token),
            pubkey: reg.pubkey.clone(),
            kind: kind_name.into(),
            coalesce_key: coalesce_key.clone(),
            amount_msat,
            comment,
            callback,
            state: state::WAITING.into(),
            answer: None,
            invoice_hash: None,
            created_at: t,
            deadline,
            verify_hash: match &kind {
                Kind::Verify { payment_hash } => Some(payment_hash.clone()),
                _ => None,
            },
        };
        let r = row.clone();
        let max_pending = i64::from(self.config.max_pending_per_pubkey);
        let limit = self.push_limit.clone();
        // One transaction: join a waiting info request, or insert this one
        // and count its push, once the push limit admits it (a refused push
        // leaves no row behind).
        let existing = self
            .db
            .transaction_or(move |c| -> Result<Option<OfflineRequest>, Relay> {
                if let Some(key) = &r.coalesce_key {
                    if let Some(w) = OfflineRequest::waiting(c, key)? {
                        if w.deadline >= r.created_at {
                            return Ok(Some(w));
                        }
                    }
                }
                if super::rows::pending_requests(c, &r.pubkey, r.created_at)? >= max_pending {
                    return Err(Relay::TooManyWaiting);
                }
                let mut inserted = false;
                for _ in 0..2 {
                    if r.insert_unless_waiting(c)? {
                        inserted = true;
                        break;
                    }
                    let Some(key) = &r.coalesce_key else {
                        return Err(DbError::Duplicate("offline_requests.token_hash".into()).into());
                    };
                    match OfflineRequest::waiting(c, key)? {
                        // A waiter that died left its row behind: free it.
                        Some(w) if w.deadline < r.created_at => {
                            OfflineRequest::expire(c, &w.id)?;
                        }
                        Some(w) => return Ok(Some(w)),
                        None => {}
                    }
                }
                if !inserted {
                    return Err(DbError::Duplicate("offline_requests.coalesce_key".into()).into());
                }
                if let Some(l) = &limit {
                    if let Err(not_until) = l.check_key(&r.pubkey) {
                        use governor::clock::Clock;
                        let wait = not_until
                            .wait_time_from(governor::clock::DefaultClock::default().now());
                        return Err(Relay::Limited(wait.as_secs().max(1)));
                    }
                }
                super::rows::tally(c, &r.pubkey, Tally::Push)?;
                Ok(None)
            })
            .await
            .map_err(|e| match e {
                Relay::TooManyWaiting => Error::Unavailable(
                    "too many payers are waiting for this wallet; try again in a minute".into(),
                ),
                Relay::Limited(retry_after_secs) => Error::TooManyRequests { retry_after_secs },
                Relay::Db(e) => e.into(),
            })?;
        if let Some(w) = existing {
            let left = Duration::from_secs(u64::try_from(w.deadline - t).unwrap_or(0) + 1);
            return self.wait(w.id, left.min(timeout)).await;
        }
        self.metrics.count(Counter::OfflinePushes);
        let pushed = match self.push_target(reg) {
            Ok(url) => self.push(&url, &push).await,
            Err(why) => Err(why),
        };
        if let Err(why) = pushed {
            tracing::info!(pubkey = %reg.pubkey, host = %reg.webhook_host, kind = kind_name, error = %why, "offline push failed");
            let id = row.id.clone();
            self.db
                .write(move |c| OfflineRequest::expire(c, &id))
                .await?;
            return Err(Error::Unavailable(
                "the recipient's wallet cannot be reached right now".into(),
            ));
        }
        self.wait(row.id, timeout).await
    }

    /// Waits for the row's answer until `timeout`, then expires it.
    async fn wait(&self, id: String, timeout: Duration) -> Result<Value, Error> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the read, so a wake between the two is kept.
            let woken = self.wake.notified();
            let i = id.clone();
            let row = self
                .db
                .run(move |c| OfflineRequest::find(c, &i))
                .await?
                .ok_or_else(|| Error::Internal(format!("offline request {id} vanished")))?;
            match row.state.as_str() {
                state::ANSWERED => return answer_of(&row),
                state::EXPIRED => return Err(timed_out()),
                _ => {}
            }
            let now_i = tokio::time::Instant::now();
            if now_i >= until {
                let i = id.clone();
                if self
                    .db
                    .transaction(move |c| {
                        if !OfflineRequest::expire(c, &i)? {
                            return Ok(false);
                        }
                        if let Some(r) = OfflineRequest::find(c, &i)? {
                            super::rows::tally(c, &r.pubkey, Tally::Timeout)?;
                        }
                        Ok(true)
                    })
                    .await?
                {
                    self.metrics.count(Counter::OfflineTimeouts);
                    return Err(timed_out());
                }
                continue;
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(self.poll().min(until - now_i)) => {}
            }
        }
    }

    /// POSTs `payload` to the phone's webhook (its resolved addresses
    /// checked first, the connection pinned to them); a 2xx is success.
    async fn push(&self, webhook_url: &str, payload: &Value) -> Result<(), String> {
        let url = url::Url::parse(webhook_url).map_err(|e| e.to_string())?;
        let timeout = Duration::from_secs(u64::from(self.config.reply_timeout_secs.min(10)));
        let builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("lnurld-offline/", env!("CARGO_PKG_VERSION")));
        let client = match url.host() {
            Some(url::Host::Domain(d)) => {
                let port = url.port_or_known_default().unwrap_or(443);
                let addrs: Vec<SocketAddr> =
                    tokio::time::timeout(timeout, tokio::net::lookup_host((d, port)))
                        .await
                        .map_err(|_| format!("resolving {d} timed out"))?
                        .map_err(|e| format!("cannot resolve {d}: {e}"))?
                        .collect();
                if addrs.is_empty() {
                    return Err(format!("{d} resolves to no address"));
                }
                for a in &addrs {
                    if let Some(why) = forbidden_ip(a.ip(), self.allow_private) {
                        return Err(format!("refused: {d} resolves to {}, {why}", a.ip()));
                    }
                }
                builder.resolve_to_addrs(d, &addrs).build()
            }
            Some(url::Host::Ipv4(a)) if forbidden_ip(a.into(), self.allow_private).is_some() => {
                return Err(format!("refused: {a}"));
            }
            Some(url::Host::Ipv6(a)) if forbidden_ip(a.into(), self.allow_private).is_some() => {
                return Err(format!("refused: {a}"));
            }
            _ => builder.build(),
        }
        .map_err(said)?;
        let res = client.post(url).json(payload).send().await.map_err(said)?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("the push relay answered {}", res.status()))
        }
    }
}

/// A push's failure as text for the log: never the URL, whose query is
/// the app's push token (reqwest's own text names the URL), but the
/// causes (refused, timed out, TLS…).
fn said(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A stored answer as the payer's result: an `ERROR` body becomes the LUD
/// error it says.
fn answer_of(row: &OfflineRequest) -> Result<Value, Error> {
    let v: Value = serde_json::from_str(row.answer.as_deref().unwrap_or("null"))
        .map_err(|e| Error::Internal(format!("offline answer of {}: {e}", row.id)))?;
    if v.get("status").and_then(Value::as_str) == Some("ERROR") {
        let reason = v.get("reason").and_then(Value::as_str).unwrap_or("error");
        return Err(Error::Unavailable(reason.to_owned()));
    }
    Ok(v)
}
