//! Node layer, `lnd` backend: outgoing payments with
//! `routerrpc.Router/SendPaymentV2` and `TrackPaymentV2`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.
//! lnd records a payment under its hash before sending anything and refuses
//! a second payment of a hash that succeeded or is in flight, which is what
//! [`LightningNode::pay`](crate::node::LightningNode::pay) promises.

use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;

use super::errors::{map_status, timed_out};
use super::proto::{lnrpc, routerrpc};
use super::{preimage_from_bytes, u64_of, LndNode, RPC_TIMEOUT};
use crate::node::{NodeError, PaymentFailure, PaymentHash, PaymentOutcome};

/// Extra time `pay` waits beyond the payment timeout given to lnd: lnd
/// reports a TIMEOUT failure only after its own timeout has elapsed.
const PAY_MARGIN: Duration = Duration::from_secs(2);

/// SendPaymentV2 of `bolt11`, waiting about `timeout` for a final outcome
/// ([`LightningNode::pay`](crate::node::LightningNode::pay)).
pub(super) async fn send(
    node: &LndNode,
    bolt11: &str,
    max_fee_msat: u64,
    timeout: Duration,
) -> Result<PaymentOutcome, NodeError> {
    let req = routerrpc::SendPaymentRequest {
        payment_request: bolt11.to_owned(),
        fee_limit_msat: i64::try_from(max_fee_msat).unwrap_or(i64::MAX),
        timeout_seconds: timeout_secs(timeout),
        no_inflight_updates: true,
        // `amt`/`amt_msat` stay unset: we only pay invoices with an amount.
        ..Default::default()
    };
    let deadline = Instant::now() + timeout + PAY_MARGIN;
    let mut router = node.router();
    let run = async move {
        // With no_inflight_updates lnd may send nothing (not even the
        // headers) until the payment is final, so the deadline covers
        // the call itself too.
        let mut stream = router
            .send_payment_v2(req)
            .await
            .map_err(|s| map_status(&s))?
            .into_inner();
        while let Some(update) = stream.message().await.map_err(|s| map_status(&s))? {
            let outcome = outcome_of(&update)?;
            if outcome.is_final() {
                return Ok(outcome);
            }
        }
        // Stream ended without a final state: unknown, the caller tracks.
        Ok(PaymentOutcome::InFlight)
    };
    match tokio::time::timeout_at(deadline, run).await {
        Ok(result) => result,
        // Dropping the stream does not stop the payment; the caller tracks.
        Err(_) => Ok(PaymentOutcome::InFlight),
    }
}

/// TrackPaymentV2 of `payment_hash`, following it for up to `wait`
/// ([`LightningNode::payment`](crate::node::LightningNode::payment)).
pub(super) async fn track(
    node: &LndNode,
    payment_hash: PaymentHash,
    wait: Duration,
) -> Result<Option<PaymentOutcome>, NodeError> {
    let start = Instant::now();
    let deadline = start + wait;
    let first_deadline = deadline.max(start + RPC_TIMEOUT);
    let req = routerrpc::TrackPaymentRequest {
        payment_hash: payment_hash.0.to_vec(),
        no_inflight_updates: false,
    };
    let mut router = node.router();
    // lnd sends the current state first.
    let first = tokio::time::timeout_at(first_deadline, async {
        let mut stream = router.track_payment_v2(req).await?.into_inner();
        let first = stream.message().await?;
        Ok::<_, Status>((stream, first))
    })
    .await;
    let (mut stream, first) = match first {
        Err(_) => return Err(timed_out("TrackPaymentV2")),
        Ok(Err(status)) => {
            return match map_status(&status) {
                NodeError::NotFound => Ok(None),
                e => Err(e),
            }
        }
        Ok(Ok((_, None))) => {
            return Err(NodeError::Protocol(
                "TrackPaymentV2 ended without a payment update".into(),
            ))
        }
        Ok(Ok((stream, Some(first)))) => (stream, first),
    };
    let mut outcome = outcome_of(&first)?;
    if outcome.is_final() || wait.is_zero() {
        return Ok(Some(outcome));
    }
    let follow = tokio::time::timeout_at(deadline, async {
        while let Some(update) = stream.message().await.map_err(|s| map_status(&s))? {
            outcome = outcome_of(&update)?;
            if outcome.is_final() {
                break;
            }
        }
        Ok::<_, NodeError>(())
    })
    .await;
    match follow {
        Ok(Err(e)) => Err(e),
        // Deadline or end of stream: report what is known (in flight).
        Ok(Ok(())) | Err(_) => Ok(Some(outcome)),
    }
}

/// lnd's failure reason of a FAILED payment as the trait's.
fn failure_of(reason: lnrpc::PaymentFailureReason) -> PaymentFailure {
    use lnrpc::PaymentFailureReason as R;
    match reason {
        R::FailureReasonTimeout => PaymentFailure::Timeout,
        R::FailureReasonNoRoute => PaymentFailure::NoRoute,
        R::FailureReasonIncorrectPaymentDetails => PaymentFailure::IncorrectPaymentDetails,
        R::FailureReasonInsufficientBalance => PaymentFailure::InsufficientBalance,
        R::FailureReasonCanceled => PaymentFailure::Canceled,
        // NONE on a FAILED payment should not happen; it is still final.
        R::FailureReasonError | R::FailureReasonNone => PaymentFailure::Error,
    }
}

/// Maps an lnd `Payment` update to an outcome.
fn outcome_of(p: &lnrpc::Payment) -> Result<PaymentOutcome, NodeError> {
    use lnrpc::payment::PaymentStatus as S;
    Ok(match p.status() {
        S::Succeeded => {
            let bytes = hex::decode(&p.payment_preimage)
                .map_err(|e| NodeError::Protocol(format!("payment_preimage is not hex: {e}")))?;
            let preimage = preimage_from_bytes(&bytes).filter(|pre| pre.0 != [0u8; 32]);
            if preimage.is_none() {
                return Err(NodeError::Protocol(
                    "SUCCEEDED payment without a 32-byte preimage".into(),
                ));
            }
            PaymentOutcome::Succeeded {
                preimage,
                fee_msat: u64_of(p.fee_msat),
            }
        }
        S::Failed => PaymentOutcome::Failed(failure_of(p.failure_reason())),
        // INITIATED is shown as IN_FLIGHT unless lnd is told otherwise;
        // UNKNOWN means "not sent yet": both may still move money.
        S::InFlight | S::Initiated | S::Unknown => PaymentOutcome::InFlight,
    })
}

/// `timeout_seconds` for SendPaymentV2: whole seconds, at least 1 (older
/// lnd refuses 0, newer turns it into 60 s).
fn timeout_secs(timeout: Duration) -> i32 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Preimage;

    #[test]
    fn payment_updates_map_to_outcomes() {
        use lnrpc::payment::PaymentStatus as S;
        use lnrpc::PaymentFailureReason as R;
        let mut p = lnrpc::Payment {
            status: S::Failed as i32,
            failure_reason: R::FailureReasonNone as i32,
            ..Default::default()
        };
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Failed(PaymentFailure::Error)
        );
        p.failure_reason = R::FailureReasonNoRoute as i32;
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Failed(PaymentFailure::NoRoute)
        );
        p.status = S::Initiated as i32;
        assert_eq!(outcome_of(&p).unwrap(), PaymentOutcome::InFlight);
        p.status = S::Succeeded as i32;
        p.payment_preimage = "0".repeat(64);
        assert!(matches!(outcome_of(&p), Err(NodeError::Protocol(_))));
        p.payment_preimage = "11".repeat(32);
        p.fee_msat = 7;
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Succeeded {
                preimage: Some(Preimage([0x11; 32])),
                fee_msat: 7
            }
        );
    }

    #[test]
    fn timeout_secs_rounds_up_and_is_never_zero() {
        assert_eq!(timeout_secs(Duration::ZERO), 1);
        assert_eq!(timeout_secs(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_secs(Duration::from_secs(30)), 30);
    }
}
