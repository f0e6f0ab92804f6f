//! The events and what each carries. Service layer, pure: builds JSON from
//! rows (`db` models), no I/O.
//!
//! # Events
//! `withdraw.succeeded`, `withdraw.failed` (the use was given back),
//! `withdraw.needs_review` (in flight on a node lnurld was switched away
//! from: look it up on that node, `data.node_pubkey`),
//! `invoice.settled` (with the payer's comment, LUD-18 payer data and, for a
//! NIP-57 zap, `zap: {sender, recipient, event_id, receipt_id}`) and
//! `invoice.expired` (written by pay's expiry sweep). Every event is one JSON envelope
//! `{"id":"evt_…","type":"…","created_at":RFC 3339,"data":{…}}` whose `data`
//! is the full object at the time of the event (see [`withdraw_data`] and
//! [`invoice_data`]).

use serde_json::{json, Value};

use crate::db::models::{PayInvoice, PayLink, WithdrawLink, Withdrawal};
use crate::db::types::InvoiceStatus;
pub use crate::db::types::{EventId, EventType};
use crate::service::rfc3339;

/// The JSON envelope POSTed for an event:
/// `{"id","type","created_at","data"}`, as the string stored with the event
/// (every attempt sends these same bytes).
pub(super) fn envelope(id: &EventId, kind: EventType, t: i64, data: Value) -> String {
    json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": rfc3339(t),
        "data": data,
    })
    .to_string()
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
        "node_pubkey": w.node_pubkey,
    })
}

/// `data` of an invoice event.
pub fn invoice_data(address_domain: &str, l: &PayLink, i: &PayInvoice, kind: EventType) -> Value {
    let state = match kind {
        EventType::InvoiceExpired => InvoiceStatus::Expired.as_str(),
        _ => i.state.as_str(),
    };
    json!({
        "pay_link_id": l.id,
        "username": l.username,
        "lightning_address": l.username.as_ref().map(|u| format!("{u}@{address_domain}")),
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
        // NIP-57: `{sender, recipient, event_id, receipt_id}` for a zap.
        "zap": i.zap_request.as_deref().and_then(|r| crate::lnurl::zap::summary(r, i.zap_receipt.as_deref())),
    })
}
