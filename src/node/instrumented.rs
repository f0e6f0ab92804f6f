//! A `LightningNode` wrapper that records every call's latency in
//! [`crate::metrics::Metrics`] (`lnurld_node_call_seconds`).

use std::future::Future;
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

    /// Awaits one call of the inner node and records its latency and
    /// outcome under `call`.
    async fn timed<T>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let start = Instant::now();
        let r = fut.await;
        self.metrics.node_call(call, r.is_ok(), start.elapsed());
        r
    }
}

#[async_trait]
impl LightningNode for Instrumented {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn info(&self) -> Result<NodeInfo, NodeError> {
        self.timed("info", self.inner.info()).await
    }

    async fn create_invoice(&self, req: InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        self.timed("create_invoice", self.inner.create_invoice(req))
            .await
    }

    async fn pay(
        &self,
        bolt11: &str,
        max_fee_msat: u64,
        timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError> {
        self.timed("pay", self.inner.pay(bolt11, max_fee_msat, timeout))
            .await
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        self.timed("payment", self.inner.payment(payment_hash, wait))
            .await
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        self.timed("invoice", self.inner.invoice(payment_hash))
            .await
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        self.timed("settlements", self.inner.settlements(after_settle_index))
            .await
    }

    async fn balance(&self) -> Result<Balance, NodeError> {
        self.timed("balance", self.inner.balance()).await
    }
}
