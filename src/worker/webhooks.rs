//! The webhook delivery worker: claims due events (leased, so with several
//! instances one event is sent by one of them at a time), makes one attempt
//! each concurrently (at most [`MAX_IN_FLIGHT`]), and records it; failed
//! attempts are rescheduled by the service with backoff. Woken at once when
//! this instance commits an event, and polls every [`POLL`] for the rest
//! (other instances' events, retries that came due). The attempts run in a
//! `JoinSet` owned by the loop, so an abrupt stop cancels them with it; an
//! interrupted attempt is retried after its lease runs out.
//!
//! Invoice expiry, which writes `invoice.expired`, is swept by
//! [`super::invoices::sweep_expired`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::service::Services;

/// How often the worker looks for due events nobody woke it for.
pub const POLL: Duration = Duration::from_millis(1000);
/// Most attempts running at once per instance.
pub const MAX_IN_FLIGHT: usize = 16;

/// Runs until `shutdown` turns true; a graceful stop lets running attempts
/// finish (each is bounded by `[webhooks] timeout_secs`).
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let client = match svc.webhooks().http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; no deliveries");
            return;
        }
    };
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let room = MAX_IN_FLIGHT.saturating_sub(running.len());
        if room > 0 {
            match svc
                .webhooks()
                .claim_due_events(i64::try_from(room).unwrap_or(i64::MAX))
                .await
            {
                Ok(events) => {
                    for ev in events {
                        let (svc, client) = (svc.clone(), client.clone());
                        running.spawn(async move {
                            if let Err(e) = svc.webhooks().deliver_event(&client, &ev).await {
                                tracing::error!(event = %ev.id, error = %e, "webhooks: cannot record an attempt");
                            }
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "webhooks: cannot claim due events"),
            }
        }
        tokio::select! {
            _ = svc.webhooks().woken() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}
