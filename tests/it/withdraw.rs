//! LNURL-withdraw end to end: lnurl-rs as the wallet, the `lnd` backend
//! against the fake LND, on SQLite and PostgreSQL.

use std::time::Duration;

use lightning_invoice::Currency;
use lnurl::api::LnUrlResponse;
use lnurl::withdraw::WithdrawalResponse;
use lnurl::Response;
use reqwest::Method;
use serde_json::{json, Value};

use lnurld::db::models::WithdrawalState;
use lnurld::db::types::{Msat, WithdrawLinkId, WithdrawLinkStatus};
use lnurld::service::withdraw::links::MAX_BATCH_COUNT;
use lnurld::service::withdraw::{LinkView, WithdrawalView};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FailureReason, FakeLnd, Finish, PayBehavior};
use crate::support::wallet::{wallet_invoice, withdraw_request};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// `GET /api/v1/withdraw-links`: a page of links (the handler builds this
/// envelope inline, so the test names the part it reads).
#[derive(Debug, serde::Deserialize)]
struct LinkPage {
    data: Vec<LinkView>,
}

/// Reads a JSON body as `T`, failing the test with the body on a mismatch.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// `POST /api/v1/withdraw-links`, read as the API's own view.
pub(crate) async fn create(app: &TestApp, body: Value) -> LinkView {
    typed(app.create_withdraw(body).await)
}

/// `GET /api/v1/withdraw-links/{id}`, read as the API's own view.
pub(crate) async fn get_link(app: &TestApp, id: &WithdrawLinkId) -> LinkView {
    typed(app.withdraw_link(id.as_str()).await)
}

/// Decodes the link's LNURL and does LUD-03 step 1 like a wallet.
pub(crate) async fn first_step(app: &TestApp, link: &LinkView) -> WithdrawalResponse {
    let w = withdraw_request(app, &link.lnurl).await;
    let decoded = lnurl::lnurl::LnUrl::decode(link.lnurl.clone()).expect("an LNURL");
    assert_eq!(decoded.url, link.url);
    w
}

/// Claims a 5,000 msat single-use link with a fresh wallet invoice and
/// waits until its withdrawal is `in_flight` (the fake node should hold it).
pub(crate) async fn held_in_flight(app: &TestApp) -> (WithdrawLinkId, lnurld::node::PaymentHash) {
    let link = create(app, json!({"min_msat": 5_000, "max_msat": 5_000})).await;
    let w = first_step(app, &link).await;
    let (pr, hash) = wallet_invoice(5_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    wait_state(app, &link.id, &hash.to_hex(), WithdrawalState::InFlight).await;
    (link.id, hash)
}

pub(crate) async fn withdrawal_states(app: &TestApp, id: &WithdrawLinkId) -> Vec<WithdrawalView> {
    get_link(app, id).await.withdrawals.unwrap_or_default()
}

pub(crate) async fn wait_state(
    app: &TestApp,
    link_id: &WithdrawLinkId,
    hash: &str,
    state: WithdrawalState,
) -> WithdrawalView {
    eventually(&format!("withdrawal {hash} {state}"), WAIT, || async {
        withdrawal_states(app, link_id)
            .await
            .into_iter()
            .find(|w| w.payment_hash == hash && w.state == state)
    })
    .await
}

both_dbs!(
    happy_path,
    a_one_sat_withdrawal_may_spend_at_most_50_msat_on_fees,
    concurrent_callbacks_single_use,
    concurrent_callbacks_three_uses,
    same_invoice_twice_is_paid_once,
    bad_requests_change_nothing,
    link_state_refusals,
    crash_while_in_flight_then_success,
    crash_while_in_flight_then_failure_gives_use_back,
    two_instances_one_database,
    external_id_is_idempotent,
    secrets_are_not_stored_in_clear,
    garbage_never_gets_a_server_error,
    balance_check_pay_link_and_extra_params,
    a_refused_resend_never_gives_back_a_use_still_in_flight,
    a_payment_in_flight_keeps_a_live_lease,
    new_link_limits_are_exact,
);

async fn happy_path(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 7 });
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 100_000, "max_msat": 100_000, "title": "Voucher", "description": "Voucher #1"}))
        .await;
    assert!(link.lnurl.as_str().starts_with("LNURL1"));
    assert!(link.lnurlw.starts_with("lnurlw://127.0.0.1:"));

    let w = first_step(&app, &link).await;
    assert_eq!(w.min_withdrawable, Some(100_000));
    assert_eq!(w.max_withdrawable, 100_000);
    assert_eq!(w.default_description, "Voucher #1");
    assert!(w.callback.starts_with(&app.base));

    let (pr, hash) = wallet_invoice(100_000);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));

    let id = &link.id;
    let done = wait_state(&app, id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(done.fee_msat.map(Msat::get), Some(7));
    assert_eq!(done.amount_msat.get(), 100_000);
    assert!(done.preimage.is_some());
    let paid = fake.payments();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].bolt11, pr);
    // The fee limit follows [withdraw]: max(2000 msat, 1% of 100000 msat).
    assert_eq!(paid[0].fee_limit_msat, 2_000);
    let l = get_link(&app, id).await;
    assert_eq!(l.uses_left, 0);
    assert_eq!(l.status, WithdrawLinkStatus::Spent);

    // The used-up link now answers step 1 with a readable ERROR.
    let (_, body) = app.get_json(link.url.as_str()).await;
    assert_eq!(body["status"], "ERROR");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{body}"
    );
    app.stop(true).await;
}

/// Issue 11: the 2,000 msat floor would let a 1-sat faucet withdrawal pay
/// twice its amount in fees; `max_fee_floor_ppm` (5 %) caps it at 50 msat,
/// and that is the limit the node is given.
async fn a_one_sat_withdrawal_may_spend_at_most_50_msat_on_fees(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    let (pr, hash) = wallet_invoice(1_000);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));
    let done = wait_state(&app, &link.id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(done.max_fee_msat.get(), 50);
    assert_eq!(fake.payments()[0].fee_limit_msat, 50);
    app.stop(true).await;
}

async fn concurrent_callbacks(db: TestDb, uses: u64) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 50_000, "uses": uses}),
    )
    .await;
    let w = first_step(&app, &link).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let w = w.clone();
        let wallet = app.wallet();
        let (pr, _) = wallet_invoice(10_000);
        tasks.push(tokio::spawn(
            async move { wallet.do_withdrawal(&w, &pr).await },
        ));
    }
    let mut ok = 0;
    let mut errors = 0;
    for t in tasks {
        match t.await.unwrap().expect("answer") {
            Response::Ok(()) => ok += 1,
            Response::Error { reason } => {
                assert!(!reason.is_empty());
                errors += 1
            }
        }
    }
    assert_eq!(ok, uses, "exactly {uses} callbacks accepted");
    assert_eq!(errors, 50 - uses);
    let id = link.id.clone();
    eventually("all accepted withdrawals paid", WAIT, || async {
        let ws = withdrawal_states(&app, &id).await;
        (ws.len() as u64 == uses && ws.iter().all(|w| w.state == WithdrawalState::Succeeded))
            .then_some(())
    })
    .await;
    assert_eq!(fake.payments().len() as u64, uses);
    assert_eq!(
        fake.send_attempts() as u64,
        uses,
        "no second attempt reached the node"
    );
    assert_eq!(get_link(&app, &id).await.uses_left, 0);
    app.stop(true).await;
}

async fn concurrent_callbacks_single_use(db: TestDb) {
    concurrent_callbacks(db, 1).await
}

async fn concurrent_callbacks_three_uses(db: TestDb) {
    concurrent_callbacks(db, 3).await
}

async fn same_invoice_twice_is_paid_once(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 50_000, "uses": 3}),
    )
    .await;
    let w = first_step(&app, &link).await;
    let (pr, hash) = wallet_invoice(20_000);
    // Twice at the same time, then again after it was paid.
    let (wa, wb) = (app.wallet(), app.wallet());
    let (a, b) = tokio::join!(wa.do_withdrawal(&w, &pr), wb.do_withdrawal(&w, &pr));
    assert_eq!(a.unwrap(), Response::Ok(()));
    assert_eq!(b.unwrap(), Response::Ok(()));
    let id = &link.id;
    wait_state(&app, id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.send_attempts(), 1);
    let l = get_link(&app, id).await;
    assert_eq!(l.uses_left, 2, "one invoice took one use");
    assert_eq!(l.withdrawals.unwrap_or_default().len(), 1);

    // The same invoice on another link is refused.
    let other = create(&app, json!({"min_msat": 1_000, "max_msat": 50_000})).await;
    let w2 = first_step(&app, &other).await;
    match app.wallet().do_withdrawal(&w2, &pr).await.unwrap() {
        Response::Error { reason } => assert!(reason.contains("already been used"), "{reason}"),
        ok => panic!("expected ERROR, got {ok:?}"),
    }
    assert_eq!(get_link(&app, &other.id).await.uses_left, 1);
    app.stop(true).await;
}

/// What a wallet shows: one style whichever layer refused.
pub(crate) fn is_sentence(reason: &str) -> bool {
    reason.chars().next().is_some_and(char::is_uppercase) && reason.ends_with(['.', '!', '?'])
}

/// Asserts the callback is refused with a reason containing `needle`, as a
/// sentence.
pub(crate) async fn refused(app: &TestApp, url: &str, needle: &str) {
    let (status, body) = app.get_json(url).await;
    assert_eq!(status, 200, "LUD errors are HTTP 200: {body}");
    assert_eq!(body["status"], "ERROR", "{url} → {body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(is_sentence(reason), "reason {reason:?} is not a sentence");
    let reason = reason.to_ascii_lowercase();
    assert!(
        reason.contains(&needle.to_ascii_lowercase()),
        "reason {reason:?} should mention {needle:?}"
    );
}

async fn bad_requests_change_nothing(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 10_000, "max_msat": 20_000})).await;
    let w = first_step(&app, &link).await;
    let cb = |k1: &str, pr: &str| format!("{}?k1={}&pr={}", w.callback, k1, pr);
    let (good_pr, _) = wallet_invoice(15_000);

    refused(&app, &cb("00", &good_pr), "k1").await;
    refused(
        &app,
        &app.url("/lnurlw/0123456789abcdef0123456789abcdef"),
        "unknown",
    )
    .await;
    refused(
        &app,
        &app.url(&format!(
            "/lnurlw/0123456789abcdef0123456789abcdef/callback?k1={}&pr={good_pr}",
            w.k1
        )),
        "unknown",
    )
    .await;
    refused(
        &app,
        &app.url("/lnurlw/not-a-secret/callback?k1=x&pr=y"),
        "unknown",
    )
    .await;
    refused(&app, &format!("{}?k1={}", w.callback, w.k1), "missing").await;

    let (amountless, _, _) =
        FakeLnd::wallet_invoice(None, Duration::from_secs(600), Currency::Regtest);
    refused(&app, &cb(&w.k1, &amountless), "amount").await;
    refused(
        &app,
        &cb(&w.k1, &wallet_invoice(9_999).0),
        "The amount (9.999 sats) is below the minimum of 10 sats.",
    )
    .await;
    refused(&app, &cb(&w.k1, &wallet_invoice(20_001).0), "maximum").await;
    let (mainnet, _, _) =
        FakeLnd::wallet_invoice(Some(15_000), Duration::from_secs(600), Currency::Bitcoin);
    refused(&app, &cb(&w.k1, &mainnet), "mainnet").await;
    refused(&app, &cb(&w.k1, "lnbcrt1garbage"), "invoice").await;
    // Not UTF-8 at all: refused as text before it is read as an invoice.
    refused(&app, &cb(&w.k1, "%FF%FE"), "pr is not valid UTF-8").await;
    let (expiring, _, _) =
        FakeLnd::wallet_invoice(Some(15_000), Duration::from_secs(1), Currency::Regtest);
    // Let the invoice's own one-second expiry pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(&app, &cb(&w.k1, &expiring), "expired").await;

    let l = get_link(&app, &link.id).await;
    assert_eq!(l.uses_left, 1);
    assert_eq!(l.withdrawals.unwrap_or_default().len(), 0);
    assert_eq!(fake.send_attempts(), 0);

    // Still usable afterwards.
    assert_eq!(
        app.wallet().do_withdrawal(&w, &good_pr).await.unwrap(),
        Response::Ok(())
    );

    // Admin API: bad JSON and bad values are 4xx JSON errors, nothing written.
    for body in [
        json!({"min_msat": 0, "max_msat": 10}),
        json!({"min_msat": 20, "max_msat": 10}),
        json!({"min_msat": -5, "max_msat": 10}),
        json!({"min_msat": 1000, "max_msat": 1000, "uses": 0}),
        json!({"min_msat": 1000, "max_msat": 1000, "expires_at": "tomorrow"}),
        json!({"min_msat": 1000, "max_msat": 1000, "bogus": 1}),
        json!({"min_msat": 1000, "max_msat": 1000, "webhook_url": "ftp://x"}),
        // A pay_link needs both a scheme a wallet follows and a host.
        json!({"min_msat": 1000, "max_msat": 1000, "pay_link": "ftp://x.example"}),
        json!({"min_msat": 1000, "max_msat": 1000, "pay_link": "lnurlp:x.example"}),
    ] {
        let (status, v) = app
            .api(Method::POST, "/api/v1/withdraw-links", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} → {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let (status, v) = app
        .api(Method::GET, "/api/v1/withdraw-links?limit=500", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        typed::<LinkPage>(v).data.len(),
        1,
        "no partly written links"
    );
    let res = app
        .http
        .get(app.url("/api/v1/withdraw-links"))
        .bearer_auth("lnurld_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop(true).await;
}

async fn link_state_refusals(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;

    // Disabled.
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    let id = &link.id;
    let (status, v) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/withdraw-links/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(typed::<LinkView>(v).status, WithdrawLinkStatus::Disabled);
    refused(&app, link.url.as_str(), "disabled").await;
    refused(
        &app,
        &format!("{}?k1={}&pr={}", w.callback, w.k1, wallet_invoice(1_000).0),
        "disabled",
    )
    .await;

    // Expired. The margin lets a loaded machine create the link and take
    // the first step before it expires; then wait until it has.
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
    let soon = expiry
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let link = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "expires_at": soon}),
    )
    .await;
    let w = first_step(&app, &link).await;
    let left = expiry - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1100);
    tokio::time::sleep(left.try_into().unwrap_or_default()).await;
    refused(&app, link.url.as_str(), "expired").await;
    refused(
        &app,
        &format!("{}?k1={}&pr={}", w.callback, w.k1, wallet_invoice(1_000).0),
        "expired",
    )
    .await;

    // Wait time between uses.
    let link = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "uses": 2, "wait_seconds": 3600}),
    )
    .await;
    let w = first_step(&app, &link).await;
    assert_eq!(
        app.wallet()
            .do_withdrawal(&w, &wallet_invoice(1_000).0)
            .await
            .unwrap(),
        Response::Ok(())
    );
    refused(
        &app,
        &format!("{}?k1={}&pr={}", w.callback, w.k1, wallet_invoice(1_000).0),
        "wait",
    )
    .await;
    let l = get_link(&app, &link.id).await;
    assert_eq!(l.uses_left, 1);
    assert_eq!(l.withdrawals.unwrap_or_default().len(), 1);
    app.stop(true).await;
}

async fn crash_while_in_flight_then_success(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (id, hash) = held_in_flight(&app).await;
    eventually("the node holds the payment", WAIT, || async {
        (fake.payments().len() == 1).then_some(())
    })
    .await;

    app.stop(false).await;
    let before = fake.tracks_for(hash);
    let app2 = TestApp::start(&db, Node::Lnd(&fake)).await;
    // The new instance must track, not pay again: once the dead payer's
    // lease has run out, it looks the payment up again and again.
    eventually("the new instance tracks the payment", WAIT, || async {
        (fake.tracks_for(hash) >= before + 3).then_some(())
    })
    .await;
    assert_eq!(
        fake.send_attempts(),
        1,
        "the restarted server did not pay again"
    );
    assert!(fake.finish(hash, Finish::Succeed { fee_msat: 3 }));
    let done = wait_state(&app2, &id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(done.fee_msat.map(Msat::get), Some(3));
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.send_attempts(), 1);
    app2.stop(true).await;
}

async fn crash_while_in_flight_then_failure_gives_use_back(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 5_000, "max_msat": 5_000})).await;
    let id = link.id.clone();
    let w = first_step(&app, &link).await;
    let (pr, hash) = wallet_invoice(5_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    wait_state(&app, &id, &hash.to_hex(), WithdrawalState::InFlight).await;
    assert_eq!(get_link(&app, &id).await.uses_left, 0);

    app.stop(false).await;
    let app2 = TestApp::start(&db, Node::Lnd(&fake)).await;
    assert!(fake.finish(hash, Finish::Fail(FailureReason::FailureReasonNoRoute)));
    let failed = wait_state(&app2, &id, &hash.to_hex(), WithdrawalState::Failed).await;
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("route")),
        "{failed:?}"
    );
    assert_eq!(get_link(&app2, &id).await.uses_left, 1, "use given back");

    // Retrying the failed invoice is refused with the reason; a new one works.
    let w = first_step(&app2, &link).await;
    match app2.wallet().do_withdrawal(&w, &pr).await.unwrap() {
        Response::Error { reason } => assert!(reason.contains("new invoice"), "{reason}"),
        ok => panic!("expected ERROR, got {ok:?}"),
    }
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 0 });
    let (pr2, hash2) = wallet_invoice(5_000);
    assert_eq!(
        app2.wallet().do_withdrawal(&w, &pr2).await.unwrap(),
        Response::Ok(())
    );
    wait_state(&app2, &id, &hash2.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(fake.payments().len(), 2);
    assert_eq!(get_link(&app2, &id).await.uses_left, 0);
    app2.stop(true).await;
}

async fn two_instances_one_database(db: TestDb) {
    let fake = FakeLnd::start().await;
    let a = TestApp::start(&db, Node::Lnd(&fake)).await;
    let b = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(
        &a,
        json!({"min_msat": 1_000, "max_msat": 50_000, "uses": 3}),
    )
    .await;
    let w_a = first_step(&a, &link).await;
    // The same link as served by the other instance (its own base URL).
    let secret = link.secret.as_str();
    let w_b = match b
        .wallet()
        .make_request(&b.url(&format!("/lnurlw/{secret}")))
        .await
        .unwrap()
    {
        LnUrlResponse::LnUrlWithdrawResponse(w) => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(w_a.k1, w_b.k1, "instances share the server key");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let w = if i % 2 == 0 { w_a.clone() } else { w_b.clone() };
        let wallet = a.wallet();
        let (pr, _) = wallet_invoice(2_000);
        tasks.push(tokio::spawn(
            async move { wallet.do_withdrawal(&w, &pr).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == Response::Ok(()) {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
    let id = link.id.clone();
    eventually("three paid", WAIT, || async {
        let ws = withdrawal_states(&b, &id).await;
        (ws.len() == 3 && ws.iter().all(|w| w.state == WithdrawalState::Succeeded)).then_some(())
    })
    .await;
    assert_eq!(fake.payments().len(), 3);
    assert_eq!(
        fake.send_attempts(),
        3,
        "each withdrawal was sent by exactly one payer"
    );
    a.stop(true).await;
    b.stop(true).await;
}

async fn external_id_is_idempotent(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let body = json!({"min_msat": 1_000, "max_msat": 1_000, "external_id": "order-42"});
    let (s1, first) = app
        .api(Method::POST, "/api/v1/withdraw-links", Some(body.clone()))
        .await;
    assert_eq!(s1, 201);
    let (s2, again) = app
        .api(Method::POST, "/api/v1/withdraw-links", Some(body.clone()))
        .await;
    assert_eq!(s2, 200);
    let (first, again): (LinkView, LinkView) = (typed(first), typed(again));
    assert_eq!(first.id, again.id);
    assert_eq!(first.lnurl, again.lnurl, "the same link, shown again");

    // Concurrent creations with one new external id make one link.
    let body = json!({"min_msat": 1_000, "max_msat": 1_000, "external_id": "order-43"});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let http = app.http.clone();
        let url = app.url("/api/v1/withdraw-links");
        let token = app.token.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<LinkView>().await.expect("a LinkView").id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one link for one external id");
    let (_, list) = app.api(Method::GET, "/api/v1/withdraw-links", None).await;
    assert_eq!(typed::<LinkPage>(list).data.len(), 2);
    app.stop(true).await;
}

async fn secrets_are_not_stored_in_clear(db: TestDb) {
    use diesel::prelude::*;
    use lnurld::db::schema::withdraw_links::dsl as w;
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let secret = link.secret.as_str().to_owned();
    let k1 = first_step(&app, &link).await.k1;
    let rows: Vec<(String, String, String)> = db
        .pool()
        .await
        .run(|c| {
            Ok(w::withdraw_links
                .select((w::id, w::secret_lookup, w::secret_enc))
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for col in [&rows[0].0, &rows[0].1, &rows[0].2] {
        assert!(!col.contains(&secret), "secret stored in clear");
        assert!(!col.contains(&k1), "k1 stored");
    }
    // Shown again by the admin API (decrypted with the server key).
    let again = get_link(&app, &link.id).await;
    assert_eq!(again.secret, secret);
    app.stop(true).await;

    // The database without the server key spends nothing. The key check
    // would refuse this start; someone with write access can put their own
    // key's check value in, so that defence is set aside here to test this
    // one alone.
    let other_key = [0x22u8; 32];
    let check = lnurld::service::ServerKeys::from_master(&other_key).check_value();
    db.pool()
        .await
        .run(move |c| {
            use lnurld::db::schema::server_key_check::dsl as k;
            diesel::update(k::server_key_check)
                .set(k::check_value.eq(check))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let other = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        c.secret_key = Some(hex::encode(other_key));
    })
    .await;
    let (_, v) = other
        .get_json(&other.url(&format!("/lnurlw/{secret}")))
        .await;
    assert_eq!(v["status"], "ERROR", "{v}");
    let (status, v) = other
        .api(
            Method::GET,
            &format!("/api/v1/withdraw-links/{}", link.id),
            None,
        )
        .await;
    assert_eq!(status, 500, "cannot decrypt without the key: {v}");
    assert!(!v.to_string().contains(&secret));
    other.stop(true).await;
}

async fn garbage_never_gets_a_server_error(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 2_000})).await;
    let secret = link.secret.as_str();
    let garbage = [
        "%00",
        "%ZZ",
        "%FF%FE%FD",
        "\u{0}",
        "'; DROP TABLE withdrawals; --",
        "a&b&c=&=&&",
        "k1=&pr=",
        "pr=lnbc1&pr=lnbc2",
        "k1=%E2%98%83&pr=%E2%98%83",
    ];
    let long = "x".repeat(6000);
    let paths = [
        format!("/lnurlw/{secret}/callback?"),
        "/lnurlw/%00/callback?".to_owned(),
        "/lnurlp/%FF/callback?".to_owned(),
        "/lnurlp/pl_x/callback?amount=".to_owned(),
        "/.well-known/lnurlp/%E2%98%83?".to_owned(),
        "/lnurlp/verify/zz?".to_owned(),
    ];
    for p in &paths {
        for g in garbage.iter().copied().chain([long.as_str()]) {
            let res = app
                .http
                .get(format!("{}{}{}", app.base, p, g))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(status.as_u16() < 500, "{p}{g} → {status} {body}");
            if status == 200 {
                let v: Value =
                    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{p}{g}: {body}"));
                assert_eq!(v["status"], "ERROR", "{p}{g}: {v}");
            }
        }
    }
    let l = get_link(&app, &link.id).await;
    assert_eq!(l.uses_left, 1);
    assert_eq!(fake.send_attempts(), 0);
    app.stop(true).await;
}

async fn balance_check_pay_link_and_extra_params(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let plain = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let (_, body) = app.get_json(plain.url.as_str()).await;
    assert!(
        body.get("balanceCheck").is_none() && body.get("payLink").is_none(),
        "{body}"
    );
    assert_eq!(body["tag"], "withdrawRequest");
    assert_eq!(body["minWithdrawable"], 1_000);

    let link = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 3_000, "uses": 2,
            "balance_check": true, "pay_link": "lnurlp://127.0.0.1/lnurlp/pl_abc"}),
    )
    .await;
    let (_, body) = app.get_json(link.url.as_str()).await;
    assert_eq!(
        body["balanceCheck"], link.url,
        "LUD-14: the same link answers again"
    );
    assert_eq!(body["payLink"], "lnurlp://127.0.0.1/lnurlp/pl_abc");
    // LUD-14: GETting balanceCheck gives another withdrawRequest.
    let (_, again) = app.get_json(body["balanceCheck"].as_str().unwrap()).await;
    assert_eq!(again["tag"], "withdrawRequest");

    // Parameters the wallet adds beyond k1 and pr (LUD-15 balanceNotify) are tolerated.
    let (pr, hash) = wallet_invoice(2_000);
    let notify: String =
        url::form_urlencoded::byte_serialize(b"https://wallet.example/notify?x=1").collect();
    let (_, ok) = app
        .get_json(&format!(
            "{}?k1={}&pr={pr}&balanceNotify={notify}",
            body["callback"].as_str().unwrap(),
            body["k1"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ok, json!({"status": "OK"}));
    wait_state(&app, &link.id, &hash.to_hex(), WithdrawalState::Succeeded).await;

    // Nothing left to withdraw on a balance-checked link: min = max = 0, not
    // an ERROR (LUD-14, 2026), so the wallet keeps balanceCheck and payLink.
    let single = create(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000, "balance_check": true}),
    )
    .await;
    let w1 = first_step(&app, &single).await;
    let (pr, hash) = wallet_invoice(1_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w1, &pr).await.unwrap(),
        Response::Ok(())
    );
    wait_state(&app, &single.id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    let (_, empty) = app.get_json(single.url.as_str()).await;
    assert_eq!(empty["tag"], "withdrawRequest", "{empty}");
    assert_eq!(empty["minWithdrawable"], 0);
    assert_eq!(empty["maxWithdrawable"], 0);
    assert_eq!(empty["balanceCheck"], single.url);
    refused(
        &app,
        &format!(
            "{}?k1={}&pr={}",
            w1.callback,
            w1.k1,
            wallet_invoice(1_000).0
        ),
        "already been used",
    )
    .await;

    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links",
            Some(json!({"min_msat": 1, "max_msat": 1, "pay_link": "not a url"})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    app.stop(true).await;
}

async fn a_refused_resend_never_gives_back_a_use_still_in_flight(db: TestDb) {
    use lnurld::db::models::Withdrawal;
    use lnurld::service::withdraw::payout::Step;
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create(&app, json!({"min_msat": 5_000, "max_msat": 5_000})).await;
    let id = link.id.clone();
    let w = first_step(&app, &link).await;
    let (pr, hash, _) =
        FakeLnd::wallet_invoice(Some(5_000), Duration::from_secs(3), Currency::Regtest);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    wait_state(&app, &id, &hash.to_hex(), WithdrawalState::InFlight).await;
    // Let the invoice expire while the first attempt is still held by the node.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let h = hash.to_hex();
    // Its own connection: the service layer does not lend out its pool.
    let pool = db.pool().await;
    let row = pool
        .run(move |c| Withdrawal::find_by_hash(c, &h))
        .await
        .unwrap()
        .unwrap();
    // A second send is refused ("invoice expired") before lnd looks at the
    // hash; the payment is still in flight, so the use must stay claimed.
    assert_eq!(
        app.svc.withdraw().send_withdrawal(&row).await.unwrap(),
        Step::Unknown
    );
    let l = get_link(&app, &id).await;
    assert_eq!(l.uses_left, 0);
    assert_eq!(
        l.withdrawals.unwrap_or_default()[0].state,
        WithdrawalState::InFlight
    );
    assert!(fake.finish(hash, Finish::Succeed { fee_msat: 1 }));
    wait_state(&app, &id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(fake.payments().len(), 1);
    app.stop(true).await;
}

/// The payer's lease is what keeps another instance from taking over (and
/// re-sending) a payment the node is still working on: it must start a
/// lease that ends a few seconds from now, and renew it while the node
/// holds the payment.
async fn a_payment_in_flight_keeps_a_live_lease(db: TestDb) {
    use lnurld::db::models::Withdrawal;
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let lease_secs = 2; // `test_config`'s `[withdraw] lease_secs`.
    let (id, hash) = held_in_flight(&app).await;
    let pool = db.pool().await;
    let lease = || {
        let h = hash.to_hex();
        let pool = pool.clone();
        async move {
            let row = pool
                .run(move |c| Withdrawal::find_by_hash(c, &h))
                .await
                .expect("read")
                .expect("row");
            (row.lease_owner, row.lease_until.unwrap_or(0))
        }
    };
    let unix = || lnurld::service::now();
    let (owner, until) = lease().await;
    assert!(owner.is_some(), "an in-flight row has a lease owner");
    assert!(
        until > unix() && until <= unix() + lease_secs + 1,
        "lease ends at {until}, now {}",
        unix()
    );
    // Twice the lease later, the node still holds the payment: the payer
    // has renewed, so the lease still lies ahead.
    tokio::time::sleep(Duration::from_secs(2 * lease_secs as u64)).await;
    let (again, until) = lease().await;
    assert_eq!(again, owner, "the same payer holds it");
    assert!(until > unix(), "lease ends at {until}, now {}", unix());
    assert!(fake.finish(hash, Finish::Succeed { fee_msat: 1 }));
    wait_state(&app, &id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(fake.send_attempts(), 1);
    app.stop(true).await;
}

/// Every limit of a new link is exact: the last value allowed is taken, one
/// past it is refused with the field named. (The text fields are checked twice, by their text
/// rule and by the service's own count; both must agree on the edge.)
async fn new_link_limits_are_exact(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let with = |field: &str, v: Value| {
        let mut body = json!({"min_msat": 1000, "max_msat": 1000});
        body[field] = v;
        body
    };
    let max = lnurld::service::MAX_AMOUNT_MSAT;
    let year = 366 * 86_400_u64;
    // (taken, refused, the field the refusal names)
    let cases = [
        (
            json!({"min_msat": 1, "max_msat": 1}),
            json!({"min_msat": 0, "max_msat": 1}),
            "min_msat",
        ),
        (
            json!({"min_msat": 7, "max_msat": 7}),
            json!({"min_msat": 7, "max_msat": 6}),
            "max_msat",
        ),
        (
            json!({"min_msat": 1, "max_msat": max}),
            json!({"min_msat": 1, "max_msat": max + 1}),
            "max_msat",
        ),
        (with("uses", json!(1)), with("uses", json!(0)), "uses"),
        (
            with("uses", json!(1_000_000)),
            with("uses", json!(1_000_001)),
            "uses",
        ),
        (
            with("wait_seconds", json!(year)),
            with("wait_seconds", json!(year + 1)),
            "wait_seconds",
        ),
        (
            with("title", json!("t".repeat(200))),
            with("title", json!("t".repeat(201))),
            "title",
        ),
        (
            with("description", json!("d".repeat(639))),
            with("description", json!("d".repeat(640))),
            "description",
        ),
        (
            with("external_id", json!("x".repeat(200))),
            with("external_id", json!("y".repeat(201))),
            "external_id",
        ),
        (
            with("external_id", json!("x")),
            with("external_id", json!("")),
            "external_id",
        ),
    ];
    for (taken, refused, field) in cases {
        let (status, v) = app
            .api(Method::POST, "/api/v1/withdraw-links", Some(taken.clone()))
            .await;
        assert!(status.is_success(), "{taken} → {status} {v}");
        let (status, v) = app
            .api(
                Method::POST,
                "/api/v1/withdraw-links",
                Some(refused.clone()),
            )
            .await;
        assert_eq!(status, 400, "{refused} → {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{refused} → {v}");
    }
    // A batch holds 1 to MAX_BATCH_COUNT vouchers.
    let batch = |count: u32| json!({"count": count, "min_msat": 1000, "max_msat": 1000});
    for count in [0, MAX_BATCH_COUNT + 1] {
        let (status, v) = app
            .api(
                Method::POST,
                "/api/v1/withdraw-links/batch",
                Some(batch(count)),
            )
            .await;
        assert_eq!(status, 400, "count {count} → {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("count"),
            "{v}"
        );
    }
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links/batch",
            Some(batch(MAX_BATCH_COUNT)),
        )
        .await;
    assert!(
        status.is_success(),
        "count {MAX_BATCH_COUNT} → {status} {v}"
    );
}
