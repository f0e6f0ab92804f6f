//! Node layer, `cln` backend: Core Lightning over its built-in `grpc`
//! plugin, with mutual TLS (the plugin checks certificates, not runes).
//!
//! May import `node` (the trait's types) and nothing else of the crate; the
//! only place besides `lnd/` that sees generated gRPC types. One file per
//! concern, as in `lnd/`:
//!
//! - `mod.rs` (this file): config, connection, `Getinfo`, the balance, the
//!   trait;
//! - `tls.rs`: the client identity and the CA check that remembers what it
//!   saw, so a refused start names the file at fault;
//! - `errors.rs`: CLN's `RpcError` codes as [`NodeError`]s;
//! - `invoices.rs`: `Invoice` (deschashonly) and `ListInvoices`;
//! - `payments.rs`: `Xpay` (or `Pay`) and tracking with `ListPays`;
//! - `settlements.rs`: the `WaitAnyInvoice` loop.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Status;

use crate::node::{
    Balance, CreatedInvoice, InvoiceRequest, InvoiceStatus, LightningNode, Network, NodeError,
    NodeInfo, PaymentHash, PaymentOutcome, Preimage, SettlementStream,
};

mod errors;
mod invoices;
mod payments;
mod settlements;
mod tls;

use errors::{map_status, timed_out};
use tls::{client_identity, normalize_endpoint, CaVerifier};

/// Code generated from `proto/cln/` (CLN's `cln` package subset).
/// Public only so that the fake CLN in `tests/` can serve the same protocol.
#[doc(hidden)]
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("cln");
}

use proto::node_client::NodeClient;

/// How long connecting (TCP + TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for unary calls.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 ping interval (not while idle).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping answer may take.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How to reach a CLN node's grpc plugin. The PEMs are the plugin's
/// `ca.pem`, `client.pem` and `client-key.pem`; the names are the paths
/// they were read from, used in errors.
#[derive(Clone)]
pub struct ClnConfig {
    /// `https://host:port` or `host:port` (the `grpc-port` option).
    pub endpoint: String,
    /// The plugin's `ca.pem`: the server certificate must be signed by it.
    pub ca_cert_pem: Vec<u8>,
    /// The plugin's `client.pem`.
    pub client_cert_pem: Vec<u8>,
    /// The plugin's `client-key.pem`.
    pub client_key_pem: Vec<u8>,
    /// The name the server certificate is checked against (`cln`).
    pub tls_domain: String,
    /// Where `ca_cert_pem` came from (for messages).
    pub ca_cert_name: String,
    /// Where `client_cert_pem` came from (for messages).
    pub client_cert_name: String,
}

impl fmt::Debug for ClnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnConfig")
            .field("endpoint", &self.endpoint)
            .field("ca_cert", &self.ca_cert_name)
            .field("client_cert", &self.client_cert_name)
            .field("client_key", &"<redacted>")
            .field("tls_domain", &self.tls_domain)
            .finish()
    }
}

/// The `cln` backend: a lazily connected mTLS gRPC channel.
#[derive(Clone)]
pub struct ClnNode {
    endpoint: String,
    channel: Channel,
    verifier: Arc<CaVerifier>,
    names: Arc<Names>,
    /// Whether the node has `xpay` (asked once with `Help`).
    has_xpay: Arc<OnceCell<bool>>,
    /// Whether any call was answered: after that, a transport error is
    /// a lost connection, not a refused client certificate.
    answered: Arc<AtomicBool>,
}

/// File names for messages.
struct Names {
    ca_cert: String,
    client_cert: String,
}

impl fmt::Debug for ClnNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnNode")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl ClnNode {
    /// Builds the client; no network I/O happens here. Fails when the
    /// endpoint is malformed or a PEM holds no certificate / key. Must be
    /// called inside a Tokio runtime.
    pub fn connect(cfg: ClnConfig) -> Result<ClnNode, NodeError> {
        let endpoint = normalize_endpoint(&cfg.endpoint)?;
        let verifier = Arc::new(CaVerifier::new(&cfg.ca_cert_pem, &cfg.ca_cert_name)?);
        let identity = client_identity(&cfg.client_cert_pem, &cfg.client_key_pem, &cfg)?;
        let channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|e| NodeError::Unreachable(format!("invalid endpoint {endpoint:?}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(false)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .tls_config_with_verifier(
                ClientTlsConfig::new()
                    .domain_name(cfg.tls_domain.clone())
                    .identity(identity)
                    .timeout(CONNECT_TIMEOUT),
                verifier.clone(),
            )
            .map_err(|e| NodeError::Tls(format!("cannot configure TLS: {e}")))?
            .connect_lazy();
        Ok(ClnNode {
            endpoint,
            channel,
            verifier,
            names: Arc::new(Names {
                ca_cert: cfg.ca_cert_name,
                client_cert: cfg.client_cert_name,
            }),
            has_xpay: Arc::new(OnceCell::new()),
            answered: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The normalized endpoint (`https://host:port`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn client(&self) -> NodeClient<Channel> {
        NodeClient::new(self.channel.clone())
    }

    /// A transport failure after the server's certificate was accepted is
    /// the plugin refusing ours: rustls completes the client's side of a
    /// TLS 1.3 handshake before the server checks the client certificate,
    /// so the only trace is an "Unknown transport error" on the first call.
    /// Said at `info` (the start check), where nothing else was sent yet.
    fn explain_refusal(&self, err: NodeError) -> NodeError {
        match err {
            NodeError::Unreachable(text)
                if self.verifier.server_accepted()
                    && !self.answered.load(Ordering::SeqCst)
                    && !tls::is_connect_failure(&text) =>
            {
                NodeError::Tls(format!(
                    "client_cert {}: the node accepted the TLS connection but refused this \
                     client certificate (it must be the grpc plugin's client.pem, with \
                     client-key.pem, signed by the node's ca.pem): {text}",
                    self.names.client_cert
                ))
            }
            other => other,
        }
    }
}

/// Runs a unary call with [`RPC_TIMEOUT`] and maps its error.
async fn unary<T, F>(node: &ClnNode, what: &str, fut: F) -> Result<T, NodeError>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    match tokio::time::timeout(RPC_TIMEOUT, fut).await {
        Ok(Ok(resp)) => {
            node.answered.store(true, Ordering::SeqCst);
            Ok(resp.into_inner())
        }
        // A command error is an answer too: the connection works.
        Ok(Err(status)) if errors::rpc_error(&status).is_some() => {
            node.answered.store(true, Ordering::SeqCst);
            Err(map_status(&status, &node.names.ca_cert))
        }
        Ok(Err(status)) => Err(map_status(&status, &node.names.ca_cert)),
        Err(_) => Err(timed_out(what)),
    }
}

/// A 32-byte hash field of a message; `what` names it in the error.
fn hash_from_bytes(bytes: &[u8], what: &str) -> Result<PaymentHash, NodeError> {
    <[u8; 32]>::try_from(bytes)
        .map(PaymentHash)
        .map_err(|_| NodeError::Protocol(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// A 32-byte preimage field; `None` when absent or of another length.
fn preimage_from_bytes(bytes: Option<&[u8]>) -> Option<Preimage> {
    bytes.and_then(|b| <[u8; 32]>::try_from(b).ok().map(Preimage))
}

/// msat of an optional `Amount` (0 when absent).
fn msat(a: Option<&proto::Amount>) -> u64 {
    a.map(|a| a.msat).unwrap_or(0)
}

/// CLN's seconds as the trait's signed Unix seconds.
fn unix(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[async_trait]
impl LightningNode for ClnNode {
    fn kind(&self) -> &'static str {
        "cln"
    }

    async fn info(&self) -> Result<NodeInfo, NodeError> {
        let mut client = self.client();
        let info = unary(self, "Getinfo", client.getinfo(proto::GetinfoRequest {}))
            .await
            .map_err(|e| self.explain_refusal(e))?;
        let network = Network::from_cln_name(&info.network)
            .ok_or_else(|| NodeError::Protocol(format!("unknown network {:?}", info.network)))?;
        Ok(NodeInfo {
            pubkey: hex::encode(&info.id),
            alias: info.alias,
            network,
            // CLN sets these warnings while bitcoind or lightningd catch up.
            synced_to_chain: info.warning_bitcoind_sync.is_none()
                && info.warning_lightningd_sync.is_none(),
            block_height: info.blockheight,
        })
    }

    async fn create_invoice(&self, req: InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        invoices::create(self, req).await
    }

    async fn pay(
        &self,
        bolt11: &str,
        max_fee_msat: u64,
        timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError> {
        payments::send(self, bolt11, max_fee_msat, timeout).await
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        payments::track(self, payment_hash, wait).await
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        invoices::lookup(self, payment_hash).await
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        Ok(settlements::subscribe(self, after_settle_index))
    }

    /// Channels in `CHANNELD_NORMAL`: ours is `to_us_msat`, theirs the rest
    /// of `total_msat` (reserves not deducted, as for lnd).
    async fn balance(&self) -> Result<Balance, NodeError> {
        let mut client = self.client();
        let resp = unary(
            self,
            "ListPeerChannels",
            client.list_peer_channels(proto::ListpeerchannelsRequest::default()),
        )
        .await?;
        let mut b = Balance {
            local_msat: 0,
            remote_msat: 0,
        };
        for c in resp
            .channels
            .iter()
            .filter(|c| c.state() == proto::ChannelState::ChanneldNormal)
        {
            let ours = msat(c.to_us_msat.as_ref());
            b.local_msat = b.local_msat.saturating_add(ours);
            b.remote_msat = b
                .remote_msat
                .saturating_add(msat(c.total_msat.as_ref()).saturating_sub(ours));
        }
        Ok(b)
    }
}
