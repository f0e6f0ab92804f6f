//! Node layer, `cln` backend: outgoing payments with `Xpay` (or `Pay` on a
//! node without xpay), tracked with `ListPays`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.
//! CLN's rules (v26.06.6, `plugins/xpay/xpay.c`, `lightningd/pay.c`):
//!
//! - `pay` is handed to xpay by default; lnurld asks `Help` once whether
//!   `xpay` exists and calls it directly, else `pay`.
//! - A hash already paid: `xpay` fails with 219 "Already paid this invoice
//!   successfully", `pay` returns the earlier success. A hash in flight:
//!   200, or -3 whose text says "still in progress". lnurld never sends
//!   blind after either: the caller tracks with `ListPays`.
//! - `maxfee` is always lnurld's fee limit (CLN's default is
//!   max(1 %, 5,000 msat)), and `retry_for` the payment timeout.
//! - When CLN gives up (205/206/210/…), `ListPays` is asked before the
//!   failure is believed: a part still pending (or a success) wins.

use std::time::Duration;

use tokio::time::Instant;

use super::errors::{map_status, payment_failure, rpc_error};
use super::proto;
use super::{msat, preimage_from_bytes, unary, ClnNode};
use crate::node::{NodeError, PaymentFailure, PaymentHash, PaymentOutcome};

/// Extra time `pay` waits beyond `retry_for`: CLN reports giving up only
/// after its own deadline.
const PAY_MARGIN: Duration = Duration::from_secs(2);
/// How often `track` asks again while a payment is pending.
const POLL: Duration = Duration::from_millis(250);

/// `retry_for`: whole seconds, at least 1.
fn retry_for(timeout: Duration) -> u32 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

/// Whether the node has `xpay`, asked once with `Help`. Only a definite
/// answer is remembered; a transport error is returned.
async fn has_xpay(node: &ClnNode) -> Result<bool, NodeError> {
    node.has_xpay
        .get_or_try_init(|| async {
            let mut client = node.client();
            let req = proto::HelpRequest {
                command: Some("xpay".into()),
            };
            match client.help(req).await {
                Ok(resp) => Ok(resp
                    .into_inner()
                    .help
                    .iter()
                    .any(|h| h.command == "xpay" || h.command.starts_with("xpay "))),
                // CLN answers `help` of an unknown command with an RpcError.
                Err(status) if rpc_error(&status).is_some() => Ok(false),
                Err(status) => Err(map_status(&status, &node.names.ca_cert)),
            }
        })
        .await
        .copied()
}

/// Pays `bolt11`, waiting about `timeout` for a final outcome.
pub(super) async fn send(
    node: &ClnNode,
    bolt11: &str,
    max_fee_msat: u64,
    timeout: Duration,
) -> Result<PaymentOutcome, NodeError> {
    let xpay = has_xpay(node).await?;
    let maxfee = Some(proto::Amount { msat: max_fee_msat });
    let mut client = node.client();
    let deadline = Instant::now() + timeout + PAY_MARGIN;
    let answer = if xpay {
        let req = proto::XpayRequest {
            invstring: bolt11.to_owned(),
            maxfee,
            retry_for: Some(retry_for(timeout)),
            ..Default::default()
        };
        tokio::time::timeout_at(deadline, async {
            client.xpay(req).await.map(|r| {
                let r = r.into_inner();
                xpay_outcome(&r)
            })
        })
        .await
    } else {
        let req = proto::PayRequest {
            bolt11: bolt11.to_owned(),
            maxfee,
            retry_for: Some(retry_for(timeout)),
            ..Default::default()
        };
        tokio::time::timeout_at(deadline, async {
            client.pay(req).await.map(|r| pay_outcome(&r.into_inner()))
        })
        .await
    };
    match answer {
        // Dropping the call does not stop the payment: the caller tracks.
        Err(_) => Ok(PaymentOutcome::InFlight),
        Ok(Ok(outcome)) => outcome,
        Ok(Err(status)) => {
            let Some(reason) = rpc_error(&status).and_then(|e| payment_failure(e.code)) else {
                return Err(map_status(&status, &node.names.ca_cert));
            };
            // CLN gave up; believe it only if nothing is left in flight.
            let hash = hash_of_bolt11(bolt11)?;
            match track(node, hash, Duration::ZERO).await? {
                Some(o @ (PaymentOutcome::Succeeded { .. } | PaymentOutcome::InFlight)) => Ok(o),
                Some(PaymentOutcome::Failed(_)) | None => Ok(PaymentOutcome::Failed(reason)),
            }
        }
    }
}

/// The payment hash of an invoice CLN refused, for the `ListPays` check.
fn hash_of_bolt11(bolt11: &str) -> Result<PaymentHash, NodeError> {
    use bitcoin::hashes::Hash;
    let inv: lightning_invoice::Bolt11Invoice = bolt11
        .trim()
        .parse()
        .map_err(|e| NodeError::InvalidInvoice(format!("{e}")))?;
    Ok(PaymentHash(inv.payment_hash().to_byte_array()))
}

/// xpay's success: the preimage, and the fee as sent minus delivered.
fn xpay_outcome(r: &proto::XpayResponse) -> Result<PaymentOutcome, NodeError> {
    let preimage = preimage_from_bytes(Some(&r.payment_preimage))
        .filter(|p| p.0 != [0u8; 32])
        .ok_or_else(|| NodeError::Protocol("xpay succeeded without a 32-byte preimage".into()))?;
    Ok(PaymentOutcome::Succeeded {
        preimage: Some(preimage),
        fee_msat: msat(r.amount_sent_msat.as_ref()).saturating_sub(msat(r.amount_msat.as_ref())),
    })
}

/// pay's answer (it also answers an earlier success of the same hash).
fn pay_outcome(r: &proto::PayResponse) -> Result<PaymentOutcome, NodeError> {
    use proto::pay_response::PayStatus as S;
    Ok(match r.status() {
        S::Complete => {
            let preimage = preimage_from_bytes(Some(&r.payment_preimage))
                .filter(|p| p.0 != [0u8; 32])
                .ok_or_else(|| {
                    NodeError::Protocol("pay completed without a 32-byte preimage".into())
                })?;
            PaymentOutcome::Succeeded {
                preimage: Some(preimage),
                fee_msat: msat(r.amount_sent_msat.as_ref())
                    .saturating_sub(msat(r.amount_msat.as_ref())),
            }
        }
        S::Pending => PaymentOutcome::InFlight,
        S::Failed => PaymentOutcome::Failed(PaymentFailure::Error),
    })
}

/// The outcome of all of `ListPays`' entries for one hash (one per attempt
/// group): a success wins, then anything pending; only failures is a
/// failure; no entry is `None`.
fn outcome_of(pays: &[proto::ListpaysPays]) -> Result<Option<PaymentOutcome>, NodeError> {
    use proto::listpays_pays::ListpaysPaysStatus as S;
    if let Some(p) = pays.iter().find(|p| p.status() == S::Complete) {
        let preimage = preimage_from_bytes(p.preimage.as_deref())
            .ok_or_else(|| NodeError::Protocol("complete pay without a preimage".into()))?;
        return Ok(Some(PaymentOutcome::Succeeded {
            preimage: Some(preimage),
            fee_msat: msat(p.amount_sent_msat.as_ref())
                .saturating_sub(msat(p.amount_msat.as_ref())),
        }));
    }
    if pays.iter().any(|p| p.status() == S::Pending) {
        return Ok(Some(PaymentOutcome::InFlight));
    }
    Ok((!pays.is_empty()).then_some(PaymentOutcome::Failed(PaymentFailure::Error)))
}

/// `ListPays` of `payment_hash`, asked again until final or `wait` is over.
pub(super) async fn track(
    node: &ClnNode,
    payment_hash: PaymentHash,
    wait: Duration,
) -> Result<Option<PaymentOutcome>, NodeError> {
    let deadline = Instant::now() + wait;
    loop {
        let req = proto::ListpaysRequest {
            payment_hash: Some(payment_hash.0.to_vec()),
            ..Default::default()
        };
        let mut client = node.client();
        let resp = unary(node, "ListPays", client.list_pays(req)).await?;
        let pays: Vec<_> = resp
            .pays
            .into_iter()
            .filter(|p| p.payment_hash == payment_hash.0)
            .collect();
        let outcome = outcome_of(&pays)?;
        let pending = outcome == Some(PaymentOutcome::InFlight);
        if !pending || Instant::now() + POLL > deadline {
            return Ok(outcome);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Preimage;
    use proto::listpays_pays::ListpaysPaysStatus as S;

    fn pay(status: S) -> proto::ListpaysPays {
        proto::ListpaysPays {
            status: status as i32,
            preimage: Some(vec![0x11; 32]),
            amount_msat: Some(proto::Amount { msat: 1000 }),
            amount_sent_msat: Some(proto::Amount { msat: 1007 }),
            ..Default::default()
        }
    }

    #[test]
    fn listpays_entries_map_to_one_outcome() {
        assert_eq!(outcome_of(&[]).unwrap(), None);
        assert_eq!(
            outcome_of(&[pay(S::Failed)]).unwrap(),
            Some(PaymentOutcome::Failed(PaymentFailure::Error))
        );
        assert_eq!(
            outcome_of(&[pay(S::Failed), pay(S::Pending)]).unwrap(),
            Some(PaymentOutcome::InFlight)
        );
        assert_eq!(
            outcome_of(&[pay(S::Pending), pay(S::Complete)]).unwrap(),
            Some(PaymentOutcome::Succeeded {
                preimage: Some(Preimage([0x11; 32])),
                fee_msat: 7
            })
        );
    }

    #[test]
    fn retry_for_rounds_up_and_is_never_zero() {
        assert_eq!(retry_for(Duration::ZERO), 1);
        assert_eq!(retry_for(Duration::from_millis(1500)), 2);
    }
}
