//! Node layer, `lnd` backend: talks to LND over gRPC (tonic) with a pinned
//! TLS certificate and a macaroon.
//!
//! May import `node` (the trait and its types) and nothing else of the crate.
//! This folder is the only place that sees generated gRPC types. Every LND
//! fact it relies on (field numbers, error texts, dedup rules) is in
//! `spec/LND.md`. One file per concern, the shape another backend copies:
//!
//! - `mod.rs`: [`LndConfig`], [`LndNode`] (connect, macaroon, the channel),
//!   the [`LightningNode`] impl (GetInfo and ChannelBalance here, every
//!   other call handed to the files below), the unary-call helper and the
//!   byte conversions the files share;
//! - `tls.rs`: certificate pinning and endpoint normalisation;
//! - `errors.rs`: gRPC status → [`NodeError`] (`spec/LND.md` §3);
//! - `invoices.rs`: `AddInvoice` and `LookupInvoice`;
//! - `payments.rs`: `SendPaymentV2` and `TrackPaymentV2`;
//! - `settlements.rs`: the `SubscribeInvoices` settlement stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

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
use tls::{normalize_endpoint, parse_pem_certs, PinnedCertVerifier};

/// Code generated from `proto/` (lnd's `lnrpc` and `routerrpc` subsets).
/// Public only so that the fake LND in `tests/` can serve the same protocol.
#[doc(hidden)]
#[allow(clippy::all, missing_docs)]
pub mod proto {
    pub mod lnrpc {
        tonic::include_proto!("lnrpc");
    }
    pub mod routerrpc {
        tonic::include_proto!("routerrpc");
    }
}

use proto::lnrpc::{self, lightning_client::LightningClient};
use proto::routerrpc::router_client::RouterClient;

/// How long connecting (TCP + TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for unary calls and for the first message of a track.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 ping interval. lnd refuses pings under 5 s apart and pings on an
/// idle connection (GOAWAY `too_many_pings`), so: ≥ 30 s, not while idle.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping answer may take before the connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How to reach an lnd node.
#[derive(Clone)]
pub struct LndConfig {
    /// gRPC endpoint, `https://host:port` or `host:port` (lnd's default port
    /// is 10009). lnd always speaks TLS; `http://` is refused.
    pub endpoint: String,
    /// Contents of lnd's `tls.cert` (PEM). Exactly this certificate is trusted.
    pub tls_cert_pem: Vec<u8>,
    /// Raw bytes of the macaroon file (sent hex-encoded).
    pub macaroon: Vec<u8>,
    /// Sets AddInvoice's `private`: lnd then adds route hints for its
    /// private channels, without which a node that has only private
    /// channels issues invoices nobody can reach.
    pub private_invoices: bool,
}

impl fmt::Debug for LndConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndConfig")
            .field("endpoint", &self.endpoint)
            .field(
                "tls_cert_pem",
                &format_args!("<{} bytes>", self.tls_cert_pem.len()),
            )
            .field("macaroon", &"<redacted>")
            .field("private_invoices", &self.private_invoices)
            .finish()
    }
}

/// The `lnd` backend: a lazily connected gRPC channel plus the macaroon.
/// Cheap to share; tonic multiplexes all calls over one HTTP/2 connection
/// and reconnects on demand.
#[derive(Clone)]
pub struct LndNode {
    endpoint: String,
    channel: Channel,
    macaroon: MacaroonInterceptor,
    private_invoices: bool,
}

impl fmt::Debug for LndNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndNode")
            .field("endpoint", &self.endpoint)
            .field("macaroon", &"<redacted>")
            .finish()
    }
}

type Svc = InterceptedService<Channel, MacaroonInterceptor>;

impl LndNode {
    /// Builds the client. No network I/O happens here: the channel connects
    /// on the first call (and again after a connection is lost), so a node
    /// that is down at start is reported by the first call as `Unreachable`.
    ///
    /// Must be called inside a Tokio runtime (the channel spawns its worker).
    /// Fails when the endpoint is malformed or plaintext, the PEM holds no
    /// certificate, or the macaroon is empty.
    pub fn connect(cfg: LndConfig) -> Result<LndNode, NodeError> {
        let endpoint = normalize_endpoint(&cfg.endpoint)?;
        let pinned = parse_pem_certs(&cfg.tls_cert_pem)?;
        if cfg.macaroon.is_empty() {
            return Err(NodeError::Macaroon("the macaroon file is empty".into()));
        }
        let mut value = AsciiMetadataValue::try_from(hex::encode(&cfg.macaroon))
            .map_err(|e| NodeError::Macaroon(format!("cannot encode macaroon: {e}")))?;
        value.set_sensitive(true);

        let verifier = PinnedCertVerifier::new(pinned);
        let channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|e| NodeError::Unreachable(format!("invalid endpoint {endpoint:?}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(false)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .tls_config_with_verifier(
                ClientTlsConfig::new().timeout(CONNECT_TIMEOUT),
                Arc::new(verifier),
            )
            .map_err(|e| NodeError::Certificate(format!("cannot configure TLS: {e}")))?
            .connect_lazy();
        Ok(LndNode {
            endpoint,
            channel,
            macaroon: MacaroonInterceptor { value },
            private_invoices: cfg.private_invoices,
        })
    }

    /// The normalized endpoint (`https://host:port`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn lightning(&self) -> LightningClient<Svc> {
        LightningClient::with_interceptor(self.channel.clone(), self.macaroon.clone())
    }

    fn router(&self) -> RouterClient<Svc> {
        RouterClient::with_interceptor(self.channel.clone(), self.macaroon.clone())
    }
}

/// Adds the `macaroon` metadata (lowercase hex of the raw file) to every call.
#[derive(Clone)]
struct MacaroonInterceptor {
    value: AsciiMetadataValue,
}

impl Interceptor for MacaroonInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("macaroon", self.value.clone());
        Ok(req)
    }
}

/// Runs a unary call with [`RPC_TIMEOUT`] and maps its error.
async fn unary<T, F>(what: &str, fut: F) -> Result<T, NodeError>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    match tokio::time::timeout(RPC_TIMEOUT, fut).await {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(map_status(&status)),
        Err(_) => Err(timed_out(what)),
    }
}

// ---------------------------------------------------------------------------
// Byte conversions shared by the parts

/// A 32-byte hash field of a message; `what` names it in the error.
fn hash_from_bytes(bytes: &[u8], what: &str) -> Result<PaymentHash, NodeError> {
    <[u8; 32]>::try_from(bytes)
        .map(PaymentHash)
        .map_err(|_| NodeError::Protocol(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// A 32-byte preimage field; `None` when it has another length.
fn preimage_from_bytes(bytes: &[u8]) -> Option<Preimage> {
    <[u8; 32]>::try_from(bytes).ok().map(Preimage)
}

/// lnd's signed msat fields, which are never negative (0 if one were).
fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// The trait: each call is in the file of its concern.

#[async_trait]
impl LightningNode for LndNode {
    fn kind(&self) -> &'static str {
        "lnd"
    }

    async fn info(&self) -> Result<NodeInfo, NodeError> {
        let mut client = self.lightning();
        let info = unary("GetInfo", client.get_info(lnrpc::GetInfoRequest {})).await?;
        let name = info
            .chains
            .first()
            .map(|c| c.network.as_str())
            .ok_or_else(|| NodeError::Protocol("GetInfo returned no chains".into()))?;
        let network = Network::from_lnd_name(name)
            .ok_or_else(|| NodeError::Protocol(format!("unknown network {name:?}")))?;
        Ok(NodeInfo {
            pubkey: info.identity_pubkey,
            alias: info.alias,
            network,
            synced_to_chain: info.synced_to_chain,
            block_height: info.block_height,
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

    async fn balance(&self) -> Result<Balance, NodeError> {
        let mut client = self.lightning();
        let resp = unary(
            "ChannelBalance",
            client.channel_balance(lnrpc::ChannelBalanceRequest {}),
        )
        .await?;
        Ok(Balance {
            local_msat: resp.local_balance.map(|a| a.msat).unwrap_or(0),
            remote_msat: resp.remote_balance.map(|a| a.msat).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_macaroon() {
        let cfg = LndConfig {
            endpoint: "127.0.0.1:1".into(),
            tls_cert_pem: b"x".to_vec(),
            macaroon: vec![0xab; 4],
            private_invoices: false,
        };
        assert!(!format!("{cfg:?}").contains("abab"));
    }
}
