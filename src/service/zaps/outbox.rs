//! The receipt outbox: when a zap's invoice settles, the signed receipt
//! and one row per relay are written in the *same transaction* as the
//! settlement, and only when that transaction settled the invoice, so a
//! receipt exists iff the payment was recorded, once, whatever the
//! crashes or instances. The receipt is signed here, once: every attempt
//! at every relay sends these same bytes (same id).

use super::ZapOutbox;
use crate::db::models::{PayInvoice, ZapPublication};
use crate::db::types::ZapPublicationState;
use crate::db::{new_id, DbConn, DbError};
use crate::lnurl::zap;

/// Writes the receipt of the invoice `hash` (just settled by the caller's
/// transaction) and its outbox rows; does nothing for an invoice that was
/// no zap. Returns whether rows were written (wake the worker after the
/// commit). A receipt that cannot be built is logged, never a reason to
/// undo the settlement.
pub fn write_receipt(c: &mut DbConn, ob: &ZapOutbox, hash: &str, t: i64) -> Result<bool, DbError> {
    let Some(inv) = PayInvoice::find(c, hash)? else {
        return Ok(false);
    };
    let Some(request) = inv.zap_request.as_deref() else {
        return Ok(false);
    };
    let Some(keys) = &ob.keys else {
        tracing::warn!(
            payment_hash = hash,
            "a zap was paid while [nostr] is disabled; no receipt is published"
        );
        return Ok(false);
    };
    let (Some(preimage), Some(settled_at)) = (inv.preimage.as_deref(), inv.settled_at) else {
        return Ok(false);
    };
    let paid = zap::Paid {
        bolt11: &inv.bolt11,
        preimage,
        settled_at: u64::try_from(settled_at).unwrap_or(0),
    };
    let built = nostr::prelude::Event::from_json(request)
        .map_err(|e| e.to_string())
        .and_then(|req| {
            let receipt = zap::receipt(keys, request, &paid)?;
            let json = receipt.try_as_json().map_err(|e| e.to_string())?;
            Ok((json, zap::relays_of(&req)))
        });
    let (receipt, relays) = match built {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(payment_hash = hash, error = %e, "cannot build the zap receipt");
            return Ok(false);
        }
    };
    PayInvoice::set_zap_receipt(c, hash, &receipt)?;
    let rows: Vec<ZapPublication> = relays
        .into_iter()
        .map(|relay| ZapPublication {
            id: new_id("zpub"),
            payment_hash: hash.to_owned(),
            relay,
            state: ZapPublicationState::Pending,
            attempts: 0,
            next_attempt_at: t,
            give_up_at: t.saturating_add(ob.window_secs),
            lease_owner: None,
            lease_until: None,
            last_error: None,
            created_at: t,
            updated_at: t,
            published_at: None,
        })
        .collect();
    ZapPublication::insert_many(c, &rows)?;
    Ok(!rows.is_empty())
}
