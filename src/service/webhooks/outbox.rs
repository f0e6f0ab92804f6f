//! The outbox: an event is written inside the transaction of the change
//! that causes it. Service layer: imports `db` only; the callers (withdraw
//! payouts, pay settlement and expiry) pass their open connection.
//!
//! # Outbox
//! The event row is inserted in the *same transaction* as the state change
//! that causes it, and only when that transaction actually changed the row
//! (the conditional UPDATE said so), so an event exists iff its change was
//! committed, exactly once, whatever the crashes, retries or instances.
//! After the commit the local delivery worker is woken
//! ([`Outbox::wake`]);
//! other instances find the row within a second by polling.
//!
//! # Target
//! The target URL is resolved when the event is written: the link's
//! `webhook_url`, else `[webhooks] url`; with neither, the event is stored in
//! state `no_target` (kept for the audit log; redelivering it later uses the
//! global URL then configured).

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use super::events::{envelope, invoice_data, withdraw_data, EventType};
use crate::config::Config;
use crate::db::models::{Event, PayInvoice, PayLink, WithdrawLink, Withdrawal};
use crate::db::types::{EventId, EventState, WithdrawalId};
use crate::db::{DbConn, DbError};
use crate::service::Error;
use crate::webhook_target::check_target_url;

/// What the outbox needs from the config, cloned into DB transactions.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// `[webhooks] url`.
    pub global_url: Option<String>,
    /// Domain of Lightning Addresses (for `lightning_address` in invoice data).
    pub address_domain: String,
    /// `[webhooks] allow_private_targets`, for a link's `webhook_url`.
    allow_private_targets: bool,
    /// Wakes the local delivery worker.
    wake: Arc<Notify>,
}

impl Outbox {
    /// The outbox of `config`, waking the worker that waits on `wake`.
    pub fn new(config: &Config, wake: Arc<Notify>) -> Outbox {
        Outbox {
            global_url: config.webhooks.url.clone(),
            address_domain: config.address_domain(),
            allow_private_targets: config.webhooks.allow_private_targets,
            wake,
        }
    }

    /// Checks a link's `webhook_url` when the link is created or edited
    /// (see [`crate::webhook_target`]; delivery checks again).
    pub fn check_link_url(&self, u: &str) -> Result<(), Error> {
        check_target_url(u, self.allow_private_targets)
            .map(|_| ())
            .map_err(|e| Error::Invalid(format!("webhook_url {e}")))
    }

    /// Wakes the local delivery worker; call after the event's transaction
    /// committed (other instances find the row by polling).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits for [`Self::wake`] (the delivery worker's side).
    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }
}

fn insert_event(
    c: &mut DbConn,
    ob: &Outbox,
    kind: EventType,
    link_url: Option<String>,
    data: Value,
    t: i64,
) -> Result<(), DbError> {
    new_event(ob, kind, link_url, data, t).insert(c)
}

fn new_event(ob: &Outbox, kind: EventType, link_url: Option<String>, data: Value, t: i64) -> Event {
    let id = EventId::generate();
    let target = link_url.or_else(|| ob.global_url.clone());
    let payload = envelope(&id, kind, t, data);
    Event {
        id,
        event_type: kind,
        payload,
        state: if target.is_some() {
            EventState::Pending
        } else {
            EventState::NoTarget
        },
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
    withdrawal_id: &WithdrawalId,
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
        invoice_data(&ob.address_domain, &l, &i, kind),
        t,
    )
}

/// Writes one invoice event for each of `rows` (invoices the caller has
/// just changed and read back with their links), in one statement: the
/// expiry sweeper marks a whole batch at once.
pub fn invoice_events_of(
    c: &mut DbConn,
    ob: &Outbox,
    kind: EventType,
    rows: &[(PayInvoice, PayLink)],
    t: i64,
) -> Result<(), DbError> {
    let events: Vec<Event> = rows
        .iter()
        .map(|(i, l)| {
            new_event(
                ob,
                kind,
                l.webhook_url.clone(),
                invoice_data(&ob.address_domain, l, i, kind),
                t,
            )
        })
        .collect();
    Event::insert_many(c, &events)
}
