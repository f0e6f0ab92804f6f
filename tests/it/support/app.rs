//! `TestApp`: the real lnurld (same `App` as `main.rs`) on 127.0.0.1:0,
//! against a test database and the fake LND, the fake CLN or the dev node.

use std::sync::Arc;

use lnurld::config::{Config, NodeKind};
use lnurld::service::Services;
use lnurld::{App, NodeCheck, Running};
use reqwest::StatusCode;
use serde_json::Value;

use super::db::TestDb;
use super::fake_cln::FakeCln;
use super::fake_lnd::FakeLnd;

/// Server key shared by every instance started on one test database (as
/// production instances share theirs).
pub const TEST_SECRET_KEY: &str =
    "1111111111111111111111111111111111111111111111111111111111111111";

/// Which node the app talks to.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    /// The `lnd` backend against this fake.
    Lnd(&'a FakeLnd),
    /// The `cln` backend against this fake.
    Cln(&'a FakeCln),
    /// The embedded dev node.
    Dev,
}

/// A running lnurld.
pub struct TestApp {
    running: Option<Running>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An admin token.
    pub token: String,
    /// Plain HTTP client.
    pub http: reqwest::Client,
    /// The app's services (for direct state checks).
    pub svc: Arc<Services>,
}

/// A config for `db` and `node`, before tweaks.
pub fn test_config(db: &TestDb, node: Node<'_>, port: u16) -> Config {
    let mut c = Config {
        public_url: format!("http://127.0.0.1:{port}"),
        database_url: db.url(),
        database_max_connections: Some(8),
        secret_key: Some(TEST_SECRET_KEY.into()),
        ..Config::default()
    };
    // Beside the test database: on PostgreSQL the default is the working
    // directory, which for tests is the source tree.
    c.node.dev_key_file = Some(db.dir().join("lnurld-dev-node.key"));
    c.withdraw.payment_timeout_secs = 2;
    c.withdraw.lease_secs = 2;
    // A graceful stop waits up to this for payments still at the node.
    c.withdraw.shutdown_grace_secs = 2;
    if let Node::Lnd(fake) = node {
        let cert = db.dir().join(format!("tls-{port}.cert"));
        std::fs::write(&cert, fake.cert_pem()).expect("write cert");
        c.node.kind = NodeKind::Lnd;
        c.node.endpoint = Some(fake.endpoint());
        c.node.tls_cert = Some(cert);
        c.node.macaroon = Some(hex::encode(fake.macaroon()));
    }
    if let Node::Cln(fake) = node {
        let (ca, client, key) = fake.write_pems(&db.dir().join(format!("cln-{port}")));
        c.node.kind = NodeKind::Cln;
        c.node.endpoint = Some(fake.endpoint());
        c.node.ca_cert = Some(ca);
        c.node.client_cert = Some(client);
        c.node.client_key = Some(key);
    }
    c
}

impl TestApp {
    /// Starts with the default test config.
    pub async fn start(db: &TestDb, node: Node<'_>) -> TestApp {
        Self::start_with(db, node, |_| {}).await
    }

    /// Starts with a config tweak.
    pub async fn start_with(
        db: &TestDb,
        node: Node<'_>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut config = test_config(db, node, port);
        tweak(&mut config);
        config.validate().expect("valid test config");
        let app = App::build(config, NodeCheck::Required)
            .await
            .expect("app builds");
        let svc = app.services.clone();
        // Names are unique among active tokens, and a test may start
        // several instances on one database.
        let token = svc
            .tokens()
            .create(&format!("test-{port}"))
            .await
            .expect("token");
        let running = app.spawn(listener, 2).expect("serve");
        TestApp {
            running: Some(running),
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::new(),
            svc,
        }
    }

    /// Stops it (`graceful = false` is as close to a crash as in-process gets).
    /// Panics if a background task of the app panicked.
    pub async fn stop(mut self, graceful: bool) {
        if let Some(r) = self.running.take() {
            let panics = r.stop(graceful).await;
            assert!(panics.is_empty(), "background tasks panicked: {panics:?}");
        }
    }

    /// The wallet: lnurl-rs's async client.
    pub fn wallet(&self) -> lnurl::AsyncClient {
        lnurl::AsyncClient::from_client(reqwest::Client::new())
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Authenticated admin request with an optional JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// GET with a plain client, body as JSON.
    pub async fn get_json(&self, url: &str) -> (StatusCode, Value) {
        let res = self.http.get(url).send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a withdraw link through the API and returns its JSON.
    pub async fn create_withdraw(&self, body: Value) -> Value {
        let (status, v) = self
            .api(reqwest::Method::POST, "/api/v1/withdraw-links", Some(body))
            .await;
        assert!(status.is_success(), "create withdraw link: {status} {v}");
        v
    }

    /// The link as the admin API shows it.
    pub async fn withdraw_link(&self, id: &str) -> Value {
        let (status, v) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/withdraw-links/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.take() {
            // Drop cannot wait, so only tasks that have already ended are
            // checked; a panicked one has.
            let panics = r.take_panics();
            // Best effort: stop serving when a test panics or forgot to stop.
            tokio::spawn(async move { r.stop(false).await });
            // Not while the test is already panicking: that would abort.
            if !std::thread::panicking() {
                assert!(panics.is_empty(), "background tasks panicked: {panics:?}");
            }
        }
    }
}

/// The teardown checks themselves. A background task is made to panic with
/// no hook in lnurld: the runtime's threads carry a tracing subscriber that
/// panics when the invoice watcher logs, which it does when the node goes
/// away, so the panic unwinds through the watcher's own task.
mod tests {
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::FutureExt;
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata};

    use super::{Node, TestApp};
    use crate::support::db::TestDb;
    use crate::support::eventually;
    use crate::support::fake_lnd::FakeLnd;

    const WAIT: Duration = Duration::from_secs(30);
    const WATCHER_PANIC: &str = "test subscriber: the invoice watcher logged";

    /// Panics on any event of the invoice watcher; `fired` says it did.
    struct PanicOnWatcherLog {
        fired: Arc<AtomicBool>,
    }

    impl tracing::Subscriber for PanicOnWatcherLog {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }

        fn enabled(&self, meta: &Metadata<'_>) -> bool {
            meta.is_event() && meta.target() == "lnurld::worker::invoices"
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, _: &Event<'_>) {
            self.fired.store(true, Ordering::SeqCst);
            panic!("{WATCHER_PANIC}");
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Runs `scenario` on a runtime whose threads panic when the invoice
    /// watcher logs, with an app whose watcher has just done so.
    fn with_panicked_watcher<F, Fut>(scenario: F)
    where
        F: FnOnce(TestApp) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let fired = Arc::new(AtomicBool::new(false));
        let on_threads = fired.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                let guard = tracing::subscriber::set_default(PanicOnWatcherLog {
                    fired: on_threads.clone(),
                });
                // Kept for the thread's whole life.
                std::mem::forget(guard);
            })
            .build()
            .expect("runtime");
        rt.block_on(async {
            let db = TestDb::sqlite();
            let fake = FakeLnd::start().await;
            let app = TestApp::start(&db, Node::Lnd(&fake)).await;
            eventually("the invoice watcher subscribes", WAIT, || async {
                (fake.invoice_subscribers() > 0).then_some(())
            })
            .await;
            fake.stop().await;
            eventually("the invoice watcher logs", WAIT, || async {
                fired.load(Ordering::SeqCst).then_some(())
            })
            .await;
            scenario(app).await;
        });
    }

    #[test]
    fn stop_fails_when_a_background_task_panicked() {
        with_panicked_watcher(|app| async move {
            let stopped = AssertUnwindSafe(app.stop(true)).catch_unwind().await;
            let payload = stopped.expect_err("stop must report the panicked watcher");
            let message = payload
                .downcast_ref::<String>()
                .expect("assert! panics with a String");
            assert!(message.contains("background tasks panicked"), "{message}");
            assert!(message.contains(WATCHER_PANIC), "{message}");
        });
    }

    #[test]
    fn a_panicked_task_is_seen_without_waiting() {
        // What `Drop` relies on: a task that panicked has ended, so its
        // panic is there without awaiting anything.
        with_panicked_watcher(|mut app| async move {
            let running = app.running.as_mut().expect("running");
            let panics = eventually("the panic is seen", WAIT, || {
                let panics = running.take_panics();
                async move { (!panics.is_empty()).then_some(panics) }
            })
            .await;
            assert!(
                panics.iter().any(|p| p.contains(WATCHER_PANIC)),
                "{panics:?}"
            );
            // Reported once: the stop that follows finds no other panic.
            app.stop(true).await;
        });
    }
}
