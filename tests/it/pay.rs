//! LNURL-pay and Lightning Addresses end to end: lnurl-rs as the wallet, the
//! `lnd` backend against the fake LND, on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use lnurl::api::LnUrlResponse;
use lnurl::pay::PayResponse;
use lnurld::db::types::{InvoiceStatus, PayLinkStatus};
use lnurld::service::pay::{PayInvoiceView, PayLinkView};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;

const WAIT: Duration = Duration::from_secs(20);

both_dbs!(
    address_and_pay_link_invoices_commit_to_the_metadata,
    comments_and_payer_data,
    usernames,
    bad_callbacks_write_nothing,
    settlement_and_verify_across_restarts,
    success_actions,
    concurrent_callbacks_get_distinct_invoices,
    admin_listing_patch_and_disable,
    private_invoices_carry_the_nodes_route_hints,
);

/// A listing of the admin API.
#[derive(Debug, Deserialize)]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

/// `v` as the API's own type `T`.
fn typed<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

pub(crate) async fn create_pay(app: &TestApp, body: Value) -> PayLinkView {
    let (status, v) = app.api(Method::POST, "/api/v1/pay-links", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    typed(v)
}

pub(crate) async fn pay_response(app: &TestApp, url: &str) -> PayResponse {
    match app.wallet().make_request(url).await.expect("payRequest") {
        LnUrlResponse::LnUrlPayResponse(p) => p,
        other => panic!("expected payRequest, got {other:?}"),
    }
}

/// Decodes `pr` and checks it commits to `hashed` and `amount_msat`.
fn assert_invoice(pr: &str, hashed: &str, amount_msat: u64) -> Bolt11Invoice {
    let inv = Bolt11Invoice::from_str(pr).expect("valid bolt11");
    inv.check_signature().expect("signed");
    assert_eq!(inv.currency(), Currency::Regtest);
    assert_eq!(inv.amount_milli_satoshis(), Some(amount_msat));
    let expected: [u8; 32] = Sha256::digest(hashed.as_bytes()).into();
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => {
            assert_eq!(
                h.0.as_ref() as &[u8],
                &expected,
                "h = sha256(metadata as served)"
            )
        }
        other => panic!("invoice must carry a description hash, got {other:?}"),
    }
    inv
}

pub(crate) async fn invoices_of(app: &TestApp, id: &str) -> Vec<PayInvoiceView> {
    let (status, v) = app
        .api(
            Method::GET,
            &format!("/api/v1/pay-links/{id}/invoices?limit=500"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    typed::<Page<PayInvoiceView>>(v).data
}

/// Issue 11: `[node] private_invoices` reaches lnd's AddInvoice `private`,
/// so a node with only private channels hands out invoices with route hints
/// (the fake, like lnd, adds them only when asked). Off by default.
async fn private_invoices_carry_the_nodes_route_hints(db: TestDb) {
    use crate::support::fake_lnd::PRIVATE_CHANNEL_ID;
    let fake = FakeLnd::start().await;
    let plain = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &plain,
        json!({"min_msat": 1_000, "max_msat": 10_000, "description": "Tips"}),
    )
    .await;
    let url = lnurl::lnurl::LnUrl::decode(link.lnurl.clone()).unwrap().url;
    let pay = pay_response(&plain, &url).await;
    let inv = plain
        .wallet()
        .get_invoice(&pay, 2_000, None, None)
        .await
        .expect("invoice");
    let inv = assert_invoice(inv.invoice(), &pay.metadata, 2_000);
    assert!(inv.route_hints().is_empty(), "no hints unless asked");
    let plain_base = plain.base.clone();
    plain.stop(true).await;

    let private =
        TestApp::start_with(&db, Node::Lnd(&fake), |c| c.node.private_invoices = true).await;
    let pay = pay_response(&private, &url.replace(&plain_base, &private.base)).await;
    let inv = private
        .wallet()
        .get_invoice(&pay, 3_000, None, None)
        .await
        .expect("invoice");
    let inv = assert_invoice(inv.invoice(), &pay.metadata, 3_000);
    let hints = inv.route_hints();
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert_eq!(hints[0].0[0].short_channel_id, PRIVATE_CHANNEL_ID);
    let flags: Vec<bool> = fake.invoices().iter().map(|i| i.private).collect();
    assert_eq!(flags, [false, true]);
    private.stop(true).await;
}

async fn address_and_pay_link_invoices_commit_to_the_metadata(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 10_000_000, "description": "Tips for Alice",
               "long_description": "Line one\nLine two", "username": "alice"}),
    )
    .await;
    assert_eq!(link.lightning_address.as_deref(), Some("alice@127.0.0.1"));

    // Lightning Address: lnurl-rs builds https URLs, so GET the http one it would.
    let addr = lnurl::lightning_address::LightningAddress::from_str("alice@127.0.0.1").unwrap();
    assert!(addr.lnurlp_url().ends_with("/.well-known/lnurlp/alice"));
    let pay = pay_response(&app, &app.url("/.well-known/lnurlp/alice")).await;
    let meta: Value = serde_json::from_str(&pay.metadata).unwrap();
    assert_eq!(meta[0], json!(["text/plain", "Tips for Alice"]));
    assert!(meta
        .as_array()
        .unwrap()
        .contains(&json!(["text/identifier", "alice@127.0.0.1"])));
    assert!(meta
        .as_array()
        .unwrap()
        .contains(&json!(["text/long-desc", "Line one\nLine two"])));
    let inv = app
        .wallet()
        .get_invoice(&pay, 123_456, None, None)
        .await
        .expect("invoice");
    assert_invoice(inv.invoice(), &pay.metadata, 123_456);

    // The bech32 pay link serves the very same metadata string.
    let decoded = lnurl::lnurl::LnUrl::decode(link.lnurl.clone()).unwrap();
    let pay2 = pay_response(&app, &decoded.url).await;
    assert_eq!(
        pay2.metadata, pay.metadata,
        "served byte for byte identically"
    );
    let inv2 = app
        .wallet()
        .get_invoice(&pay2, 1_001, None, None)
        .await
        .expect("invoice");
    assert_invoice(inv2.invoice(), &pay2.metadata, 1_001);

    // The raw body: msat integers, routes empty, disposable false, verify URL.
    let (_, raw) = app.get_json(&format!("{}?amount=5000", pay.callback)).await;
    assert_eq!(raw["routes"], json!([]));
    assert_eq!(raw["disposable"], false);
    assert!(raw["verify"]
        .as_str()
        .unwrap()
        .starts_with(&app.url("/lnurlp/verify/")));
    let res = app
        .http
        .get(app.url("/.well-known/lnurlp/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_eq!(fake.invoices().len(), 3);
    assert_eq!(invoices_of(&app, link.id.as_str()).await.len(), 3);
    app.stop(true).await;
}

async fn comments_and_payer_data(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Shop",
               "comment_allowed": 20,
               "payer_data": {"name": {"mandatory": false}, "email": {"mandatory": true}}}),
    )
    .await;
    let id = link.id.as_str();
    let pay = pay_response(&app, &link.url).await;
    assert_eq!(pay.comment_allowed, Some(20));
    let (_, raw_req) = app.get_json(&link.url).await;
    assert_eq!(raw_req["payerData"]["email"]["mandatory"], true);

    // A comment is not part of the hash; payer data is (LUD-18).
    let payerdata = r#"{"name":"Bob","email":"bob@example.com"}"#;
    let enc: String = url::form_urlencoded::byte_serialize(payerdata.as_bytes()).collect();
    let url = format!(
        "{}?amount=2000&comment=thanks%20a%20lot&payerdata={enc}",
        pay.callback
    );
    let (_, body) = app.get_json(&url).await;
    let pr = body["pr"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert_invoice(pr, &format!("{}{}", pay.metadata, payerdata), 2_000);

    // Mandatory payer data missing → ERROR, nothing written.
    let (_, err) = app.get_json(&format!("{}?amount=2000", pay.callback)).await;
    assert_eq!(err["status"], "ERROR");
    assert!(err["reason"].as_str().unwrap().contains("email"), "{err}");

    let invoices = invoices_of(&app, id).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].comment.as_deref(), Some("thanks a lot"));
    let payer_data = invoices[0].payer_data.as_ref().expect("payer data");
    assert_eq!(payer_data["name"], "Bob");
    assert_eq!(invoices[0].state, InvoiceStatus::Open);

    // Through lnurl-rs with a comment (on a link without payer data).
    let plain = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Tips", "comment_allowed": 50}),
    )
    .await;
    let pay = pay_response(&app, &plain.url).await;
    let inv = app
        .wallet()
        .get_invoice(&pay, 3_000, None, Some("gracias"))
        .await
        .unwrap();
    assert_invoice(inv.invoice(), &pay.metadata, 3_000);
    let invoices = invoices_of(&app, plain.id.as_str()).await;
    assert_eq!(invoices[0].comment.as_deref(), Some("gracias"));
    app.stop(true).await;
}

async fn usernames(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 2_000, "description": "Bob", "username": "Bob.Smith"}),
    )
    .await;
    assert_eq!(
        link.username.as_deref(),
        Some("bob.smith"),
        "stored lowercase"
    );
    for path in ["bob.smith", "BOB.SMITH", "Bob.Smith", "bob.smith+coffee"] {
        let (_, v) = app
            .get_json(&app.url(&format!("/.well-known/lnurlp/{path}")))
            .await;
        assert_eq!(v["tag"], "payRequest", "{path}: {v}");
    }
    let (_, v) = app.get_json(&app.url("/.well-known/lnurlp/nobody")).await;
    assert_eq!(v["status"], "ERROR");
    assert!(
        v["reason"].as_str().unwrap().contains("Unknown user"),
        "{v}"
    );

    for bad in ["bob smith", "bób", "bob/x", "a+b", ""] {
        let (status, v) = app
            .api(
                Method::POST,
                "/api/v1/pay-links",
                Some(json!({"min_msat": 1, "max_msat": 2, "description": "x", "username": bad})),
            )
            .await;
        assert_eq!(status, 400, "{bad:?}: {v}");
    }
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(
                json!({"min_msat": 1, "max_msat": 2, "description": "x", "username": "BOB.smith"}),
            ),
        )
        .await;
    assert_eq!(status, 409, "case-insensitive uniqueness: {v}");
    app.stop(true).await;
}

async fn bad_callbacks_write_nothing(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "x", "comment_allowed": 5}),
    )
    .await;
    let id = link.id.as_str();
    let cb = app.url(&format!("/lnurlp/{id}/callback"));
    for (query, needle) in [
        ("amount=0", "minimum"),
        (
            "amount=999",
            "the amount (0.999 sats) is below the minimum of 1 sat.",
        ),
        (
            "amount=5001",
            "the amount (5.001 sats) is above the maximum of 5 sats.",
        ),
        ("amount=abc", "whole number"),
        ("amount=1500.5", "whole number"),
        ("amount=1e4", "whole number"),
        ("amount=-1000", "whole number"),
        ("amount=340282366920938463463374607431768211456", "maximum"),
        ("", "missing amount"),
        ("amount=2000&comment=toolong", "too long"),
    ] {
        let (status, v) = app.get_json(&format!("{cb}?{query}")).await;
        assert_eq!(status, 200);
        assert_eq!(v["status"], "ERROR", "{query}: {v}");
        let reason = v["reason"].as_str().unwrap();
        assert!(crate::withdraw::is_sentence(reason), "{query}: {reason:?}");
        let reason = reason.to_ascii_lowercase();
        assert!(
            reason.contains(needle),
            "{query}: {reason:?} should mention {needle:?}"
        );
    }
    let (_, v) = app
        .get_json(&app.url("/lnurlp/pl_nonexistent/callback?amount=2000"))
        .await;
    assert_eq!(v["status"], "ERROR");
    let (_, v) = app.get_json(&app.url("/lnurlp/pl_nonexistent")).await;
    assert_eq!(v["status"], "ERROR");
    assert!(invoices_of(&app, id).await.is_empty(), "no invoice row");
    assert!(fake.invoices().is_empty(), "no node call");

    // Comments on a link that takes none.
    let nocomment = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "y"}),
    )
    .await;
    let (_, v) = app
        .get_json(&app.url(&format!(
            "/lnurlp/{}/callback?amount=2000&comment=hi",
            nocomment.id
        )))
        .await;
    assert_eq!(v["status"], "ERROR");
    assert!(fake.invoices().is_empty());

    // Admin API refusals.
    for body in [
        json!({"min_msat": 0, "max_msat": 5, "description": "x"}),
        json!({"min_msat": 10, "max_msat": 5, "description": "x"}),
        json!({"min_msat": 1, "max_msat": 5, "description": ""}),
        json!({"min_msat": 1, "max_msat": 5, "description": "x", "comment_allowed": 100000}),
        json!({"min_msat": 1, "max_msat": 5, "description": "x", "success_action": {"tag": "message", "message": "m".repeat(145)}}),
        json!({"min_msat": 1, "max_msat": 5, "description": "x", "success_action": {"tag": "url", "description": "d", "url": "https://evil.example/x"}}),
        json!({"min_msat": 1, "max_msat": 5, "description": "x", "success_action": {"tag": "bogus"}}),
    ] {
        let (status, v) = app
            .api(Method::POST, "/api/v1/pay-links", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} → {v}");
    }
    app.stop(true).await;
}

async fn settlement_and_verify_across_restarts(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 50_000, "description": "x"}),
    )
    .await;
    let id = link.id.as_str();
    let cb = app.url(&format!("/lnurlp/{id}/callback"));
    let mut verify = Vec::new();
    for amount in [1_000, 2_000, 3_000, 4_000] {
        let (_, v) = app.get_json(&format!("{cb}?amount={amount}")).await;
        verify.push(v["verify"].as_str().unwrap().to_owned());
    }
    let hashes: Vec<_> = fake
        .invoices()
        .iter()
        .map(|i| (i.payment_hash, i.preimage))
        .collect();
    assert_eq!(hashes.len(), 4);

    // Live settlement while running.
    let (_, v) = app.get_json(&verify[0]).await;
    assert_eq!(
        v,
        json!({"status": "OK", "settled": false, "preimage": null, "pr": v["pr"]})
    );
    fake.settle_invoice(hashes[0].0);
    eventually("watcher records the settlement", WAIT, || async {
        let inv = invoices_of(&app, id).await;
        inv.iter()
            .any(|i| i.payment_hash == hashes[0].0.to_hex() && i.state == InvoiceStatus::Settled)
            .then_some(())
    })
    .await;
    let (_, v) = app.get_json(&verify[0]).await;
    assert_eq!(v["settled"], true);
    assert_eq!(v["preimage"], hashes[0].1.to_hex());

    // Settlements while the server is down are caught up on restart.
    app.stop(false).await;
    fake.settle_invoice(hashes[1].0);
    fake.settle_invoice(hashes[2].0);
    let app2 = TestApp::start(&db, Node::Lnd(&fake)).await;
    eventually("caught up after restart", WAIT, || async {
        let inv = invoices_of(&app2, id).await;
        let settled = inv
            .iter()
            .filter(|i| i.state == InvoiceStatus::Settled)
            .count();
        (settled == 3).then_some(())
    })
    .await;
    // And a live one after the restart; nothing counted twice.
    fake.settle_invoice(hashes[3].0);
    eventually("live after restart", WAIT, || async {
        let inv = invoices_of(&app2, id).await;
        inv.iter()
            .all(|i| i.state == InvoiceStatus::Settled)
            .then_some(())
    })
    .await;
    for (i, (hash, pre)) in hashes.iter().enumerate() {
        let (_, v) = app2
            .get_json(&app2.url(&format!("/lnurlp/verify/{}", hash.to_hex())))
            .await;
        assert_eq!(v["settled"], true, "invoice {i}");
        assert_eq!(v["preimage"], pre.to_hex());
    }
    let metrics = app2
        .http
        .get(app2.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lnurld_invoices_settled_total 3"),
        "2 caught up + 1 live on this instance: {metrics}"
    );
    assert_eq!(app2.svc.pay().stored_settle_index().await.unwrap(), 4);
    let (_, v) = app2
        .get_json(&app2.url(&format!("/lnurlp/verify/{}", "ab".repeat(32))))
        .await;
    assert_eq!(v["status"], "ERROR");
    app2.stop(true).await;
}

async fn success_actions(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let message = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "m",
               "success_action": {"tag": "message", "message": "Thank you!"}}),
    )
    .await;
    let url_action = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "u",
               "success_action": {"tag": "url", "description": "Your receipt", "url": "https://127.0.0.1/receipt"}}),
    )
    .await;
    let aes = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "a",
               "success_action": {"tag": "aes", "description": "Your code", "plaintext": "GIFT-1234-XYZ"}}),
    )
    .await;
    let pay = pay_response(&app, &message.url).await;
    let inv = app
        .wallet()
        .get_invoice(&pay, 2_000, None, None)
        .await
        .unwrap();
    let (_, raw) = app.get_json(&format!("{}?amount=2000", pay.callback)).await;
    assert_eq!(
        raw["successAction"],
        json!({"tag": "message", "message": "Thank you!"})
    );
    drop(inv);

    let (_, raw) = app
        .get_json(&format!("{}/callback?amount=2000", url_action.url))
        .await;
    assert_eq!(
        raw["successAction"],
        json!({"tag": "url", "description": "Your receipt", "url": "https://127.0.0.1/receipt"})
    );

    let (_, raw) = app
        .get_json(&format!("{}/callback?amount=2000", aes.url))
        .await;
    let sa = &raw["successAction"];
    assert_eq!(sa["tag"], "aes");
    assert_eq!(sa["iv"].as_str().unwrap().len(), 24);
    let pr = raw["pr"].as_str().unwrap();
    // The preimage the node holds for this invoice decrypts the text.
    let held = fake
        .invoices()
        .into_iter()
        .find(|i| i.bolt11 == pr)
        .expect("node invoice");
    let plain = lnurld::lnurl::aes::decrypt(
        &held.preimage.0,
        sa["ciphertext"].as_str().unwrap(),
        sa["iv"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(plain, "GIFT-1234-XYZ");
    // Each invoice gets its own preimage and IV.
    let (_, raw2) = app
        .get_json(&format!("{}/callback?amount=2000", aes.url))
        .await;
    assert_ne!(raw2["successAction"]["ciphertext"], sa["ciphertext"]);
    app.stop(true).await;
}

async fn concurrent_callbacks_get_distinct_invoices(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Carol", "username": "carol"}),
    )
    .await;
    let pay = pay_response(&app, &app.url("/.well-known/lnurlp/carol")).await;
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let pay = pay.clone();
        let wallet = app.wallet();
        tasks.push(tokio::spawn(async move {
            let amount = 1_000 + i;
            let inv = wallet
                .get_invoice(&pay, amount, None, None)
                .await
                .expect("invoice");
            (inv.invoice().to_owned(), amount)
        }));
    }
    let mut hashes = HashSet::new();
    for t in tasks {
        let (pr, amount) = t.await.unwrap();
        let inv = assert_invoice(&pr, &pay.metadata, amount);
        assert!(hashes.insert(*inv.payment_hash()), "distinct invoices");
    }
    assert_eq!(hashes.len(), 200);
    assert_eq!(fake.invoices().len(), 200);
    app.stop(true).await;
}

async fn admin_listing_patch_and_disable(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "Before", "username": "dave"}),
    )
    .await;
    let id = link.id.as_str();
    let before = pay_response(&app, &app.url("/.well-known/lnurlp/dave")).await;
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/pay-links/{id}"),
            Some(json!({"description": "After", "long_description": null})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let patched: PayLinkView = typed(patched);
    assert_eq!(patched.description, "After");
    assert_eq!(patched.long_description, None);
    let after = pay_response(&app, &app.url("/.well-known/lnurlp/dave")).await;
    assert_ne!(before.metadata, after.metadata, "a new link version");
    assert!(after.metadata.contains("After"));
    let inv = app
        .wallet()
        .get_invoice(&after, 1_000, None, None)
        .await
        .unwrap();
    assert_invoice(inv.invoice(), &after.metadata, 1_000);

    // Pagination of invoices.
    for _ in 0..4 {
        app.wallet()
            .get_invoice(&after, 1_000, None, None)
            .await
            .unwrap();
    }
    let (_, page1) = app
        .api(
            Method::GET,
            &format!("/api/v1/pay-links/{id}/invoices?limit=3"),
            None,
        )
        .await;
    let page1: Page<PayInvoiceView> = typed(page1);
    assert_eq!(page1.data.len(), 3);
    let cursor = page1.next_cursor.expect("a next page");
    let (_, page2) = app
        .api(
            Method::GET,
            &format!("/api/v1/pay-links/{id}/invoices?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    let page2: Page<PayInvoiceView> = typed(page2);
    assert_eq!(page2.data.len(), 2);
    assert_eq!(page2.next_cursor, None);

    let (status, v) = app
        .api(Method::DELETE, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(typed::<PayLinkView>(v).status, PayLinkStatus::Disabled);
    let (_, v) = app.get_json(&app.url("/.well-known/lnurlp/dave")).await;
    assert_eq!(v["status"], "ERROR");
    let (_, v) = app
        .get_json(&format!("{}?amount=1000", after.callback))
        .await;
    assert_eq!(v["status"], "ERROR");
    let (status, list) = app.api(Method::GET, "/api/v1/pay-links", None).await;
    assert_eq!(status, 200);
    assert_eq!(typed::<Page<PayLinkView>>(list).data.len(), 1);
    app.stop(true).await;
}
