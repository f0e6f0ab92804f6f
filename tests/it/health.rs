//! `/healthz` says whether each component answers, never why not, and the
//! admin API's errors carry their stable codes.

use std::time::Duration;

use reqwest::StatusCode;

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;

both_dbs!(healthz_reports_a_down_node_without_its_error_text);

async fn healthz_reports_a_down_node_without_its_error_text(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (status, up) = app.get_json(&app.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(up["status"], "ok");
    assert_eq!(up["node"]["ok"], true);
    assert_eq!(up["node"]["pubkey"], fake.pubkey());
    assert_eq!(up["database"]["ok"], true);

    fake.stop().await;
    let (status, down) = app.get_json(&app.url("/healthz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{down}");
    assert_eq!(down["status"], "degraded");
    assert_eq!(down["node"]["ok"], false);
    assert_eq!(down["node"]["kind"], "lnd");
    assert_eq!(down["database"]["ok"], true);
    // Nothing of the cause reaches a stranger: no error field, no address.
    let text = down.to_string();
    assert!(down["node"].get("error").is_none(), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!text.to_lowercase().contains("connect"), "{text}");

    fake.restart().await;
    eventually("node healthy again", Duration::from_secs(15), || async {
        let (status, _) = app.get_json(&app.url("/healthz")).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    app.stop(true).await;
}

both_dbs!(admin_errors_carry_their_codes);

async fn admin_errors_carry_their_codes(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let no_token = app
        .http
        .get(app.url("/api/v1/withdraw-links"))
        .send()
        .await
        .expect("request");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_token
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let body: serde_json::Value = no_token.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");

    for (path, status, code) in [
        (
            "/api/v1/withdraw-links/wl_nope",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/withdraw-links?limit=0",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/events?state=bogus",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&app.token)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), status, "{path}");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    app.stop(true).await;
}
