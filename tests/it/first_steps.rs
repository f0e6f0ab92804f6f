//! The first-step cache (`service/cache.rs`): `withdrawRequest` and
//! `payRequest` may be answered from memory, but never older than this
//! process's own last change to the link; another process's change is
//! seen within `first_step_cache_secs`. The tests set an hour, so only the
//! forgetting after each change can make an answer fresh.

use std::time::Duration;

use lnurl::Response;
use reqwest::Method;
use serde_json::json;

use lnurld::db::models::WithdrawLink;
use lnurld::db::{Db, DbUrl};
use lnurld::service::withdraw::WithdrawalView;

use crate::both_dbs;
use crate::pay::{create_pay, pay_response};
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FailureReason, FakeLnd, PayBehavior};
use crate::support::wallet::wallet_invoice;
use crate::withdraw::{create, first_step, refused, typed};

both_dbs!(
    withdraw_first_steps_follow_this_process_at_once,
    pay_first_steps_follow_this_process_at_once,
    other_processes_are_seen_within_the_time_to_live,
);

async fn start(db: &TestDb, fake: &FakeLnd, secs: u32) -> TestApp {
    TestApp::start_with(db, Node::Lnd(fake), |c| c.first_step_cache_secs = secs).await
}

async fn withdraw_first_steps_follow_this_process_at_once(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start(&db, &fake, 3600).await;

    // A claim.
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    let ok = app
        .wallet()
        .do_withdrawal(&w, &wallet_invoice(1_000).0)
        .await;
    assert_eq!(ok.unwrap(), Response::Ok(()));
    refused(&app, link.url.as_str(), "already been used").await;

    // A failed payment gives the use back.
    fake.set_pay_behavior(PayBehavior::Fail(FailureReason::FailureReasonNoRoute));
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    let ok = app
        .wallet()
        .do_withdrawal(&w, &wallet_invoice(1_000).0)
        .await;
    assert_eq!(ok.unwrap(), Response::Ok(()));
    let id = link.id.as_str().to_owned();
    eventually(
        "the withdrawal has failed",
        Duration::from_secs(20),
        || async {
            let (_, v) = app
                .api(Method::GET, &format!("/api/v1/withdraw-links/{id}"), None)
                .await;
            let ws: Vec<WithdrawalView> = typed(v["withdrawals"].clone());
            ws.first().and_then(|w| w.failure_reason.clone())
        },
    )
    .await;
    let again = first_step(&app, &link).await;
    assert_eq!(again.max_withdrawable, 1_000, "the use is back at once");

    // Disabled by the API.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/withdraw-links/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    refused(&app, link.url.as_str(), "disabled").await;

    // A voucher batch disabled as a whole.
    let (status, batch) = app
        .api(
            Method::POST,
            "/api/v1/withdraw-links/batch",
            Some(json!({"count": 2, "min_msat": 1_000, "max_msat": 1_000})),
        )
        .await;
    assert_eq!(status, 201, "{batch}");
    let url = batch["links"][0]["url"]
        .as_str()
        .expect("a voucher url")
        .to_owned();
    let (status, v) = app.get_json(&url).await;
    assert_eq!(
        (status.as_u16(), v["tag"].as_str()),
        (200, Some("withdrawRequest")),
        "{v}"
    );
    let batch_id = batch["batch_id"].as_str().expect("batch id");
    let (status, v) = app
        .api(
            Method::DELETE,
            &format!("/api/v1/withdraw-links/batch/{batch_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    refused(&app, &url, "disabled").await;
    app.stop(true).await;
}

async fn pay_first_steps_follow_this_process_at_once(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start(&db, &fake, 3600).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "Before", "username": "alice"}),
    )
    .await;
    let id = link.id.as_str().to_owned();
    let address = |name: &str| app.url(&format!("/.well-known/lnurlp/{name}"));
    assert!(pay_response(&app, &link.url)
        .await
        .metadata
        .contains("Before"));
    assert!(pay_response(&app, &address("alice"))
        .await
        .metadata
        .contains("Before"));

    let (status, v) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/pay-links/{id}"),
            Some(json!({"description": "After", "username": "bob"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(pay_response(&app, &link.url)
        .await
        .metadata
        .contains("After"));
    assert!(pay_response(&app, &address("bob"))
        .await
        .metadata
        .contains("After"));
    let (_, v) = app.get_json(&address("alice")).await;
    assert_eq!(v["status"], "ERROR", "the old name is free at once: {v}");

    // Another link takes the freed name: the address serves it, not the old one.
    let other = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 5_000, "description": "Other", "username": "alice"}),
    )
    .await;
    assert!(pay_response(&app, &address("alice"))
        .await
        .metadata
        .contains("Other"));

    let (status, _) = app
        .api(Method::DELETE, &format!("/api/v1/pay-links/{id}"), None)
        .await;
    assert_eq!(status, 200);
    for url in [link.url.clone(), address("bob")] {
        let (_, v) = app.get_json(&url).await;
        assert_eq!(v["status"], "ERROR", "{url} after disable: {v}");
    }
    assert!(pay_response(&app, &other.url)
        .await
        .metadata
        .contains("Other"));
    app.stop(true).await;
}

/// Disables a link the way another instance would: in the database, not
/// through this process.
async fn disable_elsewhere(db: &TestDb, id: &str) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let other = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
        .await
        .unwrap()
        .unwrap();
    let id = lnurld::db::types::WithdrawLinkId::from_raw(id);
    let changed = other
        .write(move |c| WithdrawLink::disable(c, &id, lnurld::db::now_unix()))
        .await
        .unwrap();
    assert!(changed);
}

async fn other_processes_are_seen_within_the_time_to_live(db: TestDb) {
    let fake = FakeLnd::start().await;

    // An hour: the other process's change is not seen (the row is served
    // from memory), while the callback, which always reads the database,
    // refuses.
    let app = start(&db, &fake, 3600).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    disable_elsewhere(&db, link.id.as_str()).await;
    let again = first_step(&app, &link).await;
    assert_eq!(again.max_withdrawable, 1_000, "served from memory");
    refused(
        &app,
        &format!("{}?k1={}&pr={}", w.callback, w.k1, wallet_invoice(1_000).0),
        "disabled",
    )
    .await;
    app.stop(true).await;

    // One second: seen once it has passed.
    let app = start(&db, &fake, 1).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    first_step(&app, &link).await;
    disable_elsewhere(&db, link.id.as_str()).await;
    let url = link.url.clone();
    eventually(
        "the other process's change is seen",
        Duration::from_secs(10),
        || async {
            let (_, v) = app.get_json(&url).await;
            (v["status"] == "ERROR").then_some(())
        },
    )
    .await;
    refused(&app, link.url.as_str(), "disabled").await;
    app.stop(true).await;

    // Zero: never kept.
    let app = start(&db, &fake, 0).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    first_step(&app, &link).await;
    disable_elsewhere(&db, link.id.as_str()).await;
    refused(&app, link.url.as_str(), "disabled").await;
    app.stop(true).await;
}
