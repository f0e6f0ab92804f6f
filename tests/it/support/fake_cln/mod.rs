//! A fake Core Lightning `grpc` plugin for tests: the real `cln` backend
//! talks to it over mutual TLS on a random port, as it would to CLN.
//!
//! Honest where lnurld depends on it (CLN v26.06.6):
//! - certificates made at test time the way `plugins/grpc-plugin/src/tls.rs`
//!   makes them: a P-256 CA, a server certificate it signs with SANs `cln`
//!   and `localhost`, a client certificate it signs; the server demands a
//!   client certificate signed by the CA;
//! - errors as cln-grpc sends them: `UNKNOWN` with
//!   `Error calling method X: RpcError { code: Some(N), message: "…", data: None }`;
//! - `Invoice` makes a real BOLT11 signed with the node key, with
//!   `h = sha256(description)` under `deschashonly`, CLN's default expiry of
//!   a week, 900 on a duplicate label and 901 on a reused preimage;
//! - `Xpay` / `Pay` with CLN's answers for a hash already paid (219 / the
//!   earlier success) or in flight (-3 "still in progress" / 200), 207 for
//!   an expired invoice, 205/206 leaving no record; `ListPays`;
//! - `WaitAnyInvoice` answering the lowest `pay_index` above
//!   `lastpay_index`, or 904 on timeout.
//!
//! Outgoing payments are scripted with [`ClnPay`], incoming ones with
//! [`FakeCln::settle_invoice`]. `node.rs` holds the service.

mod node;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lnurld::node::cln::proto::node_server::NodeServer;
use lnurld::node::{PaymentHash, Preimage};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::fake_lnd::FakeLnd;

/// The PEM files of a grpc plugin's directory.
#[derive(Clone)]
pub struct ClnCerts {
    pub ca: String,
    pub server: String,
    pub server_key: String,
    pub client: String,
    pub client_key: String,
}

/// Makes a CA and the server and client certificates it signs, like the
/// grpc plugin's `tls::init` (every certificate names `cln` and `localhost`).
pub fn make_certs() -> ClnCerts {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let params = |name: &str, ca: bool| {
        let mut p = CertificateParams::new(vec!["cln".to_string(), "localhost".to_string()])
            .expect("params");
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages.push(KeyUsagePurpose::KeyCertSign);
        } else {
            p.is_ca = IsCa::NoCa;
            p.key_usages.push(KeyUsagePurpose::DigitalSignature);
            p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
            p.key_usages.push(KeyUsagePurpose::KeyAgreement);
        }
        p.distinguished_name.push(DnType::CommonName, name);
        p.use_authority_key_identifier_extension = true;
        p
    };
    let key = || KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let ca_key = key();
    let ca_params = params("cln Root CA", true);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = key();
    let server = params("cln grpc Server", false)
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let client_key = key();
    let client = params("cln grpc Client", false)
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    ClnCerts {
        ca: ca.pem(),
        server: server.pem(),
        server_key: server_key.serialize_pem(),
        client: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

/// What the next accepted `Xpay`/`Pay` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClnPay {
    /// Succeeds at once with this fee (206 when above `maxfee`, no record).
    Succeed { fee_msat: u64 },
    /// Fails with this CLN code: 205/206 leave no record (as CLN), others
    /// record a failed payment first.
    Fail(i64),
    /// Stays pending until [`FakeCln::finish`].
    Hold,
    /// Answers this code while a part stays pending (a give-up lnurld must
    /// not believe without asking `ListPays`).
    FailWithPartPending(i64),
}

/// How a held payment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClnFinish {
    Succeed {
        fee_msat: u64,
    },
    /// Fails; the held call answers this code.
    Fail(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayStatus {
    Pending,
    Complete,
    Failed,
}

/// One recorded outgoing payment.
#[derive(Debug, Clone)]
pub struct ClnPayment {
    pub bolt11: String,
    pub payment_hash: PaymentHash,
    pub amount_msat: u64,
    pub maxfee_msat: Option<u64>,
    pub retry_for: Option<u32>,
    pub status: PayStatus,
    pub preimage: Option<Preimage>,
    pub fee_msat: u64,
    /// Code the held call answers when failed.
    pub fail_code: i64,
    /// `xpay` or `pay`.
    pub method: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvStatus {
    Unpaid,
    Paid,
}

/// One invoice the fake issued.
#[derive(Debug, Clone)]
pub struct ClnInvoice {
    pub label: String,
    pub description: String,
    pub deschashonly: bool,
    pub payment_hash: PaymentHash,
    pub preimage: Preimage,
    pub bolt11: String,
    pub amount_msat: u64,
    pub expiry: u64,
    pub expires_at: u64,
    pub status: InvStatus,
    pub pay_index: Option<u64>,
    pub paid_at: Option<u64>,
    pub created_index: u64,
}

struct State {
    invoices: Vec<ClnInvoice>,
    next_pay_index: u64,
    payments: Vec<ClnPayment>,
    behavior: ClnPay,
    xpay: bool,
    send_attempts: usize,
    tracks: std::collections::HashMap<[u8; 32], usize>,
    wait_calls: usize,
}

struct Inner {
    state: Mutex<State>,
    key: SecretKey,
    pubkey: PublicKey,
    /// Bumped on every change a waiting call may care about.
    changed: watch::Sender<u64>,
}

impl Inner {
    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A running fake CLN grpc plugin. Each test starts its own.
pub struct FakeCln {
    inner: Arc<Inner>,
    addr: SocketAddr,
    certs: ClnCerts,
    running: Mutex<Option<Running>>,
}

#[derive(Clone)]
struct Svc {
    inner: Arc<Inner>,
    stop: watch::Receiver<bool>,
}

impl FakeCln {
    /// Starts with xpay on a random port of 127.0.0.1, fresh certificates
    /// and node key.
    pub async fn start() -> FakeCln {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&super::fake_lnd::random_key()).expect("key");
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                invoices: Vec::new(),
                next_pay_index: 1,
                payments: Vec::new(),
                behavior: ClnPay::Succeed { fee_msat: 0 },
                xpay: true,
                send_attempts: 0,
                tracks: Default::default(),
                wait_calls: 0,
            }),
            pubkey: PublicKey::from_secret_key(&secp, &key),
            key,
            changed: watch::channel(0).0,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = FakeCln {
            inner,
            addr,
            certs: make_certs(),
            running: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (stop, stop_rx) = watch::channel(false);
        let svc = Svc {
            inner: self.inner.clone(),
            stop: stop_rx,
        };
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                &self.certs.server,
                &self.certs.server_key,
            ))
            .client_ca_root(Certificate::from_pem(&self.certs.ca));
        let router = Server::builder()
            .tls_config(tls)
            .expect("server tls")
            .add_service(NodeServer::new(svc));
        let task = tokio::spawn(async move {
            let _ = router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = shutdown_rx.await;
                })
                .await;
        });
        *self.running.lock().unwrap() = Some(Running {
            shutdown,
            stop,
            task,
        });
    }

    /// Stops listening and ends waiting calls; state is kept.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
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

    /// Serves again on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.serve(listener);
    }

    /// `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The plugin's certificates.
    pub fn certs(&self) -> &ClnCerts {
        &self.certs
    }

    /// Writes `ca.pem`, `client.pem`, `client-key.pem` into `dir` (the key
    /// 0600, as the plugin makes it) and returns their paths.
    pub fn write_pems(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        write_pems(&self.certs, dir)
    }

    /// Node identity key, hex.
    pub fn pubkey(&self) -> String {
        self.inner.pubkey.to_string()
    }

    /// Whether `Help` reports xpay (a node without it is paid with `Pay`).
    pub fn set_xpay(&self, on: bool) {
        self.inner.state.lock().unwrap().xpay = on;
    }

    pub fn set_pay_behavior(&self, b: ClnPay) {
        self.inner.state.lock().unwrap().behavior = b;
    }

    /// Recorded payments.
    pub fn payments(&self) -> Vec<ClnPayment> {
        self.inner.state.lock().unwrap().payments.clone()
    }

    /// `Xpay`/`Pay` calls, refused ones included.
    pub fn send_attempts(&self) -> usize {
        self.inner.state.lock().unwrap().send_attempts
    }

    /// `ListPays` calls for this hash.
    pub fn tracks_for(&self, hash: PaymentHash) -> usize {
        let st = self.inner.state.lock().unwrap();
        st.tracks.get(&hash.0).copied().unwrap_or(0)
    }

    /// `WaitAnyInvoice` calls so far.
    pub fn wait_calls(&self) -> usize {
        self.inner.state.lock().unwrap().wait_calls
    }

    /// Invoices issued.
    pub fn invoices(&self) -> Vec<ClnInvoice> {
        self.inner.state.lock().unwrap().invoices.clone()
    }

    /// Ends a pending payment; false when there is none for the hash.
    pub fn finish(&self, hash: PaymentHash, how: ClnFinish) -> bool {
        let mut st = self.inner.state.lock().unwrap();
        let Some(p) = st
            .payments
            .iter_mut()
            .find(|p| p.payment_hash == hash && p.status == PayStatus::Pending)
        else {
            return false;
        };
        match how {
            ClnFinish::Succeed { fee_msat } => {
                p.status = PayStatus::Complete;
                p.fee_msat = fee_msat;
                p.preimage = Some(node::preimage_for(&p.bolt11));
            }
            ClnFinish::Fail(code) => {
                p.status = PayStatus::Failed;
                p.fail_code = code;
            }
        }
        drop(st);
        self.inner.bump();
        true
    }

    /// Simulates an incoming payment of an unpaid invoice: PAID with the
    /// next `pay_index`. Returns the index.
    pub fn settle_invoice(&self, hash: PaymentHash) -> u64 {
        let mut st = self.inner.state.lock().unwrap();
        let index = st.next_pay_index;
        let inv = st
            .invoices
            .iter_mut()
            .find(|i| i.payment_hash == hash)
            .expect("settle_invoice: unknown invoice");
        assert_eq!(inv.status, InvStatus::Unpaid, "invoice not unpaid");
        inv.status = InvStatus::Paid;
        inv.pay_index = Some(index);
        inv.paid_at = Some(node::now_secs());
        st.next_pay_index += 1;
        drop(st);
        self.inner.bump();
        index
    }

    /// A wallet's invoice (foreign payee) on regtest.
    pub fn wallet_invoice(amount_msat: u64) -> (String, PaymentHash, Preimage) {
        FakeLnd::wallet_invoice(
            Some(amount_msat),
            Duration::from_secs(3600),
            lightning_invoice::Currency::Regtest,
        )
    }
}

/// Writes a plugin directory's client-side files (see [`FakeCln::write_pems`]).
pub fn write_pems(certs: &ClnCerts, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("dir");
    let ca = dir.join("ca.pem");
    let client = dir.join("client.pem");
    let key = dir.join("client-key.pem");
    std::fs::write(&ca, &certs.ca).expect("ca.pem");
    std::fs::write(&client, &certs.client).expect("client.pem");
    std::fs::write(&key, &certs.client_key).expect("client-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (ca, client, key)
}
