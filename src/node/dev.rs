//! The `dev` node: embedded, no network, regtest. It signs real BOLT11
//! invoices with a key kept in a file (`lnurld-dev-node.key` beside the
//! database by default), "pays" any valid invoice of its network after the
//! same checks a real node makes (signature, network, expiry, amount, one
//! payment per hash, enough balance), and settles its own invoices on
//! request. It moves no real money.
//!
//! Its invoices, payments, settle indexes and balance live in lnurld's own
//! database, in tables of its own (`db/models/dev_node.rs`), so they survive
//! restarts and are shared by every instance on the database. That makes it
//! the one backend that imports `db`; it imports nothing else of the crate
//! above `node`. The balance starts at `[node] dev_balance_sat`, goes down
//! by amount plus fee (0) when it pays and up when one of its invoices
//! settles; a payment beyond it fails with lnd's `INSUFFICIENT_BALANCE`.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use rand::RngCore;
use tokio::sync::watch;

use super::*;
use crate::db::models::dev_node::{DevInvoice, DevNodeState, DevPayment};
use crate::db::types::{DevInvoiceState, DevPaymentFailure, DevPaymentState, Msat};
use crate::db::{Db, DbConn, DbError};

/// How often a settlement stream looks for settlements made by another
/// instance on the same database (this one's wake it at once).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Most settlements a stream reads in one query.
const STREAM_BATCH: i64 = 200;

/// The embedded development node.
pub struct DevNode {
    key: SecretKey,
    /// Made once: a new context per invoice cost a randomisation (an
    /// elliptic-curve multiplication) on every pay callback.
    secp: Secp256k1<All>,
    pubkey: PublicKey,
    db: Db,
    start_balance_msat: i64,
    /// The last settle index this process handed out; streams wait on it.
    settled_tx: watch::Sender<u64>,
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

/// The dev node's database trouble as a node error: "unreachable", so a
/// payer treats the outcome of a `pay` as unknown and tracks it (the
/// transaction either committed the payment or left no trace of it).
fn db_error(e: DbError) -> NodeError {
    NodeError::Unreachable(format!("dev node database: {e}"))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn preimage_of(hex_text: &str) -> Result<Preimage, NodeError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Preimage)
        .ok_or_else(|| NodeError::Protocol("dev node: stored preimage is not 32 bytes hex".into()))
}

fn failure_of(reason: DevPaymentFailure) -> PaymentFailure {
    match reason {
        DevPaymentFailure::InsufficientBalance => PaymentFailure::InsufficientBalance,
        DevPaymentFailure::IncorrectPaymentDetails => PaymentFailure::IncorrectPaymentDetails,
    }
}

fn settlement_of(inv: &DevInvoice) -> Result<Settlement, NodeError> {
    let hash = PaymentHash::from_hex(&inv.payment_hash)
        .ok_or_else(|| NodeError::Protocol("dev node: stored payment hash is not hex".into()))?;
    Ok(Settlement {
        payment_hash: hash,
        preimage: preimage_of(&inv.preimage)?,
        amount_paid_msat: inv.amount_msat.get(),
        settle_index: to_u64(inv.settle_index.unwrap_or(0)),
        settled_at: inv.settled_at.unwrap_or(0),
    })
}

/// Settles `inv` (open) under the lock: the next settle index, the balance
/// up by its amount. The caller stores `st`.
fn settle_locked(
    conn: &mut DbConn,
    st: &mut DevNodeState,
    inv: &DevInvoice,
) -> Result<Settlement, DbError> {
    let idx = st.settle_index + 1;
    let at = unix_now().as_secs() as i64;
    if !DevInvoice::mark_settled(conn, &inv.payment_hash, idx, at)? {
        // Checked open under the same lock: cannot happen.
        return Err(DbError::Query(diesel::result::Error::NotFound));
    }
    st.settle_index = idx;
    st.net_msat = st.net_msat.saturating_add(inv.amount_msat.get() as i64);
    let settled = DevInvoice {
        state: DevInvoiceState::Settled,
        settle_index: Some(idx),
        settled_at: Some(at),
        ..inv.clone()
    };
    // Stored hex was written by us; a bad one fails the transaction.
    settlement_of(&settled).map_err(|e| DbError::Unavailable(e.to_string()))
}

/// What one `pay` decided, under the lock.
enum PayDecision {
    Outcome(PaymentOutcome, Option<Settlement>),
    AlreadyPaid,
}

impl DevNode {
    /// Loads the node key from `key_file`, creating it (mode 0600) on first
    /// start. Its state lives in `db` (migrated); its balance starts at
    /// `start_balance_msat`.
    pub fn open(key_file: &Path, db: Db, start_balance_msat: u64) -> Result<DevNode, NodeError> {
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
        Ok(DevNode::with_key(key, db, start_balance_msat))
    }

    /// A dev node with a given key (tests).
    pub fn with_key(key: SecretKey, db: Db, start_balance_msat: u64) -> DevNode {
        let secp = Secp256k1::new();
        let pubkey = PublicKey::from_secret_key(&secp, &key);
        let (settled_tx, _) = watch::channel(0);
        DevNode {
            key,
            secp,
            pubkey,
            db,
            start_balance_msat: to_i64(start_balance_msat),
            settled_tx,
        }
    }

    /// Marks one of its own open invoices paid (as if a payer had paid it),
    /// emitting it on the settlement stream. Errors if unknown or not open.
    pub async fn settle(&self, payment_hash: PaymentHash) -> Result<Settlement, NodeError> {
        let hash = payment_hash.to_hex();
        let settled = self
            .db
            .transaction(move |c| {
                let mut st = DevNodeState::lock(c)?;
                let inv = match DevInvoice::find(c, &hash)? {
                    None => return Ok(Err(NodeError::NotFound)),
                    Some(i) if i.state != DevInvoiceState::Open => {
                        return Ok(Err(NodeError::Refused(format!(
                            "invoice is {}, not open",
                            i.state
                        ))))
                    }
                    Some(i) => i,
                };
                let s = settle_locked(c, &mut st, &inv)?;
                st.store(c)?;
                Ok(Ok(s))
            })
            .await
            .map_err(db_error)??;
        self.settled_tx.send_replace(settled.settle_index);
        Ok(settled)
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
        let amount = Msat::new(req.amount_msat)
            .ok_or_else(|| NodeError::Refused("amount is too large".into()))?;
        let preimage = req.preimage.unwrap_or(Preimage(random32()));
        let hash = preimage.payment_hash();
        let inv = InvoiceBuilder::new(Currency::Regtest)
            .description_hash(sha256::Hash::from_byte_array(req.description_hash))
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(PaymentSecret(random32()))
            .current_timestamp()
            .min_final_cltv_expiry_delta(80)
            .amount_milli_satoshis(req.amount_msat)
            .expiry_time(Duration::from_secs(req.expiry_secs as u64))
            .build_signed(|m| self.secp.sign_ecdsa_recoverable(m, &self.key))
            .map_err(|e| NodeError::Refused(e.to_string()))?;
        let bolt11 = inv.to_string();
        let mut row = DevInvoice {
            payment_hash: hash.to_hex(),
            bolt11: bolt11.clone(),
            preimage: preimage.to_hex(),
            amount_msat: amount,
            state: DevInvoiceState::Open,
            add_index: 0,
            settle_index: None,
            created_at: unix_now().as_secs() as i64,
            settled_at: None,
        };
        let add_index = self
            .db
            .transaction(move |c| {
                let mut st = DevNodeState::lock(c)?;
                if DevInvoice::find(c, &row.payment_hash)?.is_some() {
                    return Ok(None);
                }
                st.add_index += 1;
                row.add_index = st.add_index;
                row.insert(c)?;
                st.store(c)?;
                Ok(Some(st.add_index))
            })
            .await
            .map_err(db_error)?
            .ok_or_else(|| NodeError::Refused("invoice with payment hash already exists".into()))?;
        Ok(CreatedInvoice {
            payment_hash: hash,
            bolt11,
            add_index: to_u64(add_index),
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
        // Paying one of our own invoices settles it: lets a developer try the
        // pay flow end to end with nothing but lnurld.
        let own = inv.recover_payee_pub_key() == self.pubkey;
        let amount = Msat::new(inv.amount_milli_satoshis().unwrap_or(0))
            .ok_or_else(|| NodeError::InvalidInvoice("amount is too large".into()))?;
        // No route, so no fee; the balance check counts it all the same.
        let fee = Msat::ZERO;
        let start = self.start_balance_msat;
        let now = unix_now().as_secs() as i64;
        let mut row = DevPayment {
            payment_hash: hash.to_hex(),
            bolt11: bolt11.trim().to_owned(),
            amount_msat: amount,
            fee_msat: fee,
            state: DevPaymentState::Failed,
            failure_reason: None,
            preimage: None,
            created_at: now,
            updated_at: now,
        };
        let decision = self
            .db
            .transaction(move |c| {
                let mut st = DevNodeState::lock(c)?;
                if let Some(p) = DevPayment::find(c, &row.payment_hash)? {
                    if p.state == DevPaymentState::Succeeded {
                        return Ok(PayDecision::AlreadyPaid);
                    }
                }
                let mine = if own {
                    match DevInvoice::find(c, &row.payment_hash)? {
                        Some(i) if i.state == DevInvoiceState::Open => Some(i),
                        Some(_) => return Ok(PayDecision::AlreadyPaid),
                        None => {
                            row.failure_reason = Some(DevPaymentFailure::IncorrectPaymentDetails);
                            row.record(c)?;
                            return Ok(PayDecision::Outcome(
                                PaymentOutcome::Failed(PaymentFailure::IncorrectPaymentDetails),
                                None,
                            ));
                        }
                    }
                } else {
                    None
                };
                let cost = i128::from(amount.get()) + i128::from(fee.get());
                let balance = i128::from(start) + i128::from(st.net_msat);
                if cost > balance {
                    row.failure_reason = Some(DevPaymentFailure::InsufficientBalance);
                    row.record(c)?;
                    return Ok(PayDecision::Outcome(
                        PaymentOutcome::Failed(PaymentFailure::InsufficientBalance),
                        None,
                    ));
                }
                st.net_msat = st.net_msat.saturating_sub(cost as i64);
                let settled = match &mine {
                    Some(i) => Some(settle_locked(c, &mut st, i)?),
                    None => None,
                };
                row.state = DevPaymentState::Succeeded;
                // No real preimage exists for a payment that moved no money.
                row.preimage = mine.map(|i| i.preimage);
                row.record(c)?;
                st.store(c)?;
                let outcome = PaymentOutcome::Succeeded {
                    preimage: settled.as_ref().map(|s| s.preimage),
                    fee_msat: fee.get(),
                };
                Ok(PayDecision::Outcome(outcome, settled))
            })
            .await
            .map_err(db_error)?;
        match decision {
            PayDecision::AlreadyPaid => Err(NodeError::AlreadyPaid),
            PayDecision::Outcome(outcome, settled) => {
                if let Some(s) = settled {
                    self.settled_tx.send_replace(s.settle_index);
                }
                Ok(outcome)
            }
        }
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        _wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        let hash = payment_hash.to_hex();
        let row = self
            .db
            .run(move |c| DevPayment::find(c, &hash))
            .await
            .map_err(db_error)?;
        let Some(p) = row else { return Ok(None) };
        Ok(Some(match p.state {
            DevPaymentState::Succeeded => PaymentOutcome::Succeeded {
                preimage: p.preimage.as_deref().map(preimage_of).transpose()?,
                fee_msat: p.fee_msat.get(),
            },
            DevPaymentState::Failed => PaymentOutcome::Failed(
                p.failure_reason
                    .map(failure_of)
                    .unwrap_or(PaymentFailure::Error),
            ),
        }))
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        let hash = payment_hash.to_hex();
        let row = self
            .db
            .run(move |c| DevInvoice::find(c, &hash))
            .await
            .map_err(db_error)?;
        let Some(i) = row else { return Ok(None) };
        let settled = i.state == DevInvoiceState::Settled;
        Ok(Some(InvoiceStatus {
            payment_hash,
            state: if settled {
                InvoiceState::Settled
            } else {
                InvoiceState::Open
            },
            preimage: Some(preimage_of(&i.preimage)?),
            amount_paid_msat: if settled { i.amount_msat.get() } else { 0 },
            settle_index: to_u64(i.settle_index.unwrap_or(0)),
            settled_at: i.settled_at.unwrap_or(0),
            bolt11: i.bolt11,
        }))
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        let mut wake = self.settled_tx.subscribe();
        let db = self.db.clone();
        let (tx, out) = tokio::sync::mpsc::channel::<Result<Settlement, NodeError>>(256);
        tokio::spawn(async move {
            let mut last = to_i64(after_settle_index);
            loop {
                // Marked seen before the query: a settlement committed after
                // it wakes the wait below instead of being missed.
                wake.mark_unchanged();
                // Settle indexes commit in the order they are handed out
                // (under the dev node's lock), so what a query sees above
                // `last` has no gap that a later commit could fill.
                let rows = match db
                    .run(move |c| DevInvoice::settled_after(c, last, STREAM_BATCH))
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        // The caller resubscribes from its stored index.
                        let _ = tx.send(Err(db_error(e))).await;
                        return;
                    }
                };
                let full = rows.len() as i64 == STREAM_BATCH;
                for inv in rows {
                    let item = settlement_of(&inv);
                    let end = item.is_err();
                    if let Ok(s) = &item {
                        last = to_i64(s.settle_index);
                    }
                    if tx.send(item).await.is_err() || end {
                        return;
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    changed = wake.changed() => {
                        if changed.is_err() {
                            // The node is gone.
                            return;
                        }
                    }
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out)))
    }

    async fn balance(&self) -> Result<Balance, NodeError> {
        let st = self.db.run(DevNodeState::read).await.map_err(db_error)?;
        let local = i128::from(self.start_balance_msat) + i128::from(st.net_msat);
        Ok(Balance {
            local_msat: u64::try_from(local.max(0)).unwrap_or(u64::MAX),
            // It can receive any amount: report what it reported before.
            remote_msat: 100_000_000_000,
        })
    }
}
