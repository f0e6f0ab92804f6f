//! Webhooks: tell the operator's systems when money moved — at least once,
//! signed, never lost. Service layer: imports `db`, `config`, the server
//! keys, `metrics` and [`crate::webhook_target`], never `service::pay` (pay
//! writes its events through the outbox here, not the other way round); the
//! HTTP client here is an *outgoing* one (reqwest), never actix.
//!
//! - this file: the handle, [`WebhookService`] (`svc.webhooks()`), holding
//!   only the database, `[webhooks]`, the keys, the metrics, the instance id
//!   and the outbox (which carries the delivery worker's wake);
//! - `events.rs`: the event types, the envelope and the `data` of each;
//! - `outbox.rs`: writing an event inside the caller's transaction, and
//!   where it will be sent;
//! - `delivery.rs`: claiming, signing, POSTing, retrying;
//! - `endpoints.rs`: each endpoint URL's signing secret;
//! - `admin.rs`: the event log as the admin API shows it, redelivery.
//!
//! Invoice expiry, which writes `invoice.expired`, belongs to pay
//! (`service::pay`) and calls the outbox here.
//!
//! # Target checks
//! Which addresses may be targets is decided in [`crate::webhook_target`]:
//! URLs when a link names them, resolved addresses before every attempt.

mod admin;
mod delivery;
mod endpoints;
mod events;
mod outbox;

pub use admin::{AttemptView, EventView};
pub use delivery::{
    http_client, retry_delay, sign, signature_header, Delivery, EVENT_ID_HEADER, EVENT_TYPE_HEADER,
    MAX_RETRY_DELAY, SIGNATURE_HEADER,
};
pub use endpoints::{EndpointSecretView, EndpointView};
pub use events::{invoice_data, withdraw_data, EventId, EventType};
pub use outbox::{invoice_event, invoice_events_of, withdraw_event, Outbox};

use std::sync::Arc;

use super::{Base, ServerKeys};
use crate::config::WebhooksConfig;
use crate::db::Db;
use crate::metrics::Metrics;

/// The webhooks handle: events, delivery and endpoint secrets.
pub struct WebhookService {
    /// The database.
    db: Db,
    /// `[webhooks]`.
    config: WebhooksConfig,
    /// Encrypt endpoint secrets at rest.
    keys: ServerKeys,
    /// Delivery counters.
    metrics: Arc<Metrics>,
    /// Identity of this process for delivery leases.
    instance_id: String,
    /// Where events are written; also carries the worker's wake.
    outbox: Outbox,
}

impl WebhookService {
    /// Built once by [`Services::new`].
    pub(crate) fn new(base: &Base, outbox: Outbox) -> WebhookService {
        WebhookService {
            db: base.db.clone(),
            config: base.config.webhooks.clone(),
            keys: base.keys.clone(),
            metrics: base.metrics.clone(),
            instance_id: base.instance_id.clone(),
            outbox,
        }
    }

    /// What the outbox needs, for use inside a DB transaction.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Wakes the local delivery worker (after an event was committed).
    pub fn wake(&self) {
        self.outbox.wake();
    }

    /// Waits until [`Self::wake`] (or [`Outbox::wake`]) is called; a wake
    /// that came while nobody waited is kept for the next wait.
    pub async fn woken(&self) {
        self.outbox.woken().await;
    }

    /// The HTTP client deliveries use (see [`http_client`]).
    pub fn http_client(&self) -> reqwest::Result<reqwest::Client> {
        http_client(&self.config).build()
    }
}
