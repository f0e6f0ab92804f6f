//! `TestApp`: the real lnurld (same `App` as `main.rs`) on 127.0.0.1:0,
//! against a test database and the fake LND (or the dev node).

use std::sync::Arc;

use lnurld::config::{Config, NodeKind};
use lnurld::service::Services;
use lnurld::{App, NodeCheck, Running};
use reqwest::StatusCode;
use serde_json::Value;

use super::db::TestDb;
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
        database_max_connections: 8,
        secret_key: Some(TEST_SECRET_KEY.into()),
        ..Config::default()
    };
    c.withdraw.payment_timeout_secs = 2;
    c.withdraw.lease_secs = 2;
    if let Node::Lnd(fake) = node {
        let cert = db.dir().join(format!("tls-{port}.cert"));
        std::fs::write(&cert, fake.cert_pem()).expect("write cert");
        c.node.kind = NodeKind::Lnd;
        c.node.endpoint = Some(fake.endpoint());
        c.node.tls_cert = Some(cert);
        c.node.macaroon = Some(hex::encode(fake.macaroon()));
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
        let token = lnurld::service::tokens::create(&svc.db, "test")
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
    pub async fn stop(mut self, graceful: bool) {
        if let Some(r) = self.running.take() {
            r.stop(graceful).await;
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
        if let Some(r) = self.running.take() {
            // Best effort: stop serving when a test panics.
            tokio::spawn(async move { r.stop(false).await });
        }
    }
}
