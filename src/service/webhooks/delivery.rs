//! Delivery: signing, POSTing and retrying events this instance has
//! claimed. Service layer: imports `db`, `config` and
//! [`crate::webhook_target`]; the HTTP client here is an *outgoing* one
//! (reqwest), never actix.
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

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use super::WebhookService;
use crate::config::WebhooksConfig;
use crate::db::models::{Event, EventAttempt};
use crate::db::types::AttemptId;
use crate::metrics::Counter;
use crate::service::{now, Error};
use crate::webhook_target::{check_target_url, forbidden_ip};

/// Header carrying `t=<unix seconds>,v1=<hex hmac>`.
pub const SIGNATURE_HEADER: &str = "Lnurld-Signature";
/// Header carrying the event id (receivers dedupe by it).
pub const EVENT_ID_HEADER: &str = "Lnurld-Event-Id";
/// Header carrying the event type.
pub const EVENT_TYPE_HEADER: &str = "Lnurld-Event-Type";
/// Longest delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

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

/// The `Lnurld-Signature` value for `body` sent at `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(sign(secret, t, body)))
}

/// `HMAC-SHA256(secret, "<t>.<body>")`.
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
    let exp = u32::try_from(attempts_done.clamp(1, 40) - 1).unwrap_or(0);
    let full = base_ms
        .saturating_mul(1u64 << exp.min(32))
        .min(u64::try_from(MAX_RETRY_DELAY.as_millis()).unwrap_or(u64::MAX));
    // Scaling by a fraction goes through f64; `full` is at most an hour in
    // ms, far inside f64's exact integers, and the product is in 0..=full.
    Duration::from_millis((full as f64 * jitter.clamp(0.0, 1.0)) as u64)
}

/// `d` in whole milliseconds, saturating (a column holds i64).
fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(millis_i64)
        .unwrap_or(0)
}

/// The HTTP client deliveries use: no proxy from the environment, no
/// redirects (a redirect could lead to a refused address), the attempt
/// timeout from config.
pub fn http_client(cfg: &WebhooksConfig) -> reqwest::ClientBuilder {
    let timeout = Duration::from_secs(u64::from(cfg.timeout_secs));
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

/// For a target named by a domain: resolves it, checks every address, and
/// builds a client that connects to exactly the addresses checked, so a DNS
/// answer that changes in between (rebinding) cannot reach a refused
/// address. `None` for a literal address, which `check_target_url` checked.
async fn pinned_client(
    cfg: &WebhooksConfig,
    url: &url::Url,
) -> Result<Option<reqwest::Client>, String> {
    let Some(url::Host::Domain(d)) = url.host() else {
        return Ok(None);
    };
    let timeout = Duration::from_secs(u64::from(cfg.timeout_secs));
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, tokio::net::lookup_host((d, port)))
        .await
        .map_err(|_| format!("resolving {d} timed out"))?
        .map_err(|e| format!("cannot resolve {d}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{d} resolves to no address"));
    }
    for a in &addrs {
        if let Some(why) = forbidden_ip(a.ip(), cfg.allow_private_targets) {
            return Err(format!("refused: {d} resolves to {}, {why}", a.ip()));
        }
    }
    http_client(cfg)
        .resolve_to_addrs(d, &addrs)
        .build()
        .map(Some)
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// What a failed send is recorded as.
fn send_error(cfg: &WebhooksConfig, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timed out after {} s", cfg.timeout_secs)
    } else if e.is_connect() {
        format!("connection failed: {}", error_chain(e))
    } else {
        error_chain(e)
    }
}

impl WebhookService {
    fn lease_secs(&self) -> i64 {
        // An attempt takes at most the timeout (DNS included); the margin
        // covers recording it.
        i64::from(self.config.timeout_secs) * 2 + 5
    }

    /// Claims due events for this instance.
    pub async fn claim_due_events(&self, limit: i64) -> Result<Vec<Event>, Error> {
        let owner = self.instance_id.clone();
        let t = now();
        let until = t + self.lease_secs();
        Ok(self
            .db
            .write(move |c| Event::claim_due(c, &owner, until, t, limit))
            .await?)
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
        let cfg = &self.config;
        let url = check_target_url(target, cfg.allow_private_targets)
            .map_err(|e| format!("refused: URL {e}"))?;
        let timeout = Duration::from_secs(u64::from(cfg.timeout_secs));
        let pinned = pinned_client(cfg, &url).await?;
        let client = pinned.as_ref().unwrap_or(client);
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
            .map_err(|e| send_error(cfg, &e))?;
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
        let (url, outcome) = self.attempt(client, ev).await;
        let duration_ms = millis_i64(t0.elapsed());
        let (status_code, error) = match &outcome {
            Ok(s) if (200..300).contains(s) => (Some(i64::from(*s)), None),
            Ok(s) => (Some(i64::from(*s)), Some(format!("HTTP {s}"))),
            Err(e) => (None, Some(e.clone())),
        };
        let attempt = EventAttempt {
            id: AttemptId::generate(),
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
            Some(_) => self.retry_at(ev, t),
        };
        let result = self.record_attempt(attempt, next_at, t).await?;
        self.report_delivery(ev, result, error.as_deref());
        Ok(result)
    }

    /// POSTs the event to its target with that endpoint's secret. Returns
    /// the URL tried (empty without a target) and the outcome as
    /// [`Self::post_event`] gives it.
    async fn attempt(&self, client: &reqwest::Client, ev: &Event) -> (String, Result<u16, String>) {
        match &ev.target_url {
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
        }
    }

    /// When to try again after an attempt failed at `t`: after the backoff
    /// (see the module docs), or `None` once `max_age_secs` have passed
    /// since the event was created or redelivered.
    fn retry_at(&self, ev: &Event, t: i64) -> Option<i64> {
        let cfg = &self.config;
        let deadline = ev
            .retry_from
            .saturating_add(i64::try_from(cfg.max_age_secs).unwrap_or(i64::MAX));
        if t >= deadline {
            return None;
        }
        let jitter = rand::thread_rng().gen_range(0.5..=1.0);
        let delay = retry_delay(cfg.retry_base_ms, ev.attempts + 1, jitter);
        // Round up to whole seconds: never sooner than the delay.
        let at_ms = now_ms().saturating_add(millis_i64(delay));
        Some(((at_ms + 999) / 1000).min(deadline))
    }

    /// Stores the attempt and the event's new state in one transaction;
    /// `next_at` is when to retry a failed attempt (`None`: give up).
    async fn record_attempt(
        &self,
        attempt: EventAttempt,
        next_at: Option<i64>,
        t: i64,
    ) -> Result<Delivery, Error> {
        let (id, owner) = (attempt.event_id.clone(), self.instance_id.clone());
        let err = attempt.error.clone();
        Ok(self
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
            .await?)
    }

    /// Counts and logs the outcome of one attempt.
    fn report_delivery(&self, ev: &Event, result: Delivery, error: Option<&str>) {
        match result {
            Delivery::Delivered => {
                self.metrics.count(Counter::WebhooksDelivered);
                tracing::info!(event = %ev.id, r#type = %ev.event_type, "webhook delivered");
            }
            Delivery::Retry => {
                self.metrics.count(Counter::WebhookAttemptsFailed);
                tracing::warn!(event = %ev.id, error = error.unwrap_or(""), "webhook attempt failed; will retry");
            }
            Delivery::GaveUp => {
                self.metrics.count(Counter::WebhooksFailed);
                tracing::error!(event = %ev.id, error = error.unwrap_or(""), "webhook failed for good");
            }
            Delivery::LostLease => {}
        }
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
