//! Node layer: the `LightningNode` trait, its types, and its backends.
//!
//! Imports nothing of the crate but `metrics` (for `instrumented.rs`): it
//! knows nothing about links, the database or HTTP. Holds:
//!
//! - `mod.rs` (this file): the trait, the types it speaks (hashes,
//!   preimages, invoices, payment outcomes, settlements) and [`NodeError`];
//! - `lnd/`: the `lnd` backend over gRPC, the only place that sees
//!   generated gRPC types (its `mod.rs` says which file holds what);
//! - `cln/`: the `cln` backend over CLN's `grpc` plugin (mTLS), the only
//!   place that sees CLN's generated types;
//! - `dev.rs`: an embedded regtest node for trying lnurld without a real node;
//! - `instrumented.rs`: a wrapper that times every call of any backend.
//!
//! The contract below is what the payer and the invoice watcher rely on for
//! "paid at most once" and "nothing lost" (DESIGN.md invariants 1 and 2).

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::Stream;

pub mod cln;
pub mod dev;
pub mod instrumented;
pub mod lnd;

/// Bitcoin network a node runs on. Invoices of another network are refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Bitcoin mainnet (`lnbc…` invoices).
    Mainnet,
    /// testnet3 (`lntb…`).
    Testnet,
    /// testnet4 (`lntb…`, same invoice prefix as testnet3).
    Testnet4,
    /// signet (`lntbs…`).
    Signet,
    /// regtest (`lnbcrt…`).
    Regtest,
    /// simnet (`lnsb…`).
    Simnet,
}

impl Network {
    /// Parses CLN's `getinfo.network` names (`bitcoin` is mainnet).
    pub fn from_cln_name(name: &str) -> Option<Network> {
        match name {
            "bitcoin" => Some(Network::Mainnet),
            "testnet" => Some(Network::Testnet),
            other => Network::from_lnd_name(other),
        }
    }

    /// Parses lnd's `Chain.network` names.
    pub fn from_lnd_name(name: &str) -> Option<Network> {
        Some(match name {
            "mainnet" => Network::Mainnet,
            "testnet" | "testnet3" => Network::Testnet,
            "testnet4" => Network::Testnet4,
            "signet" => Network::Signet,
            "regtest" => Network::Regtest,
            "simnet" => Network::Simnet,
            _ => return None,
        })
    }

    /// The BOLT11 currency (human-readable part) invoices of this network carry.
    pub fn currency(self) -> lightning_invoice::Currency {
        use lightning_invoice::Currency;
        match self {
            Network::Mainnet => Currency::Bitcoin,
            Network::Testnet | Network::Testnet4 => Currency::BitcoinTestnet,
            Network::Signet => Currency::Signet,
            Network::Regtest => Currency::Regtest,
            Network::Simnet => Currency::Simnet,
        }
    }

    /// Lowercase name, as lnd spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
            Network::Simnet => "simnet",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's gRPC endpoint as a URL: `host:port` gets `https://`; plaintext
/// `http://` (`plaintext` says why not) and other schemes are refused.
/// `node` names the backend in the error.
pub(crate) fn https_endpoint(
    endpoint: &str,
    node: &str,
    plaintext: &'static str,
) -> Result<String, NodeError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err(NodeError::Unreachable(format!("empty {node} endpoint")));
    }
    if endpoint.starts_with("http://") {
        return Err(NodeError::Unsupported(plaintext));
    }
    if endpoint.starts_with("https://") {
        Ok(endpoint.to_owned())
    } else if endpoint.contains("://") {
        Err(NodeError::Unreachable(format!(
            "invalid {node} endpoint {endpoint:?}: expected https://host:port or host:port"
        )))
    } else {
        Ok(format!("https://{endpoint}"))
    }
}

/// A 32-byte payment hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentHash(pub [u8; 32]);

impl PaymentHash {
    /// Lowercase hex, the form stored in the database and shown in URLs.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<PaymentHash> {
        let v = hex::decode(s).ok()?;
        Some(PaymentHash(v.try_into().ok()?))
    }
}

impl fmt::Debug for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentHash({})", self.to_hex())
    }
}

impl fmt::Display for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A 32-byte payment preimage. `Debug` is redacted: whoever knows it can
/// prove payment (and decrypt LUD-10 success actions).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Preimage(pub [u8; 32]);

impl Preimage {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// sha256 of the preimage, i.e. the payment hash it unlocks.
    pub fn payment_hash(&self) -> PaymentHash {
        use sha2::Digest;
        PaymentHash(sha2::Sha256::digest(self.0).into())
    }
}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage(..)")
    }
}

/// What `info()` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Node identity public key, hex (33-byte compressed).
    pub pubkey: String,
    /// Node alias.
    pub alias: String,
    /// Network the node is on.
    pub network: Network,
    /// Whether the node reports itself synced to chain.
    pub synced_to_chain: bool,
    /// Current block height as seen by the node.
    pub block_height: u32,
}

/// Request for a new invoice.
#[derive(Debug, Clone)]
pub struct InvoiceRequest {
    /// Exact amount in millisatoshi (never rounded to sats).
    pub amount_msat: u64,
    /// sha256 of the description; the invoice carries it as the `h` field.
    pub description_hash: [u8; 32],
    /// The text whose sha256 is `description_hash` (the LUD-06 metadata,
    /// plus LUD-18 payer data). Backends that hash it themselves (CLN's
    /// `deschashonly`) need it; `None` where only the hash is known.
    pub description: Option<String>,
    /// Seconds until the invoice expires.
    pub expiry_secs: u32,
    /// Caller-chosen preimage (needed for LUD-10 aes success actions).
    /// `None` lets the node pick one.
    pub preimage: Option<Preimage>,
}

/// An invoice the node has created.
#[derive(Debug, Clone)]
pub struct CreatedInvoice {
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The BOLT11 string.
    pub bolt11: String,
    /// The node's add index (monotonic per node).
    pub add_index: u64,
}

/// State of an invoice the node issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceState {
    /// Waiting for payment.
    Open,
    /// Paid.
    Settled,
    /// Cancelled (lnd cancels expired open invoices).
    Canceled,
    /// HTLCs held (hold invoices only).
    Accepted,
}

/// What the node knows about one of its invoices.
#[derive(Debug, Clone)]
pub struct InvoiceStatus {
    /// Payment hash.
    pub payment_hash: PaymentHash,
    /// Current state. Only `Settled` means paid; lnd returns the preimage
    /// even for open invoices, so never infer payment from `preimage`.
    pub state: InvoiceState,
    /// Preimage; meaningful once settled.
    pub preimage: Option<Preimage>,
    /// Amount received, msat (0 until settled).
    pub amount_paid_msat: u64,
    /// Settle index (0 until settled).
    pub settle_index: u64,
    /// Unix seconds of settlement (0 until settled).
    pub settled_at: i64,
    /// The BOLT11 string.
    pub bolt11: String,
}

/// One settled invoice from the settlement stream.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// Payment hash.
    pub payment_hash: PaymentHash,
    /// Preimage that was revealed.
    pub preimage: Preimage,
    /// Amount received, msat.
    pub amount_paid_msat: u64,
    /// Strictly increasing per node; store the highest seen and resume from it.
    pub settle_index: u64,
    /// Unix seconds.
    pub settled_at: i64,
}

/// Why the node gave up on a payment. All of these are *definite*: nothing
/// was paid and nothing is in flight, so the use may be given back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentFailure {
    /// The node's attempts timed out.
    Timeout,
    /// No route (or none within the fee limit).
    NoRoute,
    /// An unexpected routing error.
    Error,
    /// The payee rejected it (unknown hash, wrong amount, cancelled invoice).
    IncorrectPaymentDetails,
    /// Not enough outbound liquidity.
    InsufficientBalance,
    /// Cancelled by the user.
    Canceled,
}

impl fmt::Display for PaymentFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentFailure::Timeout => "payment attempts timed out",
            PaymentFailure::NoRoute => "no route to the recipient within the fee limit",
            PaymentFailure::Error => "routing error",
            PaymentFailure::IncorrectPaymentDetails => {
                "the recipient rejected the payment (unknown invoice or wrong amount)"
            }
            PaymentFailure::InsufficientBalance => "not enough outbound liquidity",
            PaymentFailure::Canceled => "payment cancelled",
        })
    }
}

/// The state of an outgoing payment as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Paid. `preimage` is `None` only on the dev node paying a foreign
    /// invoice, where no real preimage exists.
    Succeeded {
        /// Revealed preimage.
        preimage: Option<Preimage>,
        /// Routing fee actually paid, msat.
        fee_msat: u64,
    },
    /// Definitely failed: nothing was paid, nothing is in flight.
    Failed(PaymentFailure),
    /// Not final yet: HTLCs may be in flight. Never pay again; track.
    InFlight,
}

impl PaymentOutcome {
    /// Whether this outcome will not change any more.
    pub fn is_final(&self) -> bool {
        !matches!(self, PaymentOutcome::InFlight)
    }
}

/// Channel balance summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Balance {
    /// Sum of local balances of open channels, msat (an upper bound on what
    /// can be sent: channel reserves are not deducted).
    pub local_msat: u64,
    /// Sum of remote balances, msat (roughly what can be received).
    pub remote_msat: u64,
}

/// Errors from a node backend. Each says what happened in terms an operator
/// understands; the raw node message is kept for logs.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node could not be reached (connection refused, TLS failure, timeout).
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The node's TLS certificate did not match the configured one.
    #[error("node TLS certificate does not match the configured tls_cert: {0}")]
    Certificate(String),
    /// A TLS file or the TLS handshake was refused; the text names the
    /// file (CLN's mTLS: `ca_cert`, `client_cert`, `client_key`).
    #[error("{0}")]
    Tls(String),
    /// The macaroon was refused (wrong node, missing, or lacking permission).
    #[error("node refused the macaroon: {0}")]
    Macaroon(String),
    /// The node is starting up or its wallet is locked.
    #[error("node not ready: {0}")]
    NotReady(String),
    /// A payment for this hash already succeeded on this node.
    #[error("invoice is already paid")]
    AlreadyPaid,
    /// A payment for this hash is already in flight (or recorded) on this node.
    #[error("a payment for this invoice is already in flight")]
    AlreadyInFlight,
    /// The invoice has expired.
    #[error("invoice expired")]
    InvoiceExpired,
    /// The invoice is for another network.
    #[error("invoice is for another network")]
    WrongNetwork,
    /// The invoice could not be decoded or is otherwise unacceptable.
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    /// The invoice pays this very node.
    #[error("self-payments are not allowed")]
    SelfPayment,
    /// The node does not know this payment or invoice.
    #[error("not found on the node")]
    NotFound,
    /// The request was refused by the node for another stated reason.
    #[error("node refused the request: {0}")]
    Refused(String),
    /// The node answered something this backend does not understand.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// Operation not supported by this backend.
    #[error("not supported by this node backend: {0}")]
    Unsupported(&'static str),
}

impl NodeError {
    /// Whether a `pay` that returned this error definitely did not start a
    /// payment: the node validated and rejected the request before recording
    /// anything. Everything else (transport errors, unknown answers) may have
    /// reached the node, so the outcome is unknown and must be tracked.
    /// Configuration trouble (macaroon, certificate, node starting) is not
    /// counted here: the withdrawal waits for the node instead of failing.
    pub fn payment_definitely_not_started(&self) -> bool {
        matches!(
            self,
            NodeError::InvoiceExpired
                | NodeError::WrongNetwork
                | NodeError::InvalidInvoice(_)
                | NodeError::SelfPayment
        )
    }
}

/// A stream of settlements.
pub type SettlementStream = Pin<Box<dyn Stream<Item = Result<Settlement, NodeError>> + Send>>;

/// A Lightning node lnurld can use. Object safe; held as `Arc<dyn LightningNode>`.
///
/// Units are msat everywhere. Implementations must be cheap to call
/// concurrently (they are shared by all HTTP workers and background loops).
#[async_trait]
pub trait LightningNode: Send + Sync + 'static {
    /// Short backend name for the admin API and logs (`"lnd"`, `"cln"`, `"dev"`).
    fn kind(&self) -> &'static str;

    /// Identity, network and sync state. Used at start (to learn the network
    /// invoices are checked against) and by `/healthz`.
    async fn info(&self) -> Result<NodeInfo, NodeError>;

    /// Creates an invoice for exactly `amount_msat` with the given
    /// description hash. Not idempotent: each call is a new invoice. With a
    /// caller-chosen preimage, reusing one fails (the hash already exists).
    async fn create_invoice(&self, req: InvoiceRequest) -> Result<CreatedInvoice, NodeError>;

    /// Pays a BOLT11 invoice with a routing fee of at most `max_fee_msat`.
    ///
    /// Waits at most about `timeout` for a final outcome, then returns
    /// `InFlight`. The node records the payment under its hash before
    /// sending anything, and refuses a second payment of a hash that succeeded
    /// or is in flight with `AlreadyPaid` / `AlreadyInFlight`: callers treat
    /// those (and any error for which
    /// [`NodeError::payment_definitely_not_started`] is false) as "outcome
    /// unknown" and track the hash with [`LightningNode::payment`]. A previous
    /// *failed* attempt does not block a new one.
    async fn pay(
        &self,
        bolt11: &str,
        max_fee_msat: u64,
        timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError>;

    /// Current outcome of an outgoing payment, waiting up to `wait` for it to
    /// become final (`Duration::ZERO`: answer at once). `Ok(None)` means the
    /// node has no record of the hash, so it never started paying it.
    async fn payment(
        &self,
        payment_hash: PaymentHash,
        wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError>;

    /// State of an invoice this node issued; `Ok(None)` if unknown.
    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError>;

    /// Settled invoices with a settle index greater than `after_settle_index`
    /// (replayed first), then live ones. With `after_settle_index == 0` lnd
    /// replays nothing (live events only), so a caller that has never seen
    /// an index must reconcile its open invoices with [`LightningNode::invoice`].
    /// (CLN's `waitanyinvoice` replays every paid invoice after the index,
    /// from 0 too.)
    /// The replay may come in any order (lnd's SQL invoice store replays in
    /// creation order) and may repeat a settlement already seen, so callers
    /// record idempotently and never filter by index. The stream ends (or
    /// yields an error) when the connection is lost, and the caller
    /// resubscribes from its stored index.
    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError>;

    /// Channel balances.
    async fn balance(&self) -> Result<Balance, NodeError>;
}
