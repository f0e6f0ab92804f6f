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
//! simulated with [`FakeLnd::settle_invoice`]. One file per concern:
//!
//! - `mod.rs`: the server (certificate, macaroon check, start/stop/restart),
//!   its shared state and the stream plumbing both services use;
//! - `invoices.rs`: the `Lightning` service (invoices, the settlement
//!   stream, GetInfo, ChannelBalance) and incoming-payment simulation;
//! - `payments.rs`: the `Router` service (SendPaymentV2, TrackPaymentV2)
//!   and the scripting of outgoing payments;
//! - `payee.rs`: foreign payees' (wallets') invoices and the preimage a
//!   payment to one reveals.
//!
//! Each fake holds all of its own state; no global is shared between fakes
//! or tests.

mod invoices;
mod payee;
mod payments;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use futures_util::{Stream, StreamExt};
use lnurld::node::lnd::proto::lnrpc::{self, lightning_server::LightningServer};
use lnurld::node::lnd::proto::routerrpc::router_server::RouterServer;
use lnurld::node::lnd::LndConfig;
use lnurld::node::Network;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};

pub use invoices::{FakeInvoice, PRIVATE_CHANNEL_ID};
pub use lnrpc::invoice::InvoiceState as FakeInvoiceState;
pub use lnrpc::payment::PaymentStatus as FakePaymentStatus;
pub use lnrpc::PaymentFailureReason as FailureReason;
pub use payments::SendFault;
pub use payments::{FakePayment, Finish, PayBehavior};
// The fake CLN signs its invoices and pays wallet invoices the same way.
pub(crate) use invoices::sign_invoice;
pub(crate) use payee::payee_preimage;

/// 32 random bytes (also the fake CLN's node key).
pub(crate) fn random_key() -> [u8; 32] {
    random32()
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

/// What the node has recorded, like lnd's database: kept across restarts.
struct State {
    invoices: Vec<FakeInvoice>,
    next_settle_index: u64,
    payments: Vec<FakePayment>,
    behavior: PayBehavior,
    send_attempts: usize,
    /// AddInvoice and LookupInvoice calls (see `invoices.rs`).
    invoice_calls: invoices::InvoiceCalls,
    /// Per-hash counters and scripted faults of the Router service.
    router: payments::RouterScript,
}

/// Shared by the [`FakeLnd`] handle and every server run.
struct Inner {
    state: Mutex<State>,
    macaroon: Vec<u8>,
    key: SecretKey,
    pubkey: PublicKey,
    invoice_tx: broadcast::Sender<lnrpc::Invoice>,
    payment_tx: broadcast::Sender<lnrpc::Payment>,
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
                invoice_calls: invoices::InvoiceCalls::default(),
                router: Default::default(),
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
            private_invoices: false,
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
