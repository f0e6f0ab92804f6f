//! Admin tokens: listed without their secret, names unique among active
//! ones, and a revoked token refused at once by every instance on the
//! database (nothing caches a token).

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::serve::lnurld_on;

async fn get_with(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
}

async fn revoked_tokens_stop_at_once_on_every_instance(db: TestDb) {
    let a = TestApp::start(&db, Node::Dev).await;
    let b = TestApp::start(&db, Node::Dev).await;
    let ops = a.svc.tokens().create("ops").await.expect("token");
    // Made on one instance, it works on the other.
    assert_eq!(get_with(&b, &ops, "/api/v1/withdraw-links").await, 200);

    // Unique names among active tokens.
    let again = a.svc.tokens().create("ops").await.unwrap_err();
    assert_eq!(again.code().as_str(), "conflict", "{again}");

    let (status, list) = a.api(Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(status, 200, "{list}");
    let text = list.to_string();
    assert!(!text.contains(&ops), "the token itself is never listed");
    assert!(
        !text.contains(&hex::encode(Sha256::digest(ops.as_bytes()))),
        "nor its hash"
    );
    let rows = list["data"].as_array().unwrap();
    let row = |name: &str| -> Value {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed: {list}"))
    };
    let ops_row = row("ops");
    assert!(ops_row["created_at"].is_string(), "{ops_row}");
    // Used on b a moment ago; a's own token by the listing itself.
    assert!(ops_row["last_used_at"].is_string(), "{ops_row}");
    assert!(ops_row["revoked_at"].is_null(), "{ops_row}");
    let ops_id = ops_row["id"].as_str().unwrap().to_owned();

    let (status, revoked) = a
        .api(Method::DELETE, &format!("/api/v1/tokens/{ops_id}"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    // Refused at once, on the instance that did not revoke it too.
    assert_eq!(get_with(&b, &ops, "/api/v1/withdraw-links").await, 401);
    assert_eq!(get_with(&a, &ops, "/api/v1/withdraw-links").await, 401);
    // The others still work; a second revoke finds nothing active.
    assert_eq!(get_with(&b, &b.token, "/api/v1/withdraw-links").await, 200);
    let (status, _) = a
        .api(Method::DELETE, &format!("/api/v1/tokens/{ops_id}"), None)
        .await;
    assert_eq!(status, 404);
    // A revoked token's name is free again.
    a.svc.tokens().create("ops").await.expect("name reused");
    a.stop(true).await;
    b.stop(true).await;
}

async fn token_commands(db: TestDb) {
    let run = |args: &[&str]| {
        let out = lnurld_on(&db)
            .env("LNURLD_SECRET_KEY", crate::support::app::TEST_SECRET_KEY)
            .args(args)
            .output()
            .expect("run lnurld");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["migrate"]).0, Some(0));
    let (code, token, _) = run(&["token", "create", "--name", "deploy"]);
    assert_eq!(code, Some(0));
    let token = token.trim().to_owned();
    let (code, _, err) = run(&["token", "create", "--name", "deploy"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("already named \"deploy\""), "{err}");

    let (_, list, _) = run(&["token", "list"]);
    let mut lines = list.lines();
    let header = lines.next().unwrap();
    for col in ["ID", "NAME", "CREATED", "LAST USED", "REVOKED"] {
        assert!(header.contains(col), "{list}");
    }
    assert!(list.contains("deploy") && list.contains("never"), "{list}");
    assert!(!list.contains(&token), "{list}");

    let (code, said, err) = run(&["token", "revoke", "deploy"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(said.contains("(deploy) revoked"), "{said}");
    let (_, json, _) = run(&["token", "list", "--json"]);
    let json: Value = serde_json::from_str(&json).unwrap();
    let deploy = &json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deploy")
        .unwrap()["revoked_at"];
    assert!(deploy.is_string(), "{json}");
    let (code, _, err) = run(&["token", "revoke", "deploy"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no active token"), "{err}");
}

crate::both_dbs!(
    revoked_tokens_stop_at_once_on_every_instance,
    token_commands
);
