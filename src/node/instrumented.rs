//! A `LightningNode` wrapper that records every call's latency in
//! [`crate::metrics::Metrics`] (`lnurld_node_call_seconds`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;
use crate::metrics::Metrics;

/// Times each call of the inner node.
pub struct Instrumented {
    inner: Arc<dyn LightningNode>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LightningNode>, metrics: Arc<Metrics>) -> Instrumented {
        Instrumented { inner, metrics }
    }

    fn record<T>(&self, call: &'static str, start: Instant, r: &Result<T, NodeError>) {
        self.metrics.node_call(call, r.is_ok(), start.elapsed());
    }
}

#[async_trait]
impl LightningNode for Instrumented {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn info(&self) -> Result<NodeInfo, NodeError> {
        let t = Instant::now();
        let r = self.inner.info().await;
        self.record("info", t, &r);
        r
    }

    async fn create_invoice(&self, req: InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        let t = Instant::now();
        let r = self.inner.create_invoice(req).await;
        self.record("create_invoice", t, &r);
        r
    }

    async fn pay(
        &self,
        bolt11: &str,
        max_fee_msat: u64,
        timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError> {
        let t = Instant::now();
        let r = self.inner.pay(bolt11, max_fee_msat, timeout).await;
        self.record("pay", t, &r);
        r
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        let t = Instant::now();
        let r = self.inner.payment(payment_hash, wait).await;
        self.record("payment", t, &r);
        r
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        let t = Instant::now();
        let r = self.inner.invoice(payment_hash).await;
        self.record("invoice", t, &r);
        r
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        let t = Instant::now();
        let r = self.inner.settlements(after_settle_index).await;
        self.record("settlements", t, &r);
        r
    }

    async fn balance(&self) -> Result<Balance, NodeError> {
        let t = Instant::now();
        let r = self.inner.balance().await;
        self.record("balance", t, &r);
        r
    }
}
