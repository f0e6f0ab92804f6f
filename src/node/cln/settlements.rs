//! Node layer, `cln` backend: the settlement stream, on `WaitAnyInvoice`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.
//! `waitanyinvoice lastpay_index=N` answers the paid invoice with the lowest
//! `pay_index` above N, waiting for one if there is none yet; with a
//! `timeout` it gives up with 904. So the stream is a loop of long polls,
//! each resuming after the last index it yielded: nothing is skipped, and a
//! restart from the stored index replays only what was not recorded. (CLN's
//! `pay_index` counts paid invoices only, so it is the settle index.)

use std::time::Duration;

use futures_util::stream;

use super::errors::{rpc_error, WAIT_TIMED_OUT};
use super::proto::{self, node_client::NodeClient};
use super::{hash_from_bytes, msat, preimage_from_bytes, unix, ClnNode};
use crate::node::{NodeError, Settlement, SettlementStream};

/// How long one `WaitAnyInvoice` may wait at the node.
const LONG_POLL_SECS: u64 = 30;
/// How much longer lnurld waits for its answer.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(15);

struct SubState {
    node: ClnNode,
    client: NodeClient<tonic::transport::Channel>,
    after: u64,
}

/// Settlements after `after_settle_index`.
pub(super) fn subscribe(node: &ClnNode, after_settle_index: u64) -> SettlementStream {
    let start = Some(SubState {
        node: node.clone(),
        client: node.client(),
        after: after_settle_index,
    });
    Box::pin(stream::unfold(start, next_settlement))
}

async fn next_settlement(
    state: Option<SubState>,
) -> Option<(Result<Settlement, NodeError>, Option<SubState>)> {
    let mut st = state?;
    loop {
        let req = proto::WaitanyinvoiceRequest {
            lastpay_index: Some(st.after),
            timeout: Some(LONG_POLL_SECS),
        };
        let wait = Duration::from_secs(LONG_POLL_SECS) + LONG_POLL_MARGIN;
        let answer = tokio::time::timeout(wait, st.client.wait_any_invoice(req)).await;
        let resp = match answer {
            Err(_) => {
                let e = NodeError::Unreachable("WaitAnyInvoice: no answer from CLN".into());
                return Some((Err(e), None));
            }
            Ok(Err(status)) => {
                if rpc_error(&status).is_some_and(|e| e.code == WAIT_TIMED_OUT) {
                    continue;
                }
                let e = super::errors::map_status(&status, &st.node.names.ca_cert);
                return Some((Err(e), None));
            }
            Ok(Ok(resp)) => resp.into_inner(),
        };
        return match settlement_of(&resp) {
            Ok(s) => {
                st.after = s.settle_index;
                Some((Ok(s), Some(st)))
            }
            Err(e) => Some((Err(e), None)),
        };
    }
}

/// A paid invoice of `WaitAnyInvoice` as a [`Settlement`].
fn settlement_of(inv: &proto::WaitanyinvoiceResponse) -> Result<Settlement, NodeError> {
    use proto::waitanyinvoice_response::WaitanyinvoiceStatus as S;
    let pay_index = inv.pay_index.filter(|_| inv.status() == S::Paid);
    let settle_index = pay_index.ok_or_else(|| {
        NodeError::Protocol("WaitAnyInvoice answered an invoice without a pay_index".into())
    })?;
    Ok(Settlement {
        payment_hash: hash_from_bytes(&inv.payment_hash, "invoice payment_hash")?,
        preimage: preimage_from_bytes(inv.payment_preimage.as_deref())
            .ok_or_else(|| NodeError::Protocol("paid invoice without a 32-byte preimage".into()))?,
        amount_paid_msat: msat(inv.amount_received_msat.as_ref()),
        settle_index,
        settled_at: unix(inv.paid_at.unwrap_or(0)),
    })
}
