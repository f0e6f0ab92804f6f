//! The `dev` node: embedded, no network, regtest. It signs real BOLT11
//! invoices with a key kept beside the database, "pays" any valid invoice of
//! its network after the same checks a real node makes (signature, network,
//! expiry, amount, one payment per hash), and settles its own invoices on
//! request. It moves no real money; its state lives in memory.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use rand::RngCore;
use tokio::sync::broadcast;

use super::*;

struct DevInvoice {
    bolt11: String,
    preimage: Preimage,
    amount_msat: u64,
    state: InvoiceState,
    settle_index: u64,
    settled_at: i64,
}

#[derive(Default)]
struct State {
    invoices: HashMap<PaymentHash, DevInvoice>,
    add_index: u64,
    settle_index: u64,
    payments: HashMap<PaymentHash, PaymentOutcome>,
}

/// The embedded development node.
pub struct DevNode {
    key: SecretKey,
    pubkey: PublicKey,
    state: Mutex<State>,
    settled_tx: broadcast::Sender<Settlement>,
}

impl fmt::Debug for DevNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevNode")
            .field("pubkey", &self.pubkey)
            .finish()
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

impl DevNode {
    /// Loads the node key from `key_file`, creating it (mode 0600) on first
    /// start.
    pub fn open(key_file: &Path) -> Result<DevNode, NodeError> {
        let key = match std::fs::read_to_string(key_file) {
            Ok(text) => {
                crate::files::warn_if_exposed(key_file);
                hex::decode(text.trim())
                    .ok()
                    .and_then(|b| SecretKey::from_slice(&b).ok())
                    .ok_or_else(|| {
                        NodeError::Protocol(format!(
                            "dev node key file {} is not a 32-byte hex key",
                            key_file.display()
                        ))
                    })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k = SecretKey::from_slice(&random32())
                    .map_err(|e| NodeError::Protocol(e.to_string()))?;
                crate::files::write_private(key_file, &hex::encode(k.secret_bytes())).map_err(
                    |e| {
                        NodeError::Protocol(format!(
                            "cannot write dev node key {}: {e}",
                            key_file.display()
                        ))
                    },
                )?;
                k
            }
            Err(e) => {
                return Err(NodeError::Protocol(format!(
                    "cannot read dev node key {}: {e}",
                    key_file.display()
                )))
            }
        };
        Ok(DevNode::with_key(key))
    }

    /// A dev node with a given key (tests).
    pub fn with_key(key: SecretKey) -> DevNode {
        let pubkey = PublicKey::from_secret_key(&Secp256k1::new(), &key);
        let (settled_tx, _) = broadcast::channel(1024);
        // Settle indexes must keep growing across restarts (the watcher
        // stores the highest it saw), but this node forgets its invoices on
        // restart: start counting from the clock (microseconds).
        let state = State {
            settle_index: unix_now().as_micros() as u64,
            ..State::default()
        };
        DevNode {
            key,
            pubkey,
            state: Mutex::new(state),
            settled_tx,
        }
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, NodeError> {
        self.state
            .lock()
            .map_err(|_| NodeError::Protocol("dev node state poisoned".into()))
    }

    /// Marks one of its own open invoices paid (as if a payer had paid it),
    /// emitting it on the settlement stream. Errors if unknown or not open.
    pub fn settle(&self, payment_hash: PaymentHash) -> Result<Settlement, NodeError> {
        let mut st = self.state()?;
        let idx = st.settle_index + 1;
        let inv = st
            .invoices
            .get_mut(&payment_hash)
            .ok_or(NodeError::NotFound)?;
        if inv.state != InvoiceState::Open {
            return Err(NodeError::Refused(format!(
                "invoice is {:?}, not open",
                inv.state
            )));
        }
        inv.state = InvoiceState::Settled;
        inv.settle_index = idx;
        inv.settled_at = unix_now().as_secs() as i64;
        let s = Settlement {
            payment_hash,
            preimage: inv.preimage,
            amount_paid_msat: inv.amount_msat,
            settle_index: idx,
            settled_at: inv.settled_at,
        };
        st.settle_index = idx;
        // No receiver is fine: the stream replays from the index on subscribe.
        let _ = self.settled_tx.send(s.clone());
        Ok(s)
    }

    fn decode(&self, bolt11: &str) -> Result<Bolt11Invoice, NodeError> {
        let inv = Bolt11Invoice::from_str(bolt11.trim())
            .map_err(|e| NodeError::InvalidInvoice(e.to_string()))?;
        if inv.currency() != Currency::Regtest {
            return Err(NodeError::WrongNetwork);
        }
        if inv.would_expire(unix_now()) {
            return Err(NodeError::InvoiceExpired);
        }
        if inv.amount_milli_satoshis().is_none() {
            return Err(NodeError::InvalidInvoice(
                "amount must be specified when paying a zero amount invoice".into(),
            ));
        }
        Ok(inv)
    }
}

#[async_trait]
impl LightningNode for DevNode {
    fn kind(&self) -> &'static str {
        "dev"
    }

    async fn info(&self) -> Result<NodeInfo, NodeError> {
        Ok(NodeInfo {
            pubkey: self.pubkey.to_string(),
            alias: "lnurld-dev".into(),
            network: Network::Regtest,
            synced_to_chain: true,
            block_height: 0,
        })
    }

    async fn create_invoice(&self, req: InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        if req.amount_msat == 0 {
            return Err(NodeError::Refused("amount must be positive".into()));
        }
        let preimage = req.preimage.unwrap_or(Preimage(random32()));
        let hash = preimage.payment_hash();
        let secp = Secp256k1::new();
        let inv = InvoiceBuilder::new(Currency::Regtest)
            .description_hash(sha256::Hash::from_byte_array(req.description_hash))
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(PaymentSecret(random32()))
            .current_timestamp()
            .min_final_cltv_expiry_delta(80)
            .amount_milli_satoshis(req.amount_msat)
            .expiry_time(Duration::from_secs(req.expiry_secs as u64))
            .build_signed(|m| secp.sign_ecdsa_recoverable(m, &self.key))
            .map_err(|e| NodeError::Refused(e.to_string()))?;
        let bolt11 = inv.to_string();
        let mut st = self.state()?;
        if st.invoices.contains_key(&hash) {
            return Err(NodeError::Refused(
                "invoice with payment hash already exists".into(),
            ));
        }
        st.add_index += 1;
        let add_index = st.add_index;
        st.invoices.insert(
            hash,
            DevInvoice {
                bolt11: bolt11.clone(),
                preimage,
                amount_msat: req.amount_msat,
                state: InvoiceState::Open,
                settle_index: 0,
                settled_at: 0,
            },
        );
        Ok(CreatedInvoice {
            payment_hash: hash,
            bolt11,
            add_index,
        })
    }

    async fn pay(
        &self,
        bolt11: &str,
        _max_fee_msat: u64,
        _timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError> {
        let inv = self.decode(bolt11)?;
        let hash = PaymentHash(inv.payment_hash().to_byte_array());
        if inv.recover_payee_pub_key() == self.pubkey {
            // Paying one of our own invoices settles it: lets a developer try
            // the pay flow end to end with nothing but lnurld.
            let own = {
                let st = self.state()?;
                st.invoices.get(&hash).map(|i| (i.preimage, i.state))
            };
            return match own {
                Some((preimage, InvoiceState::Open)) => {
                    self.settle(hash)?;
                    let outcome = PaymentOutcome::Succeeded {
                        preimage: Some(preimage),
                        fee_msat: 0,
                    };
                    self.state()?.payments.insert(hash, outcome.clone());
                    Ok(outcome)
                }
                Some(_) => Err(NodeError::AlreadyPaid),
                None => Ok(PaymentOutcome::Failed(
                    PaymentFailure::IncorrectPaymentDetails,
                )),
            };
        }
        let mut st = self.state()?;
        match st.payments.get(&hash) {
            Some(PaymentOutcome::Succeeded { .. }) => return Err(NodeError::AlreadyPaid),
            Some(PaymentOutcome::InFlight) => return Err(NodeError::AlreadyInFlight),
            Some(PaymentOutcome::Failed(_)) | None => {}
        }
        // No real preimage exists for a payment that moved no money.
        let outcome = PaymentOutcome::Succeeded {
            preimage: None,
            fee_msat: 0,
        };
        st.payments.insert(hash, outcome.clone());
        Ok(outcome)
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        _wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        Ok(self.state()?.payments.get(&payment_hash).cloned())
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        let st = self.state()?;
        Ok(st.invoices.get(&payment_hash).map(|i| InvoiceStatus {
            payment_hash,
            state: i.state,
            preimage: Some(i.preimage),
            amount_paid_msat: if i.state == InvoiceState::Settled {
                i.amount_msat
            } else {
                0
            },
            settle_index: i.settle_index,
            settled_at: i.settled_at,
            bolt11: i.bolt11.clone(),
        }))
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        // Subscribe before reading the backlog so nothing settles in between
        // unseen; duplicates are filtered by index below.
        let mut rx = self.settled_tx.subscribe();
        let mut backlog: Vec<Settlement> = {
            let st = self.state()?;
            st.invoices
                .iter()
                .filter(|(_, i)| {
                    i.state == InvoiceState::Settled && i.settle_index > after_settle_index
                })
                .map(|(h, i)| Settlement {
                    payment_hash: *h,
                    preimage: i.preimage,
                    amount_paid_msat: i.amount_msat,
                    settle_index: i.settle_index,
                    settled_at: i.settled_at,
                })
                .collect()
        };
        backlog.sort_by_key(|s| s.settle_index);
        let (tx, out) = tokio::sync::mpsc::channel::<Result<Settlement, NodeError>>(256);
        tokio::spawn(async move {
            let mut last = after_settle_index;
            for s in backlog {
                last = s.settle_index;
                if tx.send(Ok(s)).await.is_err() {
                    return;
                }
            }
            loop {
                match rx.recv().await {
                    Ok(s) if s.settle_index > last => {
                        last = s.settle_index;
                        if tx.send(Ok(s)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // End the stream: the caller resubscribes from its
                        // stored index and gets the missed ones replayed.
                        let _ = tx
                            .send(Err(NodeError::Protocol("settlement stream lagged".into())))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out)))
    }

    async fn balance(&self) -> Result<Balance, NodeError> {
        Ok(Balance {
            local_msat: 100_000_000_000,
            remote_msat: 100_000_000_000,
        })
    }
}
