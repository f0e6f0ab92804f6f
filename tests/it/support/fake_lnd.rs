//! A fake LND gRPC server for tests: the real `lnd` backend talks to it over
//! TLS on a random port, exactly as it would to lnd.
//!
//! Honest where lnurld depends on it (see `spec/LND.md`): a self-signed
//! CA=true P-256 certificate naming `localhost`/`127.0.0.1` like lnd's
//! `tls.cert`; a macaroon check on every call with lnd's error texts; real
//! BOLT11 invoices signed with the fake node's key; SendPaymentV2 that
//! validates (signature, network, expiry, self-payment, amount rules),
//! records the payment under its hash *before* streaming, refuses a second
//! payment of a hash that succeeded or is in flight (AlreadyExists) and
//! allows a retry after a failure; TrackPaymentV2; SubscribeInvoices with
//! lnd's replay rules (an index of 0 replays nothing).
//!
//! Outgoing payments are scripted with [`PayBehavior`]; incoming payments are
//! simulated with [`FakeLnd::settle_invoice`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use futures_util::{Stream, StreamExt};
use lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description, InvoiceBuilder, PaymentSecret,
    Sha256,
};
use lnurld::node::lnd::proto::lnrpc::{
    self,
    lightning_server::{Lightning, LightningServer},
};
use lnurld::node::lnd::proto::routerrpc::{
    self,
    router_server::{Router, RouterServer},
};
use lnurld::node::lnd::LndConfig;
use lnurld::node::{Network, PaymentHash, Preimage};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

pub use lnrpc::invoice::InvoiceState as FakeInvoiceState;
pub use lnrpc::payment::PaymentStatus as FakePaymentStatus;
pub use lnrpc::PaymentFailureReason as FailureReason;

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

/// One invoice the fake issued.
#[derive(Debug, Clone)]
pub struct FakeInvoice {
    pub payment_hash: PaymentHash,
    pub preimage: Preimage,
    pub bolt11: String,
    pub amount_msat: u64,
    pub memo: String,
    pub description_hash: Vec<u8>,
    pub expiry_secs: i64,
    pub add_index: u64,
    pub settle_index: u64,
    pub state: FakeInvoiceState,
    pub creation_date: i64,
    pub settle_date: i64,
    pub amt_paid_msat: i64,
    pub payment_addr: [u8; 32],
}

/// Preimages of invoices made by [`FakeLnd::wallet_invoice`], so that a
/// successful payment reports the payee's real preimage.
fn wallet_preimages() -> &'static Mutex<HashMap<[u8; 32], [u8; 32]>> {
    static REG: OnceLock<Mutex<HashMap<[u8; 32], [u8; 32]>>> = OnceLock::new();
    REG.get_or_init(Default::default)
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn now_duration() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn sign_invoice(
    builder_currency: Currency,
    key: &SecretKey,
    amount_msat: Option<u64>,
    description: Bolt11InvoiceDescription,
    payment_hash: [u8; 32],
    expiry: Duration,
    min_final_cltv: u64,
) -> Bolt11Invoice {
    let secp = Secp256k1::new();
    let b = InvoiceBuilder::new(builder_currency)
        .invoice_description(description)
        .payment_hash(sha256::Hash::from_byte_array(payment_hash))
        .payment_secret(PaymentSecret(random32()))
        .duration_since_epoch(now_duration())
        .min_final_cltv_expiry_delta(min_final_cltv)
        .expiry_time(expiry);
    let b = match amount_msat {
        Some(a) if a > 0 => b.amount_milli_satoshis(a),
        _ => b,
    };
    b.build_signed(|m| secp.sign_ecdsa_recoverable(m, key))
        .expect("build invoice")
}

struct State {
    invoices: Vec<FakeInvoice>,
    next_settle_index: u64,
    payments: Vec<FakePayment>,
    behavior: PayBehavior,
    send_attempts: usize,
}

struct Inner {
    state: Mutex<State>,
    macaroon: Vec<u8>,
    key: SecretKey,
    pubkey: PublicKey,
    invoice_tx: broadcast::Sender<lnrpc::Invoice>,
    payment_tx: broadcast::Sender<lnrpc::Payment>,
}

const LOCAL_BALANCE_MSAT: u64 = 5_000_000_000;
const REMOTE_BALANCE_MSAT: u64 = 3_000_000_000;

impl FakeInvoice {
    fn to_proto(&self) -> lnrpc::Invoice {
        lnrpc::Invoice {
            memo: self.memo.clone(),
            r_preimage: self.preimage.0.to_vec(),
            r_hash: self.payment_hash.0.to_vec(),
            value: (self.amount_msat / 1000) as i64,
            settled: self.state == FakeInvoiceState::Settled,
            creation_date: self.creation_date,
            settle_date: self.settle_date,
            payment_request: self.bolt11.clone(),
            description_hash: self.description_hash.clone(),
            expiry: self.expiry_secs,
            private: false,
            add_index: self.add_index,
            settle_index: self.settle_index,
            amt_paid_sat: self.amt_paid_msat / 1000,
            amt_paid_msat: self.amt_paid_msat,
            state: self.state as i32,
            value_msat: self.amount_msat as i64,
            payment_addr: self.payment_addr.to_vec(),
        }
    }
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

impl Inner {
    /// Ends an in-flight payment and tells the streams. Caller holds the lock.
    fn finish_locked(&self, st: &mut State, idx: usize, how: Finish) {
        let p = &mut st.payments[idx];
        if p.is_final() {
            return;
        }
        match how {
            Finish::Succeed { fee_msat } => {
                let preimage = wallet_preimages()
                    .lock()
                    .unwrap()
                    .get(&p.payment_hash.0)
                    .copied()
                    .unwrap_or_else(random32);
                p.status = FakePaymentStatus::Succeeded;
                p.preimage = Some(Preimage(preimage));
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

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The gRPC services; one per server run (the `stop` receiver ends the
/// streams of that run).
#[derive(Clone)]
struct Svc {
    inner: Arc<Inner>,
    stop: watch::Receiver<bool>,
}

/// Forwards `items`, then the `live` stream, until it ends or yields an
/// error, the client goes away or the server stops.
fn spawn_stream<T, S>(stop: watch::Receiver<bool>, items: Vec<T>, live: S) -> BoxStream<T>
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut stop = stop;
        let mut live = Box::pin(live);
        for item in items {
            if tx.send(Ok(item)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                item = live.next() => match item {
                    Some(item) => {
                        let end = item.is_err();
                        if tx.send(item).await.is_err() || end {
                            return;
                        }
                    }
                    None => return,
                },
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    let _ = tx.send(Err(Status::unavailable("server shutting down"))).await;
                    return;
                }
                _ = tx.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl Lightning for Svc {
    async fn get_info(
        &self,
        _req: Request<lnrpc::GetInfoRequest>,
    ) -> Result<Response<lnrpc::GetInfoResponse>, Status> {
        Ok(Response::new(lnrpc::GetInfoResponse {
            identity_pubkey: self.inner.pubkey.to_string(),
            alias: "fake-lnd".into(),
            block_height: 1234,
            block_hash: "00".repeat(32),
            synced_to_chain: true,
            uris: vec![],
            version: "0.21.2-beta fake".into(),
            chains: vec![lnrpc::Chain {
                chain: "bitcoin".into(),
                network: "regtest".into(),
            }],
            synced_to_graph: true,
        }))
    }

    async fn channel_balance(
        &self,
        _req: Request<lnrpc::ChannelBalanceRequest>,
    ) -> Result<Response<lnrpc::ChannelBalanceResponse>, Status> {
        let amount = |msat: u64| lnrpc::Amount {
            sat: msat / 1000,
            msat,
        };
        Ok(Response::new(lnrpc::ChannelBalanceResponse {
            balance: (LOCAL_BALANCE_MSAT / 1000) as i64,
            local_balance: Some(amount(LOCAL_BALANCE_MSAT)),
            remote_balance: Some(amount(REMOTE_BALANCE_MSAT)),
            unsettled_local_balance: Some(amount(0)),
            pending_open_local_balance: Some(amount(0)),
        }))
    }

    async fn add_invoice(
        &self,
        req: Request<lnrpc::Invoice>,
    ) -> Result<Response<lnrpc::AddInvoiceResponse>, Status> {
        let req = req.into_inner();
        if req.value != 0 && req.value_msat != 0 {
            return Err(Status::unknown(
                "sat and msat arguments are mutually exclusive",
            ));
        }
        if req.value < 0 || req.value_msat < 0 {
            return Err(Status::unknown("negative amount"));
        }
        let amount_msat = if req.value_msat != 0 {
            req.value_msat as u64
        } else {
            req.value as u64 * 1000
        };
        if req.memo.len() > 1024 {
            return Err(Status::unknown(format!(
                "memo too large: {} bytes (maxsize=1024)",
                req.memo.len()
            )));
        }
        if !req.description_hash.is_empty() && req.description_hash.len() != 32 {
            return Err(Status::unknown(format!(
                "description hash is {} bytes, must be 32",
                req.description_hash.len()
            )));
        }
        let expiry = match req.expiry {
            0 => 86_400,
            e if !(0..=31_536_000).contains(&e) => {
                return Err(Status::unknown(format!(
                    "expiry of {e} seconds is greater than max 31536000"
                )))
            }
            e => e,
        };
        let preimage = match req.r_preimage.len() {
            0 => random32(),
            32 => req.r_preimage.as_slice().try_into().unwrap(),
            n => {
                return Err(Status::unknown(format!(
                    "payment preimage must be exactly 32 bytes, is instead {n}"
                )))
            }
        };
        let preimage = Preimage(preimage);
        let hash = preimage.payment_hash();

        let description = if req.description_hash.is_empty() {
            Bolt11InvoiceDescription::Direct(
                Description::new(req.memo.clone()).map_err(|e| Status::unknown(e.to_string()))?,
            )
        } else {
            let h: [u8; 32] = req.description_hash.as_slice().try_into().unwrap();
            Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(h)))
        };
        let invoice = sign_invoice(
            Currency::Regtest,
            &self.inner.key,
            Some(amount_msat),
            description,
            hash.0,
            Duration::from_secs(expiry as u64),
            80,
        );
        let payment_addr = invoice.payment_secret().0;

        let mut st = self.inner.state.lock().unwrap();
        if st.invoices.iter().any(|i| i.payment_hash == hash) {
            return Err(Status::unknown("invoice with payment hash already exists"));
        }
        let inv = FakeInvoice {
            payment_hash: hash,
            preimage,
            bolt11: invoice.to_string(),
            amount_msat,
            memo: req.memo,
            description_hash: req.description_hash,
            expiry_secs: expiry,
            add_index: st.invoices.len() as u64 + 1,
            settle_index: 0,
            state: FakeInvoiceState::Open,
            creation_date: now_secs(),
            settle_date: 0,
            amt_paid_msat: 0,
            payment_addr,
        };
        let resp = lnrpc::AddInvoiceResponse {
            r_hash: hash.0.to_vec(),
            payment_request: inv.bolt11.clone(),
            add_index: inv.add_index,
            payment_addr: payment_addr.to_vec(),
        };
        let _ = self.inner.invoice_tx.send(inv.to_proto());
        st.invoices.push(inv);
        Ok(Response::new(resp))
    }

    async fn lookup_invoice(
        &self,
        req: Request<lnrpc::PaymentHash>,
    ) -> Result<Response<lnrpc::Invoice>, Status> {
        let req = req.into_inner();
        let hash = if !req.r_hash.is_empty() {
            req.r_hash
        } else {
            hex::decode(&req.r_hash_str).map_err(|e| Status::unknown(e.to_string()))?
        };
        if hash.len() != 32 {
            return Err(Status::unknown(format!(
                "payment hash must be exactly 32 bytes, is instead {}",
                hash.len()
            )));
        }
        let st = self.inner.state.lock().unwrap();
        if st.invoices.is_empty() {
            return Err(Status::not_found("there are no existing invoices"));
        }
        st.invoices
            .iter()
            .find(|i| i.payment_hash.0[..] == hash[..])
            .map(|i| Response::new(i.to_proto()))
            .ok_or_else(|| Status::not_found("unable to locate invoice"))
    }

    type SubscribeInvoicesStream = BoxStream<lnrpc::Invoice>;

    async fn subscribe_invoices(
        &self,
        req: Request<lnrpc::InvoiceSubscription>,
    ) -> Result<Response<Self::SubscribeInvoicesStream>, Status> {
        let req = req.into_inner();
        // Subscribe and collect the backlog under one lock: nothing is missed
        // or sent twice between replay and live events.
        let (rx, backlog) = {
            let st = self.inner.state.lock().unwrap();
            let rx = self.inner.invoice_tx.subscribe();
            let mut backlog = Vec::new();
            // lnd: an index of 0 means "no backlog" (backwards compat).
            if req.add_index > 0 {
                backlog.extend(
                    st.invoices
                        .iter()
                        .filter(|i| i.add_index > req.add_index)
                        .map(|i| i.to_proto()),
                );
            }
            if req.settle_index > 0 {
                let mut settled: Vec<_> = st
                    .invoices
                    .iter()
                    .filter(|i| {
                        i.state == FakeInvoiceState::Settled && i.settle_index > req.settle_index
                    })
                    .collect();
                settled.sort_by_key(|i| i.settle_index);
                backlog.extend(settled.into_iter().map(|i| i.to_proto()));
            }
            (rx, backlog)
        };
        let live = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    // Only add (OPEN) and settle events, like lnd.
                    Ok(inv)
                        if matches!(
                            inv.state(),
                            FakeInvoiceState::Open | FakeInvoiceState::Settled
                        ) =>
                    {
                        return Some((Ok(inv), rx))
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Err(Status::internal("subscriber lagged")), rx))
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let stream = spawn_stream(self.stop.clone(), backlog, live);
        Ok(Response::new(stream))
    }

    async fn decode_pay_req(
        &self,
        req: Request<lnrpc::PayReqString>,
    ) -> Result<Response<lnrpc::PayReq>, Status> {
        let inv = decode_for_regtest(&req.into_inner().pay_req)?;
        let description = match inv.description() {
            lightning_invoice::Bolt11InvoiceDescriptionRef::Direct(d) => d.to_string(),
            lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(_) => String::new(),
        };
        let description_hash = match inv.description() {
            lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) => hex::encode(h.0),
            lightning_invoice::Bolt11InvoiceDescriptionRef::Direct(_) => String::new(),
        };
        let msat = inv.amount_milli_satoshis().unwrap_or(0);
        Ok(Response::new(lnrpc::PayReq {
            destination: inv.get_payee_pub_key().to_string(),
            payment_hash: hex::encode(inv.payment_hash().to_byte_array()),
            num_satoshis: (msat / 1000) as i64,
            timestamp: inv.duration_since_epoch().as_secs() as i64,
            expiry: inv.expiry_time().as_secs() as i64,
            description,
            description_hash,
            cltv_expiry: inv.min_final_cltv_expiry_delta() as i64,
            payment_addr: inv.payment_secret().0.to_vec(),
            num_msat: msat as i64,
        }))
    }
}

/// Decodes and checks a BOLT11 the way lnd's zpay32 does (signature and
/// network; not expiry).
fn decode_for_regtest(bolt11: &str) -> Result<Bolt11Invoice, Status> {
    let inv = Bolt11Invoice::from_str(bolt11.trim())
        .map_err(|e| Status::unknown(format!("unable to decode payment request: {e}")))?;
    if inv.currency() != Currency::Regtest {
        return Err(Status::unknown(
            "invoice not for current active network 'regtest'",
        ));
    }
    Ok(inv)
}

#[tonic::async_trait]
impl Router for Svc {
    type SendPaymentV2Stream = BoxStream<lnrpc::Payment>;

    async fn send_payment_v2(
        &self,
        req: Request<routerrpc::SendPaymentRequest>,
    ) -> Result<Response<Self::SendPaymentV2Stream>, Status> {
        let req = req.into_inner();
        self.inner.state.lock().unwrap().send_attempts += 1;

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
            let payment_index = st.payments.len() as u64 + 1;
            st.payments.push(FakePayment {
                bolt11: req.payment_request.clone(),
                payment_hash: hash,
                amount_msat,
                fee_limit_msat,
                timeout_seconds: if req.timeout_seconds == 0 {
                    60
                } else {
                    req.timeout_seconds
                },
                no_inflight_updates: req.no_inflight_updates,
                status: FakePaymentStatus::InFlight,
                failure_reason: FailureReason::FailureReasonNone,
                preimage: None,
                fee_msat: 0,
                payment_index,
                creation_time_ns: now_ns(),
            });
            let idx = st.payments.len() - 1;
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
            let st = self.inner.state.lock().unwrap();
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

struct Running {
    shutdown: oneshot::Sender<()>,
    stop_streams: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A running fake LND. Each test starts its own.
pub struct FakeLnd {
    inner: Arc<Inner>,
    addr: SocketAddr,
    cert_pem: String,
    key_pem: String,
    running: Mutex<Option<Running>>,
}

impl FakeLnd {
    /// Starts on a random port of 127.0.0.1 with a fresh certificate,
    /// node key and macaroon.
    pub async fn start() -> FakeLnd {
        let (cert_pem, key_pem) = make_tls_cert();
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&random32()).expect("node key");
        let pubkey = PublicKey::from_secret_key(&secp, &key);
        let mut macaroon = vec![0x02, 0x01];
        macaroon.extend_from_slice(&random32());
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                invoices: Vec::new(),
                next_settle_index: 1,
                payments: Vec::new(),
                behavior: PayBehavior::Succeed { fee_msat: 0 },
                send_attempts: 0,
            }),
            macaroon,
            key,
            pubkey,
            invoice_tx: broadcast::channel(1024).0,
            payment_tx: broadcast::channel(1024).0,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let fake = FakeLnd {
            inner,
            addr,
            cert_pem,
            key_pem,
            running: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (stop_streams, stop_rx) = watch::channel(false);
        let svc = Svc {
            inner: self.inner.clone(),
            stop: stop_rx,
        };
        let expected = hex::encode(&self.inner.macaroon);
        let check = move |req: Request<()>| -> Result<Request<()>, Status> {
            let values: Vec<_> = req.metadata().get_all("macaroon").iter().collect();
            if values.len() != 1 {
                return Err(Status::unknown(format!(
                    "expected 1 macaroon, got {}",
                    values.len()
                )));
            }
            if values[0].to_str().ok() != Some(expected.as_str()) {
                return Err(Status::unknown(
                    "verification failed: signature mismatch after caveat verification",
                ));
            }
            Ok(req)
        };
        let identity = Identity::from_pem(&self.cert_pem, &self.key_pem);
        let router = Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .expect("server tls")
            .add_service(LightningServer::with_interceptor(
                svc.clone(),
                check.clone(),
            ))
            .add_service(RouterServer::with_interceptor(svc, check));
        let task = tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = shutdown_rx.await;
                })
                .await;
        });
        *self.running.lock().unwrap() = Some(Running {
            shutdown,
            stop_streams,
            task,
        });
    }

    /// Stops listening and ends every open stream; calls fail as
    /// unreachable until [`FakeLnd::restart`]. State is kept, like lnd's DB.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(r) = running {
            let _ = r.stop_streams.send(true);
            let _ = r.shutdown.send(());
            let abort = r.task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), r.task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Serves again on the same port (after [`FakeLnd::stop`]).
    pub async fn restart(&self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.serve(listener);
    }

    /// `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The server certificate (PEM), like lnd's `tls.cert`.
    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert_pem.as_bytes().to_vec()
    }

    /// The only macaroon accepted (raw bytes).
    pub fn macaroon(&self) -> Vec<u8> {
        self.inner.macaroon.clone()
    }

    /// Config for the real `lnd` backend pointing at this fake.
    pub fn lnd_config(&self) -> LndConfig {
        LndConfig {
            endpoint: self.endpoint(),
            tls_cert_pem: self.cert_pem(),
            macaroon: self.macaroon(),
        }
    }

    /// Always regtest.
    pub fn network(&self) -> Network {
        Network::Regtest
    }

    /// Node identity key, hex.
    pub fn pubkey(&self) -> String {
        self.inner.pubkey.to_string()
    }

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

    /// Number of open SubscribeInvoices streams (to wait for a subscriber
    /// before settling: a subscription from index 0 replays nothing).
    pub fn invoice_subscribers(&self) -> usize {
        self.inner.invoice_tx.receiver_count()
    }

    /// Every invoice issued, by add index.
    pub fn invoices(&self) -> Vec<FakeInvoice> {
        self.inner.state.lock().unwrap().invoices.clone()
    }

    /// Simulates an incoming payment of one of its OPEN invoices: SETTLED
    /// with the next settle index, announced on subscriptions. Returns the
    /// settle index. Panics if the invoice is unknown or not open.
    pub fn settle_invoice(&self, payment_hash: PaymentHash) -> u64 {
        let mut st = self.inner.state.lock().unwrap();
        let settle_index = st.next_settle_index;
        let inv = st
            .invoices
            .iter_mut()
            .find(|i| i.payment_hash == payment_hash)
            .expect("settle_invoice: unknown invoice");
        assert_eq!(inv.state, FakeInvoiceState::Open, "invoice not open");
        inv.state = FakeInvoiceState::Settled;
        inv.settle_index = settle_index;
        inv.settle_date = now_secs();
        inv.amt_paid_msat = inv.amount_msat as i64;
        let event = inv.to_proto();
        st.next_settle_index += 1;
        let _ = self.inner.invoice_tx.send(event);
        settle_index
    }

    /// A real signed BOLT11 of a *foreign* payee (a wallet's invoice): random
    /// node key, random preimage (remembered, so paying it through any fake
    /// reports this preimage).
    pub fn wallet_invoice(
        amount_msat: Option<u64>,
        expiry: Duration,
        currency: Currency,
    ) -> (String, PaymentHash, Preimage) {
        let key = SecretKey::from_slice(&random32()).expect("key");
        let preimage = Preimage(random32());
        let hash = preimage.payment_hash();
        let inv = sign_invoice(
            currency,
            &key,
            amount_msat,
            Bolt11InvoiceDescription::Direct(
                Description::new("wallet invoice".into()).expect("description"),
            ),
            hash.0,
            expiry,
            40,
        );
        wallet_preimages()
            .lock()
            .unwrap()
            .insert(hash.0, preimage.0);
        (inv.to_string(), hash, preimage)
    }
}

/// Self-signed certificate like lnd's `tls.cert`: ECDSA P-256, CA=true,
/// serverAuth, SAN localhost + 127.0.0.1 + ::1.
fn make_tls_cert() -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params
        .subject_alt_names
        .push(SanType::IpAddress("::1".parse().unwrap()));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "lnd autogenerated cert");
    params
        .distinguished_name
        .push(DnType::CommonName, "fake-lnd");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key.serialize_pem())
}
