//! Rate limits (`[limits]`) and bounded metric labels, through real HTTP to
//! the server: a busy wallet is never refused by the defaults; tiny limits
//! refuse in each surface's shape; per-link and per-IP buckets are
//! independent; `0` and `enabled = false` turn limits off; forwarded
//! addresses count only from trusted proxies; and `/metrics` keeps a fixed
//! number of series whatever methods and paths strangers send.
//!
//! Client addresses other than 127.0.0.1 exist here only as header values:
//! every request goes to the server on 127.0.0.1.

use std::time::Duration;

use lnurl::api::LnUrlResponse;
use lnurl::Response;
use lnurld::config::{Config, LimitsConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;
use crate::support::wallet::wallet_invoice;

const WAIT: Duration = Duration::from_secs(30);

both_dbs!(
    a_busy_wallet_is_never_refused_by_the_defaults,
    each_surface_refuses_in_its_own_shape,
    failed_admin_logins_are_limited_per_client,
    per_link_and_per_ip_buckets_are_independent,
    zero_turns_off_one_limit_and_enabled_false_all,
    forwarded_addresses_count_only_from_trusted_proxies,
    metric_series_stay_fixed_under_odd_methods_and_paths,
);

/// `[limits]` with every bucket off but the ones a test sets.
fn all_off() -> LimitsConfig {
    LimitsConfig {
        per_ip_per_minute: 0,
        per_link_per_minute: 0,
        admin_auth_failures_per_minute: 0,
        ..LimitsConfig::default()
    }
}

async fn start(db: &TestDb, fake: &FakeLnd, limits: LimitsConfig) -> TestApp {
    TestApp::start_with(db, Node::Lnd(fake), move |c: &mut Config| c.limits = limits).await
}

async fn create_pay(app: &TestApp, body: Value) -> Value {
    let (status, v) = app.api(Method::POST, "/api/v1/pay-links", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The path of an absolute URL the server handed out.
fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

/// GET `path` as the client `xff` behind the test's proxy (127.0.0.1), or
/// as the peer itself.
async fn get_as(app: &TestApp, path: &str, xff: Option<&str>) -> reqwest::Response {
    let mut rb = app.http.get(app.url(path));
    if let Some(ip) = xff {
        rb = rb.header("X-Forwarded-For", ip);
    }
    rb.send().await.expect("request")
}

/// The LUD body of a wallet route, which must be HTTP 200 either way.
async fn lud_as(app: &TestApp, path: &str, xff: Option<&str>) -> Value {
    let res = get_as(app, path, xff).await;
    assert_eq!(res.status(), 200, "wallet routes answer 200: {path}");
    res.json().await.expect("JSON body")
}

/// Whether `body` is the LUD rate-limit refusal; checks its wording and
/// that N is a whole number of seconds within the bucket's refill time.
fn is_lud_refusal(body: &Value, max_secs: u64) -> bool {
    let Some(reason) = body["reason"].as_str() else {
        return false;
    };
    let Some(n) = reason
        .strip_prefix("Too many requests, try again in ")
        .and_then(|r| r.strip_suffix(" s."))
    else {
        return false;
    };
    assert_eq!(body["status"], "ERROR", "{body}");
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("N in {reason:?}"));
    assert!((1..=max_secs).contains(&n), "{reason:?}");
    true
}

/// `/metrics` as a client of its own (so that the limits under test do not
/// refuse the reading).
async fn metrics(app: &TestApp) -> String {
    let res = get_as(app, "/metrics", Some("192.0.2.250")).await;
    assert_eq!(res.status(), 200);
    res.text().await.expect("metrics text")
}

/// The value of the `lnurld_rate_limited_total` series of `route` and
/// `limit`, 0 when absent.
fn refusals(metrics: &str, route: &str, limit: &str) -> u64 {
    let series = format!("lnurld_rate_limited_total{{route=\"{route}\",limit=\"{limit}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.parse().expect("a count"))
}

/// Many complete flows from one address, several wallets at once, at the
/// pace of a busy wallet (each waits for an answer before its next step):
/// pay through the Lightning Address and the LNURL, with the verify polls
/// a merchant makes, withdraw from a multi-use link, the pages, their QR
/// images and the withdraw page's status polls.
async fn a_busy_wallet_is_never_refused_by_the_defaults(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let pay = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "Busy shop",
               "username": "shop", "comment_allowed": 50}),
    )
    .await;
    const WALLETS: usize = 4;
    const FLOWS: usize = 8;
    let withdraw = app
        .create_withdraw(json!({"min_msat": 1_000, "max_msat": 10_000,
                                "uses": WALLETS * FLOWS}))
        .await;
    let mut tasks = Vec::new();
    for w in 0..WALLETS {
        let (pay, withdraw) = (pay.clone(), withdraw.clone());
        let wallet = app.wallet();
        let http = app.http.clone();
        let url = {
            let base = app.base.clone();
            move |p: &str| format!("{base}{p}")
        };
        tasks.push(tokio::spawn(async move {
            let mut answers = 0usize;
            for f in 0..FLOWS {
                // Pay: address, then the bech32 link, alternately.
                let request = if f % 2 == 0 {
                    url("/.well-known/lnurlp/shop")
                } else {
                    text(&pay, "url").to_owned()
                };
                let p = match wallet.make_request(&request).await.expect("payRequest") {
                    LnUrlResponse::LnUrlPayResponse(p) => p,
                    other => panic!("wallet {w} flow {f}: {other:?}"),
                };
                let inv = wallet
                    .get_invoice(&p, 2_000 + f as u64, None, Some("thanks"))
                    .await
                    .unwrap_or_else(|e| panic!("wallet {w} flow {f}: invoice: {e}"));
                let verify = inv.verify.clone().expect("a verify URL");
                for _ in 0..3 {
                    let v: Value = http
                        .get(&verify)
                        .send()
                        .await
                        .expect("verify")
                        .json()
                        .await
                        .expect("json");
                    assert_eq!(v["status"], "OK", "wallet {w} flow {f}: verify {v}");
                }
                // Withdraw one use.
                let wr = match wallet
                    .make_request(text(&withdraw, "url"))
                    .await
                    .expect("withdrawRequest")
                {
                    LnUrlResponse::LnUrlWithdrawResponse(wr) => wr,
                    other => panic!("wallet {w} flow {f}: {other:?}"),
                };
                let (pr, _) = wallet_invoice(5_000);
                let done = wallet.do_withdrawal(&wr, &pr).await.expect("callback");
                assert_eq!(done, Response::Ok(()), "wallet {w} flow {f}");
                // The pages and images a person looks at meanwhile.
                for page in [
                    text(&pay, "page_url").to_owned(),
                    text(&pay, "qr_url").to_owned(),
                    text(&withdraw, "page_url").to_owned(),
                    format!("{}/status", text(&withdraw, "page_url")),
                    format!("{}/status", text(&withdraw, "page_url")),
                ] {
                    let res = http.get(&page).send().await.expect("page");
                    assert_eq!(res.status(), 200, "wallet {w} flow {f}: {page}");
                }
                answers += 11;
            }
            answers
        }));
    }
    let mut answers = 0;
    for t in tasks {
        answers += t.await.expect("wallet task");
    }
    assert_eq!(answers, WALLETS * FLOWS * 11);
    assert_eq!(fake.invoices().len(), WALLETS * FLOWS);
    let id = text(&withdraw, "id").to_owned();
    eventually("every use paid", WAIT, || async {
        (fake.payments().len() == WALLETS * FLOWS).then_some(())
    })
    .await;
    assert_eq!(app.withdraw_link(&id).await["uses_left"], 0);
    let m = metrics(&app).await;
    assert!(
        !m.lines()
            .any(|l| l.starts_with("lnurld_rate_limited_total{")),
        "no refusal: {m}"
    );
    app.stop(true).await;
}

/// A wallet route answers the LUD error with HTTP 200 and asks the node for
/// nothing; pages, QR images, health and unknown paths answer 429 with
/// `Retry-After`; each refusal is counted by route, never by client.
async fn each_surface_refuses_in_its_own_shape(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            trusted_proxies: vec!["127.0.0.1".into()],
            per_ip_per_minute: 1,
            per_ip_burst: 2,
            ..all_off()
        },
    )
    .await;
    let pay = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 10_000, "description": "Shape", "username": "shape"}),
    )
    .await;
    let lnurlp = path_of(text(&pay, "url"));
    let callback = format!("{lnurlp}/callback?amount=2000");

    // Wallet routes, one client per route so that each route is refused.
    let wallet_routes = [
        ("198.51.100.1", lnurlp.clone(), "/lnurlp/{id}"),
        ("198.51.100.2", callback.clone(), "/lnurlp/{id}/callback"),
        (
            "198.51.100.3",
            "/.well-known/lnurlp/shape".to_owned(),
            "/.well-known/lnurlp/{username}",
        ),
        (
            "198.51.100.4",
            format!("/lnurlp/verify/{}", "00".repeat(32)),
            "/lnurlp/verify/{payment_hash}",
        ),
        (
            "198.51.100.5",
            "/lnurlw/nosuchsecret".to_owned(),
            "/lnurlw/{secret}",
        ),
    ];
    for (client, path, _) in &wallet_routes {
        for _ in 0..2 {
            let body = lud_as(&app, path, Some(client)).await;
            assert!(
                !is_lud_refusal(&body, 60),
                "within the burst: {path} {body}"
            );
        }
        let body = lud_as(&app, path, Some(client)).await;
        assert!(is_lud_refusal(&body, 60), "{path}: {body}");
    }
    // Two callbacks made invoices; the refused one asked the node nothing.
    assert_eq!(fake.invoices().len(), 2);

    // Pages, QR images, health and the rest: 429 with Retry-After.
    let pages = [
        ("198.51.100.11", path_of(text(&pay, "page_url")), "/p/{id}"),
        (
            "198.51.100.12",
            path_of(text(&pay, "qr_url")),
            "/qr/p/{file}",
        ),
        ("198.51.100.13", "/u/shape".to_owned(), "/u/{username}"),
        ("198.51.100.14", "/healthz".to_owned(), "/healthz"),
        ("198.51.100.15", "/metrics".to_owned(), "/metrics"),
        ("198.51.100.16", "/no/such/page".to_owned(), "unmatched"),
    ];
    for (client, path, _) in &pages {
        for _ in 0..2 {
            let res = get_as(&app, path, Some(client)).await;
            assert_ne!(res.status(), 429, "within the burst: {path}");
        }
        let res = get_as(&app, path, Some(client)).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("Retry-After in whole seconds");
        assert!((1..=60).contains(&retry), "{path}: Retry-After {retry}");
        // The refusal is a page like any other: the same security headers,
        // though the limiter answers before the route's own middleware.
        crate::pages::assert_security_headers(res.headers(), path);
        assert_eq!(
            res.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store, private"),
            "{path}"
        );
        let body = res.text().await.expect("body");
        assert!(body.contains("Too many requests"), "{path}: {body}");
    }

    let m = metrics(&app).await;
    for (_, _, route) in wallet_routes.iter().chain(pages.iter()) {
        assert_eq!(refusals(&m, route, "ip"), 1, "{route}: {m}");
        assert_eq!(refusals(&m, route, "link"), 0, "{route}");
    }
    // Wallet refusals are LUD errors too, under their own code.
    assert!(
        m.contains("lnurld_lud_errors_total{route=\"/lnurlp/{id}/callback\",reason=\"too_many_requests\"} 1"),
        "{m}"
    );
    assert!(
        !m.contains("198.51.100."),
        "no client address in /metrics: {m}"
    );
    app.stop(true).await;
}

/// Past the failed-login burst every admin request of that client gets the
/// admin 429, even with the right token, while other clients go on; good
/// logins never count, and the public routes are not limited by it.
async fn failed_admin_logins_are_limited_per_client(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            trusted_proxies: vec!["127.0.0.1".into()],
            admin_auth_failures_per_minute: 1,
            admin_auth_failures_burst: 2,
            ..all_off()
        },
    )
    .await;
    let admin = |xff: &'static str, token: &str| {
        app.http
            .get(app.url("/api/v1/pay-links"))
            .header("X-Forwarded-For", xff)
            .bearer_auth(token.to_owned())
            .send()
    };
    // Good logins are not counted.
    for _ in 0..5 {
        assert_eq!(
            admin("198.51.100.20", &app.token)
                .await
                .expect("send")
                .status(),
            200
        );
    }
    // The burst of failures, and the one that empties the bucket.
    for _ in 0..3 {
        let res = admin("198.51.100.21", "wrong").await.expect("send");
        assert_eq!(res.status(), 401);
    }
    for token in ["wrong", app.token.as_str()] {
        let res = admin("198.51.100.21", token).await.expect("send");
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("whole seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let v: Value = res.json().await.expect("admin JSON");
        assert_eq!(v["error"]["code"], "too_many_requests", "{v}");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(
            message.starts_with("Too many requests, try again in "),
            "{v}"
        );
    }
    // The voucher sheet takes the token too: blocked alike, and its failed
    // logins count with the API's.
    let sheet = |xff: &'static str, token: &str| {
        app.http
            .get(app.url("/vouchers/wb_nosuchbatch"))
            .header("X-Forwarded-For", xff)
            .bearer_auth(token.to_owned())
            .send()
    };
    let res = sheet("198.51.100.21", &app.token).await.expect("send");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    for _ in 0..3 {
        assert_eq!(
            sheet("198.51.100.23", "wrong")
                .await
                .expect("send")
                .status(),
            401
        );
    }
    assert_eq!(
        admin("198.51.100.23", &app.token)
            .await
            .expect("send")
            .status(),
        429
    );
    // Another client, and the public routes of the blocked one, go on.
    assert_eq!(
        admin("198.51.100.22", &app.token)
            .await
            .expect("send")
            .status(),
        200
    );
    let res = get_as(&app, "/healthz", Some("198.51.100.21")).await;
    assert_eq!(res.status(), 200);
    let m = metrics(&app).await;
    assert_eq!(refusals(&m, "/api/v1/pay-links", "admin_auth"), 3, "{m}");
    assert_eq!(refusals(&m, "/vouchers/{batch_id}", "admin_auth"), 1, "{m}");
    app.stop(true).await;
}

/// The per-link bucket holds however many addresses a link is called from;
/// the per-IP bucket holds however many links one address calls.
async fn per_link_and_per_ip_buckets_are_independent(db: TestDb) {
    let fake = FakeLnd::start().await;
    let body =
        |n: u32| json!({"min_msat": 1_000, "max_msat": 10_000, "description": format!("Link {n}")});

    // Per link only: the fourth request to one link is refused, whoever
    // sends it; another link is untouched.
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            trusted_proxies: vec!["127.0.0.1".into()],
            per_link_per_minute: 1,
            per_link_burst: 3,
            ..all_off()
        },
    )
    .await;
    let a = create_pay(&app, body(1)).await;
    let b = create_pay(&app, body(2)).await;
    let (a_url, b_url) = (path_of(text(&a, "url")), path_of(text(&b, "url")));
    // The page, the QR image and the LNURL route share one link's bucket.
    assert_eq!(
        get_as(&app, &path_of(text(&a, "page_url")), Some("198.51.100.30"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get_as(&app, &path_of(text(&a, "qr_url")), Some("198.51.100.31"))
            .await
            .status(),
        200
    );
    let body_a = lud_as(&app, &a_url, Some("198.51.100.32")).await;
    assert_eq!(body_a["tag"], "payRequest", "{body_a}");
    let refused = lud_as(&app, &a_url, Some("198.51.100.33")).await;
    assert!(is_lud_refusal(&refused, 60), "{refused}");
    for client in ["198.51.100.30", "198.51.100.33", "198.51.100.34"] {
        let v = lud_as(&app, &b_url, Some(client)).await;
        assert_eq!(v["tag"], "payRequest", "link b from {client}: {v}");
    }
    let m = metrics(&app).await;
    assert_eq!(refusals(&m, "/lnurlp/{id}", "link"), 1, "{m}");
    assert_eq!(refusals(&m, "/lnurlp/{id}", "ip"), 0, "{m}");
    app.stop(true).await;

    // Per IP only: one address is refused on its fourth link; another
    // address still gets the first link.
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            trusted_proxies: vec!["127.0.0.1".into()],
            per_ip_per_minute: 1,
            per_ip_burst: 3,
            ..all_off()
        },
    )
    .await;
    let mut urls = Vec::new();
    for n in 0..4 {
        urls.push(path_of(text(&create_pay(&app, body(n)).await, "url")));
    }
    for url in &urls[..3] {
        let v = lud_as(&app, url, Some("198.51.100.40")).await;
        assert_eq!(v["tag"], "payRequest", "{v}");
    }
    let refused = lud_as(&app, &urls[3], Some("198.51.100.40")).await;
    assert!(is_lud_refusal(&refused, 60), "{refused}");
    let v = lud_as(&app, &urls[0], Some("198.51.100.41")).await;
    assert_eq!(v["tag"], "payRequest", "{v}");
    let m = metrics(&app).await;
    assert_eq!(refusals(&m, "/lnurlp/{id}", "ip"), 1, "{m}");
    assert_eq!(refusals(&m, "/lnurlp/{id}", "link"), 0, "{m}");
    app.stop(true).await;
}

/// A rate of `0` turns that one limit off, a burst of `0` likewise, and
/// `enabled = false` turns off every limit, failed logins included.
async fn zero_turns_off_one_limit_and_enabled_false_all(db: TestDb) {
    let fake = FakeLnd::start().await;
    let tiny = LimitsConfig {
        per_ip_per_minute: 1,
        per_ip_burst: 1,
        per_link_per_minute: 1,
        per_link_burst: 1,
        admin_auth_failures_per_minute: 1,
        admin_auth_failures_burst: 1,
        ..LimitsConfig::default()
    };
    let link = json!({"min_msat": 1_000, "max_msat": 10_000, "description": "Often"});

    // Per-IP off by its rate, per-link off by its burst: twenty requests
    // from one address to one link pass; failed logins are still limited.
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            per_ip_per_minute: 0,
            per_link_burst: 0,
            ..tiny.clone()
        },
    )
    .await;
    let url = path_of(text(&create_pay(&app, link.clone()).await, "url"));
    for _ in 0..20 {
        let v = lud_as(&app, &url, None).await;
        assert_eq!(v["tag"], "payRequest", "{v}");
    }
    let bad = || {
        app.http
            .get(app.url("/api/v1/node"))
            .bearer_auth("wrong")
            .send()
    };
    assert_eq!(bad().await.expect("send").status(), 401);
    assert_eq!(bad().await.expect("send").status(), 401);
    assert_eq!(bad().await.expect("send").status(), 429);
    app.stop(true).await;

    // Everything off at once, with the same tiny numbers.
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            enabled: false,
            ..tiny
        },
    )
    .await;
    let created = create_pay(&app, link).await;
    let url = path_of(text(&created, "url"));
    let page = path_of(text(&created, "page_url"));
    for _ in 0..20 {
        let v = lud_as(&app, &url, None).await;
        assert_eq!(v["tag"], "payRequest", "{v}");
        assert_eq!(get_as(&app, &page, None).await.status(), 200);
    }
    let bad = || {
        app.http
            .get(app.url("/api/v1/node"))
            .bearer_auth("wrong")
            .send()
    };
    for _ in 0..5 {
        assert_eq!(bad().await.expect("send").status(), 401);
    }
    let (status, _) = app.api(Method::GET, "/api/v1/node", None).await;
    assert_eq!(status, 200);
    let m = metrics(&app).await;
    assert!(!m.contains("lnurld_rate_limited_total{"), "{m}");
    app.stop(true).await;
}

/// `X-Forwarded-For` and `Forwarded` name the client only when the peer
/// (here always 127.0.0.1) is a trusted proxy; otherwise, and when the
/// header does not parse, the peer is the client.
async fn forwarded_addresses_count_only_from_trusted_proxies(db: TestDb) {
    let fake = FakeLnd::start().await;
    let limits = |trusted: &str| LimitsConfig {
        trusted_proxies: vec![trusted.into()],
        per_ip_per_minute: 1,
        per_ip_burst: 2,
        ..all_off()
    };

    // The peer is not trusted: three different claimed clients are one.
    let app = start(&db, &fake, limits("10.0.0.1")).await;
    assert_eq!(
        get_as(&app, "/healthz", Some("198.51.100.50"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get_as(&app, "/healthz", Some("198.51.100.51"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get_as(&app, "/healthz", Some("198.51.100.52"))
            .await
            .status(),
        429
    );
    app.stop(true).await;

    // The peer is trusted (as a CIDR): each claimed client has its bucket.
    let app = start(&db, &fake, limits("127.0.0.0/8")).await;
    for client in [
        "198.51.100.60",
        "198.51.100.61",
        "2001:db8::1",
        "198.51.100.62",
    ] {
        assert_eq!(
            get_as(&app, "/healthz", Some(client)).await.status(),
            200,
            "{client}"
        );
    }
    // The rightmost untrusted address of a chain is the client.
    let chained = |chain: &'static str| {
        app.http
            .get(app.url("/healthz"))
            .header("X-Forwarded-For", chain)
            .send()
    };
    assert_eq!(
        chained("6.6.6.6, 198.51.100.63")
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(
        chained("7.7.7.7, 198.51.100.63, 127.0.0.2")
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(chained("198.51.100.63").await.expect("send").status(), 429);
    // `Forwarded` (RFC 7239), when there is no X-Forwarded-For.
    let forwarded = || {
        app.http
            .get(app.url("/healthz"))
            .header("Forwarded", "for=\"[2001:db8:0:1::70]:4711\";proto=https")
            .send()
    };
    assert_eq!(forwarded().await.expect("send").status(), 200);
    assert_eq!(forwarded().await.expect("send").status(), 200);
    assert_eq!(forwarded().await.expect("send").status(), 429);
    // A header that does not parse counts against the peer itself.
    for claimed in ["not-an-ip", "198.51.100.64, bogus"] {
        let res = get_as(&app, "/healthz", Some(claimed)).await;
        assert_eq!(res.status(), 200, "{claimed}");
    }
    assert_eq!(get_as(&app, "/healthz", None).await.status(), 429);
    app.stop(true).await;
}

/// Thousands of made-up methods (short and 8 KB long) and paths add no
/// series to `/metrics` once each kind of request has been seen.
async fn metric_series_stay_fixed_under_odd_methods_and_paths(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start(
        &db,
        &fake,
        LimitsConfig {
            enabled: false,
            ..LimitsConfig::default()
        },
    )
    .await;
    let series = |m: &str| {
        m.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count()
    };
    // Every (method kind, path kind) pair; `i` makes each request's
    // method and path new.
    let method = |kind: usize, i: usize| -> Method {
        let token = match kind {
            0 => "GET".to_owned(),
            1 => "DELETE".to_owned(),
            2 => format!("BREW{i}"),
            3 => format!("x-{i}-{}", "M".repeat(8_000)),
            _ => format!("get{i}"),
        };
        Method::from_bytes(token.as_bytes()).expect("a method token")
    };
    let path = |kind: usize, i: usize| match kind {
        0 => format!("/lnurlp/pl_nope{i}"),
        1 => format!("/lnurlp/pl_nope{i}/callback?amount={i}"),
        2 => format!("/qr/p/pl_{i}.png"),
        3 => format!("/p/pl_{i}"),
        4 => format!("/.well-known/lnurlp/user{i}"),
        5 => format!("/static/file{i}.css"),
        6 => format!("/no/such/{i}/path%00{i}"),
        _ => format!("/api/v1/pay-links/pl_{i}"),
    };
    const METHODS: usize = 5;
    const PATHS: usize = 8;
    let send = |m: Method, p: String| {
        let rb = app.http.request(m, app.url(&p));
        async move {
            let res = rb.send().await.expect("request");
            assert!(res.status().as_u16() < 500, "{p}: {}", res.status());
        }
    };
    for mk in 0..METHODS {
        for pk in 0..PATHS {
            send(method(mk, 0), path(pk, 0)).await;
        }
    }
    // The first reading is itself a request: the series it adds are there
    // from the second on.
    metrics(&app).await;
    let before = metrics(&app).await;
    let mut i = 1;
    while i <= 2_000 {
        let batch: Vec<_> = (i..i + 50)
            .map(|i| send(method(i % METHODS, i), path((i / METHODS) % PATHS, i)))
            .collect();
        futures_util::future::join_all(batch).await;
        i += 50;
    }
    let after = metrics(&app).await;
    assert_eq!(
        series(&after),
        series(&before),
        "series before:\n{before}\nafter:\n{after}"
    );
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(!after.contains("BREW"), "no made-up method is a label");
    assert!(!after.contains("pl_nope"), "no path is a label");
    assert!(after.len() < 64 * 1024, "{} bytes", after.len());
    app.stop(true).await;
}

/// Bad `[limits]` values stop the start with one line naming the key.
#[test]
fn bad_limits_are_refused_with_the_key_named() {
    let cases = [
        (
            "LNURLD_LIMITS__TRUSTED_PROXIES",
            "10.0.0.1,proxy.internal",
            "limits.trusted_proxies (env LNURLD_LIMITS__TRUSTED_PROXIES): \"proxy.internal\" is not an IP address or CIDR",
        ),
        (
            "LNURLD_LIMITS__PER_IP_BURST",
            "99999999",
            "limits.per_ip_burst (env LNURLD_LIMITS__PER_IP_BURST): 99999999 is more than 1000000; use 0 to turn this limit off",
        ),
        (
            "LNURLD_LIMITS__MAX_KEYS",
            "5",
            "limits.max_keys (env LNURLD_LIMITS__MAX_KEYS): must be between 100 and 10000000",
        ),
        (
            "LNURLD_LIMITS__ENABLED",
            "perhaps",
            "\"perhaps\" is not true or false",
        ),
    ];
    for (key, value, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lnurld"));
        c.current_dir(dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LNURLD_") {
                c.env_remove(k);
            }
        }
        let out = c.env(key, value).arg("serve").output().expect("run lnurld");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{key}={value}: {stderr}");
        assert!(stderr.contains(want), "{key}={value}: {stderr}");
    }
}
