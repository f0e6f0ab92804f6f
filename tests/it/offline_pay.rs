//! Offline receive (issue 14), the payer side: a fake phone (its own key,
//! an HTTP server on 127.0.0.1 standing in for the push relay) registers,
//! receives the pushes and replies; lnurl-rs is the payer. Every check of
//! a reply (spec §4), timeouts, late and guessed replies, coalescing. Both
//! databases.

use std::time::Duration;

use lnurl::api::LnUrlResponse;
use lnurl::pay::PayResponse;
use lnurld::node::{LightningNode, PaymentOutcome};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::phone::{honest, unix_now, Phone, PhoneReply, PhoneServer, META};
use crate::support::serve::Served;

async fn start(db: &TestDb, timeout_secs: u32) -> TestApp {
    TestApp::start_with(db, Node::Dev, |c| {
        c.offline.enabled = true;
        c.offline.webhook_hosts = vec!["127.0.0.1".into()];
        c.offline.allow_insecure_webhooks = true;
        c.webhooks.allow_private_targets = true;
        c.offline.reply_timeout_secs = timeout_secs;
        // These tests push often; the limits have their own test.
        c.offline.pushes_per_minute = 1000;
        c.offline.push_burst = 1000;
    })
    .await
}

/// Registers the phone (with `username`); its pubkey.
async fn register(app: &TestApp, phone: &PhoneServer, username: Option<&str>) -> String {
    let p = phone.phone();
    let res = app
        .http
        .post(app.url(&format!("/lnurlpay/{}", p.pubkey)))
        .body(
            p.register_body(unix_now(), &phone.webhook(), username)
                .to_string(),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::OK);
    p.pubkey.clone()
}

/// The raw JSON a payer gets.
async fn payer_get(app: &TestApp, path: &str) -> Value {
    let (status, v) = app.get_json(&app.url(path)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn pay_request(app: &TestApp, path: &str) -> PayResponse {
    match app
        .wallet()
        .make_request(&app.url(path))
        .await
        .expect("payRequest")
    {
        LnUrlResponse::LnUrlPayResponse(p) => p,
        other => panic!("expected a payRequest, got {other:?}"),
    }
}

fn reason(v: &Value) -> String {
    assert_eq!(v["status"], "ERROR", "{v}");
    v["reason"].as_str().unwrap_or_default().to_owned()
}

both_dbs!(
    a_sleeping_phone_is_paid_through_its_address,
    every_failed_check_is_refused,
    timeouts_late_and_guessed_replies,
    concurrent_payers_share_one_push,
    unreachable_and_unknown_wallets,
    a_reply_taken_by_another_instance,
    pushes_and_waiting_payers_are_limited,
    operators_see_and_remove_registrations,
    payers_verify_through_the_phone,
    push_tokens_are_sealed_and_survive_a_key_rotation,
    failed_pushes_log_no_push_token,
    a_reply_and_an_operator_delete_at_once,
);

async fn a_sleeping_phone_is_paid_through_its_address(db: TestDb) {
    let app = start(&db, 20).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, Some("ivy")).await;

    let pay = pay_request(&app, "/.well-known/lnurlp/ivy").await;
    assert_eq!(pay.callback, app.url(&format!("/lnurlpay/{pk}/invoice")));
    assert_eq!(pay.metadata, META);
    assert_eq!((pay.min_sendable, pay.max_sendable), (1000, 10_000_000));
    // The push is exactly the NDS's lnurlpay_info.
    let pushes = phone.pushes();
    assert_eq!(pushes.len(), 1);
    let data = pushes[0]["data"].as_object().expect("data");
    assert_eq!(pushes[0]["template"], "lnurlpay_info");
    assert_eq!(data.len(), 2, "{data:?}");
    assert_eq!(data["callback_url"], json!(pay.callback));
    let reply_url = data["reply_url"].as_str().expect("reply_url");
    let token = reply_url.rsplit('/').next().expect("token");
    assert!(reply_url.starts_with(&app.url("/offline/reply/")));
    assert_eq!(token.len(), 64, "256 bits in hex");

    let invoice = app
        .wallet()
        .get_invoice(&pay, 5_000_000, None, None)
        .await
        .expect("invoice");
    let pushes = phone.pushes();
    assert_eq!(pushes[1]["template"], "lnurlpay_invoice");
    let data = pushes[1]["data"].as_object().expect("data");
    assert_eq!(data["amount"], 5_000_000);
    assert_eq!(
        data["verify_url"],
        json!(app.url(&format!("/lnurlpay/{pk}/{{payment_hash}}")))
    );
    assert_eq!(data.len(), 3, "{data:?}");
    // The payer got the phone's own invoice, and pays it.
    let parsed: lightning_invoice::Bolt11Invoice = invoice.pr.parse().expect("bolt11");
    assert_eq!(parsed.amount_milli_satoshis(), Some(5_000_000));
    assert_eq!(
        parsed.recover_payee_pub_key().to_string(),
        pk,
        "signed by the phone"
    );
    let payer =
        lnurld::node::dev::DevNode::open(&db.dir().join("payer.key"), db.pool().await, 100_000_000)
            .expect("payer node");
    let out = payer
        .pay(&invoice.pr, 1000, Duration::from_secs(5))
        .await
        .expect("pays");
    assert!(matches!(out, PaymentOutcome::Succeeded { .. }), "{out:?}");
    assert_eq!(phone.replies().iter().filter(|(s, _)| *s == 200).count(), 2);

    // Liquid's plugin sends max-age: the next payer is answered from the
    // cache, without waking the phone.
    phone.script(|p, t, d| match honest(p, t, d) {
        PhoneReply::Send { body, delay, .. } => PhoneReply::Send {
            body,
            delay,
            cache_control: Some("max-age=86400"),
        },
        other => other,
    });
    payer_get(&app, &format!("/lnurlp/{pk}")).await;
    let before = phone.pushes().len();
    let again = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert_eq!(again["callback"], json!(pay.callback));
    assert_eq!(phone.pushes().len(), before, "served from the cache");
    phone.stop().await;
    app.stop(true).await;
}

/// Each way a reply can fail §4: the phone gets 422 with the reason, the
/// payer an ERROR, and nothing of the reply reaches the payer.
async fn every_failed_check_is_refused(db: TestDb) {
    let app = start(&db, 20).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, None).await;
    // An honest info first: invoices are checked against its metadata.
    let pay = pay_request(&app, &format!("/lnurlp/{pk}")).await;
    let stranger = Phone::new();
    type Make = fn(&Phone, u64, &Phone) -> Value;
    let cases: Vec<(&str, Make)> = vec![
        (
            "exactly",
            |p, a, _| json!({"pr": p.invoice(a + 1000, META, 600, lightning_invoice::Currency::Regtest, None).0, "routes": []}),
        ),
        (
            "description hash",
            |p, a, _| json!({"pr": p.invoice(a, "[[\"text/plain\",\"other\"]]", 600, lightning_invoice::Currency::Regtest, None).0, "routes": []}),
        ),
        (
            "Bitcoin mainnet",
            |p, a, _| json!({"pr": p.invoice(a, META, 600, lightning_invoice::Currency::Bitcoin, None).0, "routes": []}),
        ),
        (
            "expires",
            |p, a, _| json!({"pr": p.invoice(a, META, 30, lightning_invoice::Currency::Regtest, None).0, "routes": []}),
        ),
        (
            "BOLT11",
            |p, a, s| json!({"pr": p.invoice(a, META, 600, lightning_invoice::Currency::Regtest, Some(s)).0, "routes": []}),
        ),
        (
            "verify",
            |p, a, _| json!({"pr": p.invoice(a, META, 600, lightning_invoice::Currency::Regtest, None).0, "routes": [], "verify": "https://evil.example/v"}),
        ),
        (
            "unexpected field",
            |p, a, _| json!({"pr": p.invoice(a, META, 600, lightning_invoice::Currency::Regtest, None).0, "routes": [], "successAction": {"tag": "url", "url": "https://evil.example"}}),
        ),
        (
            "BOLT11",
            |_, _, _| json!({"pr": "lnbcrt1garbage", "routes": []}),
        ),
    ];
    for (i, (why, make)) in cases.into_iter().enumerate() {
        let s = Phone::new();
        phone.script(move |p, t, d| match t {
            "lnurlpay_invoice" => PhoneReply::Send {
                body: make(p, d["amount"].as_u64().unwrap_or(0), &s),
                cache_control: None,
                delay: Duration::ZERO,
            },
            _ => honest(p, t, d),
        });
        let (status, v) = app.get_json(&format!("{}?amount=2000", pay.callback)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(reason(&v).contains("failed lnurld's checks"), "{why}: {v}");
        let replies = eventually("the phone's reply", Duration::from_secs(10), || {
            let r = phone.replies();
            async move { (r.len() > i + 1).then_some(r) }
        })
        .await;
        let (status, body) = replies.last().cloned().expect("reply");
        assert_eq!(status, 422, "{why}: {body}");
        assert!(body.contains(why), "{why}: {body}");
    }

    // The same invoice twice: the second payer may not get it.
    let (pr, _) = stranger.invoice(3000, META, 600, lightning_invoice::Currency::Regtest, None);
    let reused = pr.clone();
    phone.script(move |p, t, d| match t {
        "lnurlpay_invoice" => PhoneReply::Send {
            body: json!({"pr": reused, "routes": []}),
            cache_control: None,
            delay: Duration::ZERO,
        },
        _ => honest(p, t, d),
    });
    let first = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=3000")).await;
    assert_eq!(first["pr"], json!(pr), "{first}");
    let second = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=3000")).await;
    assert!(
        reason(&second).contains("failed lnurld's checks"),
        "{second}"
    );

    // Bad info replies: another callback, not a payRequest.
    for (bad, why) in [
        (
            json!({"callback": "https://evil.example/cb", "tag": "payRequest", "minSendable": 1000, "maxSendable": 2000, "metadata": META}),
            "callback",
        ),
        (
            json!({"callback": pay.callback, "tag": "withdrawRequest", "minSendable": 1000, "maxSendable": 2000, "metadata": META}),
            "tag",
        ),
    ] {
        let n = phone.replies().len();
        phone.script(move |_, _, _| PhoneReply::Send {
            body: bad.clone(),
            cache_control: None,
            delay: Duration::ZERO,
        });
        let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
        assert!(reason(&v).contains("failed lnurld's checks"), "{v}");
        let replies = eventually("the phone's reply", Duration::from_secs(10), || {
            let r = phone.replies();
            async move { (r.len() > n).then_some(r) }
        })
        .await;
        let (status, body) = replies.last().cloned().expect("reply");
        assert_eq!(status, 422, "{body}");
        assert!(body.contains(why), "{body}");
    }

    // The phone's own ERROR reaches the payer, cut, as a LUD error.
    phone.script(|_, _, _| PhoneReply::Send {
        body: json!({"status": "ERROR", "reason": "node is syncing"}),
        cache_control: None,
        delay: Duration::ZERO,
    });
    let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert!(reason(&v).contains("node is syncing"), "{v}");
    // Amounts are checked before the phone is woken: msat and out of range.
    let n = phone.pushes().len();
    for amount in ["1500", "0", "20000000", "x"] {
        let v = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount={amount}")).await;
        reason(&v);
    }
    assert_eq!(phone.pushes().len(), n);
    phone.stop().await;
    app.stop(true).await;
}

async fn timeouts_late_and_guessed_replies(db: TestDb) {
    let app = start(&db, 2).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, None).await;
    phone.script(|_, _, _| PhoneReply::Silent);
    let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert!(reason(&v).contains("did not answer in time"), "{v}");
    // The phone wakes up late: 410.
    let push = phone.pushes().pop().expect("push");
    let reply_url = push["data"]["reply_url"]
        .as_str()
        .expect("reply_url")
        .to_owned();
    let body = json!({"callback": push["data"]["callback_url"], "tag": "payRequest", "minSendable": 1000, "maxSendable": 2000, "metadata": META});
    let res = app
        .http
        .post(&reply_url)
        .body(body.to_string())
        .send()
        .await
        .expect("reply");
    assert_eq!(res.status(), StatusCode::GONE);
    // A guessed token: 404, for a well-formed one and any other.
    for t in ["ab".repeat(32), "1".into(), "zz".repeat(32)] {
        let res = app
            .http
            .post(app.url(&format!("/offline/reply/{t}")))
            .body(body.to_string())
            .send()
            .await
            .expect("reply");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{t}");
    }
    // Answered once, then again: 409.
    phone.script(honest);
    payer_get(&app, &format!("/lnurlp/{pk}")).await;
    let push = phone.pushes().pop().expect("push");
    let reply_url = push["data"]["reply_url"]
        .as_str()
        .expect("reply_url")
        .to_owned();
    let body = json!({"callback": push["data"]["callback_url"], "tag": "payRequest", "minSendable": 1000, "maxSendable": 2000, "metadata": META});
    let res = app
        .http
        .post(&reply_url)
        .body(body.to_string())
        .send()
        .await
        .expect("reply");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    phone.stop().await;
    app.stop(true).await;
}

async fn concurrent_payers_share_one_push(db: TestDb) {
    let app = start(&db, 20).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, None).await;
    phone.script(|p, t, d| match honest(p, t, d) {
        PhoneReply::Send {
            body,
            cache_control,
            ..
        } => PhoneReply::Send {
            body,
            cache_control,
            delay: Duration::from_millis(1500),
        },
        other => other,
    });
    let path = format!("/lnurlp/{pk}");
    let answers = futures_util::future::join_all((0..5).map(|_| payer_get(&app, &path))).await;
    for a in &answers {
        assert_eq!(a["tag"], "payRequest", "{a}");
    }
    assert_eq!(phone.pushes().len(), 1, "one push for five payers");
    phone.stop().await;
    app.stop(true).await;
}

async fn unreachable_and_unknown_wallets(db: TestDb) {
    let app = start(&db, 5).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, Some("jade")).await;
    assert_eq!(
        payer_get(&app, "/.well-known/lnurlp/jade").await["tag"],
        "payRequest"
    );
    let cached = |pk: String| {
        let db = &db;
        async move {
            db.pool()
                .await
                .run(move |c| lnurld::db::models::offline::OfflineInfo::find(c, &pk))
                .await
                .expect("query")
        }
    };
    assert!(cached(pk.clone()).await.is_some());
    phone.script(|_, _, _| PhoneReply::PushFails);
    let v = payer_get(&app, "/.well-known/lnurlp/jade").await;
    assert!(reason(&v).contains("cannot be reached"), "{v}");
    let v = payer_get(&app, &format!("/lnurlp/{}", Phone::new().pubkey)).await;
    assert_eq!(reason(&v), "Unknown address.", "{v}");
    // Released by its owner: "unknown address" while it is held.
    let p = phone.phone();
    let res = app
        .http
        .request(Method::DELETE, app.url(&format!("/lnurlpay/{pk}")))
        .body(p.plain_body(unix_now(), &phone.webhook()).to_string())
        .send()
        .await
        .expect("unregister");
    assert_eq!(res.status(), StatusCode::OK);
    let v = payer_get(&app, "/.well-known/lnurlp/jade").await;
    assert_eq!(reason(&v), "Unknown address.");
    // Nothing of the wallet's pay request is kept with the registration gone.
    assert_eq!(cached(pk).await, None);
    phone.stop().await;
    app.stop(true).await;
}

/// Whether `app`'s /metrics counts exactly one accepted reply.
async fn accepted_one(app: &TestApp) -> bool {
    let (_, m) = app.get_json(&app.url("/metrics")).await;
    m.as_str()
        .unwrap_or_default()
        .lines()
        .any(|l| l == "lnurld_offline_replies_accepted_total 1")
}

/// Two instances on one database: the payer waits on A, the phone's reply
/// reaches B. On PostgreSQL, NOTIFY alone wakes A (its polling is slowed
/// to a minute, longer than the wait); and with NOTIFY off, polling alone
/// does (both databases). Either way the payer is answered within 1.5 s of
/// the moment B accepted the reply (its 200 reached the phone): what came
/// before (the push, the phone's own delay) is not counted.
async fn a_reply_taken_by_another_instance(db: TestDb) {
    let phone = PhoneServer::start().await;
    let mut modes = vec![(false, 250)];
    if db.is_postgres() {
        modes.insert(0, (true, 60_000));
    }
    for (notify, poll_ms) in modes {
        let tweak = |c: &mut lnurld::Config| {
            c.offline.enabled = true;
            c.offline.webhook_hosts = vec!["127.0.0.1".into()];
            c.offline.allow_insecure_webhooks = true;
            c.webhooks.allow_private_targets = true;
            c.offline.reply_timeout_secs = 20;
            c.offline.notify = notify;
            c.offline.poll_ms = poll_ms;
        };
        let a = TestApp::start_with(&db, Node::Dev, tweak).await;
        let b = TestApp::start_with(&db, Node::Dev, tweak).await;
        let pk = register(&a, &phone, None).await;
        phone.reroute(&a.base, &b.base);
        // The phone answers after A's first look at the row, so only a
        // wake-up (NOTIFY) or a later look (polling) can tell A.
        phone.script(|p, t, d| match honest(p, t, d) {
            PhoneReply::Send {
                body,
                cache_control,
                ..
            } => PhoneReply::Send {
                body,
                cache_control,
                delay: Duration::from_millis(1000),
            },
            other => other,
        });
        let replies = phone.replies().len();
        let v = payer_get(&a, &format!("/lnurlp/{pk}")).await;
        let answered = std::time::Instant::now();
        assert_eq!(v["tag"], "payRequest", "notify {notify}: {v}");
        let (status, _) = eventually("the phone's reply", Duration::from_secs(10), || {
            let r = phone.replies();
            async move { r.get(replies).cloned() }
        })
        .await;
        assert_eq!(status, 200, "B took the reply");
        let accepted = phone.replied_at()[replies];
        // B, not A, took it.
        assert!(accepted_one(&b).await, "B accepted the reply");
        assert!(!accepted_one(&a).await, "A did not");
        let latency = answered.saturating_duration_since(accepted);
        eprintln!("notify {notify}, poll {poll_ms} ms: payer answered {latency:?} after B accepted the reply");
        assert!(
            latency < Duration::from_millis(1500),
            "notify {notify}: {latency:?}"
        );
        a.stop(true).await;
        b.stop(true).await;
    }
    phone.stop().await;
}

/// A stranger cannot spam a phone: pushes per wallet are limited (the 11th
/// in a minute is refused before it is sent), and so are payers waiting on
/// one wallet at once. Counted in /metrics.
async fn pushes_and_waiting_payers_are_limited(db: TestDb) {
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        c.offline.enabled = true;
        c.offline.webhook_hosts = vec!["127.0.0.1".into()];
        c.offline.allow_insecure_webhooks = true;
        c.webhooks.allow_private_targets = true;
        c.offline.pushes_per_minute = 10;
        c.offline.push_burst = 10;
        c.offline.max_pending_per_pubkey = 2;
    })
    .await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, None).await;
    let path = format!("/lnurlp/{pk}");
    for _ in 0..10 {
        assert_eq!(payer_get(&app, &path).await["tag"], "payRequest");
    }
    let v = payer_get(&app, &path).await;
    assert!(reason(&v).contains("Too many requests"), "{v}");
    assert_eq!(phone.pushes().len(), 10, "the 11th push was not sent");
    let (_, metrics) = app.get_json(&app.url("/metrics")).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains("lnurld_offline_pushes_total 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lnurld_offline_replies_accepted_total 10"),
        "{metrics}"
    );
    app.stop(true).await;

    // Waiting payers: two at once, the third is told to come back.
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        c.offline.enabled = true;
        c.offline.webhook_hosts = vec!["127.0.0.1".into()];
        c.offline.allow_insecure_webhooks = true;
        c.webhooks.allow_private_targets = true;
        c.offline.max_pending_per_pubkey = 2;
    })
    .await;
    phone.script(|p, t, d| match honest(p, t, d) {
        PhoneReply::Send {
            body,
            cache_control,
            ..
        } => PhoneReply::Send {
            body,
            cache_control,
            delay: Duration::from_millis(1500),
        },
        other => other,
    });
    let invoice = format!("/lnurlpay/{pk}/invoice?amount=2000");
    let answers = futures_util::future::join_all((0..3).map(|i| {
        let app = &app;
        let invoice = &invoice;
        async move {
            // Start one after the other, so the third sees two waiting.
            tokio::time::sleep(Duration::from_millis(200 * i)).await;
            payer_get(app, invoice).await
        }
    }))
    .await;
    let refused: Vec<&Value> = answers.iter().filter(|a| a["status"] == "ERROR").collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert!(
        reason(refused[0]).contains("Too many payers"),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| a["pr"].is_string()).count(),
        2,
        "{answers:?}"
    );
    phone.stop().await;
    app.stop(true).await;
}

/// The operator's view: each registration with its webhook's host (never
/// the URL and its push token) and its counters, paged; a delete leaves
/// payers an "unknown address" and the name held for its owner.
async fn operators_see_and_remove_registrations(db: TestDb) {
    let app = start(&db, 2).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, Some("lee")).await;
    // One push answered for the pay request, one for the invoice, one
    // answered with an invoice that fails a check, one never answered.
    let pay = pay_request(&app, "/.well-known/lnurlp/lee").await;
    app.wallet()
        .get_invoice(&pay, 2000, None, None)
        .await
        .expect("invoice");
    phone.script(|p, t, d| match t {
        "lnurlpay_invoice" => PhoneReply::Send {
            body: json!({"pr": p.invoice(d["amount"].as_u64().unwrap_or(0) + 1000, META, 600, lightning_invoice::Currency::Regtest, None).0, "routes": []}),
            cache_control: None,
            delay: Duration::ZERO,
        },
        _ => honest(p, t, d),
    });
    reason(&payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=2000")).await);
    phone.script(|_, _, _| PhoneReply::Silent);
    let v = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=2000")).await;
    assert!(reason(&v).contains("did not answer in time"), "{v}");

    let res = app
        .http
        .get(app.url("/api/v1/offline/registrations"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "needs a token");
    let res = app
        .http
        .get(app.url("/api/v1/offline/registrations"))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("body");
    assert!(
        !text.contains("token=") && !text.contains("/api/v1/notify"),
        "no webhook URL, no push token: {text}"
    );
    let list: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(list["next_cursor"], Value::Null);
    let row = &list["data"][0];
    assert_eq!(row["pubkey"], json!(pk));
    assert_eq!(row["username"], "lee");
    assert_eq!(row["lightning_address"], "lee@127.0.0.1");
    assert_eq!(row["webhook_host"], "127.0.0.1");
    assert_eq!(
        (
            row["pushes_sent"].as_u64(),
            row["replies_accepted"].as_u64(),
            row["replies_refused"].as_u64(),
            row["timeouts"].as_u64()
        ),
        (Some(4), Some(2), Some(1), Some(1)),
        "{row}"
    );
    assert!(
        row["refreshed_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{row}"
    );

    // Paged newest first by the usual limit and cursor.
    let mut all = vec![pk.clone()];
    for i in 0..4 {
        let p = Phone::new();
        let hook = format!("http://127.0.0.1:9/notify?token=other{i}");
        let res = app
            .http
            .post(app.url(&format!("/lnurlpay/{}", p.pubkey)))
            .body(p.register_body(unix_now(), &hook, None).to_string())
            .send()
            .await
            .expect("register");
        assert_eq!(res.status(), StatusCode::OK);
        all.push(p.pubkey.clone());
    }
    // Registered within a second or two: give them created_at apart, in
    // an order that is neither the registration's nor the pubkeys', and
    // two alike (ties go by pubkey, descending) to fall across a page
    // boundary.
    let t = unix_now();
    let ages = [300, 100, 500, 200, 200];
    for (pubkey, age) in all.iter().zip(ages) {
        set_created_at(&db, pubkey, t - age).await;
    }
    let mut newest_first: Vec<(i64, String)> = all
        .iter()
        .zip(ages)
        .map(|(p, age)| (t - age, p.clone()))
        .collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    let newest_first: Vec<String> = newest_first.into_iter().map(|(_, p)| p).collect();
    assert_eq!(newest_first[0], all[1]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/offline/registrations?limit=2&cursor={c}"),
            None => "/api/v1/offline/registrations?limit=2".to_owned(),
        };
        let (status, page) = app.api(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= 2);
        seen.extend(
            data.iter()
                .map(|r| r["pubkey"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected = all.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    got.dedup();
    assert_eq!(got, expected, "every registration once: {seen:?}");
    assert_eq!(seen.len(), all.len(), "{seen:?}");
    assert_eq!(seen, newest_first, "newest first, across pages");
    let (status, v) = app
        .api(
            Method::GET,
            "/api/v1/offline/registrations?cursor=nope",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = app
        .api(Method::GET, "/api/v1/offline/registrations?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    // Removed: payers get "unknown address", the name stays its owner's.
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/offline/registrations/{pk}")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "needs a token");
    let (status, gone) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/offline/registrations/{pk}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["pubkey"], json!(pk));
    assert_eq!(gone["pushes_sent"], 4);
    let v = payer_get(&app, "/.well-known/lnurlp/lee").await;
    assert_eq!(reason(&v), "Unknown address.");
    let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert_eq!(reason(&v), "Unknown address.");
    let other = Phone::new();
    let res = app
        .http
        .post(app.url(&format!("/lnurlpay/{}", other.pubkey)))
        .body(
            other
                .register_body(unix_now(), &phone.webhook(), Some("lee"))
                .to_string(),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::CONFLICT, "held for its owner");
    for missing in [pk.clone(), "02ab".into(), Phone::new().pubkey] {
        let (status, v) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/offline/registrations/{missing}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {v}");
    }
    let (_, page) = app
        .api(Method::GET, "/api/v1/offline/registrations", None)
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(4), "{page}");
    // Its owner takes it back by registering again.
    let pk2 = register(&app, &phone, Some("lee")).await;
    assert_eq!(pk2, pk);
    phone.stop().await;
    app.stop(true).await;
}

/// LUD-21 verify through the phone: the invoice answer carries lnurld's
/// verify URL when the phone offered it; a verify request becomes an
/// `lnurlpay_verify` push (one for concurrent payers), the reply is checked
/// (a "settled" needs the preimage of the hash) and lnurld writes the
/// answer; an unsettled answer is cached for the phone's max-age, a proved
/// payment for good; hashes lnurld never relayed wake nobody.
async fn payers_verify_through_the_phone(db: TestDb) {
    let app = start(&db, 3).await;
    let phone = PhoneServer::start().await;
    let pk = register(&app, &phone, Some("vera")).await;
    let pay = pay_request(&app, "/.well-known/lnurlp/vera").await;
    let invoice = app
        .wallet()
        .get_invoice(&pay, 4000, None, None)
        .await
        .expect("invoice");
    let parsed: lightning_invoice::Bolt11Invoice = invoice.pr.parse().expect("bolt11");
    let hash = hex::encode(AsRef::<[u8]>::as_ref(parsed.payment_hash()));
    let verify_url = app.url(&format!("/lnurlpay/{pk}/{hash}"));
    assert_eq!(invoice.verify.as_deref(), Some(verify_url.as_str()));

    // Not paid yet: the phone is asked, with exactly the NDS's shape.
    let n = phone.pushes().len();
    let v = app.wallet().verify(&verify_url).await.expect("verify");
    assert!(!v.settled && v.preimage.is_none(), "{v:?}");
    assert_eq!(v.pr, invoice.pr.to_lowercase());
    let pushes = phone.pushes();
    assert_eq!(pushes.len(), n + 1);
    assert_eq!(pushes[n]["template"], "lnurlpay_verify");
    let data = pushes[n]["data"].as_object().expect("data");
    assert_eq!(data.len(), 2, "{data:?}");
    assert_eq!(data["payment_hash"], json!(hash));
    assert!(data["reply_url"]
        .as_str()
        .is_some_and(|u| u.starts_with(&app.url("/offline/reply/"))));
    let raw = payer_get(&app, &format!("/lnurlpay/{pk}/{hash}")).await;
    assert_eq!(
        raw,
        json!({"status": "OK", "settled": false, "preimage": null, "pr": invoice.pr.to_lowercase()})
    );
    assert_eq!(phone.pushes().len(), n + 2, "no max-age: asked again");

    // Each bad verify reply: 422 to the phone, an error to the payer.
    let wrong = hex::encode([9u8; 32]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"status": "OK", "settled": true, "preimage": wrong}),
            "sha256",
        ),
        (
            json!({"status": "OK", "settled": true, "preimage": null}),
            "missing",
        ),
        (
            json!({"settled": false, "pr": "lnbcrt10n1other"}),
            "relayed",
        ),
        (
            json!({"settled": false, "successAction": {"tag": "message"}}),
            "unexpected field",
        ),
    ];
    for (bad, why) in cases {
        let replies = phone.replies().len();
        let b = bad.clone();
        phone.script(move |p, t, d| match t {
            "lnurlpay_verify" => PhoneReply::Send {
                body: b.clone(),
                cache_control: None,
                delay: Duration::ZERO,
            },
            _ => honest(p, t, d),
        });
        let v = payer_get(&app, &format!("/lnurlpay/{pk}/{hash}")).await;
        assert!(reason(&v).contains("failed lnurld's checks"), "{bad}: {v}");
        let all = eventually("the phone's reply", Duration::from_secs(10), || {
            let r = phone.replies();
            async move { (r.len() > replies).then_some(r) }
        })
        .await;
        let (status, body) = all.last().cloned().expect("reply");
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body.contains(why), "{why}: {body}");
    }

    // max-age: later payers are answered without waking the phone; and
    // concurrent payers share one push.
    phone.script(|p, t, d| match (t, honest(p, t, d)) {
        ("lnurlpay_verify", PhoneReply::Send { body, .. }) => PhoneReply::Send {
            body,
            cache_control: Some("max-age=3600"),
            delay: Duration::from_millis(1000),
        },
        (_, other) => other,
    });
    let n = phone.pushes().len();
    let path = format!("/lnurlpay/{pk}/{hash}");
    let answers = futures_util::future::join_all((0..4).map(|_| payer_get(&app, &path))).await;
    for a in &answers {
        assert_eq!(a["settled"], false, "{a}");
    }
    assert_eq!(phone.pushes().len(), n + 1, "one push for four payers");
    assert_eq!(payer_get(&app, &path).await["settled"], false);
    assert_eq!(phone.pushes().len(), n + 1, "served from the cache");
    // ... but "not paid yet" for a minute at most, whatever the max-age
    // (the payment may arrive any moment).
    let inv = invoice_row(&db, &hash).await;
    let t = unix_now();
    assert!(
        inv.verify_cached_until > t && inv.verify_cached_until <= t + 60,
        "cached until {} at {t}, max-age=3600",
        inv.verify_cached_until
    );
    // And never past the invoice's expiry (made nearer than a minute here).
    let expires = unix_now() + 20;
    set_invoice_times(&db, &hash, expires, 0).await;
    payer_get(&app, &path).await;
    assert_eq!(phone.pushes().len(), n + 2, "the cache was cleared");
    let inv = invoice_row(&db, &hash).await;
    assert!(
        inv.verify_cached_until > unix_now() && inv.verify_cached_until <= expires,
        "cached until {} past the expiry {expires}",
        inv.verify_cached_until
    );

    // Paid: the phone proves it with the preimage; lnurld answers from then
    // on without asking the phone (a second invoice, the first is cached).
    let second = app
        .wallet()
        .get_invoice(&pay, 5000, None, None)
        .await
        .expect("invoice");
    let url2 = second.verify.clone().expect("verify URL");
    let hash2 = url2.rsplit('/').next().expect("hash").to_owned();
    let payer =
        lnurld::node::dev::DevNode::open(&db.dir().join("payer.key"), db.pool().await, 100_000_000)
            .expect("payer node");
    let out = payer
        .pay(&second.pr, 1000, Duration::from_secs(5))
        .await
        .expect("pays");
    assert!(matches!(out, PaymentOutcome::Succeeded { .. }), "{out:?}");
    phone.script(|p, t, d| match t {
        "lnurlpay_verify" => {
            let h = d["payment_hash"].as_str().unwrap_or_default();
            PhoneReply::Send {
                body: json!({"status": "OK", "settled": true, "preimage": p.preimage(h), "pr": null}),
                cache_control: Some("max-age=3"),
                delay: Duration::ZERO,
            }
        }
        _ => honest(p, t, d),
    });
    let v = app.wallet().verify(&url2).await.expect("verify");
    assert!(v.settled, "{v:?}");
    let pre = v.preimage.clone().expect("preimage");
    assert_eq!(Some(pre.clone()), phone.phone().preimage(&hash2));
    let n = phone.pushes().len();
    phone.script(|_, _, _| PhoneReply::Silent);
    let again = app.wallet().verify(&url2).await.expect("verify");
    assert!(again.settled && again.preimage == Some(pre), "{again:?}");
    assert_eq!(phone.pushes().len(), n, "a proved payment needs no push");

    // Hashes lnurld never relayed for this wallet wake nobody.
    let other = PhoneServer::start().await;
    let other_pk = register(&app, &other, None).await;
    for path in [
        format!("/lnurlpay/{pk}/{}", "ab".repeat(32)),
        format!("/lnurlpay/{other_pk}/{hash}"),
        format!("/lnurlpay/{pk}/nothex"),
        format!("/lnurlpay/02ab/{hash}"),
    ] {
        let v = payer_get(&app, &path).await;
        assert_eq!(reason(&v), "Not found.", "{path}: {v}");
    }
    assert_eq!(phone.pushes().len(), n);
    assert!(other.pushes().is_empty());

    // A phone that offers no verify: the payer gets no verify URL, and
    // the hash is not verifiable.
    phone.script(|p, t, d| match t {
        "lnurlpay_invoice" => {
            let amount = d["amount"].as_u64().unwrap_or(0);
            let (pr, _) = p.invoice(
                amount,
                META,
                600,
                lightning_invoice::Currency::Regtest,
                None,
            );
            PhoneReply::Send {
                body: json!({"pr": pr, "routes": []}),
                cache_control: None,
                delay: Duration::ZERO,
            }
        }
        _ => honest(p, t, d),
    });
    let raw = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=6000")).await;
    assert!(raw.get("verify").is_none(), "{raw}");
    let pr: lightning_invoice::Bolt11Invoice =
        raw["pr"].as_str().expect("pr").parse().expect("bolt11");
    let h = hex::encode(AsRef::<[u8]>::as_ref(pr.payment_hash()));
    let v = payer_get(&app, &format!("/lnurlpay/{pk}/{h}")).await;
    assert_eq!(reason(&v), "Not found.", "{v}");
    // Its payment hash stays taken after the request rows are purged (an
    // hour past their deadline): the same invoice is not relayed again.
    let pool = db.pool().await;
    pool.run(|c| {
        use diesel::prelude::*;
        diesel::delete(lnurld::db::schema::offline_requests::table).execute(c)?;
        Ok(())
    })
    .await
    .expect("purge the requests");
    let again = raw["pr"].as_str().expect("pr").to_owned();
    let replies = phone.replies().len();
    phone.script(move |p, t, d| match t {
        "lnurlpay_invoice" => PhoneReply::Send {
            body: json!({"pr": again.clone(), "routes": []}),
            cache_control: None,
            delay: Duration::ZERO,
        },
        _ => honest(p, t, d),
    });
    let v = payer_get(&app, &format!("/lnurlpay/{pk}/invoice?amount=6000")).await;
    assert!(reason(&v).contains("failed lnurld's checks"), "{v}");
    let all = eventually("the phone's reply", Duration::from_secs(10), || {
        let r = phone.replies();
        async move { (r.len() > replies).then_some(r) }
    })
    .await;
    let (status, body) = all.last().cloned().expect("reply");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("already relayed"), "{body}");
    other.stop().await;
    phone.stop().await;
    app.stop(true).await;
}

/// Every encoding of `needle` a dump could show it in.
fn encodings(needle: &str) -> Vec<String> {
    use base64::Engine;
    let b = needle.as_bytes();
    vec![
        needle.to_owned(),
        hex::encode(b),
        hex::encode_upper(b),
        base64::engine::general_purpose::STANDARD.encode(b),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(b),
        base64::engine::general_purpose::URL_SAFE.encode(b),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        url::form_urlencoded::byte_serialize(b).collect(),
    ]
}

/// The stored webhook column of `pubkey`.
async fn stored_webhook(db: &TestDb, pubkey: &str) -> String {
    let pk = pubkey.to_owned();
    db.pool()
        .await
        .run(move |c| lnurld::db::models::offline::OfflineRegistration::find(c, &pk))
        .await
        .expect("query")
        .expect("registered")
        .webhook_url
}

/// The stored value holds neither the push token nor the URL: not in
/// clear, not in any encoding, and not in the bytes its base64 decodes to.
fn assert_sealed(stored: &str, token: &str, url: &str) {
    use base64::Engine;
    assert!(stored.starts_with("v2:"), "{stored}");
    for needle in [token, url] {
        for enc in encodings(needle) {
            assert!(!stored.contains(&enc), "{enc} in {stored}");
            assert!(
                !stored.to_lowercase().contains(&enc.to_lowercase()),
                "{enc} in {stored}"
            );
        }
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(stored.trim_start_matches("v2:"))
        .expect("base64 after v2:");
    for needle in [token.as_bytes(), url.as_bytes()] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "clear bytes in the sealed value"
        );
    }
}

/// The push token in a webhook URL is stored sealed with the server key
/// (bound to its pubkey), only the host in clear; `lnurld key rotate`
/// re-seals it and pushes still arrive under the new key; a URL stored in
/// clear by an older version is sealed at the next start.
async fn push_tokens_are_sealed_and_survive_a_key_rotation(db: TestDb) {
    let app = start(&db, 10).await;
    let phone = PhoneServer::start().await;
    let token = hex::encode(rand::random::<[u8; 24]>());
    let hook = phone.webhook_with_token(&token);
    let p = phone.phone();
    let res = app
        .http
        .post(app.url(&format!("/lnurlpay/{}", p.pubkey)))
        .body(p.register_body(unix_now(), &hook, Some("sia")).to_string())
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::OK);
    let pk = p.pubkey.clone();
    let before = stored_webhook(&db, &pk).await;
    assert_sealed(&before, &token, &hook);
    assert_eq!(
        payer_get(&app, &format!("/lnurlp/{pk}")).await["tag"],
        "payRequest"
    );
    assert_eq!(phone.pushes().len(), 1);
    // Operators see the host alone.
    let (_, listed) = app
        .api(Method::GET, "/api/v1/offline/registrations", None)
        .await;
    assert_eq!(listed["data"][0]["webhook_host"], "127.0.0.1");
    app.stop(true).await;

    let new_file = db.dir().join("new.key");
    let out = crate::support::serve::lnurld_on(&db)
        .env("LNURLD_SECRET_KEY", crate::support::app::TEST_SECRET_KEY)
        .env("RUST_LOG", "warn")
        .args(["key", "rotate", "--new-key-file"])
        .arg(&new_file)
        .output()
        .expect("run lnurld");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 offline push webhook(s) re-sealed"),
        "{stdout}"
    );
    let after = stored_webhook(&db, &pk).await;
    assert_ne!(after, before, "re-sealed under the new key");
    assert_sealed(&after, &token, &hook);

    let new_key = std::fs::read_to_string(&new_file).expect("new key");
    let restart = |key: String| {
        let db = &db;
        async move {
            TestApp::start_with(db, Node::Dev, move |c| {
                c.secret_key = Some(key);
                c.offline.enabled = true;
                c.offline.webhook_hosts = vec!["127.0.0.1".into()];
                c.offline.allow_insecure_webhooks = true;
                c.webhooks.allow_private_targets = true;
                c.offline.reply_timeout_secs = 10;
            })
            .await
        }
    };
    let app = restart(new_key.clone()).await;
    assert_eq!(
        payer_get(&app, &format!("/lnurlp/{pk}")).await["tag"],
        "payRequest"
    );
    assert_eq!(
        phone.pushes().len(),
        2,
        "the push arrived under the new key"
    );
    app.stop(true).await;

    // A URL an older version stored in clear is sealed at the next start.
    let (pk2, hook2, after2) = (pk.clone(), hook.clone(), after.clone());
    let replaced = db
        .pool()
        .await
        .run(move |c| lnurld::db::models::sealed::replace_offline_webhook(c, &pk2, &after2, &hook2))
        .await
        .expect("write");
    assert!(replaced);
    let app = restart(new_key).await;
    assert_sealed(&stored_webhook(&db, &pk).await, &token, &hook);
    assert_eq!(
        payer_get(&app, &format!("/lnurlp/{pk}")).await["tag"],
        "payRequest"
    );
    assert_eq!(phone.pushes().len(), 3);

    // At push time the URL is checked again: a row whose recorded host is
    // not the URL's gets no push (and no reply token) ...
    set_webhook_host(&db, &pk, "127.0.0.2").await;
    let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert!(reason(&v).contains("cannot be reached"), "{v}");
    assert_eq!(phone.pushes().len(), 3, "no push to an unbound host");
    set_webhook_host(&db, &pk, "127.0.0.1").await;
    app.stop(true).await;
    // ... nor one whose host is no longer in [offline] webhook_hosts.
    let key = std::fs::read_to_string(&new_file).expect("new key");
    let config = |hosts: &[&str]| {
        let key = key.clone();
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        move |c: &mut lnurld::config::Config| {
            c.secret_key = Some(key);
            c.offline.enabled = true;
            c.offline.webhook_hosts = hosts;
            c.offline.allow_insecure_webhooks = true;
            c.webhooks.allow_private_targets = true;
            c.offline.reply_timeout_secs = 10;
        }
    };
    let app = TestApp::start_with(&db, Node::Dev, config(&["127.0.0.2"])).await;
    let v = payer_get(&app, &format!("/lnurlp/{pk}")).await;
    assert!(reason(&v).contains("cannot be reached"), "{v}");
    assert_eq!(phone.pushes().len(), 3, "no push to a delisted host");
    app.stop(true).await;

    // A URL stored in clear is sealed at start only if it passes the
    // current policy and its host is the recorded one: otherwise the start
    // is refused, naming the row, and the value is left as it was.
    let sealed_now = stored_webhook(&db, &pk).await;
    let (pk2, hook2) = (pk.clone(), hook.clone());
    let replaced = db
        .pool()
        .await
        .run(move |c| {
            lnurld::db::models::sealed::replace_offline_webhook(c, &pk2, &sealed_now, &hook2)
        })
        .await
        .expect("write");
    assert!(replaced);
    set_webhook_host(&db, &pk, "127.0.0.2").await;
    for (hosts, why) in [
        (&["127.0.0.1", "127.0.0.2"][..], "not to its recorded host"),
        (&["127.0.0.2"][..], "not in [offline] webhook_hosts"),
    ] {
        if hosts.len() == 1 {
            set_webhook_host(&db, &pk, "127.0.0.1").await;
        }
        let mut c = crate::support::app::test_config(&db, Node::Dev, crate::support::free_port());
        config(hosts)(&mut c);
        c.validate().expect("valid config");
        let e = match lnurld::App::build(c, lnurld::NodeCheck::Required).await {
            Ok(_) => panic!("started with an unchecked push webhook ({why})"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(&pk) && e.contains(why), "{e}");
        assert!(!e.contains(&token), "{e}");
        assert_eq!(stored_webhook(&db, &pk).await, hook, "not sealed");
    }
    let app = TestApp::start_with(&db, Node::Dev, config(&["127.0.0.1"])).await;
    assert_sealed(&stored_webhook(&db, &pk).await, &token, &hook);
    assert_eq!(
        payer_get(&app, &format!("/lnurlp/{pk}")).await["tag"],
        "payRequest"
    );
    assert_eq!(phone.pushes().len(), 4);
    phone.stop().await;
    app.stop(true).await;
}

/// Sets the recorded webhook host of `pubkey` (as a tampered row would).
async fn set_webhook_host(db: &TestDb, pubkey: &str, host: &str) {
    use diesel::prelude::*;
    use lnurld::db::schema::offline_registrations::dsl as r;
    let (pk, host) = (pubkey.to_owned(), host.to_owned());
    db.pool()
        .await
        .run(move |c| {
            diesel::update(r::offline_registrations.find(pk))
                .set(r::webhook_host.eq(host))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("update");
}

/// The `offline_invoices` row of `hash`.
async fn invoice_row(db: &TestDb, hash: &str) -> lnurld::db::models::offline::OfflineInvoice {
    let h = hash.to_owned();
    db.pool()
        .await
        .run(move |c| lnurld::db::models::offline::OfflineInvoice::find(c, &h))
        .await
        .expect("query")
        .expect("kept")
}

/// Sets `hash`'s expiry and how long its unsettled answer is served.
async fn set_invoice_times(db: &TestDb, hash: &str, expires_at: i64, cached_until: i64) {
    use diesel::prelude::*;
    use lnurld::db::schema::offline_invoices::dsl as i;
    let h = hash.to_owned();
    db.pool()
        .await
        .run(move |c| {
            diesel::update(i::offline_invoices.find(h))
                .set((
                    i::expires_at.eq(expires_at),
                    i::verify_cached_until.eq(cached_until),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("update");
}

/// A push that fails (the webhook's port refuses, or accepts and closes at
/// once) is logged with the host and the reason, never with the URL: its
/// query is the app's push token. Through the real `lnurld serve` and its
/// log.
async fn failed_pushes_log_no_push_token(db: TestDb) {
    let served = Served::start(
        &db,
        &[
            ("LNURLD_OFFLINE__ENABLED", "true"),
            ("LNURLD_OFFLINE__WEBHOOK_HOSTS", "127.0.0.1"),
            ("LNURLD_OFFLINE__ALLOW_INSECURE_WEBHOOKS", "true"),
            ("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
            ("LNURLD_OFFLINE__REPLY_TIMEOUT_SECS", "5"),
            ("RUST_LOG", "info,lnurld=debug"),
        ],
        "022",
    )
    .await;
    // A port nobody listens on: connection refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    // A port that accepts and closes at once.
    let closing = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closes = closing.local_addr().expect("addr").port();
    let closer = tokio::spawn(async move {
        while let Ok((sock, _)) = closing.accept().await {
            drop(sock);
        }
    });
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for port in [refused, closes] {
        let p = Phone::new();
        let token = hex::encode(rand::random::<[u8; 24]>());
        let hook = format!("http://127.0.0.1:{port}/api/v1/notify?platform=android&token={token}");
        let res = http
            .post(format!("{}/lnurlpay/{}", served.base, p.pubkey))
            .body(p.register_body(unix_now(), &hook, None).to_string())
            .send()
            .await
            .expect("register");
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = http
            .get(format!("{}/lnurlp/{}", served.base, p.pubkey))
            .send()
            .await
            .expect("payer")
            .json()
            .await
            .expect("JSON");
        assert!(reason(&v).contains("cannot be reached"), "{v}");
        tokens.push((token, hook));
    }
    closer.abort();
    let log = served.stop();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("offline push failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    for line in &failed {
        assert!(line.contains("127.0.0.1"), "the host is named: {line}");
    }
    for (token, hook) in &tokens {
        for enc in encodings(token).into_iter().chain(encodings(hook)) {
            assert!(!log.contains(&enc), "{enc} in the log: {log}");
        }
    }
}

/// The phone's reply and the operator's delete of its registration at the
/// same moment, round after round: on PostgreSQL each reply's transaction
/// is held for two seconds right after it rewrote the cached pay request
/// (a trigger on `offline_info`), and the delete is sent meanwhile. Both
/// must take the registration row before `offline_info`: in the opposite
/// orders they deadlock and one of them fails (a 500 to the phone or to
/// the operator). Neither may fail, and no cached pay request outlives its
/// registration. On SQLite (one writer) the same rounds run without the
/// trigger.
async fn a_reply_and_an_operator_delete_at_once(db: TestDb) {
    let app = start(&db, 10).await;
    let pool = db.pool().await;
    pool.run(|c| {
        use diesel::connection::SimpleConnection;
        if let lnurld::db::DbConn::Pg(c) = c {
            c.batch_execute(
                "CREATE FUNCTION slow_info() RETURNS trigger AS $$ BEGIN \
                 PERFORM pg_sleep(2); RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER slow_info AFTER INSERT ON offline_info \
                 FOR EACH ROW EXECUTE FUNCTION slow_info();",
            )?;
        }
        Ok(())
    })
    .await
    .expect("trigger");
    let phone = PhoneServer::start().await;
    let path = |pk: &str| format!("/lnurlp/{pk}");
    for round in 0..3 {
        // A webhook of its own each round: the same statement signed
        // within one second would be a replay.
        let p = phone.phone();
        let hook = phone.webhook_with_token(&format!("round{round}"));
        let res = app
            .http
            .post(app.url(&format!("/lnurlpay/{}", p.pubkey)))
            .body(p.register_body(unix_now(), &hook, None).to_string())
            .send()
            .await
            .expect("register");
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        let pk = p.pubkey.clone();
        // The first pay request leaves a cached one behind (no max-age: it
        // is stale at once), so the next reply rewrites an existing row.
        assert_eq!(payer_get(&app, &path(&pk)).await["tag"], "payRequest");
        let (pushes, replies) = (phone.pushes().len(), phone.replies().len());
        let payer = {
            let url = app.url(&path(&pk));
            let http = app.http.clone();
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
        };
        eventually("the push", Duration::from_secs(10), || {
            let n = phone.pushes().len();
            async move { (n > pushes).then_some(()) }
        })
        .await;
        // The reply is posted at once; on PostgreSQL its transaction then
        // sleeps in the trigger for two seconds.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (status, v) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/offline/registrations/{pk}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "round {round}: {v}");
        let got = payer.await.expect("join").expect("payer");
        assert_eq!(got, StatusCode::OK, "round {round}");
        let all = eventually("the reply", Duration::from_secs(15), || {
            let r = phone.replies();
            async move { (r.len() > replies).then_some(r) }
        })
        .await;
        let (status, body) = all.last().cloned().expect("reply");
        assert!(
            status == 200 || status == 410,
            "round {round}: the reply got {status} {body}"
        );
        let pk2 = pk.clone();
        let cached = pool
            .run(move |c| lnurld::db::models::offline::OfflineInfo::find(c, &pk2))
            .await
            .expect("query");
        assert_eq!(
            cached, None,
            "round {round}: a cached pay request outlived its registration"
        );
    }
    phone.stop().await;
    app.stop(true).await;
}

/// Sets when `pubkey` first registered.
async fn set_created_at(db: &TestDb, pubkey: &str, at: i64) {
    use diesel::prelude::*;
    use lnurld::db::schema::offline_registrations::dsl as r;
    let pk = pubkey.to_owned();
    db.pool()
        .await
        .run(move |c| {
            diesel::update(r::offline_registrations.find(pk))
                .set(r::created_at.eq(at))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("update");
}
