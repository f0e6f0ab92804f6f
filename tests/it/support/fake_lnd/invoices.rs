//! The fake's `Lightning` service: AddInvoice (real BOLT11 signed with the
//! node key), LookupInvoice, SubscribeInvoices with lnd's replay rules,
//! DecodePayReq, plus GetInfo and ChannelBalance; and [`FakeLnd::settle_invoice`],
//! which simulates an incoming payment.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description, InvoiceBuilder, PaymentSecret,
    RouteHint, RouteHintHop, RoutingFees, Sha256,
};
use lnurld::node::lnd::proto::lnrpc::{self, lightning_server::Lightning};
use lnurld::node::{PaymentHash, Preimage};
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use super::{
    now_duration, now_secs, random32, spawn_stream, BoxStream, FakeInvoiceState, FakeLnd, Svc,
};

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
    /// AddInvoice's `private`: the invoice carries a route hint to the
    /// fake's one private channel ([`PRIVATE_CHANNEL_ID`]).
    pub private: bool,
}

/// The short channel id of the fake's private channel, as lnd puts it in
/// the route hints of a `private` invoice.
pub const PRIVATE_CHANNEL_ID: u64 = 0x0001_2300_0045_0001;

/// How often AddInvoice and LookupInvoice were called (every call, also
/// refused ones), for tests that bound what lnurld asks the node.
#[derive(Debug, Default)]
pub(super) struct InvoiceCalls {
    add_invoice: usize,
    lookup_invoice: HashMap<[u8; 32], usize>,
    /// How long AddInvoice waits before it answers (a slow node).
    add_invoice_delay: Duration,
    /// Replay settlements in creation (add index) order, as lnd's SQL
    /// invoice store does, instead of settle index order (the kv store).
    replay_in_creation_order: bool,
    /// While set, LookupInvoice answers Internal whatever it knows.
    failing_lookups: bool,
}

/// What ChannelBalance reports.
const LOCAL_BALANCE_MSAT: u64 = 5_000_000_000;
const REMOTE_BALANCE_MSAT: u64 = 3_000_000_000;

impl FakeInvoice {
    pub(super) fn to_proto(&self) -> lnrpc::Invoice {
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
            private: self.private,
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

/// A BOLT11 signed with `key`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_invoice(
    builder_currency: Currency,
    key: &SecretKey,
    amount_msat: Option<u64>,
    description: Bolt11InvoiceDescription,
    payment_hash: [u8; 32],
    payment_secret: [u8; 32],
    expiry: Duration,
    min_final_cltv: u64,
    route_hint: Option<RouteHint>,
) -> Bolt11Invoice {
    let secp = Secp256k1::new();
    let b = InvoiceBuilder::new(builder_currency)
        .invoice_description(description)
        .payment_hash(sha256::Hash::from_byte_array(payment_hash))
        .payment_secret(PaymentSecret(payment_secret))
        .duration_since_epoch(now_duration())
        .min_final_cltv_expiry_delta(min_final_cltv)
        .expiry_time(expiry);
    let b = match amount_msat {
        Some(a) if a > 0 => b.amount_milli_satoshis(a),
        _ => b,
    };
    let b = match route_hint {
        Some(h) => b.private_route(h),
        None => b,
    };
    b.build_signed(|m| secp.sign_ecdsa_recoverable(m, key))
        .expect("build invoice")
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
        let delay = {
            let mut st = self.inner.state.lock().unwrap();
            st.invoice_calls.add_invoice += 1;
            st.invoice_calls.add_invoice_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
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
            random32(),
            Duration::from_secs(expiry as u64),
            80,
            // lnd adds hints only when asked (and only for private
            // channels); the fake has exactly one.
            req.private.then(|| {
                RouteHint(vec![RouteHintHop {
                    src_node_id: PublicKey::from_secret_key(
                        &Secp256k1::new(),
                        &SecretKey::from_slice(&[7; 32]).expect("key"),
                    ),
                    short_channel_id: PRIVATE_CHANNEL_ID,
                    fees: RoutingFees {
                        base_msat: 1_000,
                        proportional_millionths: 1,
                    },
                    cltv_expiry_delta: 40,
                    htlc_minimum_msat: None,
                    htlc_maximum_msat: None,
                }])
            }),
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
            private: req.private,
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
        let mut st = self.inner.state.lock().unwrap();
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            *st.invoice_calls.lookup_invoice.entry(h).or_default() += 1;
        }
        if st.invoice_calls.failing_lookups {
            return Err(Status::internal("unable to query invoice store"));
        }
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
                if st.invoice_calls.replay_in_creation_order {
                    settled.sort_by_key(|i| i.add_index);
                } else {
                    settled.sort_by_key(|i| i.settle_index);
                }
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
pub(super) fn decode_for_regtest(bolt11: &str) -> Result<Bolt11Invoice, Status> {
    let inv = Bolt11Invoice::from_str(bolt11.trim())
        .map_err(|e| Status::unknown(format!("unable to decode payment request: {e}")))?;
    if inv.currency() != Currency::Regtest {
        return Err(Status::unknown(
            "invoice not for current active network 'regtest'",
        ));
    }
    Ok(inv)
}

impl FakeLnd {
    /// Number of open SubscribeInvoices streams (to wait for a subscriber
    /// before settling: a subscription from index 0 replays nothing).
    pub fn invoice_subscribers(&self) -> usize {
        self.inner.invoice_tx.receiver_count()
    }

    /// Every invoice issued, by add index.
    pub fn invoices(&self) -> Vec<FakeInvoice> {
        self.inner.state.lock().unwrap().invoices.clone()
    }

    /// AddInvoice calls so far (also refused ones).
    pub fn add_invoice_calls(&self) -> usize {
        self.inner.state.lock().unwrap().invoice_calls.add_invoice
    }

    /// Makes every later AddInvoice wait `delay` before it answers (after
    /// it has been counted).
    pub fn set_add_invoice_delay(&self, delay: Duration) {
        self.inner
            .state
            .lock()
            .unwrap()
            .invoice_calls
            .add_invoice_delay = delay;
    }

    /// LookupInvoice calls for `payment_hash` so far.
    pub fn lookup_invoice_calls(&self, payment_hash: PaymentHash) -> usize {
        let st = self.inner.state.lock().unwrap();
        st.invoice_calls
            .lookup_invoice
            .get(&payment_hash.0)
            .copied()
            .unwrap_or(0)
    }

    /// Replays settlements to new subscribers in creation order (lnd's SQL
    /// invoice store) when `on`, in settle index order (kv store) when not.
    pub fn replay_in_creation_order(&self, on: bool) {
        self.inner
            .state
            .lock()
            .unwrap()
            .invoice_calls
            .replay_in_creation_order = on;
    }

    /// While `on`, LookupInvoice fails (Internal): only the settlement
    /// stream can tell lnurld about a payment.
    pub fn fail_invoice_lookups(&self, on: bool) {
        self.inner
            .state
            .lock()
            .unwrap()
            .invoice_calls
            .failing_lookups = on;
    }

    /// Like [`FakeLnd::settle_invoice`], but without telling subscribers:
    /// only a LookupInvoice learns of it (a watcher that missed the event).
    pub fn settle_invoice_unannounced(&self, payment_hash: PaymentHash) -> u64 {
        let mut st = self.inner.state.lock().unwrap();
        let settle_index = st.next_settle_index;
        let inv = st
            .invoices
            .iter_mut()
            .find(|i| i.payment_hash == payment_hash)
            .expect("settle_invoice_unannounced: unknown invoice");
        assert_eq!(inv.state, FakeInvoiceState::Open, "invoice not open");
        inv.state = FakeInvoiceState::Settled;
        inv.settle_index = settle_index;
        inv.settle_date = now_secs();
        inv.amt_paid_msat = inv.amount_msat as i64;
        st.next_settle_index += 1;
        settle_index
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
}
