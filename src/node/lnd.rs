//! Node layer, `lnd` backend: talks to LND over gRPC (tonic) with a pinned
//! TLS certificate and a macaroon.
//!
//! May import `node` (the trait and its types) and nothing else of the crate.
//! This is the only file that sees generated gRPC types. Every LND fact it
//! relies on (field numbers, error texts, dedup rules) is in `spec/LND.md`.
//!
//! - TLS: lnd's `tls.cert` is self-signed with CA=true, which webpki refuses
//!   as an end-entity cert, so the configured certificate is *pinned* by a
//!   custom rustls verifier (byte-for-byte DER equality) instead of trusted.
//! - Payments use `routerrpc.Router/SendPaymentV2` and `TrackPaymentV2`; lnd
//!   records a payment under its hash before sending anything and refuses a
//!   second payment of a hash that succeeded or is in flight.
//! - Settlements use `SubscribeInvoices{settle_index}`. lnd replays settled
//!   invoices only for a settle index > 0: from index 0 the stream is live
//!   only (lnd's "backwards compat" rule), so an invoice settled while nobody
//!   was subscribed and before any settlement was stored must be found with
//!   [`LightningNode::invoice`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status, Streaming};

use super::{
    Balance, CreatedInvoice, InvoiceRequest, InvoiceState, InvoiceStatus, LightningNode, Network,
    NodeError, NodeInfo, PaymentFailure, PaymentHash, PaymentOutcome, Preimage, Settlement,
    SettlementStream,
};

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
use proto::routerrpc::{self, router_client::RouterClient};

/// How long connecting (TCP + TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for unary calls and for the first message of a track.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 ping interval. lnd refuses pings under 5 s apart and pings on an
/// idle connection (GOAWAY `too_many_pings`), so: ≥ 30 s, not while idle.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping answer may take before the connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Extra time `pay` waits beyond the payment timeout given to lnd: lnd
/// reports a TIMEOUT failure only after its own timeout has elapsed.
const PAY_MARGIN: Duration = Duration::from_secs(2);

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

/// Adds `host:port` a scheme and refuses plaintext.
fn normalize_endpoint(endpoint: &str) -> Result<String, NodeError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err(NodeError::Unreachable("empty lnd endpoint".into()));
    }
    if endpoint.starts_with("http://") {
        return Err(NodeError::Unsupported(
            "plaintext http:// endpoint: lnd's gRPC port always uses TLS, use https://",
        ));
    }
    if endpoint.starts_with("https://") {
        Ok(endpoint.to_owned())
    } else if endpoint.contains("://") {
        Err(NodeError::Unreachable(format!(
            "invalid lnd endpoint {endpoint:?}: expected https://host:port or host:port"
        )))
    } else {
        Ok(format!("https://{endpoint}"))
    }
}

fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Certificate(format!("cannot parse tls_cert PEM: {e}")))?;
    if certs.is_empty() {
        return Err(NodeError::Certificate(
            "tls_cert holds no PEM CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
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

// ---------------------------------------------------------------------------
// TLS pinning

/// Text of the pin-mismatch error; `map_status` finds it in the error chain.
const PIN_MISMATCH: &str = "server certificate does not match the pinned tls.cert";

/// The error the verifier reports when the server shows another certificate.
#[derive(Debug)]
struct CertificatePinMismatch;

impl fmt::Display for CertificatePinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PIN_MISMATCH)
    }
}

impl std::error::Error for CertificatePinMismatch {}

/// Accepts exactly the configured certificate(s), whatever their CA flag,
/// names or validity dates (lnd's cert names `localhost` and is often
/// reached by IP). The handshake signature is still verified against the
/// pinned certificate's key, which is what proves the server holds it.
#[derive(Debug)]
struct PinnedCertVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    fn new(pinned: Vec<CertificateDer<'static>>) -> PinnedCertVerifier {
        PinnedCertVerifier {
            pinned,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(CertificatePinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------
// Error mapping (LND.md §3)

/// The status message plus every source's text, for logs and matching.
fn describe(status: &Status) -> String {
    let mut out = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let text = err.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        source = err.source();
    }
    if out.is_empty() {
        out = format!("{:?}", status.code());
    }
    out
}

/// Turns a gRPC status into the domain error lnurld acts on.
fn map_status(status: &Status) -> NodeError {
    let full = describe(status);
    if full.contains(PIN_MISMATCH) || format!("{status:?}").contains("CertificatePinMismatch") {
        return NodeError::Certificate(full);
    }
    let msg = status.message().to_owned();
    let lower = msg.to_ascii_lowercase();
    match status.code() {
        // lnd's dedup: one record per hash (the SQL backend may prefix text).
        Code::AlreadyExists if lower.contains("already paid") => NodeError::AlreadyPaid,
        Code::AlreadyExists => NodeError::AlreadyInFlight,
        Code::NotFound => NodeError::NotFound,
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => {
            NodeError::Unreachable(full)
        }
        Code::Unauthenticated | Code::PermissionDenied => NodeError::Macaroon(msg),
        // A status made locally from a transport failure (a server-sent
        // status has no source): the node was not (fully) reached, whatever
        // its text says. Checked before the texts below, which only mean
        // something when lnd itself said them.
        _ if std::error::Error::source(status).is_some() => NodeError::Unreachable(full),
        // Everything below is lnd's own text on a plain Go error (Unknown).
        code if code != Code::Unknown => {
            NodeError::Refused(if msg.is_empty() { full } else { msg })
        }
        _ if lower.contains("verification failed")
            || lower.contains("expected 1 macaroon")
            || lower.contains("permission denied")
            || lower.contains("cannot get macaroon")
            || lower.contains("invalid macaroon") =>
        {
            NodeError::Macaroon(msg)
        }
        _ if lower.contains("invoice expired") => NodeError::InvoiceExpired,
        _ if lower.contains("not for current active network") => NodeError::WrongNetwork,
        _ if lower.contains("self-payments not allowed") => NodeError::SelfPayment,
        _ if lower.contains("wallet locked")
            || lower.contains("in the process of starting up")
            || lower.contains("waiting to start")
            || lower.contains("not yet ready") =>
        {
            NodeError::NotReady(msg)
        }
        _ if is_decoder_error(&lower) => NodeError::InvalidInvoice(msg),
        _ => NodeError::Refused(if msg.is_empty() { full } else { msg }),
    }
}

/// Texts of lnd's zpay32/bech32 decoder and of invoices it will not pay as
/// given (we never set `amt`, so an amountless invoice is unpayable).
fn is_decoder_error(lower: &str) -> bool {
    [
        "zpay32",
        "bech32",
        "checksum",
        "invalid payment request",
        "invalid index",
        "invalid character",
        "invalid separator",
        "invalid length",
        "invalid signature",
        "failed decoding",
        "unable to decode",
        "malformed",
        "unknown network",
        "amount must be specified when paying a zero amount invoice",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn timed_out(what: &str) -> NodeError {
    NodeError::Unreachable(format!("{what}: no answer from lnd within {RPC_TIMEOUT:?}"))
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
// Message mapping

fn hash_from_bytes(bytes: &[u8], what: &str) -> Result<PaymentHash, NodeError> {
    <[u8; 32]>::try_from(bytes)
        .map(PaymentHash)
        .map_err(|_| NodeError::Protocol(format!("{what} is {} bytes, not 32", bytes.len())))
}

fn preimage_from_bytes(bytes: &[u8]) -> Option<Preimage> {
    <[u8; 32]>::try_from(bytes).ok().map(Preimage)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn failure_of(reason: lnrpc::PaymentFailureReason) -> PaymentFailure {
    use lnrpc::PaymentFailureReason as R;
    match reason {
        R::FailureReasonTimeout => PaymentFailure::Timeout,
        R::FailureReasonNoRoute => PaymentFailure::NoRoute,
        R::FailureReasonIncorrectPaymentDetails => PaymentFailure::IncorrectPaymentDetails,
        R::FailureReasonInsufficientBalance => PaymentFailure::InsufficientBalance,
        R::FailureReasonCanceled => PaymentFailure::Canceled,
        // NONE on a FAILED payment should not happen; it is still final.
        R::FailureReasonError | R::FailureReasonNone => PaymentFailure::Error,
    }
}

/// Maps an lnd `Payment` update to an outcome.
fn outcome_of(p: &lnrpc::Payment) -> Result<PaymentOutcome, NodeError> {
    use lnrpc::payment::PaymentStatus as S;
    Ok(match p.status() {
        S::Succeeded => {
            let bytes = hex::decode(&p.payment_preimage)
                .map_err(|e| NodeError::Protocol(format!("payment_preimage is not hex: {e}")))?;
            let preimage = preimage_from_bytes(&bytes).filter(|pre| pre.0 != [0u8; 32]);
            if preimage.is_none() {
                return Err(NodeError::Protocol(
                    "SUCCEEDED payment without a 32-byte preimage".into(),
                ));
            }
            PaymentOutcome::Succeeded {
                preimage,
                fee_msat: u64_of(p.fee_msat),
            }
        }
        S::Failed => PaymentOutcome::Failed(failure_of(p.failure_reason())),
        // INITIATED is shown as IN_FLIGHT unless lnd is told otherwise;
        // UNKNOWN means "not sent yet": both may still move money.
        S::InFlight | S::Initiated | S::Unknown => PaymentOutcome::InFlight,
    })
}

fn invoice_state_of(s: lnrpc::invoice::InvoiceState) -> InvoiceState {
    use lnrpc::invoice::InvoiceState as S;
    match s {
        S::Open => InvoiceState::Open,
        S::Settled => InvoiceState::Settled,
        S::Canceled => InvoiceState::Canceled,
        S::Accepted => InvoiceState::Accepted,
    }
}

fn invoice_status_of(inv: &lnrpc::Invoice) -> Result<InvoiceStatus, NodeError> {
    Ok(InvoiceStatus {
        payment_hash: hash_from_bytes(&inv.r_hash, "invoice r_hash")?,
        state: invoice_state_of(inv.state()),
        preimage: preimage_from_bytes(&inv.r_preimage),
        amount_paid_msat: u64_of(inv.amt_paid_msat),
        settle_index: inv.settle_index,
        settled_at: inv.settle_date,
        bolt11: inv.payment_request.clone(),
    })
}

fn settlement_of(inv: &lnrpc::Invoice) -> Result<Settlement, NodeError> {
    Ok(Settlement {
        payment_hash: hash_from_bytes(&inv.r_hash, "invoice r_hash")?,
        preimage: preimage_from_bytes(&inv.r_preimage).ok_or_else(|| {
            NodeError::Protocol("settled invoice without a 32-byte preimage".into())
        })?,
        amount_paid_msat: u64_of(inv.amt_paid_msat),
        settle_index: inv.settle_index,
        settled_at: inv.settle_date,
    })
}

/// `timeout_seconds` for SendPaymentV2: whole seconds, at least 1 (older
/// lnd refuses 0, newer turns it into 60 s).
fn timeout_secs(timeout: Duration) -> i32 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------------
// Settlement stream

enum SubState {
    /// Not subscribed yet: lnd (grpc-go) sends the response headers only
    /// with the first event, so the call itself is made lazily.
    Start {
        client: LightningClient<Svc>,
        after: u64,
    },
    Live {
        stream: Streaming<lnrpc::Invoice>,
        last: u64,
    },
    Done,
}

async fn next_settlement(mut state: SubState) -> Option<(Result<Settlement, NodeError>, SubState)> {
    loop {
        state = match state {
            SubState::Done => return None,
            SubState::Start { mut client, after } => {
                let req = lnrpc::InvoiceSubscription {
                    add_index: 0,
                    settle_index: after,
                };
                match client.subscribe_invoices(req).await {
                    Ok(resp) => SubState::Live {
                        stream: resp.into_inner(),
                        last: after,
                    },
                    Err(status) => return Some((Err(map_status(&status)), SubState::Done)),
                }
            }
            SubState::Live { mut stream, last } => match stream.message().await {
                Ok(None) => return None,
                Err(status) => return Some((Err(map_status(&status)), SubState::Done)),
                Ok(Some(inv)) => {
                    // Only settlements past the last one yielded: no repeats,
                    // no going back (add events and replays are skipped).
                    if inv.state() != lnrpc::invoice::InvoiceState::Settled
                        || inv.settle_index <= last
                    {
                        SubState::Live { stream, last }
                    } else {
                        match settlement_of(&inv) {
                            Ok(s) => {
                                let last = s.settle_index;
                                return Some((Ok(s), SubState::Live { stream, last }));
                            }
                            Err(e) => return Some((Err(e), SubState::Done)),
                        }
                    }
                }
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The trait

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
        let value_msat = i64::try_from(req.amount_msat)
            .map_err(|_| NodeError::Refused("amount too large".into()))?;
        let invoice = lnrpc::Invoice {
            value_msat,
            description_hash: req.description_hash.to_vec(),
            expiry: i64::from(req.expiry_secs),
            r_preimage: req.preimage.map(|p| p.0.to_vec()).unwrap_or_default(),
            ..Default::default()
        };
        let mut client = self.lightning();
        let resp = unary("AddInvoice", client.add_invoice(invoice)).await?;
        let payment_hash = hash_from_bytes(&resp.r_hash, "AddInvoice r_hash")?;
        if let Some(pre) = req.preimage {
            if pre.payment_hash() != payment_hash {
                return Err(NodeError::Protocol(
                    "AddInvoice returned a hash that does not match the preimage".into(),
                ));
            }
        }
        Ok(CreatedInvoice {
            payment_hash,
            bolt11: resp.payment_request,
            add_index: resp.add_index,
        })
    }

    async fn pay(
        &self,
        bolt11: &str,
        max_fee_msat: u64,
        timeout: Duration,
    ) -> Result<PaymentOutcome, NodeError> {
        let req = routerrpc::SendPaymentRequest {
            payment_request: bolt11.to_owned(),
            fee_limit_msat: i64::try_from(max_fee_msat).unwrap_or(i64::MAX),
            timeout_seconds: timeout_secs(timeout),
            no_inflight_updates: true,
            // `amt`/`amt_msat` stay unset: we only pay invoices with an amount.
            ..Default::default()
        };
        let deadline = Instant::now() + timeout + PAY_MARGIN;
        let mut router = self.router();
        let run = async move {
            // With no_inflight_updates lnd may send nothing (not even the
            // headers) until the payment is final, so the deadline covers
            // the call itself too.
            let mut stream = router
                .send_payment_v2(req)
                .await
                .map_err(|s| map_status(&s))?
                .into_inner();
            while let Some(update) = stream.message().await.map_err(|s| map_status(&s))? {
                let outcome = outcome_of(&update)?;
                if outcome.is_final() {
                    return Ok(outcome);
                }
            }
            // Stream ended without a final state: unknown, the caller tracks.
            Ok(PaymentOutcome::InFlight)
        };
        match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            // Dropping the stream does not stop the payment; the caller tracks.
            Err(_) => Ok(PaymentOutcome::InFlight),
        }
    }

    async fn payment(
        &self,
        payment_hash: PaymentHash,
        wait: Duration,
    ) -> Result<Option<PaymentOutcome>, NodeError> {
        let start = Instant::now();
        let deadline = start + wait;
        let first_deadline = deadline.max(start + RPC_TIMEOUT);
        let req = routerrpc::TrackPaymentRequest {
            payment_hash: payment_hash.0.to_vec(),
            no_inflight_updates: false,
        };
        let mut router = self.router();
        // lnd sends the current state first.
        let first = tokio::time::timeout_at(first_deadline, async {
            let mut stream = router.track_payment_v2(req).await?.into_inner();
            let first = stream.message().await?;
            Ok::<_, Status>((stream, first))
        })
        .await;
        let (mut stream, first) = match first {
            Err(_) => return Err(timed_out("TrackPaymentV2")),
            Ok(Err(status)) => {
                return match map_status(&status) {
                    NodeError::NotFound => Ok(None),
                    e => Err(e),
                }
            }
            Ok(Ok((_, None))) => {
                return Err(NodeError::Protocol(
                    "TrackPaymentV2 ended without a payment update".into(),
                ))
            }
            Ok(Ok((stream, Some(first)))) => (stream, first),
        };
        let mut outcome = outcome_of(&first)?;
        if outcome.is_final() || wait.is_zero() {
            return Ok(Some(outcome));
        }
        let follow = tokio::time::timeout_at(deadline, async {
            while let Some(update) = stream.message().await.map_err(|s| map_status(&s))? {
                outcome = outcome_of(&update)?;
                if outcome.is_final() {
                    break;
                }
            }
            Ok::<_, NodeError>(())
        })
        .await;
        match follow {
            Ok(Err(e)) => Err(e),
            // Deadline or end of stream: report what is known (in flight).
            Ok(Ok(())) | Err(_) => Ok(Some(outcome)),
        }
    }

    async fn invoice(&self, payment_hash: PaymentHash) -> Result<Option<InvoiceStatus>, NodeError> {
        let req = lnrpc::PaymentHash {
            r_hash: payment_hash.0.to_vec(),
            ..Default::default()
        };
        let mut client = self.lightning();
        match unary("LookupInvoice", client.lookup_invoice(req)).await {
            Ok(inv) => invoice_status_of(&inv).map(Some),
            Err(NodeError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn settlements(&self, after_settle_index: u64) -> Result<SettlementStream, NodeError> {
        let start = SubState::Start {
            client: self.lightning(),
            after: after_settle_index,
        };
        Ok(Box::pin(stream::unfold(start, next_settlement)))
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
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:10009").unwrap(),
            "https://127.0.0.1:10009"
        );
        assert_eq!(
            normalize_endpoint("https://lnd:10009/").unwrap(),
            "https://lnd:10009"
        );
        assert!(matches!(
            normalize_endpoint("http://lnd:10009"),
            Err(NodeError::Unsupported(_))
        ));
    }

    #[test]
    fn statuses_map_to_domain_errors() {
        type Check = fn(&NodeError) -> bool;
        let cases: Vec<(Status, Check)> = vec![
            (Status::already_exists("invoice is already paid"), |e| {
                matches!(e, NodeError::AlreadyPaid)
            }),
            (
                Status::already_exists("payment is not initializable: payment is in transition"),
                |e| matches!(e, NodeError::AlreadyInFlight),
            ),
            (Status::already_exists("payment already exists"), |e| {
                matches!(e, NodeError::AlreadyInFlight)
            }),
            (Status::not_found("payment isn't initiated"), |e| {
                matches!(e, NodeError::NotFound)
            }),
            (Status::unknown("expected 1 macaroon, got 0"), |e| {
                matches!(e, NodeError::Macaroon(_))
            }),
            (
                Status::unknown("verification failed: signature mismatch after caveat verification"),
                |e| matches!(e, NodeError::Macaroon(_)),
            ),
            (Status::unknown("permission denied"), |e| {
                matches!(e, NodeError::Macaroon(_))
            }),
            (
                Status::unknown("invoice expired. Valid until 2026-01-01 00:00:00 +0000 UTC"),
                |e| matches!(e, NodeError::InvoiceExpired),
            ),
            (
                Status::unknown("invoice not for current active network 'regtest'"),
                |e| matches!(e, NodeError::WrongNetwork),
            ),
            (Status::unknown("self-payments not allowed"), |e| {
                matches!(e, NodeError::SelfPayment)
            }),
            (Status::unknown("wallet locked, unlock it to enable full RPC access"), |e| {
                matches!(e, NodeError::NotReady(_))
            }),
            (
                Status::unknown("the RPC server is in the process of starting up, but not yet ready to accept calls"),
                |e| matches!(e, NodeError::NotReady(_)),
            ),
            (Status::unknown("invalid bech32 string length 7"), |e| {
                matches!(e, NodeError::InvalidInvoice(_))
            }),
            (Status::unknown("something else"), |e| {
                matches!(e, NodeError::Refused(m) if m == "something else")
            }),
            (Status::unavailable("tcp connect error"), |e| {
                matches!(e, NodeError::Unreachable(_))
            }),
        ];
        for (status, check) in cases {
            let mapped = map_status(&status);
            assert!(check(&mapped), "{status:?} mapped to {mapped:?}");
        }
    }

    #[test]
    fn payment_updates_map_to_outcomes() {
        use lnrpc::payment::PaymentStatus as S;
        use lnrpc::PaymentFailureReason as R;
        let mut p = lnrpc::Payment {
            status: S::Failed as i32,
            failure_reason: R::FailureReasonNone as i32,
            ..Default::default()
        };
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Failed(PaymentFailure::Error)
        );
        p.failure_reason = R::FailureReasonNoRoute as i32;
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Failed(PaymentFailure::NoRoute)
        );
        p.status = S::Initiated as i32;
        assert_eq!(outcome_of(&p).unwrap(), PaymentOutcome::InFlight);
        p.status = S::Succeeded as i32;
        p.payment_preimage = "0".repeat(64);
        assert!(matches!(outcome_of(&p), Err(NodeError::Protocol(_))));
        p.payment_preimage = "11".repeat(32);
        p.fee_msat = 7;
        assert_eq!(
            outcome_of(&p).unwrap(),
            PaymentOutcome::Succeeded {
                preimage: Some(Preimage([0x11; 32])),
                fee_msat: 7
            }
        );
    }

    #[test]
    fn timeout_secs_rounds_up_and_is_never_zero() {
        assert_eq!(timeout_secs(Duration::ZERO), 1);
        assert_eq!(timeout_secs(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn debug_hides_the_macaroon() {
        let cfg = LndConfig {
            endpoint: "127.0.0.1:1".into(),
            tls_cert_pem: b"x".to_vec(),
            macaroon: vec![0xab; 4],
        };
        assert!(!format!("{cfg:?}").contains("abab"));
    }
}
