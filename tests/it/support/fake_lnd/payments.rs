//! The fake's `Router` service: SendPaymentV2 that validates like lnd and
//! records the payment under its hash before streaming (dedup: AlreadyExists
//! after a success or while in flight, a retry allowed after a failure),
//! TrackPaymentV2; and the scripting of outcomes ([`PayBehavior`],
//! [`FakeLnd::finish`]).

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use lnurld::node::lnd::proto::lnrpc;
use lnurld::node::lnd::proto::routerrpc::{self, router_server::Router};
use lnurld::node::{PaymentHash, Preimage};
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};

use super::invoices::decode_for_regtest;
use super::payee::payee_preimage;
use super::{
    now_duration, now_ns, random32, spawn_stream, BoxStream, FailureReason, FakeLnd,
    FakePaymentStatus, Inner, State, Svc,
};

/// What the fake does with the next accepted SendPaymentV2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayBehavior {
    /// Succeeds at once with this routing fee (fails with NO_ROUTE when the
    /// fee exceeds the request's `fee_limit_msat`, like lnd).
    Succeed { fee_msat: u64 },
    /// Fails at once with this reason.
    Fail(FailureReason),
    /// Stays IN_FLIGHT until [`FakeLnd::release`] / [`FakeLnd::finish`].
    Hold,
}

/// A fault of SendPaymentV2 besides the payment's own outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SendFault {
    /// None: the call behaves like lnd.
    #[default]
    None,
    /// Every call is refused with this text (code Unknown, as lnd's plain
    /// Go errors), before the fake looks at its record of the hash, as lnd
    /// does with "invoice expired".
    Refuse(&'static str),
    /// The payment is recorded (and [`PayBehavior`] applied), then the
    /// stream breaks off with Unavailable: the connection was lost after
    /// lnd took the payment.
    DropAfterRecord,
    /// Every call fails with Unavailable before the fake records anything:
    /// the connection was lost before lnd took the payment.
    LostBeforeRecord,
}

/// What tests count and script on the Router service (kept in `State`).
#[derive(Debug, Default)]
pub(super) struct RouterScript {
    /// SendPaymentV2 calls per payment hash (refused ones included).
    sends: HashMap<[u8; 32], usize>,
    /// TrackPaymentV2 calls per payment hash (failed ones included).
    tracks: HashMap<[u8; 32], usize>,
    send_fault: SendFault,
    /// TrackPaymentV2 answers an error (not NotFound) while set.
    failing_tracks: bool,
}

/// How a held payment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// SUCCEEDED with this fee.
    Succeed { fee_msat: u64 },
    /// FAILED with this reason.
    Fail(FailureReason),
}

/// One accepted (recorded) SendPaymentV2 attempt.
#[derive(Debug, Clone)]
pub struct FakePayment {
    pub bolt11: String,
    pub payment_hash: PaymentHash,
    pub amount_msat: u64,
    pub fee_limit_msat: i64,
    pub timeout_seconds: i32,
    pub no_inflight_updates: bool,
    pub status: FakePaymentStatus,
    pub failure_reason: FailureReason,
    pub preimage: Option<Preimage>,
    pub fee_msat: u64,
    pub payment_index: u64,
    pub creation_time_ns: i64,
}

impl FakePayment {
    fn to_proto(&self) -> lnrpc::Payment {
        lnrpc::Payment {
            payment_hash: self.payment_hash.to_hex(),
            payment_preimage: self
                .preimage
                .map(|p| p.to_hex())
                .unwrap_or_else(|| "0".repeat(64)),
            value_sat: (self.amount_msat / 1000) as i64,
            value_msat: self.amount_msat as i64,
            payment_request: self.bolt11.clone(),
            status: self.status as i32,
            fee_sat: (self.fee_msat / 1000) as i64,
            fee_msat: self.fee_msat as i64,
            creation_time_ns: self.creation_time_ns,
            payment_index: self.payment_index,
            failure_reason: self.failure_reason as i32,
        }
    }

    fn is_final(&self) -> bool {
        matches!(
            self.status,
            FakePaymentStatus::Succeeded | FakePaymentStatus::Failed
        )
    }
}

impl State {
    /// Records an accepted attempt as in flight; returns its position.
    fn record(
        &mut self,
        bolt11: &str,
        hash: PaymentHash,
        amount_msat: u64,
        fee_limit_msat: i64,
        timeout_seconds: i32,
        no_inflight_updates: bool,
    ) -> usize {
        let payment_index = self.payments.len() as u64 + 1;
        self.payments.push(FakePayment {
            bolt11: bolt11.to_owned(),
            payment_hash: hash,
            amount_msat,
            fee_limit_msat,
            timeout_seconds: if timeout_seconds == 0 {
                60
            } else {
                timeout_seconds
            },
            no_inflight_updates,
            status: FakePaymentStatus::InFlight,
            failure_reason: FailureReason::FailureReasonNone,
            preimage: None,
            fee_msat: 0,
            payment_index,
            creation_time_ns: now_ns(),
        });
        self.payments.len() - 1
    }
}

impl Inner {
    /// Ends an in-flight payment and tells the streams. Caller holds the lock.
    fn finish_locked(&self, st: &mut State, idx: usize, how: Finish) {
        let p = &mut st.payments[idx];
        if p.is_final() {
            return;
        }
        match how {
            Finish::Succeed { fee_msat } => {
                let preimage = payee_preimage(&p.bolt11).unwrap_or_else(|| Preimage(random32()));
                p.status = FakePaymentStatus::Succeeded;
                p.preimage = Some(preimage);
                p.fee_msat = fee_msat;
            }
            Finish::Fail(reason) => {
                p.status = FakePaymentStatus::Failed;
                p.failure_reason = reason;
            }
        }
        let _ = self.payment_tx.send(p.to_proto());
    }
}

#[tonic::async_trait]
impl Router for Svc {
    type SendPaymentV2Stream = BoxStream<lnrpc::Payment>;

    async fn send_payment_v2(
        &self,
        req: Request<routerrpc::SendPaymentRequest>,
    ) -> Result<Response<Self::SendPaymentV2Stream>, Status> {
        let req = req.into_inner();
        let fault = {
            let mut st = self.inner.state.lock().unwrap();
            st.send_attempts += 1;
            if let Ok(inv) = decode_for_regtest(&req.payment_request) {
                *st.router
                    .sends
                    .entry(inv.payment_hash().to_byte_array())
                    .or_default() += 1;
            }
            st.router.send_fault.clone()
        };
        match fault {
            SendFault::Refuse(text) => return Err(Status::unknown(text)),
            SendFault::LostBeforeRecord => {
                return Err(Status::unavailable("connection reset by peer"))
            }
            SendFault::None | SendFault::DropAfterRecord => {}
        }

        if req.amt != 0 && req.amt_msat != 0 {
            return Err(Status::unknown(
                "sat and msat arguments are mutually exclusive",
            ));
        }
        if req.fee_limit_sat != 0 && req.fee_limit_msat != 0 {
            return Err(Status::unknown(
                "sat and msat arguments are mutually exclusive",
            ));
        }
        let inv = decode_for_regtest(&req.payment_request)?;
        let given_msat = if req.amt_msat != 0 {
            req.amt_msat
        } else {
            req.amt * 1000
        };
        let amount_msat = match (inv.amount_milli_satoshis(), given_msat) {
            (Some(_), g) if g != 0 => {
                return Err(Status::unknown(
                    "amount must not be specified when paying a non-zero amount invoice",
                ))
            }
            (Some(a), _) => a,
            (None, 0) => {
                return Err(Status::unknown(
                    "amount must be specified when paying a zero amount invoice",
                ))
            }
            (None, g) => g as u64,
        };
        if inv.would_expire(now_duration()) {
            let until = inv.duration_since_epoch() + inv.expiry_time();
            return Err(Status::unknown(format!(
                "invoice expired. Valid until {} (unix)",
                until.as_secs()
            )));
        }
        if inv.get_payee_pub_key() == self.inner.pubkey && !req.allow_self_payment {
            return Err(Status::unknown("self-payments not allowed"));
        }
        let fee_limit_msat = if req.fee_limit_sat != 0 {
            req.fee_limit_sat * 1000
        } else {
            req.fee_limit_msat
        };
        let hash = PaymentHash(inv.payment_hash().to_byte_array());

        // Dedup on the hash, record, apply the behaviour and subscribe, all
        // under one lock (lnd records before sending anything).
        let (initial, rx, index) = {
            let mut st = self.inner.state.lock().unwrap();
            if let Some(prev) = st.payments.iter().rev().find(|p| p.payment_hash == hash) {
                match prev.status {
                    FakePaymentStatus::Succeeded => {
                        return Err(Status::already_exists("invoice is already paid"))
                    }
                    FakePaymentStatus::Failed => {} // a new attempt may start
                    _ => return Err(Status::already_exists("payment is in transition")),
                }
            }
            let idx = st.record(
                &req.payment_request,
                hash,
                amount_msat,
                fee_limit_msat,
                req.timeout_seconds,
                req.no_inflight_updates,
            );
            let payment_index = st.payments[idx].payment_index;
            let rx = self.inner.payment_tx.subscribe();
            match st.behavior {
                PayBehavior::Succeed { fee_msat } if fee_msat as i64 > fee_limit_msat => {
                    self.inner.finish_locked(
                        &mut st,
                        idx,
                        Finish::Fail(FailureReason::FailureReasonNoRoute),
                    );
                }
                PayBehavior::Succeed { fee_msat } => {
                    self.inner
                        .finish_locked(&mut st, idx, Finish::Succeed { fee_msat });
                }
                PayBehavior::Fail(reason) => {
                    self.inner.finish_locked(&mut st, idx, Finish::Fail(reason));
                }
                PayBehavior::Hold => {}
            }
            (st.payments[idx].clone(), rx, payment_index)
        };
        if fault == SendFault::DropAfterRecord {
            let broken = Status::unavailable("error reading from server: connection reset by peer");
            return Ok(Response::new(Box::pin(tokio_stream::iter([Err(broken)]))));
        }
        Ok(Response::new(follow_payment(
            self.stop.clone(),
            initial,
            index,
            req.no_inflight_updates,
            rx,
        )))
    }

    type TrackPaymentV2Stream = BoxStream<lnrpc::Payment>;

    async fn track_payment_v2(
        &self,
        req: Request<routerrpc::TrackPaymentRequest>,
    ) -> Result<Response<Self::TrackPaymentV2Stream>, Status> {
        let req = req.into_inner();
        let hash: [u8; 32] = req.payment_hash.as_slice().try_into().map_err(|_| {
            Status::unknown(format!(
                "invalid hash length of {}, want 32",
                req.payment_hash.len()
            ))
        })?;
        let (current, rx) = {
            let mut st = self.inner.state.lock().unwrap();
            *st.router.tracks.entry(hash).or_default() += 1;
            if st.router.failing_tracks {
                return Err(Status::internal("payment database is busy"));
            }
            let current = st
                .payments
                .iter()
                .rev()
                .find(|p| p.payment_hash.0 == hash)
                .cloned()
                .ok_or_else(|| Status::not_found("payment isn't initiated"))?;
            (current, self.inner.payment_tx.subscribe())
        };
        let index = current.payment_index;
        Ok(Response::new(follow_payment(
            self.stop.clone(),
            current,
            index,
            req.no_inflight_updates,
            rx,
        )))
    }
}

/// Streams `current` (unless it is in flight and only final updates are
/// wanted), then updates of the same attempt until a final one.
fn follow_payment(
    stop: watch::Receiver<bool>,
    current: FakePayment,
    index: u64,
    no_inflight_updates: bool,
    rx: broadcast::Receiver<lnrpc::Payment>,
) -> BoxStream<lnrpc::Payment> {
    let mut first = Vec::new();
    if current.is_final() || !no_inflight_updates {
        first.push(current.to_proto());
    }
    if current.is_final() {
        return Box::pin(tokio_stream::iter(first.into_iter().map(Ok)));
    }
    let live = futures_util::stream::unfold((rx, false), move |(mut rx, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(p) if p.payment_index == index => {
                    let fin = matches!(
                        p.status(),
                        FakePaymentStatus::Succeeded | FakePaymentStatus::Failed
                    );
                    if fin || !no_inflight_updates {
                        return Some((Ok(p), (rx, fin)));
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    spawn_stream(stop, first, live)
}

impl FakeLnd {
    /// What the next SendPaymentV2 calls do.
    pub fn set_pay_behavior(&self, b: PayBehavior) {
        self.inner.state.lock().unwrap().behavior = b;
    }

    /// Ends the held payment of this hash successfully (fee 0). Returns
    /// whether an in-flight payment was found.
    pub fn release(&self, payment_hash: PaymentHash) -> bool {
        self.finish(payment_hash, Finish::Succeed { fee_msat: 0 })
    }

    /// Ends the held payment of this hash as told.
    pub fn finish(&self, payment_hash: PaymentHash, how: Finish) -> bool {
        let mut st = self.inner.state.lock().unwrap();
        let idx = st
            .payments
            .iter()
            .rposition(|p| p.payment_hash == payment_hash && !p.is_final());
        match idx {
            Some(idx) => {
                self.inner.finish_locked(&mut st, idx, how);
                true
            }
            None => false,
        }
    }

    /// Ends every held payment as told; returns how many.
    pub fn release_all(&self, how: Finish) -> usize {
        let mut st = self.inner.state.lock().unwrap();
        let held: Vec<usize> = (0..st.payments.len())
            .filter(|&i| !st.payments[i].is_final())
            .collect();
        for &i in &held {
            self.inner.finish_locked(&mut st, i, how);
        }
        held.len()
    }

    /// Every accepted (recorded) SendPaymentV2 attempt, oldest first.
    pub fn payments(&self) -> Vec<FakePayment> {
        self.inner.state.lock().unwrap().payments.clone()
    }

    /// Number of SendPaymentV2 calls, refused ones included.
    pub fn send_attempts(&self) -> usize {
        self.inner.state.lock().unwrap().send_attempts
    }

    /// SendPaymentV2 calls for this payment hash, refused ones included.
    pub fn sends_for(&self, hash: PaymentHash) -> usize {
        let st = self.inner.state.lock().unwrap();
        st.router.sends.get(&hash.0).copied().unwrap_or(0)
    }

    /// TrackPaymentV2 calls for this payment hash, failed ones included.
    pub fn tracks_for(&self, hash: PaymentHash) -> usize {
        let st = self.inner.state.lock().unwrap();
        st.router.tracks.get(&hash.0).copied().unwrap_or(0)
    }

    /// What the next SendPaymentV2 calls do wrong ([`SendFault::None`]: nothing).
    pub fn set_send_fault(&self, fault: SendFault) {
        self.inner.state.lock().unwrap().router.send_fault = fault;
    }

    /// While `on`, TrackPaymentV2 answers Internal (lnd could not look the
    /// payment up), whatever it knows.
    pub fn fail_tracks(&self, on: bool) {
        self.inner.state.lock().unwrap().router.failing_tracks = on;
    }

    /// Records a payment of `bolt11` as an earlier accepted SendPaymentV2
    /// would have (another instance's, or one whose answer was lost): in
    /// flight, or ended as `how`. Not counted as a send.
    pub fn record_earlier_payment(&self, bolt11: &str, how: Option<Finish>) {
        let inv = decode_for_regtest(bolt11).expect("a regtest invoice");
        let hash = PaymentHash(inv.payment_hash().to_byte_array());
        let amount_msat = inv.amount_milli_satoshis().expect("an amount");
        let mut st = self.inner.state.lock().unwrap();
        let idx = st.record(bolt11, hash, amount_msat, i64::MAX, 60, true);
        if let Some(how) = how {
            self.inner.finish_locked(&mut st, idx, how);
        }
    }
}
