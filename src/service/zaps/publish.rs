//! Publishing: claiming due rows, sending the receipt to each row's relay,
//! recording the outcome. Delivery is at least once per relay: a row is
//! `published` only after the relay's `OK` true; anything else (refusal,
//! timeout, lost connection, refused address) is retried after
//! `retry_base_ms · 2^(n-1)` (n = attempts so far, capped at one hour,
//! with 50–100 % jitter) until `[nostr] publish_window_secs` after the
//! settlement; then it is `failed`. The lease (as webhook events have)
//! makes one instance the only sender of a row at a time, and it outlasts
//! an attempt, so several instances send each receipt once per relay.

use std::time::Duration;

use rand::Rng;

use super::relay::{send_event, RelayAnswer};
use super::ZapService;
use crate::db::models::ZapPublication;
use crate::metrics::ZapOutcome;
use crate::service::webhooks::retry_delay;
use crate::service::{now, Error};

/// Outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The relay has it.
    Accepted,
    /// Failed; scheduled again.
    Retry,
    /// Failed and out of time: `failed`.
    GaveUp,
    /// Another instance took the row over meanwhile (nothing recorded).
    LostLease,
}

impl ZapService {
    fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.timeout_secs))
    }

    fn lease_secs(&self) -> i64 {
        // An attempt takes at most the timeout; the margin covers
        // recording it.
        i64::from(self.config.timeout_secs) * 2 + 5
    }

    /// Claims up to `limit` due rows for this instance.
    pub async fn claim_due(&self, limit: i64) -> Result<Vec<ZapPublication>, Error> {
        let owner = self.instance_id.clone();
        let t = now();
        let until = t + self.lease_secs();
        Ok(self
            .db
            .write(move |c| ZapPublication::claim_due(c, &owner, until, t, limit))
            .await?)
    }

    /// Makes one attempt at a row this instance has claimed, and records it.
    pub async fn publish(&self, row: &ZapPublication) -> Result<Published, Error> {
        let hash = row.payment_hash.clone();
        let receipt = self
            .db
            .run(move |c| ZapPublication::receipt_of(c, &hash))
            .await?;
        let outcome = match receipt {
            None => Err("the invoice has no receipt".to_owned()),
            Some(r) => {
                send_event(
                    &row.relay,
                    &r,
                    self.outbox.allow_insecure,
                    self.outbox.allow_private,
                    self.timeout(),
                )
                .await
            }
        };
        let host = relay_host(&row.relay);
        let t = now();
        let id = row.id.clone();
        let result = match outcome {
            Ok(RelayAnswer::Accepted) => {
                self.metrics.zap_receipt(&host, ZapOutcome::Published);
                self.db
                    .write(move |c| ZapPublication::mark_published(c, &id, t))
                    .await?;
                tracing::info!(relay = %row.relay, payment_hash = %row.payment_hash, "zap receipt published");
                Published::Accepted
            }
            Ok(RelayAnswer::Refused(msg)) => {
                self.metrics.zap_receipt(&host, ZapOutcome::Refused);
                self.failed(row, format!("refused by the relay: {msg}"), t)
                    .await?
            }
            Err(e) => {
                self.metrics.zap_receipt(&host, ZapOutcome::Failed);
                self.failed(row, e, t).await?
            }
        };
        Ok(result)
    }

    /// Records a failed attempt: retry after the backoff, or give up past
    /// the row's window.
    async fn failed(
        &self,
        row: &ZapPublication,
        error: String,
        t: i64,
    ) -> Result<Published, Error> {
        let next_at = self.retry_at(row, t);
        let (id, owner) = (row.id.clone(), self.instance_id.clone());
        let e = error.clone();
        let ours = self
            .db
            .write(move |c| ZapPublication::mark_attempt_failed(c, &id, &owner, &e, next_at, t))
            .await?;
        Ok(if !ours {
            Published::LostLease
        } else if next_at.is_some() {
            tracing::warn!(relay = %row.relay, payment_hash = %row.payment_hash, error = %error, "zap receipt not published yet; will retry");
            Published::Retry
        } else {
            tracing::error!(relay = %row.relay, payment_hash = %row.payment_hash, error = %error, "zap receipt not published within [nostr] publish_window_secs; giving up on this relay");
            Published::GaveUp
        })
    }

    /// When to try again after an attempt failed at `t`, or `None` once
    /// the row's window has passed.
    fn retry_at(&self, row: &ZapPublication, t: i64) -> Option<i64> {
        if t >= row.give_up_at {
            return None;
        }
        let jitter = rand::thread_rng().gen_range(0.5..=1.0);
        let delay = retry_delay(self.config.retry_base_ms, row.attempts + 1, jitter);
        // Whole seconds, rounded up: never sooner than the delay.
        let secs = i64::try_from(delay.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
        Some(t.saturating_add(secs.max(1)).min(row.give_up_at))
    }
}

/// The host of a relay URL, for the metrics label.
fn relay_host(relay: &str) -> String {
    url::Url::parse(relay)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "invalid".to_owned())
}
