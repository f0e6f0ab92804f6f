//! Webhooks end to end: a scriptable HTTP receiver on 127.0.0.1
//! (`support/receiver.rs`) that checks the signature itself with the secret
//! from the admin API; events from a real withdraw (lnurl-rs wallet) and a
//! settled invoice (fake LND); retries, a crash before delivery, two
//! instances, and refused target URLs — on SQLite and PostgreSQL.

use std::time::Duration;

use diesel::prelude::*;
use lnurl::Response;
use lnurld::db::types::EventState;
use lnurld::service::webhooks::{EndpointSecretView, EndpointView, EventId, EventView};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::fake_lnd::{FakeLnd, PayBehavior};
use crate::support::receiver::{hook_url, Receiver, Reply};
use crate::support::wallet::{wallet_invoice, withdraw_request};
use crate::support::{eventually, free_port};

const WAIT: Duration = Duration::from_secs(30);

both_dbs!(
    withdraw_and_invoice_events_arrive_once_signed,
    fails_three_times_then_delivered_on_the_fourth,
    crash_before_delivery_is_delivered_after_restart,
    two_instances_deliver_each_event_once,
    forbidden_targets_are_refused_at_creation,
    expired_invoices_emit_an_event,
    special_purpose_targets_are_refused_with_a_clear_400,
);

// ---------------------------------------------------------------------------
// Helpers.

async fn start_app(db: &TestDb, fake: &FakeLnd, global_url: Option<String>) -> TestApp {
    TestApp::start_with(db, Node::Lnd(fake), move |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.timeout_secs = 1;
        c.webhooks.retry_base_ms = 1000;
        c.webhooks.url = global_url;
    })
    .await
}

/// A listing's envelope, `{data, next_cursor}`.
#[derive(Debug, Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    next_cursor: Option<EventId>,
}

/// `v` read as the API's own view type.
fn typed<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

async fn secret_of(app: &TestApp, url: &str) -> String {
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/endpoints/secret",
            Some(json!({ "url": url })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    typed::<EndpointSecretView>(v).secret
}

async fn events(app: &TestApp, query: &str) -> Vec<EventView> {
    let (status, v) = app
        .api(Method::GET, &format!("/api/v1/events{query}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    let page: Page<EventView> = typed(v);
    assert!(page.next_cursor.is_none(), "one page is enough here");
    page.data
}

async fn event(app: &TestApp, id: &EventId) -> EventView {
    let (status, v) = app
        .api(Method::GET, &format!("/api/v1/events/{id}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    typed(v)
}

/// Withdraws `amount_msat` from `link` like a wallet; returns the payment hash.
async fn withdraw_once(app: &TestApp, link: &Value, amount_msat: u64) -> String {
    let w = withdraw_request(app, link["lnurl"].as_str().unwrap()).await;
    let (pr, hash) = wallet_invoice(amount_msat);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));
    hash.to_hex()
}

/// Asks the pay link for an invoice; returns the fake's payment hash of it.
async fn invoice_for(
    app: &TestApp,
    fake: &FakeLnd,
    link: &Value,
    query: &str,
) -> lnurld::node::PaymentHash {
    let cb = app.url(&format!(
        "/lnurlp/{}/callback",
        link["id"].as_str().unwrap()
    ));
    let (_, body) = app.get_json(&format!("{cb}?{query}")).await;
    let pr = body["pr"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    fake.invoices()
        .into_iter()
        .find(|i| i.bolt11 == pr)
        .expect("the fake issued it")
        .payment_hash
}

async fn create_pay(app: &TestApp, body: Value) -> Value {
    let (status, v) = app.api(Method::POST, "/api/v1/pay-links", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

// ---------------------------------------------------------------------------
// Scenarios.

async fn withdraw_and_invoice_events_arrive_once_signed(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 5 });
    let rx = Receiver::start(&[]).await;
    let app = start_app(&db, &fake, None).await;
    let secret = secret_of(&app, &rx.url()).await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    let wlink = app
        .create_withdraw(json!({"min_msat": 50_000, "max_msat": 50_000,
            "external_id": "payout-7", "webhook_url": rx.url()}))
        .await;
    let hash = withdraw_once(&app, &wlink, 50_000).await;

    let plink = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Shop",
               "username": "shop", "comment_allowed": 50,
               "payer_data": {"name": {"mandatory": false}},
               "webhook_url": rx.url()}),
    )
    .await;
    let payerdata = r#"{"name":"Bob"}"#;
    let enc: String = url::form_urlencoded::byte_serialize(payerdata.as_bytes()).collect();
    let inv_hash = invoice_for(
        &app,
        &fake,
        &plink,
        &format!("amount=21000&comment=for%20the%20shoes&payerdata={enc}"),
    )
    .await;
    fake.settle_invoice(inv_hash);

    eventually("both events delivered", WAIT, || async {
        let evs = events(&app, "?state=delivered").await;
        (evs.len() == 2).then_some(())
    })
    .await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 2, "each event arrives once: {hits:?}");
    for h in &hits {
        assert!(h.signed_with(&secret), "valid signature: {h:?}");
        assert!(!h.signed_with("whsec_wrong"));
        assert_eq!(h.header("Content-Type"), "application/json");
        let body = h.json();
        assert_eq!(body["id"], h.event_id());
        assert_eq!(body["type"], h.header("Lnurld-Event-Type"));
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert!(body["created_at"].as_str().unwrap().contains('T'));
    }
    let by_type = |t: &str| {
        hits.iter()
            .find(|h| h.header("Lnurld-Event-Type") == t)
            .unwrap_or_else(|| panic!("no {t} in {hits:?}"))
            .json()
    };
    let w = by_type("withdraw.succeeded");
    let d = &w["data"];
    assert_eq!(d["withdraw_link_id"], wlink["id"]);
    assert_eq!(d["external_id"], "payout-7");
    assert_eq!(d["state"], "succeeded");
    assert_eq!(d["amount_msat"], 50_000);
    assert_eq!(d["fee_msat"], 5);
    assert_eq!(d["payment_hash"], hash);
    assert!(d["preimage"].is_string());
    assert!(d["withdrawal_id"].as_str().unwrap().starts_with("wd"));
    let i = by_type("invoice.settled");
    let d = &i["data"];
    assert_eq!(d["pay_link_id"], plink["id"]);
    assert_eq!(d["username"], "shop");
    assert_eq!(d["lightning_address"], plink["lightning_address"]);
    assert_eq!(d["payment_hash"], inv_hash.to_hex());
    assert_eq!(d["amount_msat"], 21_000);
    assert_eq!(d["amount_paid_msat"], 21_000);
    assert_eq!(d["comment"], "for the shoes");
    assert_eq!(d["payer_data"]["name"], "Bob");
    assert!(d["preimage"].is_string());
    assert!(d["settled_at"].is_string());

    // The admin API: one successful attempt each; endpoints never show secrets.
    let evs = events(&app, "").await;
    assert_eq!(evs.len(), 2);
    for e in &evs {
        assert_eq!(e.attempt_count, 1, "{e:?}");
        assert_eq!(e.attempts[0].status_code, Some(200), "{e:?}");
        assert_eq!(e.target_url.as_deref(), Some(rx.url().as_str()));
    }
    let (_, eps) = app
        .api(Method::GET, "/api/v1/webhooks/endpoints", None)
        .await;
    assert!(!eps.to_string().contains(&secret), "{eps}");
    let eps: Page<EndpointView> = typed(eps);
    assert_eq!(eps.data[0].url, rx.url());

    // Rotate, then redeliver: the same event id again, signed with the new secret.
    let (status, rotated) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/endpoints/rotate",
            Some(json!({"url": rx.url()})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let rotated: EndpointSecretView = typed(rotated);
    assert_eq!(rotated.url, rx.url());
    let new_secret = rotated.secret;
    assert_ne!(new_secret, secret);
    assert_eq!(secret_of(&app, &rx.url()).await, new_secret);
    let wid: EventId = typed(w["id"].clone());
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/events/{wid}/redeliver"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // Its state may already be `delivered`: the worker was woken.
    assert_eq!(typed::<EventView>(v).id, wid);
    eventually("redelivered", WAIT, || async {
        let e = event(&app, &wid).await;
        (e.state == EventState::Delivered && e.attempt_count == 2).then_some(())
    })
    .await;
    let wid = wid.as_str();
    let again = rx.hits();
    assert_eq!(again.len(), 3);
    assert_eq!(again[2].event_id(), wid);
    assert_eq!(
        again[2].body,
        hits.iter().find(|h| h.event_id() == wid).unwrap().body
    );
    assert!(again[2].signed_with(&new_secret));
    assert!(!again[2].signed_with(&secret));

    let (status, v) = app.api(Method::GET, "/api/v1/events/evt_nope", None).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = app.api(Method::GET, "/api/v1/events?type=nope", None).await;
    assert_eq!(status, 400, "{v}");
    app.stop(true).await;
    rx.stop().await;
}

async fn fails_three_times_then_delivered_on_the_fourth(db: TestDb) {
    let fake = FakeLnd::start().await;
    let port = free_port();
    let app = start_app(&db, &fake, None).await;
    let link = app
        .create_withdraw(json!({"min_msat": 10_000, "max_msat": 10_000,
            "webhook_url": hook_url(port)}))
        .await;
    withdraw_once(&app, &link, 10_000).await;

    // 1st attempt: nothing listens on the port.
    let ev = eventually("first attempt refused", WAIT, || async {
        events(&app, "?type=withdraw.succeeded")
            .await
            .into_iter()
            .find(|e| e.attempt_count == 1)
    })
    .await;
    let id = ev.id;
    // 2nd: HTTP 500; 3rd: no answer within timeout_secs = 1; 4th: 200.
    let rx = Receiver::start_at(
        port,
        &[Reply::Status(500), Reply::Hang(Duration::from_secs(4))],
    )
    .await;
    let secret = secret_of(&app, &rx.url()).await;
    let done = eventually("delivered on the 4th attempt", WAIT, || async {
        let e = event(&app, &id).await;
        (e.state == EventState::Delivered).then_some(e)
    })
    .await;
    assert_eq!(done.attempt_count, 4, "{done:?}");
    let a = &done.attempts;
    assert_eq!(a.len(), 4, "{done:?}");
    let err = |i: usize| a[i].error.as_deref().unwrap_or("").to_ascii_lowercase();
    assert!(a[0].status_code.is_none());
    assert!(err(0).contains("refused"), "{done:?}");
    assert_eq!(a[1].status_code, Some(500));
    assert_eq!(a[1].error.as_deref(), Some("HTTP 500"));
    assert!(a[2].status_code.is_none());
    assert!(err(2).contains("timed out"), "{done:?}");
    assert_eq!(a[3].status_code, Some(200));
    assert!(a[3].error.is_none());
    for (n, att) in (1..).zip(a) {
        assert_eq!(att.attempt, n);
        assert_eq!(att.url, hook_url(port));
    }
    let id = id.as_str();
    // The receiver saw attempts 2-4 (same event, same body) and answered 2xx once.
    let hits = rx.hits();
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits
        .iter()
        .all(|h| h.event_id() == id && h.signed_with(&secret)));
    assert!(hits.windows(2).all(|w| w[0].body == w[1].body));
    assert_eq!(rx.delivered().get(id), Some(&1));
    app.stop(true).await;
    rx.stop().await;
}

async fn crash_before_delivery_is_delivered_after_restart(db: TestDb) {
    let fake = FakeLnd::start().await;
    let port = free_port();
    // The global URL (the link has none).
    let app = start_app(&db, &fake, Some(hook_url(port))).await;
    let link = app
        .create_withdraw(json!({"min_msat": 3_000, "max_msat": 3_000}))
        .await;
    withdraw_once(&app, &link, 3_000).await;
    let ev = eventually("event written, receiver down", WAIT, || async {
        events(&app, "")
            .await
            .into_iter()
            .find(|e| e.state == EventState::Pending && e.attempt_count >= 1)
    })
    .await;
    let id = ev.id;
    assert_eq!(ev.target_url, Some(hook_url(port)));
    app.stop(false).await;

    let rx = Receiver::start_at(port, &[]).await;
    let app2 = start_app(&db, &fake, Some(hook_url(port))).await;
    let secret = secret_of(&app2, &rx.url()).await;
    eventually("delivered after the restart", WAIT, || async {
        (event(&app2, &id).await.state == EventState::Delivered).then_some(())
    })
    .await;
    assert_eq!(rx.delivered().get(id.as_str()), Some(&1));
    let hits = rx.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].signed_with(&secret));
    assert_eq!(hits[0].json()["data"]["withdraw_link_id"], link["id"]);
    app2.stop(true).await;
    rx.stop().await;
}

async fn two_instances_deliver_each_event_once(db: TestDb) {
    let fake = FakeLnd::start().await;
    let rx = Receiver::start(&[]).await;
    let a = start_app(&db, &fake, Some(rx.url())).await;
    let b = start_app(&db, &fake, Some(rx.url())).await;
    let link = a
        .create_withdraw(json!({"min_msat": 1_000, "max_msat": 1_000, "uses": 4}))
        .await;
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        withdraw_once(app, &link, 1_000).await;
    }
    let plink = create_pay(
        &a,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "x"}),
    )
    .await;
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        let h = invoice_for(app, &fake, &plink, &format!("amount={}", 1_000 + i)).await;
        fake.settle_invoice(h);
    }
    let ids: Vec<EventId> = eventually("8 events delivered", WAIT, || async {
        let evs = events(&b, "?state=delivered").await;
        (evs.len() == 8).then(|| evs.into_iter().map(|e| e.id).collect())
    })
    .await;
    let delivered = rx.delivered();
    assert_eq!(delivered.len(), 8, "{delivered:?}");
    for id in &ids {
        assert_eq!(delivered.get(id.as_str()), Some(&1), "{id} delivered once");
    }
    assert_eq!(rx.hits().len(), 8, "no extra requests");
    let all = events(&a, "").await;
    assert_eq!(all.len(), 8, "no event written twice");
    assert!(all.iter().all(|e| e.attempt_count == 1));
    a.stop(true).await;
    b.stop(true).await;
    rx.stop().await;
}

/// Creates a withdraw and a pay link with `url` as webhook target:
/// (withdraw status, body, pay status, body).
async fn try_both(app: &TestApp, url: &str) -> (u16, Value, u16, Value) {
    let (ws, wv) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links",
            Some(json!({"min_msat": 1_000, "max_msat": 1_000, "webhook_url": url})),
        )
        .await;
    let (ps, pv) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(
                json!({"min_msat": 1_000, "max_msat": 1_000, "description": "x",
                        "webhook_url": url}),
            ),
        )
        .await;
    (ws.as_u16(), wv, ps.as_u16(), pv)
}

async fn forbidden_targets_are_refused_at_creation(db: TestDb) {
    let fake = FakeLnd::start().await;
    let strict = TestApp::start(&db, Node::Lnd(&fake)).await;
    let lax = start_app(&db, &fake, None).await;
    let never = [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.20/hook",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "ftp://example.com/hook",
    ];
    let private = [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.10/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
    ];
    for url in never.iter().chain(private.iter()) {
        let (ws, wv, ps, pv) = try_both(&strict, url).await;
        assert_eq!(ws, 400, "{url}: {wv}");
        assert_eq!(ps, 400, "{url}: {pv}");
        assert_eq!(wv["error"]["code"], "invalid_request");
        assert!(
            wv["error"]["message"]
                .as_str()
                .unwrap()
                .contains("webhook_url"),
            "{wv}"
        );
        let (s, v) = strict
            .api(
                Method::POST,
                "/api/v1/webhooks/endpoints/secret",
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(s, 400, "{url}: {v}");
    }
    for url in never {
        let (ws, wv, ps, pv) = try_both(&lax, url).await;
        assert_eq!(
            ws, 400,
            "{url} refused even with allow_private_targets: {wv}"
        );
        assert_eq!(ps, 400, "{url}: {pv}");
    }
    for url in private {
        let (ws, wv, ps, pv) = try_both(&lax, url).await;
        assert_eq!(ws, 201, "{url} allowed with allow_private_targets: {wv}");
        assert_eq!(ps, 201, "{url}: {pv}");
    }
    // A pay link cannot be patched to a forbidden target either.
    let ok = create_pay(
        &strict,
        json!({"min_msat": 1_000, "max_msat": 1_000, "description": "x",
               "webhook_url": "https://hooks.example.com/lnurld"}),
    )
    .await;
    let (s, v) = strict
        .api(
            Method::PATCH,
            &format!("/api/v1/pay-links/{}", ok["id"].as_str().unwrap()),
            Some(json!({"webhook_url": "http://169.254.169.254/"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // And the global URL is checked before the server starts.
    let mut c = crate::support::app::test_config(&db, Node::Dev, 1);
    c.webhooks.url = Some("http://169.254.169.254/".into());
    c.webhooks.allow_private_targets = true;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("webhooks.url"), "{e}");
    strict.stop(true).await;
    lax.stop(true).await;
}

/// The special-purpose and IPv4-in-IPv6 targets of issue 10, each refused
/// with a 400 naming what the address is, and no link written. Only the
/// admin API is called: nothing is ever sent to these addresses.
async fn special_purpose_targets_are_refused_with_a_clear_400(db: TestDb) {
    let fake = FakeLnd::start().await;
    let strict = TestApp::start(&db, Node::Lnd(&fake)).await;
    let lax = start_app(&db, &fake, None).await;
    // (url, words in the message, refused even with allow_private_targets)
    let cases = [
        ("http://198.18.0.1/hook", "benchmarking", false),
        ("http://192.0.0.170/hook", "IETF protocol assignment", true),
        ("http://240.0.0.1/hook", "reserved", true),
        ("http://[fec0::1]/hook", "site-local", false),
        (
            "http://[::127.0.0.1]/hook",
            "IPv4-compatible address of 127.0.0.1",
            false,
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/hook",
            "NAT64 address of 169.254.169.254",
            true,
        ),
        (
            "http://[64:ff9b::7f00:1]/hook",
            "NAT64 address of 127.0.0.1",
            false,
        ),
        (
            "http://[2002:a9fe:a9fe::1]/hook",
            "6to4 address of 169.254.169.254",
            true,
        ),
    ];
    for (url, words, never) in cases {
        let (ws, wv, ps, pv) = try_both(&strict, url).await;
        for (status, body) in [(ws, &wv), (ps, &pv)] {
            assert_eq!(status, 400, "{url}: {body}");
            assert_eq!(body["error"]["code"], "invalid_request", "{body}");
            let msg = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains("webhook_url") && msg.contains(words),
                "{url}: {msg}"
            );
        }
        let (s, v) = strict
            .api(
                Method::POST,
                "/api/v1/webhooks/endpoints/secret",
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(s, 400, "{url}: {v}");
        if never {
            let (ws, wv, ps, pv) = try_both(&lax, url).await;
            assert_eq!((ws, ps), (400, 400), "{url}: {wv} {pv}");
            let msg = wv["error"]["message"].as_str().unwrap_or_default();
            assert!(msg.contains("never allowed"), "{url}: {msg}");
        }
    }
    for path in ["/api/v1/withdraw-links", "/api/v1/pay-links"] {
        let (s, v) = strict.api(Method::GET, path, None).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(0), "{path}: {v}");
    }
    strict.stop(true).await;
    lax.stop(true).await;
}

async fn expired_invoices_emit_an_event(db: TestDb) {
    use lnurld::db::schema::pay_invoices::dsl as i;
    let fake = FakeLnd::start().await;
    let rx = Receiver::start(&[]).await;
    let app = start_app(&db, &fake, Some(rx.url())).await;
    let plink = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "x"}),
    )
    .await;
    let hash = invoice_for(&app, &fake, &plink, "amount=5000")
        .await
        .to_hex();
    let keep = invoice_for(&app, &fake, &plink, "amount=6000")
        .await
        .to_hex();
    // Let the first one run out (as if an hour had passed), through a
    // connection of our own: the app's database is not ours to reach into.
    let h = hash.clone();
    let pool = db.pool().await;
    pool.run(move |c| {
        diesel::update(i::pay_invoices.filter(i::payment_hash.eq(h)))
            .set(i::expires_at.eq(lnurld::db::now_unix() - 10))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    let ev = eventually("invoice.expired delivered", WAIT, || async {
        events(&app, "?type=invoice.expired&state=delivered")
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(ev.payload["data"]["payment_hash"], hash);
    assert_eq!(ev.payload["data"]["state"], "expired");
    let hits = rx.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].json()["data"]["payment_hash"], hash);
    assert!(
        events(&app, "").await.len() == 1,
        "the open invoice {keep} is untouched"
    );
    app.stop(true).await;
    rx.stop().await;
}
