//! Webhooks: tell the operator's systems when money moved — at least once,
//! signed, never lost. Service layer: imports `db`, `config` and
//! [`crate::webhook_target`], never `service::pay` (pay writes its events
//! through the outbox here, not the other way round);
//! the HTTP client here is an *outgoing* one (reqwest), never actix.
//!
//! # Events
//! `withdraw.succeeded`, `withdraw.failed` (the use was given back),
//! `invoice.settled` (with the payer's comment and LUD-18 payer data) and
//! `invoice.expired`. Every event is one JSON envelope
//! `{"id":"evt_…","type":"…","created_at":RFC 3339,"data":{…}}` whose `data`
//! is the full object at the time of the event (see [`withdraw_data`] and
//! [`invoice_data`]).
//!
//! # Outbox
//! The event row is inserted in the *same transaction* as the state change
//! that causes it, and only when that transaction actually changed the row
//! (the conditional UPDATE said so), so an event exists iff its change was
//! committed, exactly once, whatever the crashes, retries or instances.
//! After the commit the local delivery worker is woken ([`Services::wake_webhooks`]);
//! other instances find the row within a second by polling.
//!
//! # Target and secret
//! The target URL is resolved when the event is written: the link's
//! `webhook_url`, else `[webhooks] url`; with neither, the event is stored in
//! state `no_target` (kept for the audit log; redelivering it later uses the
//! global URL then configured). Each endpoint URL has its own signing secret
//! (`whsec_` + 64 hex), created on first use (first delivery or first admin
//! request for it), stored encrypted with the server key, shown only through
//! the admin API, replaced by a rotation (the old one stops at once).
//!
//! # Signature
//! `Lnurld-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! over the raw body bytes, with the secret string as the HMAC key; also
//! `Lnurld-Event-Id`, `Lnurld-Event-Type` and `Content-Type: application/json`.
//! `t` is the time of the attempt, so receivers can refuse stale replays.
//! Receivers must dedupe by event id: delivery is at least once.
//!
//! # Delivery and retries
//! The worker claims due events with a lease (PostgreSQL `FOR UPDATE SKIP
//! LOCKED`; SQLite a conditional UPDATE per row), POSTs with
//! `[webhooks] timeout_secs`, and records every attempt. A 2xx answer means
//! delivered; anything else (other status, redirect, timeout, refused
//! connection, forbidden address) is retried after
//! `retry_base_ms · 2^(n-1)` (n = attempts so far), capped at one hour, with
//! jitter (a uniformly random 50–100 % of that), until `max_age_secs`
//! (default 3 days) have passed since the event was created or redelivered;
//! then it is `failed`. Redirects are not followed.
//!
//! # Target checks
//! Which addresses may be targets is decided in [`crate::webhook_target`]:
//! URLs when a link names them, resolved addresses before every attempt.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{now, rfc3339, Error, Services};
use crate::config::WebhooksConfig;
use crate::db::models::event::{self, EventFilter};
use crate::db::models::{
    Event, EventAttempt, PayInvoice, PayLink, WebhookEndpoint, WithdrawLink, Withdrawal,
};
use crate::db::{new_id, DbConn, DbError};
use crate::webhook_target::{check_target_url, forbidden_ip};

/// Header carrying `t=<unix seconds>,v1=<hex hmac>`.
pub const SIGNATURE_HEADER: &str = "Lnurld-Signature";
/// Header carrying the event id (receivers dedupe by it).
pub const EVENT_ID_HEADER: &str = "Lnurld-Event-Id";
/// Header carrying the event type.
pub const EVENT_TYPE_HEADER: &str = "Lnurld-Event-Type";
/// Longest delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A withdrawal was paid.
    WithdrawSucceeded,
    /// A withdrawal definitely failed; its use was given back.
    WithdrawFailed,
    /// A pay-link invoice was paid.
    InvoiceSettled,
    /// A pay-link invoice expired unpaid.
    InvoiceExpired,
}

impl EventType {
    /// All types.
    pub const ALL: [EventType; 4] = [
        EventType::WithdrawSucceeded,
        EventType::WithdrawFailed,
        EventType::InvoiceSettled,
        EventType::InvoiceExpired,
    ];

    /// Wire name (`withdraw.succeeded`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::WithdrawSucceeded => "withdraw.succeeded",
            EventType::WithdrawFailed => "withdraw.failed",
            EventType::InvoiceSettled => "invoice.settled",
            EventType::InvoiceExpired => "invoice.expired",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What the outbox needs from the config, cloned into DB transactions.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// `[webhooks] url`.
    pub global_url: Option<String>,
    /// Domain of Lightning Addresses (for `lightning_address` in invoice data).
    pub address_domain: String,
}

// ---------------------------------------------------------------------------
// Pure rules: signatures, backoff.

/// The `Lnurld-Signature` value for `body` sent at `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(sign(secret, t, body)))
}

/// HMAC-SHA256(secret, "<t>.<body>").
pub fn sign(secret: &str, t: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Delay before attempt `attempts_done + 1`: `base · 2^(attempts_done-1)`
/// capped at [`MAX_RETRY_DELAY`], times `jitter` (expected in 0.5..=1.0).
pub fn retry_delay(base_ms: u64, attempts_done: i64, jitter: f64) -> Duration {
    let exp = attempts_done.clamp(1, 40) as u32 - 1;
    let full = base_ms
        .saturating_mul(1u64 << exp.min(32))
        .min(MAX_RETRY_DELAY.as_millis() as u64);
    Duration::from_millis((full as f64 * jitter.clamp(0.0, 1.0)) as u64)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// A new endpoint secret: `whsec_` + 32 random bytes in hex.
fn new_endpoint_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("whsec_{}", hex::encode(b))
}

/// The HTTP client deliveries use: no proxy from the environment, no
/// redirects (a redirect could lead to a refused address), the attempt
/// timeout from config.
pub fn http_client(cfg: &WebhooksConfig) -> reqwest::ClientBuilder {
    let timeout = Duration::from_secs(cfg.timeout_secs as u64);
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("lnurld-webhooks/", env!("CARGO_PKG_VERSION")))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

// ---------------------------------------------------------------------------
// Outbox: called inside the transaction of the state change.

fn insert_event(
    c: &mut DbConn,
    ob: &Outbox,
    kind: EventType,
    link_url: Option<String>,
    data: Value,
    t: i64,
) -> Result<(), DbError> {
    let id = new_id("evt");
    let target = link_url.or_else(|| ob.global_url.clone());
    let payload = json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": rfc3339(t),
        "data": data,
    })
    .to_string();
    Event {
        id,
        event_type: kind.as_str().to_owned(),
        payload,
        state: if target.is_some() {
            event::PENDING
        } else {
            event::NO_TARGET
        }
        .to_owned(),
        target_url: target,
        attempts: 0,
        next_attempt_at: t,
        retry_from: t,
        lease_owner: None,
        lease_until: None,
        last_error: None,
        created_at: t,
        updated_at: t,
        delivered_at: None,
    }
    .insert(c)
}

/// `data` of a withdraw event.
pub fn withdraw_data(l: &WithdrawLink, w: &Withdrawal) -> Value {
    json!({
        "withdraw_link_id": l.id,
        "external_id": l.external_id,
        "withdrawal_id": w.id,
        "state": w.state,
        "amount_msat": w.amount_msat,
        "fee_msat": w.fee_msat,
        "max_fee_msat": w.max_fee_msat,
        "payment_hash": w.payment_hash,
        "preimage": w.preimage,
        "failure_reason": w.failure_reason,
        "bolt11": w.bolt11,
        "created_at": rfc3339(w.created_at),
        "completed_at": w.completed_at.map(rfc3339),
    })
}

/// `data` of an invoice event.
pub fn invoice_data(ob: &Outbox, l: &PayLink, i: &PayInvoice, kind: EventType) -> Value {
    let state = match kind {
        EventType::InvoiceExpired => "expired",
        _ => i.state.as_str(),
    };
    json!({
        "pay_link_id": l.id,
        "username": l.username,
        "lightning_address": l.username.as_ref().map(|u| format!("{u}@{}", ob.address_domain)),
        "payment_hash": i.payment_hash,
        "state": state,
        "amount_msat": i.amount_msat,
        "amount_paid_msat": i.amount_paid_msat,
        "comment": i.comment,
        "payer_data": i.payer_data.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        "preimage": i.preimage,
        "bolt11": i.bolt11,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
        "settled_at": i.settled_at.map(rfc3339),
    })
}

fn missing(what: &str) -> DbError {
    tracing::error!(what, "row vanished inside its own transaction");
    DbError::Query(diesel::result::Error::NotFound)
}

/// Writes a withdraw event for `withdrawal_id` (call in the transaction
/// that just made the change).
pub fn withdraw_event(
    c: &mut DbConn,
    ob: &Outbox,
    kind: EventType,
    withdrawal_id: &str,
    t: i64,
) -> Result<(), DbError> {
    let w = Withdrawal::find(c, withdrawal_id)?.ok_or_else(|| missing("withdrawal"))?;
    let l = WithdrawLink::find(c, &w.link_id)?.ok_or_else(|| missing("withdraw link"))?;
    insert_event(c, ob, kind, l.webhook_url.clone(), withdraw_data(&l, &w), t)
}

/// Writes an invoice event for `payment_hash` (call in the transaction
/// that just made the change).
pub fn invoice_event(
    c: &mut DbConn,
    ob: &Outbox,
    kind: EventType,
    payment_hash: &str,
    t: i64,
) -> Result<(), DbError> {
    let i = PayInvoice::find(c, payment_hash)?.ok_or_else(|| missing("pay invoice"))?;
    let l = PayLink::find(c, &i.pay_link_id)?.ok_or_else(|| missing("pay link"))?;
    insert_event(
        c,
        ob,
        kind,
        l.webhook_url.clone(),
        invoice_data(ob, &l, &i, kind),
        t,
    )
}

// ---------------------------------------------------------------------------
// Views for the admin API.

/// One delivery attempt as shown to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    /// 1, 2, …
    pub attempt: i64,
    /// RFC 3339.
    pub attempted_at: String,
    /// Where it was sent.
    pub url: String,
    /// HTTP status, when an answer came.
    pub status_code: Option<i64>,
    /// What went wrong (transport error, refusal, non-2xx).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// An event as shown to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// `evt_…`.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered`, `failed` or `no_target`.
    pub state: String,
    /// Where it goes.
    pub target_url: Option<String>,
    /// Number of attempts made.
    pub attempt_count: i64,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub delivered_at: Option<String>,
    /// The exact envelope POSTed.
    pub payload: Value,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl EventView {
    fn from_rows(e: &Event, attempts: &[EventAttempt]) -> EventView {
        EventView {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            state: e.state.clone(),
            target_url: e.target_url.clone(),
            attempt_count: e.attempts,
            next_attempt_at: (e.state == event::PENDING).then(|| rfc3339(e.next_attempt_at)),
            last_error: e.last_error.clone(),
            created_at: rfc3339(e.created_at),
            delivered_at: e.delivered_at.map(rfc3339),
            payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            attempts: attempts
                .iter()
                .filter(|a| a.event_id == e.id)
                .map(|a| AttemptView {
                    attempt: a.attempt_no,
                    attempted_at: rfc3339(a.attempted_at),
                    url: a.url.clone(),
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// An endpoint as listed (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    /// The URL.
    pub url: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 of the last rotation.
    pub rotated_at: Option<String>,
}

/// An endpoint with its secret (answer of the secret and rotate routes).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSecretView {
    /// The URL.
    pub url: String,
    /// The signing secret (the HMAC key, used as is).
    pub secret: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 of the last rotation.
    pub rotated_at: Option<String>,
}

/// Outcome of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx: done.
    Delivered,
    /// Failed; scheduled again.
    Retry,
    /// Failed and out of time: `failed`.
    GaveUp,
    /// Another instance took it over meanwhile (nothing changed).
    LostLease,
}

const EVENT_STATES: [&str; 4] = [
    event::PENDING,
    event::DELIVERED,
    event::FAILED,
    event::NO_TARGET,
];

impl Services {
    /// What the outbox needs, for use inside a DB transaction.
    pub fn outbox(&self) -> Outbox {
        Outbox {
            global_url: self.config.webhooks.url.clone(),
            address_domain: self.config.address_domain(),
        }
    }

    /// Wakes the local delivery worker (after an event was committed).
    pub fn wake_webhooks(&self) {
        self.webhook_wake.notify_one();
    }

    /// Checks a link's `webhook_url` at creation (see the module docs).
    pub fn validate_webhook_url(&self, u: &str) -> Result<(), Error> {
        check_target_url(u, self.config.webhooks.allow_private_targets)
            .map(|_| ())
            .map_err(|e| Error::Invalid(format!("webhook_url {e}")))
    }

    fn check_endpoint_url(&self, u: &str) -> Result<(), Error> {
        check_target_url(u, self.config.webhooks.allow_private_targets)
            .map(|_| ())
            .map_err(|e| Error::Invalid(format!("url {e}")))
    }

    fn lease_secs(&self) -> i64 {
        // An attempt takes at most the timeout (DNS included); the margin
        // covers recording it.
        self.config.webhooks.timeout_secs as i64 * 2 + 5
    }

    /// Claims due events for this instance.
    pub async fn claim_due_events(&self, limit: i64) -> Result<Vec<Event>, Error> {
        let owner = self.instance_id.clone();
        let t = now();
        let until = t + self.lease_secs();
        Ok(self
            .db
            .run(move |c| Event::claim_due(c, &owner, until, t, limit))
            .await?)
    }

    /// The endpoint row and its clear secret, creating both on first use.
    async fn endpoint(&self, url: &str) -> Result<(WebhookEndpoint, String), Error> {
        let u = url.to_owned();
        let found = self.db.run(move |c| WebhookEndpoint::find(c, &u)).await?;
        let row = match found {
            Some(r) => r,
            None => {
                let row = WebhookEndpoint {
                    url: url.to_owned(),
                    secret_enc: self.keys.encrypt(&new_endpoint_secret())?,
                    created_at: now(),
                    rotated_at: None,
                };
                let r = row.clone();
                match self.db.run(move |c| r.insert(c)).await {
                    Ok(()) => row,
                    // Another instance created it first: use theirs.
                    Err(DbError::Duplicate(_)) => {
                        let u = url.to_owned();
                        self.db
                            .run(move |c| WebhookEndpoint::find(c, &u))
                            .await?
                            .ok_or_else(|| Error::Internal("webhook endpoint vanished".into()))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let secret = self.keys.decrypt(&row.secret_enc)?;
        Ok((row, secret))
    }

    /// Resolves and checks the target, then POSTs. `Ok(status)` when an
    /// answer came; `Err(text)` for refusals and transport errors.
    async fn post_event(
        &self,
        client: &reqwest::Client,
        target: &str,
        secret: &str,
        ev: &Event,
    ) -> Result<u16, String> {
        let cfg = &self.config.webhooks;
        let allow = cfg.allow_private_targets;
        let url = check_target_url(target, allow).map_err(|e| format!("refused: URL {e}"))?;
        let timeout = Duration::from_secs(cfg.timeout_secs as u64);
        let pinned;
        let client = match url.host() {
            Some(url::Host::Domain(d)) => {
                let port = url.port_or_known_default().unwrap_or(80);
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
                    if let Some(why) = forbidden_ip(a.ip(), allow) {
                        return Err(format!("refused: {d} resolves to {}, {why}", a.ip()));
                    }
                }
                // Connect to exactly the addresses checked.
                pinned = http_client(cfg)
                    .resolve_to_addrs(d, &addrs)
                    .build()
                    .map_err(|e| format!("cannot build HTTP client: {e}"))?;
                &pinned
            }
            // Literal addresses were checked by check_target_url.
            _ => client,
        };
        let t = now();
        let body = ev.payload.clone().into_bytes();
        let res = client
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature_header(secret, t, &body))
            .header(EVENT_ID_HEADER, ev.id.as_str())
            .header(EVENT_TYPE_HEADER, ev.event_type.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("timed out after {} s", cfg.timeout_secs)
                } else if e.is_connect() {
                    format!("connection failed: {}", error_chain(&e))
                } else {
                    error_chain(&e)
                }
            })?;
        Ok(res.status().as_u16())
    }

    /// Makes one attempt at an event this instance has claimed, and records
    /// it (attempt row and new event state in one transaction).
    pub async fn deliver_event(
        &self,
        client: &reqwest::Client,
        ev: &Event,
    ) -> Result<Delivery, Error> {
        let started_at = now();
        let t0 = Instant::now();
        let (url, outcome) = match &ev.target_url {
            None => (String::new(), Err("no target URL".to_owned())),
            Some(u) => {
                let outcome = match self.endpoint(u).await {
                    Ok((_, secret)) => self.post_event(client, u, &secret, ev).await,
                    Err(e) => {
                        tracing::error!(event = %ev.id, error = %e, "webhook: cannot load the endpoint secret");
                        Err("internal error loading the endpoint secret".to_owned())
                    }
                };
                (u.clone(), outcome)
            }
        };
        let duration_ms = t0.elapsed().as_millis().min(i64::MAX as u128) as i64;
        let (status_code, error) = match &outcome {
            Ok(s) if (200..300).contains(s) => (Some(*s as i64), None),
            Ok(s) => (Some(*s as i64), Some(format!("HTTP {s}"))),
            Err(e) => (None, Some(e.clone())),
        };
        let attempt = EventAttempt {
            id: new_id("att"),
            event_id: ev.id.clone(),
            attempt_no: ev.attempts + 1,
            attempted_at: started_at,
            url,
            status_code,
            error: error.clone(),
            duration_ms,
        };
        let t = now();
        let next_at = match &error {
            None => None,
            Some(_) => {
                let cfg = &self.config.webhooks;
                let deadline = ev.retry_from.saturating_add(cfg.max_age_secs as i64);
                if t >= deadline {
                    None
                } else {
                    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
                    let delay = retry_delay(cfg.retry_base_ms, ev.attempts + 1, jitter);
                    // Round up to whole seconds: never sooner than the delay.
                    let at_ms = now_ms().saturating_add(delay.as_millis() as i64);
                    Some(((at_ms + 999) / 1000).min(deadline))
                }
            }
        };
        let (id, owner, err) = (ev.id.clone(), self.instance_id.clone(), error.clone());
        let result = self
            .db
            .transaction(move |c| {
                attempt.insert(c)?;
                Ok(match err {
                    None => {
                        Event::mark_delivered(c, &id, t)?;
                        Delivery::Delivered
                    }
                    Some(e) => {
                        if !Event::mark_attempt_failed(c, &id, &owner, &e, next_at, t)? {
                            Delivery::LostLease
                        } else if next_at.is_some() {
                            Delivery::Retry
                        } else {
                            Delivery::GaveUp
                        }
                    }
                })
            })
            .await?;
        match result {
            Delivery::Delivered => {
                self.metrics.incr("lnurld_webhooks_delivered_total");
                tracing::info!(event = %ev.id, r#type = %ev.event_type, "webhook delivered");
            }
            Delivery::Retry => {
                self.metrics.incr("lnurld_webhook_attempts_failed_total");
                tracing::warn!(event = %ev.id, error = error.as_deref().unwrap_or(""), "webhook attempt failed; will retry");
            }
            Delivery::GaveUp => {
                self.metrics.incr("lnurld_webhooks_failed_total");
                tracing::error!(event = %ev.id, error = error.as_deref().unwrap_or(""), "webhook failed for good");
            }
            Delivery::LostLease => {}
        }
        Ok(result)
    }

    async fn event_view(&self, e: Event) -> Result<EventView, Error> {
        let ids = vec![e.id.clone()];
        let attempts = self
            .db
            .run(move |c| EventAttempt::for_events(c, &ids))
            .await?;
        Ok(EventView::from_rows(&e, &attempts))
    }

    /// Events, newest first, with their attempts; `cursor` is the last event
    /// id of the previous page.
    pub async fn list_events(
        &self,
        event_type: Option<String>,
        state: Option<String>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<(Vec<EventView>, Option<String>), Error> {
        let limit = super::page_limit(limit)?;
        if let Some(t) = &event_type {
            if EventType::parse(t).is_none() {
                return Err(Error::Invalid(format!(
                    "type must be one of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                )));
            }
        }
        if let Some(s) = &state {
            if !EVENT_STATES.contains(&s.as_str()) {
                return Err(Error::Invalid(format!(
                    "state must be one of {}",
                    EVENT_STATES.join(", ")
                )));
            }
        }
        let filter = EventFilter { event_type, state };
        let rows = self
            .db
            .run(move |c| {
                let cur = match cursor {
                    None => None,
                    Some(id) => match Event::find(c, &id)? {
                        Some(e) => Some((e.created_at, e.id)),
                        None => return Ok(None),
                    },
                };
                let rows = Event::list(c, &filter, limit as i64, cur)?;
                let ids: Vec<String> = rows.iter().map(|e| e.id.clone()).collect();
                let attempts = EventAttempt::for_events(c, &ids)?;
                Ok(Some((rows, attempts)))
            })
            .await?;
        let (rows, attempts) =
            rows.ok_or_else(|| Error::Invalid("cursor does not name an event".into()))?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|e| e.id.clone()))
            .flatten();
        Ok((
            rows.iter()
                .map(|e| EventView::from_rows(e, &attempts))
                .collect(),
            next,
        ))
    }

    /// One event with its attempts.
    pub async fn get_event(&self, id: &str) -> Result<EventView, Error> {
        let i = id.to_owned();
        let e = self
            .db
            .run(move |c| Event::find(c, &i))
            .await?
            .ok_or_else(|| Error::NotFound("event not found".into()))?;
        self.event_view(e).await
    }

    /// Sends an event again (whatever its state) from now on, with a fresh
    /// retry window. An event without a target goes to `[webhooks] url`.
    pub async fn redeliver_event(&self, id: &str) -> Result<EventView, Error> {
        let cur = self.get_event(id).await?;
        let target = cur
            .target_url
            .or_else(|| self.config.webhooks.url.clone())
            .ok_or_else(|| {
                Error::Conflict(
                    "this event has no target: set [webhooks] url (or the link's webhook_url for new events)"
                        .into(),
                )
            })?;
        let (i, t) = (id.to_owned(), now());
        self.db
            .transaction(move |c| Event::redeliver(c, &i, &target, t))
            .await?;
        self.wake_webhooks();
        self.get_event(id).await
    }

    /// Every endpoint that has a secret (never the secrets themselves).
    pub async fn list_webhook_endpoints(&self) -> Result<Vec<EndpointView>, Error> {
        let rows = self.db.run(WebhookEndpoint::list).await?;
        Ok(rows
            .into_iter()
            .map(|r| EndpointView {
                url: r.url,
                created_at: rfc3339(r.created_at),
                rotated_at: r.rotated_at.map(rfc3339),
            })
            .collect())
    }

    /// The current signing secret of `url` (created if it has none yet), so
    /// the operator can configure the receiver.
    pub async fn webhook_secret(&self, url: &str) -> Result<EndpointSecretView, Error> {
        self.check_endpoint_url(url)?;
        let (row, secret) = self.endpoint(url).await?;
        Ok(EndpointSecretView {
            url: row.url,
            secret,
            created_at: rfc3339(row.created_at),
            rotated_at: row.rotated_at.map(rfc3339),
        })
    }

    /// Replaces the signing secret of `url`; the old one stops at once.
    pub async fn rotate_webhook_secret(&self, url: &str) -> Result<EndpointSecretView, Error> {
        self.check_endpoint_url(url)?;
        // Make sure the row exists, then replace its secret.
        self.endpoint(url).await?;
        let secret = new_endpoint_secret();
        let (u, enc, t) = (url.to_owned(), self.keys.encrypt(&secret)?, now());
        self.db
            .transaction(move |c| WebhookEndpoint::rotate(c, &u, &enc, t))
            .await?;
        let (row, current) = self.endpoint(url).await?;
        Ok(EndpointSecretView {
            url: row.url,
            secret: current,
            created_at: rfc3339(row.created_at),
            rotated_at: row.rotated_at.map(rfc3339),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Same value as: printf '%s' '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let h = signature_header("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test").expect("test input is valid");
        m.update(br#"1700000000.{"a":1}"#);
        let expected = hex::encode(m.finalize().into_bytes());
        assert_eq!(h, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_delay(1000, 1, 1.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(1000, 2, 1.0), Duration::from_millis(2000));
        assert_eq!(retry_delay(1000, 3, 0.5), Duration::from_millis(2000));
        assert_eq!(retry_delay(5000, 30, 1.0), MAX_RETRY_DELAY);
    }
}
