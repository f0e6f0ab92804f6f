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

/// [`CSP`] of the pages with an amount form: forms may go to this origin.
const FORM_CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'self'; \
script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

both_dbs!(
    withdraw_page_qr_and_live_state,
    withdraw_states_multi_use_and_disabled,
    pay_page,
    address_page,
    voucher_sheet,
    finished_withdraw_pages_offer_nothing_to_scan,
    waiting_withdraw_page_says_when,
    amount_form_without_javascript,
    address_amount_form,
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

/// The headers every page, QR image and static file must carry (also the
/// rate limiter's 429 page, `limits.rs`).
pub(crate) fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("content-security-policy"), CSP, "{what}: CSP");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
}

/// Security headers plus "never stored by any cache".
fn assert_private(g: &Got, what: &str) {
    assert_security_headers(&g.headers, what);
    let cc = g.header("cache-control");
    assert!(cc.contains("no-store"), "{what}: cache-control {cc:?}");
    assert!(!cc.contains("public"), "{what}: cache-control {cc:?}");
}

/// An HTML page: status, type, headers, and the basics of an accessible page
/// that needs no inline script or style.
fn assert_html_page(g: &Got, status: StatusCode, what: &str) -> String {
    assert_html_page_csp(g, status, what, CSP)
}

/// [`assert_html_page`] of a page with its own policy `csp`.
fn assert_html_page_csp(g: &Got, status: StatusCode, what: &str, csp: &str) -> String {
    assert_eq!(g.header("content-security-policy"), csp, "{what}: CSP");
    assert_eq!(
        g.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&g.body)
    );
    assert_eq!(g.content_type(), "text/html; charset=utf-8", "{what}");
    assert_eq!(g.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(g.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(g.header("x-frame-options"), "DENY", "{what}");
    let cc = g.header("cache-control");
    assert!(
        cc.contains("no-store") && !cc.contains("public"),
        "{what}: {cc:?}"
    );
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
    assert_nothing_to_scan(&page, &[lnurl_str, secret], "paid withdraw page");
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
    let page = assert_html_page_csp(&g, StatusCode::OK, "pay page", FORM_CSP);
    assert!(page.contains("Tips for the band"));
    assert!(page.contains("Any amount from 1 to 1,000 sats"));
    assert!(page.contains(&format!(r#"href="lightning:{lnurl_str}""#)));
    assert!(page.contains("up to 100 characters"), "comment hint");
    let src = attr_after(&page, r#"<img id="qr""#, "src");
    assert_eq!(src, format!("/qr/p/{id}.svg"));
    assert!(!attr_after(&page, r#"<img id="qr""#, "alt").is_empty());
    qr_svg_ok(&app, &src).await;
    assert_eq!(qr_png(&app, &format!("/qr/p/{id}.png")).await, lnurl_str);

    assert!(
        page.contains(&format!(r#"action="/p/{id}/invoice""#)),
        "amount form"
    );

    // Disabled: wallets are told "unknown pay link"; a person sees the
    // state, and nothing to scan, open, copy or pay.
    let (code, _) = app
        .api(Method::DELETE, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    assert_eq!(code, 200);
    let g = get(&app, &format!("/p/{id}")).await;
    let page = assert_html_page_csp(&g, StatusCode::OK, "disabled pay page", FORM_CSP);
    assert!(page.contains(r#"data-state="disabled""#) && page.contains("Disabled"));
    assert!(page.contains("Tips for the band"));
    assert_nothing_to_scan(&page, &[lnurl_str, id], "disabled pay page");
    assert!(!page.contains("<form"), "no amount form");
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
    let page = assert_html_page_csp(&g, StatusCode::OK, "address page", FORM_CSP);
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
    // The default lifetime is 15 minutes, the longest a day.
    let unix = |v: &Value| {
        let at = v["expires_at"].as_str().expect("expires_at");
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
            .unix_timestamp()
    };
    let ttl_of = |v: &Value| unix(v) - now;
    assert!(
        (900..900 + 120).contains(&ttl_of(&default_ttl)),
        "{default_ttl}"
    );
    let (code, longest) = app
        .api(
            Method::POST,
            &url_path,
            Some(json!({"ttl_seconds": 86_400})),
        )
        .await;
    assert_eq!(code, 201, "{longest}");
    assert!(
        (86_400..86_400 + 120).contains(&ttl_of(&longest)),
        "{longest}"
    );
    let (code, _) = app
        .api(
            Method::POST,
            &url_path,
            Some(json!({"ttl_seconds": 86_401})),
        )
        .await;
    assert_eq!(code, 400);

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
        assert_security_headers(&g.headers, file);
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
    // Paid: the script took away the code, the wallet link and the copy button.
    let left = browser
        .script("return document.querySelectorAll('#qr, #lnurl, [data-copy], a[href^=\"lightning:\"]').length;")
        .await;
    assert_eq!(left, 0, "nothing left to scan on the paid page");

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

// ---- finished and waiting links ------------------------------------------------

/// A finished link's page: no QR (not even a dimmed one), no LNURL, no
/// `lightning:` link, no copy button, and none of `secrets` (the LNURL, the
/// link's secret or id: what the QR routes take).
fn assert_nothing_to_scan(page: &str, secrets: &[&str], what: &str) {
    for needle in [
        r#"id="qr""#,
        "/qr/",
        "lightning:",
        "data-copy",
        "Open in a wallet",
        "data:image/png",
        "LNURL",
    ] {
        assert!(!page.contains(needle), "{what}: has {needle:?}: {page}");
    }
    for s in secrets {
        assert!(!page.contains(s), "{what}: has {s:?}");
    }
}

async fn finished_withdraw_pages_offer_nothing_to_scan(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;

    // Used up (multi-use, both uses paid).
    let used = create_withdraw(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "uses": 2}),
    )
    .await;
    for _ in 0..2 {
        withdraw(&app, &used.lnurl, 1_000).await;
        eventually("use paid", WAIT, || async {
            let v = status(&app, &used.secret).await;
            (v["state"] != "paying").then_some(())
        })
        .await;
    }
    wait_status(&app, &used.secret, "used_up").await;

    // Disabled by the operator.
    let disabled = create_withdraw(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let (code, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/withdraw-links/{}", disabled.id),
            None,
        )
        .await;
    assert_eq!(code, 200);

    // Expired: valid for five more seconds, then past its time.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let expired = create_withdraw(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "expires_at": soon}),
    )
    .await;
    // While valid, the page does offer its code (so the checks below can fail).
    let page = get(&app, &format!("/w/{}", expired.secret)).await.text();
    assert!(page.contains(r#"id="qr""#) && page.contains(&expired.lnurl));
    wait_status(&app, &expired.secret, "expired").await;

    for (link, state, label) in [
        (&used, "used_up", "Used up"),
        (&disabled, "disabled", "Disabled"),
        (&expired, "expired", "Expired"),
    ] {
        let g = get(&app, &format!("/w/{}", link.secret)).await;
        let what = format!("{state} withdraw page");
        let page = assert_html_page(&g, StatusCode::OK, &what);
        assert!(page.contains(&format!(r#"data-state="{state}""#)), "{what}");
        assert!(page.contains(label), "{what}: label");
        assert!(!page.contains("data-status-url"), "{what}: not polled");
        assert_nothing_to_scan(&page, &[link.lnurl.as_str(), link.secret.as_str()], &what);
    }
    app.stop(true).await;
}

/// `HH:MM UTC` (today) or `YYYY-MM-DD HH:MM UTC`, as the page words the time
/// a link is available again.
fn clock_text(at: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    let at = at.replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    if at.date() == now.date() {
        format!("{:02}:{:02} UTC", at.hour(), at.minute())
    } else {
        format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
    }
}

async fn waiting_withdraw_page_says_when(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_withdraw(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "uses": 3, "wait_seconds": 3600}),
    )
    .await;
    let before = time::OffsetDateTime::now_utc();
    withdraw(&app, &link.lnurl, 1_000).await;
    let s = wait_status(&app, &link.secret, "waiting").await;
    let after = time::OffsetDateTime::now_utc();
    assert!(s["wait_secs"].as_u64().unwrap() > 3500, "{s}");
    assert_eq!(s["final"], false, "still polled: it becomes ready again");

    // The time the use was claimed plus the wait, rounded up to the minute
    // (+59 s, then cut to the minute): between the two clock readings.
    let up = time::Duration::seconds(3600 + 59);
    let candidates: Vec<String> = [before, after]
        .iter()
        .map(|t| t.replace_nanosecond(0).unwrap() + up)
        .map(|t| format!("Available again at {}", clock_text(t, before)))
        .collect();
    let label = s["label"].as_str().unwrap();
    assert!(
        candidates.iter().any(|c| c == label),
        "{label} vs {candidates:?}"
    );
    let detail = s["detail"].as_str().unwrap();
    assert!(
        detail.contains("possible in 60 minutes") || detail.contains("possible in 59 minutes"),
        "relative hint: {detail}"
    );

    let g = get(&app, &format!("/w/{}", link.secret)).await;
    let page = assert_html_page(&g, StatusCode::OK, "waiting withdraw page");
    assert!(
        page.contains(r#"data-state="waiting""#),
        "not shown as ready"
    );
    assert!(page.contains(label), "the page shows the time: {page}");
    assert!(page.contains("The next withdrawal is possible in "));
    assert!(!page.contains("soon"), "no vague 'soon'");
    assert!(!page.contains("Ready to withdraw"));

    // The wallet is told the same wait.
    let res = app
        .http
        .get(app.url(&format!("/lnurlw/{}", link.secret)))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "ERROR", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("wait"), "{v}");
    app.stop(true).await;
}

// ---- the amount form (wallets without LNURL) ----------------------------------------

/// A client that does not follow redirects (to see the 303 of a form).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs an amount form; returns the answer.
async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Got {
    let res = no_redirects()
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("form POST");
    Got {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.bytes().await.expect("body").to_vec(),
    }
}

/// The text of `<code id="bolt11" …>…</code>` of an invoice page.
fn bolt11_of(page: &str) -> String {
    let at = page
        .find(r#"<code id="bolt11""#)
        .expect("a bolt11 on the page");
    let rest = &page[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</code>").unwrap();
    rest[start..end].to_owned()
}

/// Decodes a BOLT11: amount in msat, description hash, payment hash.
fn decode_bolt11(pr: &str) -> (u64, [u8; 32], lnurld::node::PaymentHash) {
    use bitcoin::hashes::Hash;
    let inv: lightning_invoice::Bolt11Invoice = pr.parse().expect("a BOLT11 invoice");
    let dh = match inv.description() {
        lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) => h.0.to_byte_array(),
        _ => panic!("expected a description hash, not a description"),
    };
    let hash = lnurld::node::PaymentHash(inv.payment_hash().to_byte_array());
    (inv.amount_milli_satoshis().expect("an amount"), dh, hash)
}

/// A form POST that must make an invoice: follows the 303 to its page and
/// checks it. Returns the page's path, the page and the BOLT11.
async fn form_invoice(
    app: &TestApp,
    form_path: &str,
    fields: &[(&str, &str)],
    link_id: &str,
) -> (String, String, String) {
    let g = post_form(app, form_path, fields).await;
    assert_eq!(g.status, StatusCode::SEE_OTHER, "{}", g.text());
    let location = g.header("location").to_owned();
    assert!(
        location.starts_with(&format!("/p/{link_id}/invoice/")),
        "{location}"
    );
    let g = get(app, &location).await;
    let page = assert_html_page(&g, StatusCode::OK, "invoice page");
    let pr = bolt11_of(&page);
    // Its QR is that very invoice (uppercase: the dense alphanumeric mode).
    let qrs = data_uri_pngs(&page);
    assert_eq!(qrs.len(), 1, "one QR");
    assert_eq!(decode_qr(&qrs[0]), pr.to_ascii_uppercase());
    assert!(page.contains(&format!(r#"href="lightning:{pr}""#)));
    assert!(page.contains(r#"data-copy="bolt11""#), "copy button");
    assert!(page.contains("Valid until "), "expiry");
    assert!(
        page.contains(&format!(
            r#"<a id="check" class="button secondary" href="{location}">Check payment</a>"#
        )),
        "a check link for pages without JavaScript"
    );
    (location, page, pr)
}

async fn amount_form_without_javascript(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Tips for the band",
               "comment_allowed": 10}),
    )
    .await;
    let id = link.id.as_str();
    let form_path = format!("/p/{id}/invoice");
    let page = get(&app, &format!("/p/{id}")).await.text();
    assert!(page.contains(&format!(
        r#"<form id="amount-form" class="amount-form" method="post" action="{form_path}">"#
    )));
    assert!(page.contains(r#"name="amount""#) && page.contains(r#"name="comment""#));
    assert!(page.contains(r#"maxlength="10""#));

    // Bad input: the form again, with the input and the reason, as a 4xx.
    for (amount, comment, status, says) in [
        ("", "", 400, "Enter the amount in sats"),
        ("lots", "", 400, "number of sats"),
        ("1,5", "", 400, "number of sats"),
        ("0", "", 400, "from 1 to 1,000 sats"),
        ("1001", "", 400, "from 1 to 1,000 sats"),
        ("0.5", "", 400, "from 1 to 1,000 sats"),
        // The service's own rule (LUD-12), the same as a wallet meets.
        (
            "21",
            "eleven char",
            400,
            "Comment is too long: 11 characters, at most 10",
        ),
        (
            "21",
            "bad\u{0}nul",
            400,
            "Comment must not contain control characters",
        ),
    ] {
        let g = post_form(
            &app,
            &form_path,
            &[("amount", amount), ("comment", comment)],
        )
        .await;
        let what = format!("amount {amount:?} comment {comment:?}");
        let page = assert_html_page_csp(&g, StatusCode::from_u16(status).unwrap(), &what, FORM_CSP);
        let err = page
            .split(r#"<p id="form-error" class="form-error" role="alert">"#)
            .nth(1)
            .unwrap_or_else(|| panic!("{what}: no message: {page}"));
        assert!(
            err.split("</p>").next().unwrap().contains(says),
            "{what}: {err}"
        );
        assert!(
            page.contains(&format!(r#"action="{form_path}""#)),
            "{what}: form again"
        );
        if !amount.is_empty() {
            let escaped = amount.replace(',', "&#44;");
            assert!(
                page.contains(&format!(r#"value="{amount}""#))
                    || page.contains(&format!(r#"value="{escaped}""#)),
                "{what}: keeps the input"
            );
        }
    }
    assert!(fake.invoices().is_empty(), "no invoice for bad input");

    // A good one: a 303 to the invoice's page, which shows it.
    let (location, page, pr) = form_invoice(
        &app,
        &form_path,
        &[("amount", "21.5"), ("comment", "thanks!")],
        id,
    )
    .await;
    assert!(page.contains("21.5 sats"), "amount shown");
    assert!(page.contains("Tips for the band"));
    let (amount_msat, dh, hash) = decode_bolt11(&pr);
    assert_eq!(amount_msat, 21_500);
    assert_eq!(dh, lnurld::lnurl::description_hash(&link.metadata, None));
    // It is the link's invoice, with the comment, as a wallet's would be.
    let (code, list) = app
        .api(
            Method::GET,
            &format!("/api/v1/pay-links/{id}/invoices"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{list}");
    let inv = &list["data"].as_array().unwrap()[0];
    assert_eq!(inv["bolt11"], pr.as_str());
    assert_eq!(inv["comment"], "thanks!");
    assert!(page.contains(&format!(
        r#"data-verify-url="/lnurlp/verify/{}""#,
        inv["payment_hash"].as_str().unwrap()
    )));
    // A GET of the form's target goes back to the form.
    let res = no_redirects()
        .get(app.url(&form_path))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], format!("/p/{id}"));

    // Another link's invoice is not shown under this link's name.
    let other = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "Other"}),
    )
    .await;
    let foreign = location.replace(id, other.id.as_str());
    assert_eq!(get(&app, &foreign).await.status, StatusCode::NOT_FOUND);
    let zeros = "0".repeat(64);
    assert_eq!(
        get(&app, &format!("/p/{id}/invoice/{zeros}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Paid: the page (reloaded, as without JavaScript) says so, and offers
    // nothing to pay any more.
    fake.settle_invoice(hash);
    let page = eventually("the invoice page says paid", WAIT, || async {
        let page = get(&app, &location).await.text();
        page.contains(r#"data-state="paid""#).then_some(page)
    })
    .await;
    assert!(page.contains(">Paid</strong>"), "{page}");
    assert!(!page.contains(&pr), "the paid invoice is not offered again");
    assert!(!page.contains("data:image/png") && !page.contains("lightning:"));
    assert!(!page.contains("data-verify-url"), "no more polling");

    // Disabled: the form is gone, and POSTs are refused.
    app.api(Method::DELETE, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    let g = post_form(&app, &form_path, &[("amount", "21")]).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
    assert_eq!(fake.invoices().len(), 1);
    app.stop(true).await;
}

async fn address_amount_form(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        c.pay.max_open_invoices_per_link = 1;
    })
    .await;
    let link = create_pay(
        &app,
        json!({"min_msat": 5_000, "max_msat": 5_000, "description": "Alice's coffee",
               "username": "alice"}),
    )
    .await;
    let page = get(&app, "/u/alice").await.text();
    assert!(page.contains(r#"action="/u/alice/invoice""#), "{page}");
    // A fixed amount is filled in.
    assert!(page.contains(r#"value="5" readonly"#), "{page}");
    assert!(
        !page.contains(r#"name="comment""#),
        "no comment field without LUD-12"
    );

    let (_, page, pr) = form_invoice(
        &app,
        "/u/Alice/invoice",
        &[("amount", "5")],
        link.id.as_str(),
    )
    .await;
    assert!(page.contains("Pay alice@127.0.0.1"), "{page}");
    let (amount_msat, dh, _) = decode_bolt11(&pr);
    assert_eq!(amount_msat, 5_000);
    // The address's metadata (with its identifier), as LUD-16 wallets hash it.
    assert!(
        link.metadata.contains("text/identifier"),
        "{}",
        link.metadata
    );
    assert_eq!(dh, lnurld::lnurl::description_hash(&link.metadata, None));

    // A comment the link does not take, and the open-invoice cap: the
    // service's rules, refused as on the LNURL route, not as a 5xx.
    let g = post_form(
        &app,
        "/u/alice/invoice",
        &[("amount", "5"), ("comment", "hi")],
    )
    .await;
    let page = assert_html_page_csp(&g, StatusCode::BAD_REQUEST, "comment", FORM_CSP);
    assert!(page.contains("does not accept comments"), "{page}");
    let g = post_form(&app, "/u/alice/invoice", &[("amount", "5")]).await;
    assert!(g.status.is_client_error(), "cap: {}", g.status);
    assert!(
        g.text().contains("too many unpaid invoices"),
        "{}",
        g.text()
    );
    assert_eq!(fake.invoices().len(), 1);
    app.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amount_form_in_headless_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::sqlite();
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "Coffee fund",
               "comment_allowed": 50}),
    )
    .await;
    browser.goto(&link.page_url).await;

    // Fill in the form as a person would, and send it.
    let amount = browser.element("#amount").await;
    browser
        .call(
            Method::POST,
            &browser.s(&format!("/element/{amount}/value")),
            Some(json!({"text": "42"})),
        )
        .await;
    let comment = browser.element("#comment").await;
    browser
        .call(
            Method::POST,
            &browser.s(&format!("/element/{comment}/value")),
            Some(json!({"text": "for the beans"})),
        )
        .await;
    let submit = browser.element("#amount-form button[type=submit]").await;
    browser
        .call(
            Method::POST,
            &browser.s(&format!("/element/{submit}/click")),
            Some(json!({})),
        )
        .await;

    // The invoice page: a QR that loaded, the invoice, its amount.
    let pr = eventually("the invoice page", WAIT, || async {
        let v = browser
            .script("var c = document.getElementById('bolt11'); return c ? c.textContent : null;")
            .await;
        v.as_str().map(str::to_owned)
    })
    .await;
    let (amount_msat, dh, hash) = decode_bolt11(&pr);
    assert_eq!(amount_msat, 42_000);
    assert_eq!(dh, lnurld::lnurl::description_hash(&link.metadata, None));
    let loaded = browser
        .script("var i = document.getElementById('qr'); return i.complete && i.naturalWidth > 0;")
        .await;
    assert_eq!(loaded, true, "the invoice QR loaded (CSP allows it)");
    let copy_shown = browser
        .script("return !document.querySelector('button[data-copy=\"bolt11\"]').hidden;")
        .await;
    assert_eq!(copy_shown, true, "app.js revealed the copy button");
    let state = browser.element("#state").await;
    assert_eq!(browser.text(&state).await, "Waiting for payment");
    let url_before = browser.call(Method::GET, &browser.s("/url"), None).await;
    // Marks this very document: a reload would lose it.
    browser
        .script("window.__notReloaded = true; return true;")
        .await;

    // A wallet pays it; the page notices by itself.
    fake.settle_invoice(hash);
    eventually("page says paid", WAIT, || async {
        (browser.text(&state).await == "Paid").then_some(())
    })
    .await;
    let same_doc = browser
        .script("return window.__notReloaded === true;")
        .await;
    assert_eq!(same_doc, true, "no reload: the script polled verify");
    assert_eq!(
        browser.call(Method::GET, &browser.s("/url"), None).await,
        url_before
    );
    let left = browser
        .script("return document.querySelectorAll('#qr, #bolt11, [data-copy]').length;")
        .await;
    assert_eq!(left, 0, "nothing left to pay on the paid page");
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

/// The printed sheet keeps every cut line inside the 190 mm an A4 page
/// prints (the right-hand one was lost at the page's edge), and a phone
/// shows the sheet without scrolling sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voucher_sheet_in_headless_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::sqlite();
    let app = TestApp::start(&db, Node::Dev).await;
    let (code, batch) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links/batch",
            Some(json!({"count": 8, "min_msat": 21_000, "max_msat": 21_000, "title": "Meetup"})),
        )
        .await;
    assert_eq!(code, 201, "{batch}");
    let url = batch["vouchers_url"].as_str().expect("vouchers_url");

    // The browser's window is a phone's (412 px wide).
    browser.goto(url).await;
    let widths = browser
        .script("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    assert!(
        widths[0].as_f64() <= widths[1].as_f64(),
        "the page is wider than the phone: {widths}"
    );

    // A desktop window lays the sheet out as it prints: two columns.
    browser
        .call(
            Method::POST,
            &browser.s("/window/rect"),
            Some(json!({"width": 1280, "height": 1000})),
        )
        .await;
    let boxes = browser
        .script(
            "const mm = 96 / 25.4;
             const s = document.querySelector('.sheet').getBoundingClientRect();
             return {sheet_mm: s.width / mm, vouchers: [...document.querySelectorAll('.voucher')]
               .map(v => { const r = v.getBoundingClientRect();
                 return [(r.left - s.left) / mm, (s.right - r.right) / mm, r.width / mm]; })};",
        )
        .await;
    let sheet_mm = boxes["sheet_mm"].as_f64().expect("sheet width");
    assert!(sheet_mm <= 190.01, "sheet {sheet_mm} mm: {boxes}");
    let vouchers = boxes["vouchers"].as_array().expect("vouchers");
    assert_eq!(vouchers.len(), 8, "{boxes}");
    let lefts: HashSet<i64> = vouchers
        .iter()
        .map(|v| (v[0].as_f64().unwrap() * 10.0).round() as i64)
        .collect();
    assert_eq!(lefts.len(), 2, "two columns: {boxes}");
    for v in vouchers {
        let (left, right) = (v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
        assert!(
            left >= -0.01 && right >= -0.01,
            "a cut line outside the sheet: {v} in {boxes}"
        );
        assert!(v[2].as_f64().unwrap() >= 94.0, "voucher width: {v}");
    }
    app.stop(true).await;
}
