//! One face for both fake nodes, so a scenario is written once and run on
//! the `lnd` and the `cln` backend (`tests/it/node_cln.rs`).

use lnurld::node::{PaymentHash, Preimage};

use super::app::Node;
use super::fake_cln::{ClnFinish, ClnPay, FakeCln};
use super::fake_lnd::{FailureReason, FakeLnd, Finish, PayBehavior};

/// What the scenarios ask of a fake node.
pub trait FakeNode: Sized {
    /// Backend name, for messages.
    const KIND: &'static str;
    /// Starts a fresh fake.
    async fn start() -> Self;
    /// How `TestApp` connects to it.
    fn node(&self) -> Node<'_>;
    /// Next payments succeed with this fee.
    fn pay_succeed(&self, fee_msat: u64);
    /// Next payments stay in flight until finished.
    fn pay_hold(&self);
    /// Ends the held payment of `hash` as paid.
    fn finish_paid(&self, hash: PaymentHash, fee_msat: u64) -> bool;
    /// Ends the held payment of `hash` as failed for lack of a route.
    fn finish_no_route(&self, hash: PaymentHash) -> bool;
    /// Payments the node recorded (fee limit of each).
    fn recorded_fee_limits(&self) -> Vec<u64>;
    /// Pay calls, refused ones included.
    fn send_attempts(&self) -> usize;
    /// Tracking calls for `hash`.
    fn tracks_for(&self, hash: PaymentHash) -> usize;
    /// Invoices it issued: hash and preimage.
    fn issued(&self) -> Vec<(PaymentHash, Preimage)>;
    /// An incoming payment of one of its invoices.
    fn settle(&self, hash: PaymentHash);
}

impl FakeNode for FakeLnd {
    const KIND: &'static str = "lnd";
    async fn start() -> Self {
        FakeLnd::start().await
    }
    fn node(&self) -> Node<'_> {
        Node::Lnd(self)
    }
    fn pay_succeed(&self, fee_msat: u64) {
        self.set_pay_behavior(PayBehavior::Succeed { fee_msat });
    }
    fn pay_hold(&self) {
        self.set_pay_behavior(PayBehavior::Hold);
    }
    fn finish_paid(&self, hash: PaymentHash, fee_msat: u64) -> bool {
        self.finish(hash, Finish::Succeed { fee_msat })
    }
    fn finish_no_route(&self, hash: PaymentHash) -> bool {
        self.finish(hash, Finish::Fail(FailureReason::FailureReasonNoRoute))
    }
    fn recorded_fee_limits(&self) -> Vec<u64> {
        self.payments()
            .iter()
            .map(|p| p.fee_limit_msat as u64)
            .collect()
    }
    fn send_attempts(&self) -> usize {
        FakeLnd::send_attempts(self)
    }
    fn tracks_for(&self, hash: PaymentHash) -> usize {
        FakeLnd::tracks_for(self, hash)
    }
    fn issued(&self) -> Vec<(PaymentHash, Preimage)> {
        self.invoices()
            .iter()
            .map(|i| (i.payment_hash, i.preimage))
            .collect()
    }
    fn settle(&self, hash: PaymentHash) {
        self.settle_invoice(hash);
    }
}

impl FakeNode for FakeCln {
    const KIND: &'static str = "cln";
    async fn start() -> Self {
        FakeCln::start().await
    }
    fn node(&self) -> Node<'_> {
        Node::Cln(self)
    }
    fn pay_succeed(&self, fee_msat: u64) {
        self.set_pay_behavior(ClnPay::Succeed { fee_msat });
    }
    fn pay_hold(&self) {
        self.set_pay_behavior(ClnPay::Hold);
    }
    fn finish_paid(&self, hash: PaymentHash, fee_msat: u64) -> bool {
        self.finish(hash, ClnFinish::Succeed { fee_msat })
    }
    fn finish_no_route(&self, hash: PaymentHash) -> bool {
        self.finish(hash, ClnFinish::Fail(210))
    }
    fn recorded_fee_limits(&self) -> Vec<u64> {
        self.payments()
            .iter()
            .map(|p| p.maxfee_msat.expect("lnurld always passes maxfee"))
            .collect()
    }
    fn send_attempts(&self) -> usize {
        FakeCln::send_attempts(self)
    }
    fn tracks_for(&self, hash: PaymentHash) -> usize {
        FakeCln::tracks_for(self, hash)
    }
    fn issued(&self) -> Vec<(PaymentHash, Preimage)> {
        self.invoices()
            .iter()
            .map(|i| (i.payment_hash, i.preimage))
            .collect()
    }
    fn settle(&self, hash: PaymentHash) {
        self.settle_invoice(hash);
    }
}
