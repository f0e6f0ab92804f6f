//! Node layer, `cln` backend: invoices this node issues, with `Invoice` and
//! `ListInvoices`.
//!
//! May import `node` (the trait's types) and nothing else of the crate.
//! CLN's `invoice` takes the description text, not its hash: with
//! `deschashonly` it puts `h = sha256(description)` in the invoice, so the
//! text given must hash to the request's `description_hash`. Its default
//! expiry is a week, so lnurld's own is always passed.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::proto;
use super::{hash_from_bytes, msat, preimage_from_bytes, unary, unix, ClnNode};
use crate::node::{
    CreatedInvoice, InvoiceRequest, InvoiceState, InvoiceStatus, NodeError, PaymentHash,
};

/// A label no other invoice of the node has (CLN refuses a duplicate with
/// 900): `lnurld-` and 16 random bytes. lnurld keys its rows by payment
/// hash, which is only known after the call, so the label is not derived
/// from it.
fn new_label() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    format!("lnurld-{}", hex::encode(b))
}

/// `Invoice` for exactly `req.amount_msat` with `deschashonly`.
pub(super) async fn create(
    node: &ClnNode,
    req: InvoiceRequest,
) -> Result<CreatedInvoice, NodeError> {
    let description = req.description.ok_or(NodeError::Unsupported(
        "CLN needs the description text of an invoice, not only its hash",
    ))?;
    let hashed: [u8; 32] = Sha256::digest(description.as_bytes()).into();
    if hashed != req.description_hash {
        return Err(NodeError::Protocol(
            "the description does not hash to the requested description hash".into(),
        ));
    }
    let request = proto::InvoiceRequest {
        description,
        label: new_label(),
        preimage: req.preimage.map(|p| p.0.to_vec()),
        expiry: Some(u64::from(req.expiry_secs)),
        deschashonly: Some(true),
        amount_msat: Some(proto::AmountOrAny {
            value: Some(proto::amount_or_any::Value::Amount(proto::Amount {
                msat: req.amount_msat,
            })),
        }),
        ..Default::default()
    };
    let mut client = node.client();
    let resp = unary(node, "Invoice", client.invoice(request)).await?;
    let payment_hash = hash_from_bytes(&resp.payment_hash, "Invoice payment_hash")?;
    if let Some(pre) = req.preimage {
        if pre.payment_hash() != payment_hash {
            return Err(NodeError::Protocol(
                "Invoice returned a hash that does not match the preimage".into(),
            ));
        }
    }
    Ok(CreatedInvoice {
        payment_hash,
        bolt11: resp.bolt11,
        add_index: resp.created_index,
    })
}

/// `ListInvoices` by payment hash; `Ok(None)` when CLN has no such invoice.
pub(super) async fn lookup(
    node: &ClnNode,
    payment_hash: PaymentHash,
) -> Result<Option<InvoiceStatus>, NodeError> {
    let req = proto::ListinvoicesRequest {
        payment_hash: Some(payment_hash.0.to_vec()),
        ..Default::default()
    };
    let mut client = node.client();
    let resp = unary(node, "ListInvoices", client.list_invoices(req)).await?;
    resp.invoices
        .iter()
        .find(|i| i.payment_hash == payment_hash.0)
        .map(status_of)
        .transpose()
}

/// A listed invoice as an [`InvoiceStatus`]. CLN has no cancelled state:
/// an unpaid invoice past its expiry is `EXPIRED`, reported as `Canceled`.
fn status_of(inv: &proto::ListinvoicesInvoices) -> Result<InvoiceStatus, NodeError> {
    use proto::listinvoices_invoices::ListinvoicesInvoicesStatus as S;
    let state = match inv.status() {
        S::Unpaid => InvoiceState::Open,
        S::Paid => InvoiceState::Settled,
        S::Expired => InvoiceState::Canceled,
    };
    Ok(InvoiceStatus {
        payment_hash: hash_from_bytes(&inv.payment_hash, "invoice payment_hash")?,
        state,
        preimage: preimage_from_bytes(inv.payment_preimage.as_deref()),
        amount_paid_msat: msat(inv.amount_received_msat.as_ref()),
        settle_index: inv.pay_index.unwrap_or(0),
        settled_at: unix(inv.paid_at.unwrap_or(0)),
        bolt11: inv.bolt11.clone().unwrap_or_default(),
    })
}
