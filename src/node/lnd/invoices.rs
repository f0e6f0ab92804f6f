//! Node layer, `lnd` backend: invoices this node issues, with `AddInvoice`
//! and `LookupInvoice`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.

use super::proto::lnrpc;
use super::{hash_from_bytes, preimage_from_bytes, u64_of, unary, LndNode};
use crate::node::{
    CreatedInvoice, InvoiceRequest, InvoiceState, InvoiceStatus, NodeError, PaymentHash,
};

/// AddInvoice for exactly `req.amount_msat` with the description hash
/// ([`LightningNode::create_invoice`](crate::node::LightningNode::create_invoice)).
pub(super) async fn create(
    node: &LndNode,
    req: InvoiceRequest,
) -> Result<CreatedInvoice, NodeError> {
    let value_msat = i64::try_from(req.amount_msat)
        .map_err(|_| NodeError::Refused("amount too large".into()))?;
    let invoice = lnrpc::Invoice {
        value_msat,
        description_hash: req.description_hash.to_vec(),
        expiry: i64::from(req.expiry_secs),
        r_preimage: req.preimage.map(|p| p.0.to_vec()).unwrap_or_default(),
        private: node.private_invoices,
        ..Default::default()
    };
    let mut client = node.lightning();
    let resp = unary("AddInvoice", client.add_invoice(invoice)).await?;
    let payment_hash = hash_from_bytes(&resp.r_hash, "AddInvoice r_hash")?;
    if let Some(pre) = req.preimage {
        if pre.payment_hash() != payment_hash {
            return Err(NodeError::Protocol(
                "AddInvoice returned a hash that does not match the preimage".into(),
            ));
        }
    }
    Ok(CreatedInvoice {
        payment_hash,
        bolt11: resp.payment_request,
        add_index: resp.add_index,
    })
}

/// LookupInvoice; `Ok(None)` when lnd does not know the hash
/// ([`LightningNode::invoice`](crate::node::LightningNode::invoice)).
pub(super) async fn lookup(
    node: &LndNode,
    payment_hash: PaymentHash,
) -> Result<Option<InvoiceStatus>, NodeError> {
    let req = lnrpc::PaymentHash {
        r_hash: payment_hash.0.to_vec(),
        ..Default::default()
    };
    let mut client = node.lightning();
    match unary("LookupInvoice", client.lookup_invoice(req)).await {
        Ok(inv) => invoice_status_of(&inv).map(Some),
        Err(NodeError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// lnd's invoice state as the trait's.
fn invoice_state_of(s: lnrpc::invoice::InvoiceState) -> InvoiceState {
    use lnrpc::invoice::InvoiceState as S;
    match s {
        S::Open => InvoiceState::Open,
        S::Settled => InvoiceState::Settled,
        S::Canceled => InvoiceState::Canceled,
        S::Accepted => InvoiceState::Accepted,
    }
}

/// A looked-up invoice as an [`InvoiceStatus`].
fn invoice_status_of(inv: &lnrpc::Invoice) -> Result<InvoiceStatus, NodeError> {
    Ok(InvoiceStatus {
        payment_hash: hash_from_bytes(&inv.r_hash, "invoice r_hash")?,
        state: invoice_state_of(inv.state()),
        preimage: preimage_from_bytes(&inv.r_preimage),
        amount_paid_msat: u64_of(inv.amt_paid_msat),
        settle_index: inv.settle_index,
        settled_at: inv.settle_date,
        bolt11: inv.payment_request.clone(),
    })
}
