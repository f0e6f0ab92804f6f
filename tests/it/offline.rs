//! Offline receive (issue 14), registration: breez-lnurl's three routes
//! with c-breez's and Misty's bodies, lnurld's version 1 message, the time
//! window, single use of each signed statement, the webhook allowlist and
//! the username namespace shared with pay links. Both databases.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::phone::{unix_now, Phone};

const HOST: &str = "push.test";

fn webhook(token: &str) -> String {
    format!("https://{HOST}/api/v1/notify?platform=android&token={token}")
}

async fn start(db: &TestDb, tweak: impl FnOnce(&mut lnurld::Config)) -> TestApp {
    TestApp::start_with(db, Node::Dev, |c| {
        c.offline.enabled = true;
        c.offline.webhook_hosts = vec![HOST.into()];
        tweak(c);
    })
    .await
}

/// A call to `/lnurlpay/{pubkey}{suffix}` with a raw JSON body and no
/// Content-Type (as the Swift plugin sends).
async fn call(
    app: &TestApp,
    method: Method,
    pubkey: &str,
    suffix: &str,
    body: &Value,
) -> (StatusCode, String) {
    let res = app
        .http
        .request(method, app.url(&format!("/lnurlpay/{pubkey}{suffix}")))
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn error_message(text: &str) -> String {
    json_of(text)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

both_dbs!(
    registers_recovers_and_unregisters,
    each_statement_is_used_once,
    stale_and_forged_statements_are_refused,
    version_1_statements_are_bound_to_route_and_domain,
    usernames_are_shared_with_pay_links,
    released_names_are_held_for_their_owner,
    one_wallet_wins_a_contested_name,
    webhooks_must_be_allowlisted_https,
    routes_are_absent_unless_enabled,
    registrations_are_limited_per_ip,
    stale_records_are_purged,
);

async fn registers_recovers_and_unregisters(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let phone = Phone::new();
    let t = unix_now();
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t, &webhook("a"), Some("Alice")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reg = json_of(&text);
    assert_eq!(reg["lightning_address"], "alice@127.0.0.1");
    let url = lnurl::lnurl::LnUrl::decode(reg["lnurl"].as_str().expect("lnurl").to_owned())
        .expect("a bech32 LNURL")
        .url;
    assert_eq!(url, app.url(&format!("/lnurlp/{}", phone.pubkey)));
    assert_eq!(
        reg.as_object().map(|o| o.len()),
        Some(2),
        "only breez-lnurl's fields: {reg}"
    );

    // A restart of the app re-registers without a username: it keeps it.
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t + 1, &webhook("b"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text), reg);

    // Reinstalled with a new push token, it recovers its address.
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "/recover",
        &phone.plain_body(t + 2, &webhook("new")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text), reg);

    // Unregistering needs the registered webhook; another one removes nothing.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &phone.pubkey,
        "",
        &phone.plain_body(t + 3, &webhook("other")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "/recover",
        &phone.plain_body(t + 4, &webhook("x")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "still registered");
    let (status, text) = call(
        &app,
        Method::DELETE,
        &phone.pubkey,
        "",
        &phone.plain_body(t + 5, &webhook("b")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "", "breez-lnurl answers an empty 200");
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "/recover",
        &phone.plain_body(t + 6, &webhook("b")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");

    // Misty's body, with an offer beside the username.
    let misty = Phone::new();
    let (status, text) = call(
        &app,
        Method::POST,
        &misty.pubkey,
        "",
        &misty.misty_body(t, &webhook("m"), "misty", Some("lno1qqexample")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["lightning_address"], "misty@127.0.0.1");
    let (status, text) = call(
        &app,
        Method::POST,
        &misty.pubkey,
        "",
        &misty.misty_body(t + 1, &webhook("m"), "misty", Some("not-an-offer")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    app.stop(true).await;
}

async fn each_statement_is_used_once(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let phone = Phone::new();
    let t = unix_now();
    let first = phone.register_body(t, &webhook("a"), Some("bob"));
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &first).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // Misty retries a timed-out call with the same bytes: same answer.
    let (status, again) = call(&app, Method::POST, &phone.pubkey, "", &first).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, text);

    // The state moves on; the old statement may no longer set it back.
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t + 1, &webhook("b"), Some("bob")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &first).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(error_message(&text).contains("already been used"), "{text}");

    // A register without a username signs the same bytes as an unregister:
    // those bytes, once used to register, cannot unregister.
    let plain = phone.register_body(t + 2, &webhook("c"), None);
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &plain).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = call(&app, Method::DELETE, &phone.pubkey, "", &plain).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (status, _) = call(&app, Method::POST, &phone.pubkey, "/recover", &plain).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "recover is a read: not claimed, not refused"
    );

    // An unregister replayed after it took effect: same empty 200; replayed
    // after the phone registered that webhook again: 409.
    let del = phone.plain_body(t + 3, &webhook("c"));
    let (status, _) = call(&app, Method::DELETE, &phone.pubkey, "", &del).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::DELETE, &phone.pubkey, "", &del).await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t + 4, &webhook("c"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = call(&app, Method::DELETE, &phone.pubkey, "", &del).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    app.stop(true).await;
}

async fn stale_and_forged_statements_are_refused(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let phone = Phone::new();
    let t = unix_now();
    for time in [t - 120, t + 120] {
        let (status, text) = call(
            &app,
            Method::POST,
            &phone.pubkey,
            "",
            &phone.register_body(time, &webhook("a"), None),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert!(error_message(&text).contains("clock"), "{text}");
    }
    // Signed by another key.
    let thief = Phone::new();
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &thief.register_body(t, &webhook("a"), Some("victim")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    // A field changed after signing.
    let mut body = phone.register_body(t, &webhook("a"), Some("carol"));
    body["username"] = json!("mallory");
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    // Malformed: not JSON, no pubkey, not zbase32.
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &json!("text")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = call(
        &app,
        Method::POST,
        "02abc",
        "",
        &phone.register_body(t, &webhook("a"), None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let mut body = phone.register_body(t, &webhook("a"), None);
    body["signature"] = json!("0OIl");
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    // A body over 16 KB.
    let mut body = phone.register_body(t, &webhook("a"), None);
    body["padding"] = json!("x".repeat(17 * 1024));
    let (status, _) = call(&app, Method::POST, &phone.pubkey, "", &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing of it was written.
    let (status, _) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "/recover",
        &phone.plain_body(t, &webhook("a")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop(true).await;
}

async fn version_1_statements_are_bound_to_route_and_domain(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let domain = app.base.trim_start_matches("http://").to_owned();
    let phone = Phone::new();
    let t = unix_now();
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.v1_body("register", "other.example", t, &webhook("a"), Some("dora")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "made for another server: {text}"
    );
    let register = phone.v1_body("register", &domain, t, &webhook("a"), Some("dora"));
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &register).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["lightning_address"], "dora@127.0.0.1");
    // Signed for register: worth nothing as an unregister or a recover.
    let (status, _) = call(&app, Method::DELETE, &phone.pubkey, "", &register).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::POST, &phone.pubkey, "/recover", &register).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut v2 = register.clone();
    v2["version"] = json!(2);
    let (status, text) = call(&app, Method::POST, &phone.pubkey, "", &v2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = call(
        &app,
        Method::DELETE,
        &phone.pubkey,
        "",
        &phone.v1_body("unregister", &domain, t + 1, &webhook("a"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    app.stop(true).await;
}

async fn usernames_are_shared_with_pay_links(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(json!({"min_msat": 1000, "max_msat": 100000, "description": "shop", "username": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let phone = Phone::new();
    let t = unix_now();
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t, &webhook("a"), Some("SHOP")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t, &webhook("a"), Some("erin")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(json!({"min_msat": 1000, "max_msat": 100000, "description": "x", "username": "erin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Nor can an existing pay link be renamed onto it.
    let id = {
        let (_, v) = app
            .api(
                Method::POST,
                "/api/v1/pay-links",
                Some(json!({"min_msat": 1000, "max_msat": 100000, "description": "y"})),
            )
            .await;
        v["id"].as_str().expect("id").to_owned()
    };
    let (status, v) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/pay-links/{id}"),
            Some(json!({"username": "erin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (_, v) = app
        .api(Method::GET, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    assert_eq!(v["username"], Value::Null, "nothing written: {v}");
    // A pubkey's form is no username.
    let (status, text) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t + 1, &webhook("a"), Some(&phone.pubkey)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    app.stop(true).await;
}

async fn released_names_are_held_for_their_owner(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let (owner, other) = (Phone::new(), Phone::new());
    let t = unix_now();
    let reg = |p: &Phone, time: i64, name: &str| p.register_body(time, &webhook("o"), Some(name));
    let (status, text) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &reg(&owner, t, "frank"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // The owner changes name: "frank" stays theirs.
    let (status, text) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &reg(&owner, t + 1, "frankie"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = call(
        &app,
        Method::POST,
        &other.pubkey,
        "",
        &reg(&other, t, "frank"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(error_message(&text).contains("reserved"), "{text}");
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(json!({"min_msat": 1000, "max_msat": 100000, "description": "x", "username": "frank"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Unregistering holds the second name too; the owner takes the first back.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &owner.pubkey,
        "",
        &owner.plain_body(t + 2, &webhook("o")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(
        &app,
        Method::POST,
        &other.pubkey,
        "",
        &reg(&other, t + 1, "frankie"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let (status, text) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &reg(&owner, t + 3, "frank"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["lightning_address"], "frank@127.0.0.1");
    app.stop(true).await;

    // With no hold, a released name is free at once.
    let app = start(&db, |c| c.offline.name_hold_days = 0).await;
    let (status, text) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &reg(&owner, t + 4, "gina"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, _) = call(
        &app,
        Method::DELETE,
        &owner.pubkey,
        "",
        &owner.plain_body(t + 5, &webhook("o")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(
        &app,
        Method::POST,
        &other.pubkey,
        "",
        &reg(&other, t + 2, "gina"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    app.stop(true).await;
}

async fn one_wallet_wins_a_contested_name(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let t = unix_now();
    let phones: Vec<Phone> = (0..8).map(|_| Phone::new()).collect();
    let calls = phones.iter().map(|p| {
        let body = p.register_body(t, &webhook("r"), Some("hank"));
        let app = &app;
        async move { call(app, Method::POST, &p.pubkey, "", &body).await }
    });
    // A pay link races for the same name.
    let link = app.api(
        Method::POST,
        "/api/v1/pay-links",
        Some(json!({"min_msat": 1000, "max_msat": 100000, "description": "x", "username": "hank"})),
    );
    let (answers, (link_status, _)) = tokio::join!(futures_util::future::join_all(calls), link);
    let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count()
        + usize::from(link_status == StatusCode::CREATED);
    assert_eq!(won, 1, "{answers:?} / pay link {link_status}");
    for (s, text) in &answers {
        assert!(
            *s == StatusCode::OK || *s == StatusCode::CONFLICT,
            "{s} {text}"
        );
    }
    app.stop(true).await;
}

async fn webhooks_must_be_allowlisted_https(db: TestDb) {
    // (A loopback host cannot even be listed without allow_private_targets:
    // the config check refuses it.)
    let app = start(&db, |_| {}).await;
    let phone = Phone::new();
    let t = unix_now();
    for (url, why) in [
        ("https://evil.test/notify", "webhook_hosts"),
        (&format!("http://{HOST}/notify") as &str, "https"),
        ("https://127.0.0.1/notify", "allow_private_targets"),
        ("https://10.1.2.3/notify", "allow_private_targets"),
        ("https://169.254.169.254/latest", "never allowed"),
        ("ftp://push.test/x", "http or https"),
    ] {
        let (status, text) = call(
            &app,
            Method::POST,
            &phone.pubkey,
            "",
            &phone.register_body(t, url, None),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {text}");
        assert!(error_message(&text).contains(why), "{url}: {text}");
    }
    app.stop(true).await;

    // Development mode: http, and loopback with allow_private_targets.
    let app = start(&db, |c| {
        c.offline.allow_insecure_webhooks = true;
        c.webhooks.allow_private_targets = true;
        c.offline.webhook_hosts.push("127.0.0.1".into());
    })
    .await;
    for url in ["http://127.0.0.1:9/notify", &format!("http://{HOST}/n")] {
        let (status, text) = call(
            &app,
            Method::POST,
            &phone.pubkey,
            "",
            &phone.register_body(t, url, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{url}: {text}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        &phone.pubkey,
        "",
        &phone.register_body(t, "http://other.test/n", None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop(true).await;
}

async fn routes_are_absent_unless_enabled(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let phone = Phone::new();
    let t = unix_now();
    for (method, suffix) in [
        (Method::POST, ""),
        (Method::DELETE, ""),
        (Method::POST, "/recover"),
    ] {
        let (status, _) = call(
            &app,
            method,
            &phone.pubkey,
            suffix,
            &phone.register_body(t, &webhook("a"), None),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    app.stop(true).await;
}

async fn registrations_are_limited_per_ip(db: TestDb) {
    let app = start(&db, |c| c.offline.registrations_per_ip_per_hour = 3).await;
    let t = unix_now();
    for i in 0..3 {
        let p = Phone::new();
        let (status, text) = call(
            &app,
            Method::POST,
            &p.pubkey,
            "",
            &p.register_body(t + i, &webhook("a"), None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let p = Phone::new();
    let res = app
        .http
        .post(app.url(&format!("/lnurlpay/{}/recover", p.pubkey)))
        .body(p.plain_body(t, &webhook("a")).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body = res.text().await.expect("body");
    assert_eq!(
        json_of(&body)["error"]["code"],
        "too_many_requests",
        "{body}"
    );
    app.stop(true).await;
}

/// The purge, as the retention worker runs it, 31 days on: registrations
/// nobody refreshed are gone and their names held for their owners; claims
/// past their window are gone.
async fn stale_records_are_purged(db: TestDb) {
    let app = start(&db, |_| {}).await;
    let (owner, other) = (Phone::new(), Phone::new());
    let t = unix_now();
    let (status, _) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &owner.register_body(t, &webhook("o"), Some("kim")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let purged = app
        .svc
        .offline()
        .purge(t + 31 * 86_400)
        .await
        .expect("purge");
    assert_eq!(purged.registrations, 1, "{purged:?}");
    assert!(purged.claims >= 1, "{purged:?}");
    let (status, _) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "/recover",
        &owner.plain_body(unix_now(), &webhook("o")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = call(
        &app,
        Method::POST,
        &other.pubkey,
        "",
        &other.register_body(unix_now(), &webhook("x"), Some("kim")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "held for its owner: {text}");
    let (status, text) = call(
        &app,
        Method::POST,
        &owner.pubkey,
        "",
        &owner.register_body(unix_now() + 1, &webhook("o"), Some("kim")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    app.stop(true).await;
}
