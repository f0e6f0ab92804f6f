//! Pages and QR images for people: the withdraw, pay, address and voucher
//! sheet pages, their security headers, QR codes that decode (with rqrr) to
//! the exact LNURL of their link, the live withdraw state, and a headless
//! Chromium run of the withdraw page.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lnurl::api::LnUrlResponse;
use lnurl::Response;
use lnurld::db::types::BatchId;
use lnurld::service::pay::PayLinkView;
use lnurld::service::withdraw::LinkView;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FakeLnd, PayBehavior};
use crate::support::wallet::{wallet_invoice, withdraw_request};

const WAIT: Duration = Duration::from_secs(20);

const CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'self'; \
script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

both_dbs!(
    withdraw_page_qr_and_live_state,
    withdraw_states_multi_use_and_disabled,
    pay_page,
    address_page,
    voucher_sheet,
);

// ---- helpers ---------------------------------------------------------------

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn get(app: &TestApp, path_or_url: &str) -> Got {
    get_with(app, path_or_url, None).await
}

async fn get_with(app: &TestApp, path_or_url: &str, bearer: Option<&str>) -> Got {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_owned()
    } else {
        app.url(path_or_url)
    };
    let mut rb = app.http.get(&url);
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let res = rb.send().await.expect("request");
    Got {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.bytes().await.expect("body").to_vec(),
    }
}

/// The headers every page, QR image and static file must carry.
fn assert_security_headers(g: &Got, what: &str) {
    assert_eq!(g.header("content-security-policy"), CSP, "{what}: CSP");
    assert_eq!(g.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(g.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(g.header("x-frame-options"), "DENY", "{what}");
}

/// Security headers plus "never stored by any cache".
fn assert_private(g: &Got, what: &str) {
    assert_security_headers(g, what);
    let cc = g.header("cache-control");
    assert!(cc.contains("no-store"), "{what}: cache-control {cc:?}");
    assert!(!cc.contains("public"), "{what}: cache-control {cc:?}");
}

/// An HTML page: status, type, headers, and the basics of an accessible page
/// that needs no inline script or style.
fn assert_html_page(g: &Got, status: StatusCode, what: &str) -> String {
    assert_eq!(
        g.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&g.body)
    );
    assert_eq!(g.content_type(), "text/html; charset=utf-8", "{what}");
    assert_private(g, what);
    let body = g.text();
    assert!(body.starts_with("<!DOCTYPE html>"), "{what}");
    assert!(body.contains(r#"<html lang="en">"#), "{what}: lang");
    assert!(body.contains("<title>"), "{what}: title");
    assert!(
        body.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#),
        "{what}: mobile viewport"
    );
    assert!(!body.contains("<script>"), "{what}: no inline script");
    assert!(!body.contains(" style="), "{what}: no inline style");
    assert!(!body.contains(" onclick="), "{what}: no inline handlers");
    body
}

/// Decodes the one QR code in a PNG.
fn decode_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the image");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    content
}

/// GETs a QR PNG, checks its headers and size, and decodes it.
async fn qr_png(app: &TestApp, path: &str) -> String {
    let g = get(app, path).await;
    assert_eq!(g.status, 200, "{path}");
    assert_eq!(g.content_type(), "image/png", "{path}");
    assert_private(&g, path);
    let img = image::load_from_memory(&g.body).expect("png");
    assert!(
        img.width() >= 300 && img.height() >= 300,
        "{path}: big enough to scan"
    );
    decode_qr(&g.body)
}

async fn qr_svg_ok(app: &TestApp, path: &str) {
    let g = get(app, path).await;
    assert_eq!(g.status, 200, "{path}");
    assert_eq!(g.content_type(), "image/svg+xml", "{path}");
    assert_private(&g, path);
    assert!(g.text().contains("<svg"), "{path}");
}

/// The value of the first `attr="…"` after `marker` in `html`.
fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in page"));
    let rest = &html[at..];
    let key = format!("{attr}=\"");
    let start = rest.find(&key).expect("attribute") + key.len();
    let end = rest[start..].find('"').expect("closing quote");
    rest[start..start + end].to_owned()
}

/// A wallet withdraws `amount_msat` from the link; returns the payment hash.
async fn withdraw(app: &TestApp, lnurl_str: &str, amount_msat: u64) -> lnurld::node::PaymentHash {
    let w = withdraw_request(app, lnurl_str).await;
    let (pr, hash) = wallet_invoice(amount_msat);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));
    hash
}

/// `POST /api/v1/withdraw-links`, read as the API's own view.
async fn create_withdraw(app: &TestApp, body: Value) -> LinkView {
    let v = app.create_withdraw(body).await;
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

// The live state stays `Value`: `WithdrawStatus` is written, never read
// (its `label` is a `&'static str`).
async fn status(app: &TestApp, secret: &str) -> Value {
    let (code, v) = app.get_json(&app.url(&format!("/w/{secret}/status"))).await;
    assert_eq!(code, 200, "{v}");
    v
}

async fn wait_status(app: &TestApp, secret: &str, state: &str) -> Value {
    eventually(&format!("withdraw state {state}"), WAIT, || async {
        let v = status(app, secret).await;
        (v["state"] == state).then_some(v)
    })
    .await
}

// ---- withdraw ----------------------------------------------------------------

async fn withdraw_page_qr_and_live_state(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_withdraw(
        &app,
        json!({
            "min_msat": 100_500, "max_msat": 100_500,
            "title": "Coffee <voucher>", "description": "Thanks for coming"
        }),
    )
    .await;
    let secret = link.secret.as_str();
    let lnurl_str = link.lnurl.as_str();
    assert_eq!(link.page_url, app.url(&format!("/w/{secret}")));
    assert_eq!(link.qr_url, app.url(&format!("/qr/w/{secret}.svg")));

    // The page, rendered server-side in the ready state.
    let g = get(&app, &link.page_url).await;
    let page = assert_html_page(&g, StatusCode::OK, "withdraw page");
    assert!(
        page.contains("<title>Coffee &#60;voucher&#62; · Lightning</title>")
            || page.contains("<title>Coffee &lt;voucher&gt; · Lightning</title>"),
        "escaped title: {page}"
    );
    assert!(page.contains("100.5 sats"), "amount in sats");
    assert!(page.contains("100,500 msat"), "fractional amount in msat");
    assert!(page.contains("Thanks for coming"));
    assert!(page.contains(&format!(r#"href="lightning:{lnurl_str}""#)));
    assert!(page.contains(&format!(
        r#"<code id="lnurl" aria-labelledby="lnurl-heading">{lnurl_str}</code>"#
    )));
    assert!(page.contains(r#"data-copy="lnurl""#), "copy button");
    assert!(page.contains(r#"data-state="ready""#));
    assert!(page.contains("Ready to withdraw"));
    assert!(page.contains(&format!(r#"data-status-url="/w/{secret}/status""#)));
    assert!(page.contains(r#"<script src="/static/app.js" defer></script>"#));
    let alt = attr_after(&page, r#"<img id="qr""#, "alt");
    assert!(
        alt.contains("QR code") && alt.contains("100.5 sats"),
        "alt text: {alt}"
    );
    let src = attr_after(&page, r#"<img id="qr""#, "src");
    assert_eq!(src, format!("/qr/w/{secret}.svg"));

    // Its QR images: the SVG the page shows, and the PNG that decodes to
    // exactly the link's LNURL.
    qr_svg_ok(&app, &src).await;
    assert_eq!(
        qr_png(&app, &format!("/qr/w/{secret}.png")).await,
        lnurl_str
    );

    let s = status(&app, secret).await;
    assert_eq!(s["state"], "ready");
    assert_eq!(s["uses_left"], 1);

    // A wallet withdraws; the payment is held in flight: "paying".
    let hash = withdraw(&app, lnurl_str, 100_500).await;
    wait_status(&app, secret, "paying").await;
    let page = get(&app, &format!("/w/{secret}")).await.text();
    assert!(page.contains(r#"data-state="paying""#) && page.contains("paying"));
    // The node reports success: "paid", and the page stops polling.
    eventually("the fake holds the payment", WAIT, || async {
        fake.release(hash).then_some(())
    })
    .await;
    let s = wait_status(&app, secret, "paid").await;
    assert_eq!(s["label"], "Paid");
    assert_eq!(s["uses_left"], 0);
    let g = get(&app, &format!("/w/{secret}")).await;
    let page = assert_html_page(&g, StatusCode::OK, "paid withdraw page");
    assert!(page.contains(r#"data-state="paid""#));
    assert!(
        !page.contains("data-status-url"),
        "final states are not polled"
    );
    // Uppercase secrets (some QR scanners shout) find the same link.
    let upper = secret.to_ascii_uppercase();
    assert_eq!(get(&app, &format!("/w/{upper}")).await.status, 200);

    // Unknown links: a 404 HTML page (same headers), 404 images and status.
    let zeros = "0".repeat(32);
    for path in [
        format!("/w/{zeros}"),
        "/w/not-a-secret".to_owned(),
        "/p/pl_unknown".to_owned(),
        "/u/nobody".to_owned(),
    ] {
        let g = get(&app, &path).await;
        let body = assert_html_page(&g, StatusCode::NOT_FOUND, &path);
        assert!(body.contains("Not found"), "{path}");
    }
    for path in [
        format!("/qr/w/{zeros}.png"),
        format!("/qr/w/{zeros}.svg"),
        format!("/qr/w/{secret}.gif"),
        format!("/qr/w/{secret}"),
        "/qr/p/pl_unknown.png".to_owned(),
        "/qr/u/nobody.svg".to_owned(),
    ] {
        let g = get(&app, &path).await;
        assert_eq!(g.status, 404, "{path}");
        assert_private(&g, &path);
    }
    let g = get(&app, &format!("/w/{zeros}/status")).await;
    assert_eq!(g.status, 404);
    assert_private(&g, "status 404");
    app.stop(true).await;
}

async fn withdraw_states_multi_use_and_disabled(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_withdraw(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000_000, "uses": 2}),
    )
    .await;
    let secret = link.secret.as_str();
    let lnurl_str = link.lnurl.as_str();
    let page = get(&app, &format!("/w/{secret}")).await.text();
    assert!(page.contains("1 – 5,000 sats"), "range");
    assert!(page.contains("<title>Withdraw 1 – 5,000 sats · Lightning</title>"));

    // Multi-use: after one paid withdrawal it is ready again and says so.
    withdraw(&app, lnurl_str, 10_000).await;
    let s = eventually("first use paid", WAIT, || async {
        let v = status(&app, secret).await;
        (v["state"] == "ready" && v["uses_left"] == 1 && v["detail"].as_str()?.contains("was paid"))
            .then_some(v)
    })
    .await;
    assert!(
        s["detail"].as_str().unwrap().contains("1 of 2 uses left"),
        "{s}"
    );
    // The last use: "used up" (not "paid": the link served several people).
    withdraw(&app, lnurl_str, 10_000).await;
    let s = wait_status(&app, secret, "used_up").await;
    assert_eq!(s["uses_left"], 0);

    // Disabled by the operator.
    let other = create_withdraw(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let id = &other.id;
    let (code, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/withdraw-links/{id}"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    let secret = other.secret.as_str();
    assert_eq!(status(&app, secret).await["state"], "disabled");
    let page = get(&app, &format!("/w/{secret}")).await.text();
    assert!(page.contains(r#"data-state="disabled""#) && page.contains("Disabled"));
    app.stop(true).await;
}

// ---- pay links and addresses ------------------------------------------------------

async fn create_pay(app: &TestApp, body: Value) -> PayLinkView {
    let (status, v) = app.api(Method::POST, "/api/v1/pay-links", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    serde_json::from_value(v).expect("a pay link view")
}

async fn pay_page(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Tips for the band",
               "comment_allowed": 100}),
    )
    .await;
    let id = link.id.as_str();
    let lnurl_str = link.lnurl.as_str();
    assert_eq!(link.page_url, app.url(&format!("/p/{id}")));

    let g = get(&app, &link.page_url).await;
    let page = assert_html_page(&g, StatusCode::OK, "pay page");
    assert!(page.contains("Tips for the band"));
    assert!(page.contains("Any amount from 1 to 1,000 sats"));
    assert!(page.contains(&format!(r#"href="lightning:{lnurl_str}""#)));
    assert!(page.contains("up to 100 characters"), "comment hint");
    let src = attr_after(&page, r#"<img id="qr""#, "src");
    assert_eq!(src, format!("/qr/p/{id}.svg"));
    assert!(!attr_after(&page, r#"<img id="qr""#, "alt").is_empty());
    qr_svg_ok(&app, &src).await;
    assert_eq!(qr_png(&app, &format!("/qr/p/{id}.png")).await, lnurl_str);

    // Disabled: wallets are told "unknown pay link", and so is a person.
    let (code, _) = app
        .api(Method::DELETE, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    assert_eq!(code, 200);
    let g = get(&app, &format!("/p/{id}")).await;
    assert_html_page(&g, StatusCode::NOT_FOUND, "disabled pay page");
    app.stop(true).await;
}

async fn address_page(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 2_000_000, "description": "Alice's tips",
               "username": "alice"}),
    )
    .await;
    let g = get(&app, "/u/alice").await;
    let page = assert_html_page(&g, StatusCode::OK, "address page");
    assert!(
        page.contains("<title>alice@127.0.0.1 · Lightning</title>"),
        "{page}"
    );
    assert!(page.contains(r#"<code id="address">alice@127.0.0.1</code>"#));
    assert!(
        page.contains("Alice&#39;s tips") || page.contains("Alice&#x27;s tips"),
        "{page}"
    );
    // The QR is the LNURL of the LUD-16 well-known URL, which a wallet resolves.
    let well_known = app.url("/.well-known/lnurlp/alice");
    let expected = lnurld::lnurl::bech32::encode_upper(&well_known);
    assert!(page.contains(&format!(r#"href="lightning:{expected}""#)));
    let src = attr_after(&page, r#"<img id="qr""#, "src");
    assert_eq!(src, "/qr/u/alice.svg");
    qr_svg_ok(&app, &src).await;
    let decoded = qr_png(&app, "/qr/u/alice.png").await;
    assert_eq!(decoded, expected);
    let url = lnurl::lnurl::LnUrl::decode(decoded).expect("LNURL").url;
    assert_eq!(url, well_known);
    match app.wallet().make_request(&url).await.expect("payRequest") {
        LnUrlResponse::LnUrlPayResponse(p) => assert_eq!(p.max_sendable, 2_000_000),
        other => panic!("expected a payRequest, got {other:?}"),
    }
    // Case-insensitive like the address itself; unknown names are 404.
    assert_eq!(get(&app, "/u/Alice").await.status, 200);
    assert_eq!(get(&app, "/qr/u/bob.png").await.status, 404);
    app.stop(true).await;
}

// ---- voucher sheets ----------------------------------------------------------------

/// Every `data:image/png;base64,…` image of a page, decoded to PNG bytes.
fn data_uri_pngs(html: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    const PREFIX: &str = r#"src="data:image/png;base64,"#;
    html.match_indices(PREFIX)
        .map(|(at, _)| {
            let rest = &html[at + PREFIX.len()..];
            let b64 = &rest[..rest.find('"').expect("closing quote")];
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64 PNG")
        })
        .collect()
}

async fn voucher_sheet(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (code, batch) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links/batch",
            Some(json!({"count": 3, "min_msat": 21_000, "max_msat": 21_000, "title": "Meetup"})),
        )
        .await;
    assert_eq!(code, 201, "{batch}");
    let batch_id = batch["batch_id"].as_str().unwrap();
    let links = batch["links"].as_array().unwrap();
    let lnurls: HashSet<String> = links
        .iter()
        .map(|l| l["lnurl"].as_str().unwrap().to_owned())
        .collect();
    let secrets: Vec<&str> = links
        .iter()
        .map(|l| l["secret"].as_str().unwrap())
        .collect();
    let sheet_path = format!("/vouchers/{batch_id}");
    let leaks = |body: &str| {
        secrets.iter().any(|s| body.contains(s))
            || lnurls.iter().any(|l| body.contains(l.as_str()))
            || body.contains("data:image/png")
    };

    // Refused without a token, with a wrong bearer, a forged, expired or
    // other batch's `t` — and the refusal shows nothing of the batch.
    let g = get(&app, &sheet_path).await;
    let body = assert_html_page(&g, StatusCode::UNAUTHORIZED, "sheet without token");
    assert_eq!(g.header("www-authenticate"), "Bearer");
    assert!(!leaks(&body));
    let g = get_with(&app, &sheet_path, Some("lnurld_not-a-real-token")).await;
    assert!(!leaks(&assert_html_page(
        &g,
        StatusCode::UNAUTHORIZED,
        "wrong bearer"
    )));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let batch = BatchId::from_raw(batch_id);
    let expired = app.svc.withdraw().voucher_sheet_token(&batch, now - 5);
    let other_batch = app
        .svc
        .withdraw()
        .voucher_sheet_token(&BatchId::from_raw("wb_other"), now + 600);
    let valid = app.svc.withdraw().voucher_sheet_token(&batch, now + 600);
    let (exp, mac) = valid.split_once('.').unwrap();
    let forged_expiry = format!("{}.{mac}", now + 7200);
    let flipped = format!(
        "{exp}.{}{}",
        &mac[..mac.len() - 1],
        if mac.ends_with('0') { "1" } else { "0" }
    );
    for t in [
        "",
        "garbage",
        "1.2",
        expired.as_str(),
        other_batch.as_str(),
        forged_expiry.as_str(),
        flipped.as_str(),
    ] {
        let g = get(&app, &format!("{sheet_path}?t={t}")).await;
        let body = assert_html_page(&g, StatusCode::FORBIDDEN, &format!("t={t}"));
        assert!(!leaks(&body), "t={t}");
    }

    // The admin API signs a short-lived URL.
    let url_path = format!("/api/v1/withdraw-links/batch/{batch_id}/sheet-url");
    let res = app.http.post(app.url(&url_path)).send().await.unwrap();
    assert_eq!(res.status(), 401, "the sheet URL needs the admin token");
    let (code, _) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links/batch/wb_nope/sheet-url",
            None,
        )
        .await;
    assert_eq!(code, 404);
    let (code, _) = app
        .api(Method::POST, &url_path, Some(json!({"ttl_seconds": 0})))
        .await;
    assert_eq!(code, 400);
    let (code, signed) = app
        .api(Method::POST, &url_path, Some(json!({"ttl_seconds": 600})))
        .await;
    assert_eq!(code, 201, "{signed}");
    let url = signed["url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.url(&format!("{sheet_path}?t="))),
        "{url}"
    );
    assert!(signed["expires_at"].as_str().unwrap().ends_with('Z'));
    let (code, default_ttl) = app.api(Method::POST, &url_path, None).await;
    assert_eq!(code, 201, "{default_ttl}");

    // With it: one decodable QR per voucher, exactly the batch's LNURLs.
    let g = get(&app, url).await;
    let page = assert_html_page(&g, StatusCode::OK, "voucher sheet");
    assert!(page.contains("Meetup") && page.contains("21 sats"));
    assert!(page.contains(r#"<link rel="stylesheet" href="/static/style.css">"#));
    assert_eq!(page.matches(r#"class="voucher""#).count(), 3);
    let decoded: HashSet<String> = data_uri_pngs(&page).iter().map(|p| decode_qr(p)).collect();
    assert_eq!(decoded, lnurls);
    // The bearer token works too (for scripts).
    let g = get_with(&app, &sheet_path, Some(&app.token)).await;
    assert_eq!(
        data_uri_pngs(&assert_html_page(&g, StatusCode::OK, "bearer sheet")).len(),
        3
    );

    // A used voucher is left off a reprint.
    let first = links[0]["lnurl"].as_str().unwrap();
    withdraw(&app, first, 21_000).await;
    let page = eventually("the used voucher is left off", WAIT, || async {
        let page = get(&app, url).await.text();
        (data_uri_pngs(&page).len() == 2).then_some(page)
    })
    .await;
    assert!(page.contains("1 already used"), "says what was left off");
    let decoded: HashSet<String> = data_uri_pngs(&page).iter().map(|p| decode_qr(p)).collect();
    assert!(!decoded.contains(first));
    // Unknown batch, even with a valid signature for it: 404.
    let t = app
        .svc
        .withdraw()
        .voucher_sheet_token(&BatchId::from_raw("wb_nope"), now + 600);
    let g = get(&app, &format!("/vouchers/wb_nope?t={t}")).await;
    assert_html_page(&g, StatusCode::NOT_FOUND, "unknown batch");
    app.stop(true).await;
}

// ---- static files ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files() {
    let db = TestDb::sqlite();
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    for (file, content_type, needle) in [
        ("style.css", "text/css; charset=utf-8", "@page"),
        (
            "app.js",
            "text/javascript; charset=utf-8",
            "data-status-url",
        ),
        ("icon.svg", "image/svg+xml", "<svg"),
    ] {
        let g = get(&app, &format!("/static/{file}")).await;
        assert_eq!(g.status, 200, "{file}");
        assert_eq!(g.content_type(), content_type, "{file}");
        assert_security_headers(&g, file);
        assert!(g.text().contains(needle), "{file}");
    }
    let g = get(&app, "/static/../Cargo.toml").await;
    assert_eq!(g.status, 404);
    let g = get(&app, "/static/nope.css").await;
    assert_html_page(&g, StatusCode::NOT_FOUND, "unknown static file");
    app.stop(true).await;
}

// ---- the withdraw page in a real browser -----------------------------------------------

/// Headless Chromium driven over chromedriver's W3C WebDriver HTTP API.
struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver on a free port and opens a session, or `None`
    /// (after a loud message) when Chromium is not installed outside CI.
    async fn start() -> Option<Browser> {
        let chromium = env_path("LNURLD_TEST_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = env_path("LNURLD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        if !chromium.exists() || !chromedriver.exists() {
            let msg = format!(
                "chromium ({}) or chromedriver ({}) is not installed \
                 (Debian: apt-get install chromium chromium-driver)",
                chromium.display(),
                chromedriver.display()
            );
            if std::env::var_os("CI").is_some() {
                panic!("CI is set: the browser test must run, but {msg}");
            }
            eprintln!("\n**********\n*** SKIPPED: chromium not installed: {msg}\n**********\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            _profile: profile,
        };
        eventually("chromedriver ready", WAIT, || async {
            let r = b.http.get(format!("{}/status", b.base)).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", b._profile.path().display()),
                    "--window-size=412,915",
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = b.call(Method::POST, "/session", Some(caps)).await;
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Some(b)
    }

    /// One WebDriver command; returns its `value`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("webdriver request");
        let status = res.status();
        let v: Value = res.json().await.expect("webdriver JSON");
        assert!(status.is_success(), "webdriver {path}: {status} {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    async fn goto(&self, url: &str) {
        self.call(Method::POST, &self.s("/url"), Some(json!({"url": url})))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                Method::POST,
                &self.s("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT_KEY].as_str().expect("element id").to_owned()
    }

    async fn text(&self, element: &str) -> String {
        self.call(
            Method::GET,
            &self.s(&format!("/element/{element}/text")),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            Method::POST,
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.call(Method::GET, &self.s("/screenshot"), None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("base64");
        image::load_from_memory(&png).expect("screenshot is a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Console messages (chromedriver's legacy log endpoint; empty when the
    /// driver does not offer it).
    async fn console(&self) -> Vec<String> {
        let res = self
            .http
            .post(format!("{}{}", self.base, self.s("/se/log")))
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        let Ok(res) = res else { return vec![] };
        let v: Value = res.json().await.unwrap_or_default();
        v["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdraw_page_in_headless_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::sqlite();
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_withdraw(
        &app,
        json!({
            "min_msat": 21_000, "max_msat": 21_000,
            "title": "Welcome gift", "description": "21 sats to try Lightning"
        }),
    )
    .await;
    let lnurl_str = link.lnurl.as_str();
    browser.goto(&link.page_url).await;

    // The QR is displayed, loaded and has a real size.
    let qr = browser.element("#qr").await;
    let shown = browser
        .call(
            Method::GET,
            &browser.s(&format!("/element/{qr}/displayed")),
            None,
        )
        .await;
    assert_eq!(shown, true, "the QR image is displayed");
    let rect = browser
        .call(
            Method::GET,
            &browser.s(&format!("/element/{qr}/rect")),
            None,
        )
        .await;
    assert!(rect["width"].as_f64().unwrap() >= 200.0, "QR rect {rect}");
    assert!(rect["height"].as_f64().unwrap() >= 200.0, "QR rect {rect}");
    let loaded = browser
        .script("var i = document.getElementById('qr'); return i.complete && i.naturalWidth > 0;")
        .await;
    assert_eq!(loaded, true, "the QR image loaded (CSP allows it)");
    // The stylesheet applied (CSP allows it): the copy button was revealed by
    // app.js, which also proves the script ran.
    let copy = browser.element(r#"button[data-copy="lnurl"]"#).await;
    let copy_shown = browser
        .call(
            Method::GET,
            &browser.s(&format!("/element/{copy}/displayed")),
            None,
        )
        .await;
    assert_eq!(copy_shown, true, "app.js ran and revealed the copy button");

    let state = browser.element("#state").await;
    let text = browser.text(&state).await;
    assert!(text.to_lowercase().contains("ready"), "state text {text:?}");
    // Every run checks a screenshot can be taken (into target/); the copy
    // in the repository, shown by the README, is refreshed on request only,
    // so running the tests leaves the work tree clean.
    let shot_dir = if std::env::var_os("LNURLD_UPDATE_SCREENSHOT").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
    };
    browser
        .screenshot(&shot_dir.join("withdraw-page.png"))
        .await;

    // A wallet withdraws; the page follows by itself: paying, then paid.
    let hash = withdraw(&app, lnurl_str, 21_000).await;
    eventually("page says paying", WAIT, || async {
        let t = browser.text(&state).await;
        t.to_lowercase().contains("paying").then_some(())
    })
    .await;
    assert!(fake.release(hash), "payment was held in flight");
    eventually("page says paid", WAIT, || async {
        let t = browser.text(&state).await;
        (t == "Paid").then_some(())
    })
    .await;
    let data_state = browser
        .script("return document.getElementById('withdraw').getAttribute('data-state');")
        .await;
    assert_eq!(data_state, "paid");

    let console = browser.console().await;
    assert!(
        !console
            .iter()
            .any(|m| m.contains("Content Security Policy") || m.contains("Refused to")),
        "no CSP violations: {console:?}"
    );
    browser.quit().await;
    app.stop(true).await;
}
