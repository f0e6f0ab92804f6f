//! The fake's `cln.Node` service (see `mod.rs` for what it is honest about).

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description, Sha256};
use lnurld::node::cln::proto::{self, node_server::Node};
use lnurld::node::{PaymentHash, Preimage};
use tonic::{Request, Response, Status};

use super::{ClnInvoice, ClnPay, ClnPayment, InvStatus, PayStatus, Svc};
use crate::support::fake_lnd::{payee_preimage, random_key, sign_invoice};

/// CLN's default invoice expiry: a week.
const DEFAULT_EXPIRY: u64 = 604_800;
/// Local and total msat of the fake's one channel.
const TO_US_MSAT: u64 = 5_000_000_000;
const TOTAL_MSAT: u64 = 8_000_000_000;

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An error as cln-grpc sends one.
fn rpc_err(method: &str, code: i64, message: &str) -> Status {
    Status::unknown(format!(
        "Error calling method {method}: RpcError {{ code: Some({code}), message: {message:?}, data: None }}"
    ))
}

/// The preimage a payment of `bolt11` reveals: the wallet's when it is a
/// test wallet invoice, else a random one.
pub(super) fn preimage_for(bolt11: &str) -> Preimage {
    payee_preimage(bolt11).unwrap_or_else(|| Preimage(random_key()))
}

fn amount(msat: u64) -> Option<proto::Amount> {
    Some(proto::Amount { msat })
}

/// How a pay command ends, before it is put in its method's answer.
enum Done {
    Complete {
        preimage: Preimage,
        amount: u64,
        fee: u64,
    },
    Fail(i64, String),
}

impl Svc {
    /// The shared logic of `Xpay` and `Pay`: validation, CLN's answers for
    /// a hash already paid or in flight, the scripted behaviour, and the
    /// wait of a held payment.
    async fn pay_common(
        &self,
        method: &'static str,
        bolt11: &str,
        maxfee: Option<u64>,
        retry_for: Option<u32>,
    ) -> Result<Done, Status> {
        let inv = Bolt11Invoice::from_str(bolt11.trim())
            .map_err(|e| rpc_err(method, -32602, &format!("invstring: {e}")))?;
        if inv.currency() != Currency::Regtest {
            return Err(rpc_err(method, -32602, "Invoice is for another network"));
        }
        let hash = PaymentHash(inv.payment_hash().to_byte_array());
        let amount_msat = inv
            .amount_milli_satoshis()
            .ok_or_else(|| rpc_err(method, -32602, "amount_msat: Must specify amount"))?;
        let idx = {
            let mut st = self.inner.state.lock().unwrap();
            st.send_attempts += 1;
            if inv.is_expired() {
                let ago =
                    now_secs().saturating_sub(inv.expires_at().map(|d| d.as_secs()).unwrap_or(0));
                return Err(rpc_err(
                    method,
                    207,
                    &format!("Invoice expired {ago} seconds ago"),
                ));
            }
            let earlier = st.payments.iter().filter(|p| p.payment_hash == hash);
            if let Some(done) = earlier.clone().find(|p| p.status == PayStatus::Complete) {
                if method == "Xpay" {
                    return Err(rpc_err(
                        method,
                        219,
                        "Already paid this invoice successfully",
                    ));
                }
                return Ok(Done::Complete {
                    preimage: done.preimage.unwrap_or(Preimage([0; 32])),
                    amount: done.amount_msat,
                    fee: done.fee_msat,
                });
            }
            if earlier.clone().any(|p| p.status == PayStatus::Pending) {
                return Err(if method == "Xpay" {
                    rpc_err(
                        method,
                        -3,
                        &format!("Payment with hash {hash} still in progress"),
                    )
                } else {
                    rpc_err(method, 200, "Payment is still in progress")
                });
            }
            let record = |status, fee_msat, fail_code| ClnPayment {
                bolt11: bolt11.to_owned(),
                payment_hash: hash,
                amount_msat,
                maxfee_msat: maxfee,
                retry_for,
                status,
                preimage: (status == PayStatus::Complete).then(|| preimage_for(bolt11)),
                fee_msat,
                fail_code,
                method: if method == "Xpay" { "xpay" } else { "pay" },
            };
            match st.behavior {
                ClnPay::Succeed { fee_msat } if maxfee.is_some_and(|m| fee_msat > m) => {
                    return Err(rpc_err(method, 206, "Route too expensive"));
                }
                ClnPay::Succeed { fee_msat } => {
                    let p = record(PayStatus::Complete, fee_msat, 0);
                    let done = Done::Complete {
                        preimage: p.preimage.unwrap_or(Preimage([0; 32])),
                        amount: amount_msat,
                        fee: fee_msat,
                    };
                    st.payments.push(p);
                    drop(st);
                    self.inner.bump();
                    return Ok(done);
                }
                ClnPay::Fail(code @ (205 | 206)) => {
                    return Err(rpc_err(method, code, "Failed to find a route"));
                }
                ClnPay::Fail(code) => {
                    st.payments.push(record(PayStatus::Failed, 0, code));
                    return Err(rpc_err(method, code, "Ran out of routes to try"));
                }
                ClnPay::FailWithPartPending(code) => {
                    st.payments.push(record(PayStatus::Pending, 0, 0));
                    return Err(rpc_err(method, code, "Ran out of routes to try"));
                }
                ClnPay::Hold => {
                    st.payments.push(record(PayStatus::Pending, 0, 0));
                    st.payments.len() - 1
                }
            }
        };
        // Held: answer when finished, or never (the client gives up).
        let mut changed = self.inner.changed.subscribe();
        let mut stop = self.stop.clone();
        loop {
            {
                let st = self.inner.state.lock().unwrap();
                let p = &st.payments[idx];
                match p.status {
                    PayStatus::Complete => {
                        return Ok(Done::Complete {
                            preimage: p.preimage.unwrap_or(Preimage([0; 32])),
                            amount: p.amount_msat,
                            fee: p.fee_msat,
                        })
                    }
                    PayStatus::Failed => {
                        return Ok(Done::Fail(p.fail_code, "Ran out of routes to try".into()))
                    }
                    PayStatus::Pending => {}
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Err(Status::unavailable("gone")) },
                _ = stop.wait_for(|s| *s) => return Err(Status::unavailable("server shutting down")),
            }
        }
    }
}

#[tonic::async_trait]
impl Node for Svc {
    async fn getinfo(
        &self,
        _: Request<proto::GetinfoRequest>,
    ) -> Result<Response<proto::GetinfoResponse>, Status> {
        Ok(Response::new(proto::GetinfoResponse {
            id: self.inner.pubkey.serialize().to_vec(),
            alias: "fake-cln".into(),
            version: "v26.06.6".into(),
            blockheight: 100,
            network: "regtest".into(),
            ..Default::default()
        }))
    }

    async fn list_peer_channels(
        &self,
        _: Request<proto::ListpeerchannelsRequest>,
    ) -> Result<Response<proto::ListpeerchannelsResponse>, Status> {
        let normal = proto::ListpeerchannelsChannels {
            state: proto::ChannelState::ChanneldNormal as i32,
            to_us_msat: amount(TO_US_MSAT),
            total_msat: amount(TOTAL_MSAT),
            ..Default::default()
        };
        // A closing channel counts for nothing.
        let closing = proto::ListpeerchannelsChannels {
            state: proto::ChannelState::Onchain as i32,
            to_us_msat: amount(1_000),
            total_msat: amount(2_000),
            ..Default::default()
        };
        Ok(Response::new(proto::ListpeerchannelsResponse {
            channels: vec![normal, closing],
        }))
    }

    async fn invoice(
        &self,
        req: Request<proto::InvoiceRequest>,
    ) -> Result<Response<proto::InvoiceResponse>, Status> {
        let r = req.into_inner();
        let m = "Invoice";
        if r.label.is_empty() || r.label.len() > 128 {
            return Err(rpc_err(m, -32602, "label: must be 1 to 128 bytes"));
        }
        let amount_msat = match r.amount_msat.and_then(|a| a.value) {
            Some(proto::amount_or_any::Value::Amount(a)) => a.msat,
            _ => return Err(rpc_err(m, -32602, "amount_msat: expected an amount")),
        };
        let preimage = match r.preimage {
            Some(p) => Preimage(
                p.try_into()
                    .map_err(|_| rpc_err(m, -32602, "preimage: should be 32 bytes"))?,
            ),
            None => Preimage(random_key()),
        };
        let hash = preimage.payment_hash();
        let mut st = self.inner.state.lock().unwrap();
        if st.invoices.iter().any(|i| i.label == r.label) {
            return Err(rpc_err(m, 900, &format!("Duplicate label '{}'", r.label)));
        }
        if st.invoices.iter().any(|i| i.payment_hash == hash) {
            return Err(rpc_err(m, 901, "preimage already used"));
        }
        let deschashonly = r.deschashonly.unwrap_or(false);
        let description = if deschashonly {
            let h = sha256::Hash::hash(r.description.as_bytes());
            Bolt11InvoiceDescription::Hash(Sha256(h))
        } else {
            Bolt11InvoiceDescription::Direct(
                Description::new(r.description.clone())
                    .map_err(|e| rpc_err(m, -32602, &format!("description: {e}")))?,
            )
        };
        let expiry = r.expiry.unwrap_or(DEFAULT_EXPIRY);
        let secret = random_key();
        let bolt11 = sign_invoice(
            Currency::Regtest,
            &self.inner.key,
            Some(amount_msat),
            description,
            hash.0,
            secret,
            Duration::from_secs(expiry),
            18,
            None,
        )
        .to_string();
        let created_index = st.invoices.len() as u64 + 1;
        let expires_at = now_secs() + expiry;
        st.invoices.push(ClnInvoice {
            label: r.label,
            description: r.description,
            deschashonly,
            payment_hash: hash,
            preimage,
            bolt11: bolt11.clone(),
            amount_msat,
            expiry,
            expires_at,
            status: InvStatus::Unpaid,
            pay_index: None,
            paid_at: None,
            created_index,
        });
        Ok(Response::new(proto::InvoiceResponse {
            bolt11,
            payment_hash: hash.0.to_vec(),
            payment_secret: secret.to_vec(),
            expires_at,
            created_index,
            ..Default::default()
        }))
    }

    async fn list_invoices(
        &self,
        req: Request<proto::ListinvoicesRequest>,
    ) -> Result<Response<proto::ListinvoicesResponse>, Status> {
        let r = req.into_inner();
        let st = self.inner.state.lock().unwrap();
        let invoices = st
            .invoices
            .iter()
            .filter(|i| {
                r.payment_hash
                    .as_deref()
                    .is_none_or(|h| h == i.payment_hash.0)
            })
            .map(|i| {
                use proto::listinvoices_invoices::ListinvoicesInvoicesStatus as S;
                let status = match i.status {
                    InvStatus::Paid => S::Paid,
                    InvStatus::Unpaid if i.expires_at <= now_secs() => S::Expired,
                    InvStatus::Unpaid => S::Unpaid,
                };
                let paid = i.status == InvStatus::Paid;
                proto::ListinvoicesInvoices {
                    label: i.label.clone(),
                    description: Some(i.description.clone()),
                    payment_hash: i.payment_hash.0.to_vec(),
                    status: status as i32,
                    expires_at: i.expires_at,
                    amount_msat: amount(i.amount_msat),
                    bolt11: Some(i.bolt11.clone()),
                    pay_index: i.pay_index,
                    amount_received_msat: paid.then_some(proto::Amount {
                        msat: i.amount_msat,
                    }),
                    paid_at: i.paid_at,
                    payment_preimage: paid.then(|| i.preimage.0.to_vec()),
                    created_index: i.created_index,
                    ..Default::default()
                }
            })
            .collect();
        Ok(Response::new(proto::ListinvoicesResponse { invoices }))
    }

    async fn wait_any_invoice(
        &self,
        req: Request<proto::WaitanyinvoiceRequest>,
    ) -> Result<Response<proto::WaitanyinvoiceResponse>, Status> {
        let r = req.into_inner();
        let after = r.lastpay_index.unwrap_or(0);
        self.inner.state.lock().unwrap().wait_calls += 1;
        let deadline = r
            .timeout
            .map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
        let mut changed = self.inner.changed.subscribe();
        let mut stop = self.stop.clone();
        loop {
            {
                let st = self.inner.state.lock().unwrap();
                let next = st
                    .invoices
                    .iter()
                    .filter(|i| i.pay_index.is_some_and(|p| p > after))
                    .min_by_key(|i| i.pay_index);
                if let Some(i) = next {
                    use proto::waitanyinvoice_response::WaitanyinvoiceStatus as S;
                    return Ok(Response::new(proto::WaitanyinvoiceResponse {
                        label: i.label.clone(),
                        description: Some(i.description.clone()),
                        payment_hash: i.payment_hash.0.to_vec(),
                        status: S::Paid as i32,
                        expires_at: i.expires_at,
                        amount_msat: amount(i.amount_msat),
                        bolt11: Some(i.bolt11.clone()),
                        pay_index: i.pay_index,
                        amount_received_msat: amount(i.amount_msat),
                        paid_at: i.paid_at,
                        payment_preimage: Some(i.preimage.0.to_vec()),
                        created_index: i.created_index,
                        ..Default::default()
                    }));
                }
            }
            let timeout = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Err(Status::unavailable("gone")) },
                _ = stop.wait_for(|s| *s) => return Err(Status::unavailable("server shutting down")),
                _ = timeout => return Err(rpc_err("WaitAnyInvoice", 904, "Timed out")),
            }
        }
    }

    async fn xpay(
        &self,
        req: Request<proto::XpayRequest>,
    ) -> Result<Response<proto::XpayResponse>, Status> {
        let r = req.into_inner();
        let maxfee = r.maxfee.map(|a| a.msat);
        match self
            .pay_common("Xpay", &r.invstring, maxfee, r.retry_for)
            .await?
        {
            Done::Complete {
                preimage,
                amount,
                fee,
            } => Ok(Response::new(proto::XpayResponse {
                payment_preimage: preimage.0.to_vec(),
                failed_parts: 0,
                successful_parts: 1,
                amount_msat: self::amount(amount),
                amount_sent_msat: self::amount(amount + fee),
            })),
            Done::Fail(code, msg) => Err(rpc_err("Xpay", code, &msg)),
        }
    }

    async fn pay(
        &self,
        req: Request<proto::PayRequest>,
    ) -> Result<Response<proto::PayResponse>, Status> {
        let r = req.into_inner();
        let maxfee = r.maxfee.map(|a| a.msat);
        match self
            .pay_common("Pay", &r.bolt11, maxfee, r.retry_for)
            .await?
        {
            Done::Complete {
                preimage,
                amount,
                fee,
            } => Ok(Response::new(proto::PayResponse {
                payment_preimage: preimage.0.to_vec(),
                payment_hash: preimage.payment_hash().0.to_vec(),
                parts: 1,
                amount_msat: self::amount(amount),
                amount_sent_msat: self::amount(amount + fee),
                status: proto::pay_response::PayStatus::Complete as i32,
                ..Default::default()
            })),
            Done::Fail(code, msg) => Err(rpc_err("Pay", code, &msg)),
        }
    }

    async fn list_pays(
        &self,
        req: Request<proto::ListpaysRequest>,
    ) -> Result<Response<proto::ListpaysResponse>, Status> {
        use proto::listpays_pays::ListpaysPaysStatus as S;
        let r = req.into_inner();
        let mut st = self.inner.state.lock().unwrap();
        if let Some(h) = r
            .payment_hash
            .as_deref()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
        {
            *st.tracks.entry(h).or_default() += 1;
        }
        let pays = st
            .payments
            .iter()
            .filter(|p| {
                r.payment_hash
                    .as_deref()
                    .is_none_or(|h| h == p.payment_hash.0)
            })
            .map(|p| proto::ListpaysPays {
                payment_hash: p.payment_hash.0.to_vec(),
                status: match p.status {
                    PayStatus::Pending => S::Pending,
                    PayStatus::Complete => S::Complete,
                    PayStatus::Failed => S::Failed,
                } as i32,
                bolt11: Some(p.bolt11.clone()),
                amount_msat: amount(p.amount_msat),
                amount_sent_msat: (p.status == PayStatus::Complete).then(|| proto::Amount {
                    msat: p.amount_msat + p.fee_msat,
                }),
                preimage: p.preimage.map(|x| x.0.to_vec()),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(proto::ListpaysResponse { pays }))
    }

    async fn help(
        &self,
        req: Request<proto::HelpRequest>,
    ) -> Result<Response<proto::HelpResponse>, Status> {
        let r = req.into_inner();
        let xpay = self.inner.state.lock().unwrap().xpay;
        match r.command.as_deref() {
            Some("xpay") if xpay => Ok(Response::new(proto::HelpResponse {
                help: vec![proto::HelpHelp {
                    command: "xpay invstring [amount_msat] [maxfee] [layers] [retry_for] [partial_msat] [maxdelay] [payer_note]".into(),
                }],
                format_hint: None,
            })),
            Some(cmd) => Err(rpc_err("Help", -32602, &format!("command: Unknown command '{cmd}'"))),
            None => Ok(Response::new(proto::HelpResponse::default())),
        }
    }
}
