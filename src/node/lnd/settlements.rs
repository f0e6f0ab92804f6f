//! Node layer, `lnd` backend: the settlement stream, on
//! `SubscribeInvoices{settle_index}`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.
//! lnd replays settled invoices only for a settle index > 0: from index 0
//! the stream is live only (lnd's "backwards compat" rule), so an invoice
//! settled while nobody was subscribed and before any settlement was stored
//! must be found with
//! [`LightningNode::invoice`](crate::node::LightningNode::invoice).

use futures_util::stream;
use tonic::Streaming;

use super::errors::map_status;
use super::proto::lnrpc::{self, lightning_client::LightningClient};
use super::{hash_from_bytes, preimage_from_bytes, u64_of, LndNode, Svc};
use crate::node::{NodeError, Settlement, SettlementStream};

/// Settlements after `after_settle_index`, replayed then live
/// ([`LightningNode::settlements`](crate::node::LightningNode::settlements)).
pub(super) fn subscribe(node: &LndNode, after_settle_index: u64) -> SettlementStream {
    let start = SubState::Start {
        client: node.lightning(),
        after: after_settle_index,
    };
    Box::pin(stream::unfold(start, next_settlement))
}

/// Where one settlement stream is.
enum SubState {
    /// Not subscribed yet: lnd (grpc-go) sends the response headers only
    /// with the first event, so the call itself is made lazily.
    Start {
        client: LightningClient<Svc>,
        after: u64,
    },
    /// Subscribed.
    Live { stream: Streaming<lnrpc::Invoice> },
    /// Ended after an error: the caller resubscribes from its stored index.
    Done,
}

/// Yields the next settlement, subscribing first when not yet subscribed.
async fn next_settlement(mut state: SubState) -> Option<(Result<Settlement, NodeError>, SubState)> {
    loop {
        state = match state {
            SubState::Done => return None,
            SubState::Start { mut client, after } => {
                let req = lnrpc::InvoiceSubscription {
                    add_index: 0,
                    settle_index: after,
                };
                match client.subscribe_invoices(req).await {
                    Ok(resp) => SubState::Live {
                        stream: resp.into_inner(),
                    },
                    Err(status) => return Some((Err(map_status(&status)), SubState::Done)),
                }
            }
            SubState::Live { mut stream } => match stream.message().await {
                Ok(None) => return None,
                Err(status) => return Some((Err(map_status(&status)), SubState::Done)),
                Ok(Some(inv)) => {
                    // Every settlement, whatever its index: lnd's SQL
                    // invoice store replays in creation order, not settle
                    // index order, so "only past the last index" would drop
                    // some. Recording is idempotent; add events are skipped.
                    if inv.state() != lnrpc::invoice::InvoiceState::Settled {
                        SubState::Live { stream }
                    } else {
                        match settlement_of(&inv) {
                            Ok(s) => return Some((Ok(s), SubState::Live { stream })),
                            Err(e) => return Some((Err(e), SubState::Done)),
                        }
                    }
                }
            },
        }
    }
}

/// A SETTLED invoice of the stream as a [`Settlement`].
fn settlement_of(inv: &lnrpc::Invoice) -> Result<Settlement, NodeError> {
    Ok(Settlement {
        payment_hash: hash_from_bytes(&inv.r_hash, "invoice r_hash")?,
        preimage: preimage_from_bytes(&inv.r_preimage).ok_or_else(|| {
            NodeError::Protocol("settled invoice without a 32-byte preimage".into())
        })?,
        amount_paid_msat: u64_of(inv.amt_paid_msat),
        settle_index: inv.settle_index,
        settled_at: inv.settle_date,
    })
}
