//! Strict text input (issue 10 item 5): every string a request carries is
//! checked where it enters, on both databases. Deterministic cases for the
//! faults seen on PostgreSQL (NUL in a path, in a comment, in admin JSON),
//! then property tests (proptest) that send arbitrary bytes, percent-encoded,
//! in every public route parameter and arbitrary text in every admin JSON
//! string field, and check: no 5xx, answers in our shapes, the field named
//! when its text is refused, no node call and no row for refused input.
//! Case counts are set explicitly so the suite stays well under a minute.

use std::future::Future;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::fake_lnd::FakeLnd;

both_dbs!(
    nul_in_paths_is_not_found,
    nul_in_a_comment_never_reaches_the_node,
    nul_in_admin_fields_is_refused_naming_the_field,
    invalid_utf8_in_a_query_is_refused_naming_it,
    any_bytes_in_public_route_paths,
    any_bytes_in_query_parameters,
    any_text_in_admin_json_fields,
);

// ---- helpers ---------------------------------------------------------------

/// Every byte as `%XX`, so the server receives exactly `bytes`.
fn enc(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// Whether `bytes` are text a field of the given kind refuses: not UTF-8,
/// or a control character (`\n`/`\t` allowed where `multiline`).
fn bad_text(bytes: &[u8], multiline: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Err(_) => true,
        Ok(s) => s
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t'))),
    }
}

/// What one GET answered.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A LUD-06 callback answer with an invoice.
    fn has_invoice(&self) -> bool {
        self.json().get("pr").and_then(Value::as_str).is_some()
    }

    /// `{"status":"ERROR","reason":…}`: the reason.
    fn lud_reason(&self) -> Option<String> {
        let v = self.json();
        (v.get("status").and_then(Value::as_str) == Some("ERROR"))
            .then(|| v["reason"].as_str().unwrap_or_default().to_owned())
    }

    /// `{"error":{"code","message"}}`: the message.
    fn admin_message(&self) -> Option<String> {
        self.json()
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut rb = app
        .http
        .request(method, app.url(path))
        .bearer_auth(&app.token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let res = rb.send().await.expect("request");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = String::from_utf8_lossy(&res.bytes().await.expect("body")).into_owned();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn get(app: &TestApp, path: &str) -> Answer {
    send(app, Method::GET, path, None).await
}

/// How often the node was asked to `call` (`create_invoice`, `pay`), as
/// `/metrics` counts it.
async fn node_calls(app: &TestApp, call: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let prefix = format!("lnurld_node_call_seconds_count{{call=\"{call}\",");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Runs an async step from inside a proptest case (the runner is sync;
/// `both_dbs!` runs on a multi-threaded runtime).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Runs `test` on `cases` values of `strategy`; a failure panics with the
/// (shrunk) input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// Bytes that often hold what breaks things: NUL and other control
/// characters, bytes that are not UTF-8, URL syntax.
fn odd_bytes() -> impl Strategy<Value = Vec<u8>> {
    let odd = select(vec![
        0u8, b'\n', b'\t', b'\r', 0x1b, 0x7f, 0xc2, 0x85, 0xc3, 0xa9, 0xe2, 0x80, 0xae, 0xff, 0xfe,
        0x80, b'%', b'+', b'&', b'=', b'/', b'?', b'#', b' ', b'a', b'0', b'_', b'.',
    ]);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        proptest::collection::vec(odd, 0..24),
    ]
}

/// Arbitrary bytes, or `valid` as is, or `valid` with bytes spliced in.
fn near(valid: &str) -> impl Strategy<Value = Vec<u8>> {
    let v = valid.as_bytes().to_vec();
    let spliced = {
        let v = v.clone();
        (odd_bytes(), any::<usize>()).prop_map(move |(ins, at)| {
            let mut out = v.clone();
            let at = at % (out.len() + 1);
            out.splice(at..at, ins);
            out
        })
    };
    prop_oneof![2 => odd_bytes(), 1 => Just(v), 3 => spliced]
}

/// Arbitrary text, often with control characters and odd code points.
fn odd_text() -> impl Strategy<Value = String> {
    let odd = select(vec![
        '\0',
        '\n',
        '\t',
        '\r',
        '\u{1b}',
        '\u{7f}',
        '\u{85}',
        '\u{202e}',
        '\u{feff}',
        'é',
        '☕',
        '"',
        '\\',
        'a',
        ' ',
        '\u{10ffff}',
    ]);
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..40),
        proptest::collection::vec(odd, 0..24),
    ]
    .prop_map(|v| v.into_iter().collect())
}

/// The links the properties aim at.
struct Fixture {
    pay_id: String,
    username: String,
    secret: String,
    k1: String,
    batch_id: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let p = send(
        app,
        Method::POST,
        "/api/v1/pay-links",
        Some(json!({
            "min_msat": 1000, "max_msat": 1_000_000, "description": "Coffee",
            "username": "alice", "comment_allowed": 100,
            "payer_data": {"name": {"mandatory": false}},
        })),
    )
    .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let w = app
        .create_withdraw(json!({"min_msat": 1000, "max_msat": 1000}))
        .await;
    let secret = w["secret"].as_str().expect("secret").to_owned();
    let req = get(app, &format!("/lnurlw/{secret}")).await.json();
    let b = send(
        app,
        Method::POST,
        "/api/v1/withdraw-links/batch",
        Some(json!({"count": 1, "min_msat": 1000, "max_msat": 1000})),
    )
    .await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    Fixture {
        pay_id: p.json()["id"].as_str().expect("id").to_owned(),
        username: "alice".into(),
        secret,
        k1: req["k1"].as_str().expect("k1").to_owned(),
        batch_id: b.json()["batch_id"].as_str().expect("batch").to_owned(),
    }
}

/// Number of pay and withdraw links the admin API lists.
async fn link_counts(app: &TestApp) -> (usize, usize) {
    let mut counts = [0usize; 2];
    for (i, list) in ["/api/v1/pay-links", "/api/v1/withdraw-links"]
        .iter()
        .enumerate()
    {
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("{list}?limit=500&cursor={c}"),
                None => format!("{list}?limit=500"),
            };
            let page = get(app, &path).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let v = page.json();
            counts[i] += v["data"].as_array().map_or(0, Vec::len);
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
    }
    (counts[0], counts[1])
}

// ---- the faults seen on PostgreSQL -----------------------------------------

/// A NUL after a real id is an unknown id, on every route that takes one:
/// the same answer as any unknown id, not a 503 or "Temporary server
/// problem".
async fn nul_in_paths_is_not_found(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let f = fixture(&app).await;
    let id = &f.pay_id;
    let unknown = "pl_000000000000000000000000";

    for page in [format!("/p/{id}%00"), format!("/qr/p/{id}%00.png")] {
        let a = get(&app, &page).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{page}: {}", a.body);
        assert!(a.content_type.starts_with("text/html"), "{page}");
    }
    let unknown_answer = get(&app, &format!("/lnurlp/{unknown}")).await.json();
    assert_eq!(unknown_answer["status"], "ERROR");
    for wallet in [
        format!("/lnurlp/{id}%00"),
        format!("/lnurlp/{id}%00/callback?amount=1000"),
        format!("/lnurlp/%00{id}/callback?amount=1000"),
    ] {
        let a = get(&app, &wallet).await;
        assert_eq!(a.status, StatusCode::OK, "{wallet}");
        assert_eq!(a.json(), unknown_answer, "{wallet}");
    }
    let a = get(&app, &format!("/api/v1/pay-links/{id}%00")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], "not_found");
    for admin in [
        "/api/v1/withdraw-links/wl_%00",
        "/api/v1/events/evt_%00",
        "/api/v1/pay-links/pl_%00/invoices",
    ] {
        let a = get(&app, admin).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{admin}: {}", a.body);
        assert_eq!(a.json()["error"]["code"], "not_found", "{admin}");
    }
    // The real id still works: the check is not a blanket refusal.
    let ok = get(&app, &format!("/lnurlp/{id}")).await.json();
    assert_eq!(ok["tag"], "payRequest", "{ok}");
    assert_eq!(node_calls(&app, "create_invoice").await, 0);
    app.stop(true).await;
}

/// `comment=a%00b` used to fail on PostgreSQL after the node had made the
/// invoice. Now it is refused first: the fake LND never sees AddInvoice.
async fn nul_in_a_comment_never_reaches_the_node(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let f = fixture(&app).await;
    let callback = format!("/lnurlp/{}/callback?amount=1000", f.pay_id);

    for comment in ["a%00b", "%1B%5B31m", "a%0Db", "%C2%85"] {
        let a = get(&app, &format!("{callback}&comment={comment}")).await;
        assert_eq!(a.status, StatusCode::OK);
        let reason = a.lud_reason().unwrap_or_else(|| panic!("{}", a.body));
        assert!(reason.starts_with("Comment "), "{comment}: {reason}");
        assert!(reason.contains("control characters"), "{comment}: {reason}");
    }
    let a = get(
        &app,
        &format!("{callback}&payerdata=%7B%22name%22%3A%22a%5Cu0000b%22%7D"),
    )
    .await;
    let reason = a.lud_reason().unwrap_or_else(|| panic!("{}", a.body));
    assert!(reason.contains("payerdata.name"), "{reason}");
    assert_eq!(fake.invoices().len(), 0, "no invoice at the node");
    let listed = get(&app, &format!("/api/v1/pay-links/{}/invoices", f.pay_id)).await;
    assert_eq!(listed.json()["data"], json!([]), "{}", listed.body);

    // Line breaks and tabs are fine in a comment, and reach the node once.
    let a = get(&app, &format!("{callback}&comment=line%0Aone%09two")).await;
    assert!(a.has_invoice(), "{}", a.body);
    assert_eq!(fake.invoices().len(), 1);
    let listed = get(&app, &format!("/api/v1/pay-links/{}/invoices", f.pay_id)).await;
    assert_eq!(listed.json()["data"][0]["comment"], "line\none\ttwo");
    app.stop(true).await;
    fake.stop().await;
}

/// `"title":"a\u0000b"` and `"external_id":"x\u0000y"` used to be a 500 on
/// PostgreSQL. Each refused field is named, and nothing is written.
async fn nul_in_admin_fields_is_refused_naming_the_field(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let before = link_counts(&app).await;
    let withdraw = |field: &str, value: &str| {
        let mut body = json!({"min_msat": 1000, "max_msat": 1000});
        body[field] = json!(value);
        body
    };
    let cases = [
        (
            "/api/v1/withdraw-links",
            withdraw("title", "a\u{0}b"),
            "title",
        ),
        (
            "/api/v1/withdraw-links",
            withdraw("external_id", "x\u{0}y"),
            "external_id",
        ),
        (
            "/api/v1/withdraw-links",
            withdraw("description", "a\u{1b}b"),
            "description",
        ),
        (
            "/api/v1/withdraw-links",
            withdraw("webhook_url", "http://x\u{0}/"),
            "webhook_url",
        ),
        (
            "/api/v1/withdraw-links/batch",
            json!({"count": 2, "min_msat": 1000, "max_msat": 1000, "title": "v\u{0}"}),
            "title",
        ),
        (
            "/api/v1/pay-links",
            json!({"min_msat": 1000, "max_msat": 1000, "description": "a\u{0}b"}),
            "description",
        ),
        (
            "/api/v1/pay-links",
            json!({"min_msat": 1000, "max_msat": 1000, "description": "d", "username": "al\u{0}"}),
            "username",
        ),
        (
            "/api/v1/pay-links",
            json!({"min_msat": 1000, "max_msat": 1000, "description": "d",
                   "success_action": {"tag": "message", "message": "hi\u{7}"}}),
            "success_action.message",
        ),
        (
            "/api/v1/webhooks/endpoints/rotate",
            json!({"url": "http://a\u{0}/"}),
            "url",
        ),
    ];
    for (path, body, field) in cases {
        let a = send(&app, Method::POST, path, Some(body.clone())).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            a.body
        );
        assert_eq!(a.json()["error"]["code"], "invalid_request", "{}", a.body);
        let message = a.admin_message().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{field} must not contain control characters")),
            "{path} {body}: {message}"
        );
    }
    // A body that is not UTF-8 at all is a 400 in the same shape.
    let res = app
        .http
        .post(app.url("/api/v1/withdraw-links"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(b"{\"min_msat\":1000,\"max_msat\":1000,\"title\":\"a\xffb\"}".to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.expect("json error");
    assert_eq!(v["error"]["code"], "invalid_request", "{v}");

    // A patch is checked the same way, and leaves the link as it was.
    let p = send(
        &app,
        Method::POST,
        "/api/v1/pay-links",
        Some(json!({"min_msat": 1000, "max_msat": 1000, "description": "Tea"})),
    )
    .await
    .json();
    let path = format!("/api/v1/pay-links/{}", p["id"].as_str().expect("id"));
    let a = send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"long_description": "x\u{0}"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a
        .admin_message()
        .unwrap_or_default()
        .starts_with("long_description"));
    assert_eq!(
        get(&app, &path).await.json()["long_description"],
        Value::Null
    );

    let after = link_counts(&app).await;
    assert_eq!(
        after,
        (before.0 + 1, before.1),
        "only the valid pay link was written"
    );
    app.stop(true).await;
}

/// Bytes that are not UTF-8 in a parameter we read are refused by name (not
/// replaced with U+FFFD and passed on).
async fn invalid_utf8_in_a_query_is_refused_naming_it(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let f = fixture(&app).await;
    let callback = format!("/lnurlp/{}/callback", f.pay_id);
    for (query, name) in [
        ("amount=1000&comment=caf%C3", "comment"),
        ("amount=10%FF00", "amount"),
        (
            "amount=1000&payerdata=%7B%22name%22%3A%22%FF%22%7D",
            "payerdata",
        ),
        // NIP-57's zap request, read even while zaps are off.
        ("amount=1000&nostr=%7B%FF%7D", "nostr"),
    ] {
        let a = get(&app, &format!("{callback}?{query}")).await;
        let reason = a.lud_reason().unwrap_or_else(|| panic!("{}", a.body));
        // The parameter named, as a wallet's sentence.
        let named = format!("{}{}", name[..1].to_ascii_uppercase(), &name[1..]);
        assert_eq!(reason, format!("{named} is not valid UTF-8."), "{query}");
    }
    let a = get(
        &app,
        &format!("/lnurlw/{}/callback?k1=%FF&pr=lnbcrt1", f.secret),
    )
    .await;
    assert_eq!(a.lud_reason().as_deref(), Some("K1 is not valid UTF-8."));
    let a = get(&app, "/api/v1/withdraw-links?status=%FF").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.admin_message().as_deref(),
        Some("status is not valid UTF-8")
    );
    // Parameters we do not read are not ours to judge (LUD-03 lets wallets
    // add their own).
    let a = get(&app, &format!("{callback}?amount=1000&x-wallet=%FF%00")).await;
    assert!(a.has_invoice(), "{}", a.body);
    assert_eq!(node_calls(&app, "create_invoice").await, 1);
    app.stop(true).await;
}

// ---- properties ------------------------------------------------------------

/// One route with one path parameter (`{}`), and the valid value it is
/// built around.
struct PathRoute {
    method: Method,
    template: &'static str,
    valid: String,
}

/// Arbitrary bytes in every path parameter of every route: no 5xx, wallet
/// routes answer LUD JSON with 200, admin routes our JSON shape, and the
/// node makes an invoice exactly for the callbacks that answered one.
async fn any_bytes_in_public_route_paths(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let f = fixture(&app).await;
    let hash = "0".repeat(64);
    let r = |method: Method, template: &'static str, valid: &str| PathRoute {
        method,
        template,
        valid: valid.to_owned(),
    };
    let routes = Arc::new(vec![
        r(Method::GET, "/lnurlp/{}", &f.pay_id),
        r(Method::GET, "/lnurlp/{}/callback?amount=1000", &f.pay_id),
        r(Method::GET, "/.well-known/lnurlp/{}", &f.username),
        r(Method::GET, "/lnurlp/verify/{}", &hash),
        r(Method::GET, "/lnurlw/{}", &f.secret),
        r(
            Method::GET,
            "/lnurlw/{}/callback?k1=00&pr=lnbcrt1",
            &f.secret,
        ),
        r(Method::GET, "/w/{}", &f.secret),
        r(Method::GET, "/w/{}/status", &f.secret),
        r(Method::GET, "/p/{}", &f.pay_id),
        r(Method::GET, "/u/{}", &f.username),
        r(Method::GET, "/vouchers/{}", &f.batch_id),
        r(Method::GET, "/qr/w/{}.png", &f.secret),
        r(Method::GET, "/qr/p/{}.svg", &f.pay_id),
        r(Method::GET, "/qr/u/{}.png", &f.username),
        r(Method::GET, "/static/{}", "style.css"),
        r(Method::GET, "/api/v1/pay-links/{}", &f.pay_id),
        r(Method::GET, "/api/v1/pay-links/{}/invoices", &f.pay_id),
        r(
            Method::GET,
            "/api/v1/withdraw-links/{}",
            "wl_000000000000000000000000",
        ),
        r(
            Method::GET,
            "/api/v1/events/{}",
            "evt_000000000000000000000000",
        ),
        r(
            Method::POST,
            "/api/v1/withdraw-links/batch/{}/sheet-url",
            &f.batch_id,
        ),
        r(Method::POST, "/api/v1/dev/invoices/{}/settle", &hash),
    ]);
    let invoices_before = node_calls(&app, "create_invoice").await;
    let made = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let strategy = (0..routes.len()).prop_flat_map({
        let routes = routes.clone();
        move |i| (Just(i), near(&routes[i].valid))
    });
    check(400, strategy, |(i, bytes)| {
        let route = &routes[i];
        let path = route.template.replacen("{}", &enc(&bytes), 1);
        let a = block_on(send(&app, route.method.clone(), &path, None));
        prop_assert!(
            !a.status.is_server_error(),
            "{path}: {} {}",
            a.status,
            a.body
        );
        let wallet =
            route.template.starts_with("/lnurl") || route.template.starts_with("/.well-known");
        // An empty or dot segment is another path; only matched routes are judged.
        let matched = !bytes.is_empty() && bytes != b"." && bytes != b"..";
        if wallet && matched {
            prop_assert_eq!(a.status, StatusCode::OK, "{}: {}", path, a.body);
            prop_assert!(
                a.lud_reason().is_some() || a.json().get("tag").is_some() || a.has_invoice(),
                "{path}: {}",
                a.body
            );
        }
        if route.template.starts_with("/api/") && a.status.is_client_error() && matched {
            prop_assert!(a.admin_message().is_some(), "{path}: {}", a.body);
        }
        if a.has_invoice() {
            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    });
    let invoices_after = node_calls(&app, "create_invoice").await;
    assert_eq!(
        invoices_after - invoices_before,
        made.load(std::sync::atomic::Ordering::SeqCst),
        "the node made an invoice for exactly the callbacks that answered one"
    );
    assert_eq!(node_calls(&app, "pay").await, 0, "no payment for junk");
    drop(routes);
    app.stop(true).await;
}

/// One query parameter on one route: `{}` is the parameter's value.
struct QueryRoute {
    template: String,
    name: &'static str,
    valid: &'static str,
    multiline: bool,
}

/// Arbitrary bytes in every query parameter we read: no 5xx; text that is
/// not UTF-8 or holds a control character is refused naming the parameter
/// (LUD error on wallet routes, 400 on the admin API); a comment the link
/// accepts gets an invoice and any other gets none.
async fn any_bytes_in_query_parameters(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let f = fixture(&app).await;
    let pay = &f.pay_id;
    let q = |template: String, name, valid, multiline| QueryRoute {
        template,
        name,
        valid,
        multiline,
    };
    let routes = Arc::new(vec![
        q(
            format!("/lnurlp/{pay}/callback?amount={{}}"),
            "amount",
            "1000",
            false,
        ),
        q(
            format!("/lnurlp/{pay}/callback?amount=1000&comment={{}}"),
            "comment",
            "hi",
            true,
        ),
        q(
            format!("/lnurlp/{pay}/callback?amount=1000&payerdata={{}}"),
            "payerdata",
            r#"{"name":"Al"}"#,
            true,
        ),
        q(
            format!("/lnurlw/{}/callback?pr=lnbcrt1&k1={{}}", f.secret),
            "k1",
            "00",
            false,
        ),
        q(
            format!("/lnurlw/{}/callback?k1={}&pr={{}}", f.secret, f.k1),
            "pr",
            "lnbcrt1",
            false,
        ),
        q(
            "/api/v1/withdraw-links?limit={}".into(),
            "limit",
            "10",
            false,
        ),
        q(
            "/api/v1/withdraw-links?cursor={}".into(),
            "cursor",
            "wl_0",
            false,
        ),
        q(
            "/api/v1/withdraw-links?status={}".into(),
            "status",
            "active",
            false,
        ),
        q(
            "/api/v1/pay-links?addresses={}".into(),
            "addresses",
            "true",
            false,
        ),
        q(
            format!("/api/v1/pay-links/{pay}/invoices?cursor={{}}"),
            "cursor",
            "00",
            false,
        ),
        q(
            "/api/v1/events?type={}".into(),
            "type",
            "invoice.settled",
            false,
        ),
        q("/api/v1/events?state={}".into(), "state", "pending", false),
        q("/api/v1/events?cursor={}".into(), "cursor", "evt_0", false),
    ]);
    let invoices_before = node_calls(&app, "create_invoice").await;
    let made = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let strategy = (0..routes.len()).prop_flat_map({
        let routes = routes.clone();
        move |i| (Just(i), near(routes[i].valid))
    });
    check(400, strategy, |(i, bytes)| {
        let route = &routes[i];
        let path = route.template.replacen("{}", &enc(&bytes), 1);
        let a = block_on(get(&app, &path));
        prop_assert!(
            !a.status.is_server_error(),
            "{path}: {} {}",
            a.status,
            a.body
        );
        let wallet = path.starts_with("/lnurl");
        if wallet {
            prop_assert_eq!(a.status, StatusCode::OK, "{}: {}", path, a.body);
        }
        if bad_text(&bytes, route.multiline) {
            let said = if wallet {
                a.lud_reason()
            } else {
                a.admin_message()
            };
            let said = said.unwrap_or_default();
            prop_assert!(!a.has_invoice(), "{path}: {}", a.body);
            // Wallets read the reason as a sentence: its first letter is
            // capitalised ("Amount must not …").
            prop_assert!(
                said.to_ascii_lowercase().starts_with(route.name),
                "{path}: refused without naming {}: {} {}",
                route.name,
                a.status,
                a.body
            );
            if !wallet {
                prop_assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", path);
            }
        }
        if route.name == "comment" {
            let text = std::str::from_utf8(&bytes).ok();
            let accepted =
                text.is_some_and(|t| t.chars().count() <= 100) && !bad_text(&bytes, true);
            prop_assert_eq!(a.has_invoice(), accepted, "{}: {}", path, a.body);
        }
        if a.has_invoice() {
            made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    });
    assert_eq!(
        node_calls(&app, "create_invoice").await - invoices_before,
        made.load(std::sync::atomic::Ordering::SeqCst),
        "the node made an invoice for exactly the callbacks that answered one"
    );
    assert_eq!(node_calls(&app, "pay").await, 0, "no payment for junk");
    drop(routes);
    app.stop(true).await;
}

/// One admin request with one string field set from the property.
struct AdminField {
    method: Method,
    path: String,
    /// The body, with the field given as a JSON pointer.
    body: Value,
    pointer: &'static str,
    /// The name the error must start with.
    name: &'static str,
    multiline: bool,
    /// Whether a success writes a new link (201).
    creates: bool,
}

/// Arbitrary text in every string field of the admin API's bodies: no
/// 5xx; control characters (besides line breaks where text may span lines)
/// are a 400 naming the field; only accepted creations write a link.
async fn any_text_in_admin_json_fields(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let f = fixture(&app).await;
    let before = link_counts(&app).await;
    let wl = json!({"min_msat": 1000, "max_msat": 1000});
    let pl = json!({"min_msat": 1000, "max_msat": 1000, "description": "d"});
    let field = |method: Method,
                 path: &str,
                 body: &Value,
                 pointer: &'static str,
                 name: &'static str,
                 multiline: bool| AdminField {
        creates: method == Method::POST && !path.contains("/webhooks/"),
        method,
        path: path.to_owned(),
        body: body.clone(),
        pointer,
        name,
        multiline,
    };
    let patch = format!("/api/v1/pay-links/{}", f.pay_id);
    let (post, wls, pls) = (Method::POST, "/api/v1/withdraw-links", "/api/v1/pay-links");
    let with_action = |tag: &str| {
        let mut b = pl.clone();
        b["success_action"] = match tag {
            "message" => json!({"tag": "message", "message": "m"}),
            "url" => json!({"tag": "url", "description": "d", "url": "http://127.0.0.1/x"}),
            _ => json!({"tag": "aes", "description": "d", "plaintext": "p"}),
        };
        b
    };
    let mut image = pl.clone();
    image["image"] = json!({"mime": "png", "base64": "AAAA"});
    let batch = json!({"count": 1, "min_msat": 1000, "max_msat": 1000});
    let fields = Arc::new(vec![
        field(post.clone(), wls, &wl, "/title", "title", false),
        field(post.clone(), wls, &wl, "/description", "description", true),
        field(post.clone(), wls, &wl, "/external_id", "external_id", false),
        field(post.clone(), wls, &wl, "/webhook_url", "webhook_url", false),
        field(post.clone(), wls, &wl, "/pay_link", "pay_link", false),
        field(post.clone(), wls, &wl, "/expires_at", "expires_at", false),
        field(
            post.clone(),
            "/api/v1/withdraw-links/batch",
            &batch,
            "/title",
            "title",
            false,
        ),
        field(post.clone(), pls, &pl, "/description", "description", true),
        field(
            post.clone(),
            pls,
            &pl,
            "/long_description",
            "long_description",
            true,
        ),
        field(post.clone(), pls, &pl, "/username", "username", false),
        field(post.clone(), pls, &pl, "/webhook_url", "webhook_url", false),
        field(
            post.clone(),
            pls,
            &image,
            "/image/mime",
            "image.mime",
            false,
        ),
        field(
            post.clone(),
            pls,
            &image,
            "/image/base64",
            "image.base64",
            false,
        ),
        field(
            post.clone(),
            pls,
            &with_action("message"),
            "/success_action/message",
            "success_action.message",
            true,
        ),
        field(
            post.clone(),
            pls,
            &with_action("url"),
            "/success_action/description",
            "success_action.description",
            false,
        ),
        field(
            post.clone(),
            pls,
            &with_action("url"),
            "/success_action/url",
            "success_action.url",
            false,
        ),
        field(
            post.clone(),
            pls,
            &with_action("aes"),
            "/success_action/plaintext",
            "success_action.plaintext",
            true,
        ),
        field(
            Method::PATCH,
            &patch,
            &json!({}),
            "/description",
            "description",
            true,
        ),
        field(
            Method::PATCH,
            &patch,
            &json!({}),
            "/username",
            "username",
            false,
        ),
        field(
            post.clone(),
            "/api/v1/webhooks/endpoints/secret",
            &json!({}),
            "/url",
            "url",
            false,
        ),
        field(
            post.clone(),
            "/api/v1/webhooks/endpoints/rotate",
            &json!({}),
            "/url",
            "url",
            false,
        ),
    ]);
    let created = Arc::new([
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
    ]);
    check(300, (0..fields.len(), odd_text()), |(i, text)| {
        let fd = &fields[i];
        let mut body = fd.body.clone();
        let (parent, key) = fd.pointer.rsplit_once('/').unwrap_or(("", fd.pointer));
        let target = if parent.is_empty() {
            Some(&mut body)
        } else {
            body.pointer_mut(parent)
        };
        if let Some(Value::Object(o)) = target {
            o.insert(key.to_owned(), Value::String(text.clone()));
        }
        let a = block_on(send(&app, fd.method.clone(), &fd.path, Some(body.clone())));
        prop_assert!(
            !a.status.is_server_error(),
            "{} {}: {} {}",
            fd.path,
            body,
            a.status,
            a.body
        );
        if a.status.is_client_error() {
            prop_assert!(a.admin_message().is_some(), "{}: {}", fd.path, a.body);
        }
        if bad_text(text.as_bytes(), fd.multiline) {
            prop_assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{} {}: {}",
                fd.path,
                body,
                a.body
            );
            let message = a.admin_message().unwrap_or_default();
            prop_assert!(
                message.starts_with(fd.name),
                "{} {}: {}",
                fd.path,
                body,
                message
            );
        }
        if fd.creates && a.status == StatusCode::CREATED {
            let which = usize::from(fd.path.starts_with("/api/v1/withdraw-links"));
            created[which].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    });
    let after = link_counts(&app).await;
    let n = |i: usize| created[i].load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after,
        (before.0 + n(0), before.1 + n(1)),
        "only accepted bodies wrote links"
    );
    drop(fields);
    app.stop(true).await;
}
