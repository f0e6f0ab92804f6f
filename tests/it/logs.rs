//! Log levels (issue 10): a stranger's bad requests are logged at DEBUG,
//! never ERROR, so they cannot fill the operator's error alerts. Through
//! the real `lnurld serve` with `RUST_LOG=info,lnurld=debug`: the refusals'
//! DEBUG lines must be there (so the test sees the lines it judges) and no
//! line may be at ERROR.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::db::TestDb;
use crate::support::serve::{lines_at, lnurld_on, Served};

both_dbs!(bad_requests_from_strangers_are_not_errors);

async fn bad_requests_from_strangers_are_not_errors(db: TestDb) {
    let migrated = lnurld_on(&db)
        .arg("migrate")
        .output()
        .expect("run lnurld migrate");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let out = lnurld_on(&db)
        .env("RUST_LOG", "warn")
        .args(["token", "create", "--name", "ops"])
        .output()
        .expect("run lnurld token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();

    let served = Served::start(&db, &[("RUST_LOG", "info,lnurld=debug")], "022").await;
    let base = served.base.clone();
    let http = reqwest::Client::new();
    let admin =
        |m: Method, path: &str| http.request(m, format!("{base}{path}")).bearer_auth(&token);
    let made: Value = admin(Method::POST, "/api/v1/withdraw-links")
        .json(&json!({"min_msat": 1_000, "max_msat": 1_000}))
        .send()
        .await
        .expect("create withdraw link")
        .json()
        .await
        .expect("json");
    let secret = made["secret"].as_str().expect("secret").to_owned();
    let pay: Value = admin(Method::POST, "/api/v1/pay-links")
        .json(&json!({"min_msat": 1_000, "max_msat": 2_000, "description": "x"}))
        .send()
        .await
        .expect("create pay link")
        .json()
        .await
        .expect("json");
    let id = pay["id"].as_str().expect("id").to_owned();
    let req: Value = http
        .get(format!("{base}/lnurlw/{secret}"))
        .send()
        .await
        .expect("withdrawRequest")
        .json()
        .await
        .expect("json");
    let k1 = req["k1"].as_str().expect("k1").to_owned();

    let zeros = "0".repeat(64);
    let gets = [
        // Wallet routes.
        "/lnurlw/nosuchsecret".to_owned(),
        format!("/lnurlw/{secret}/callback?k1=00&pr=lnbcrt1x"),
        format!("/lnurlw/{secret}/callback?k1={k1}&pr=notaninvoice"),
        format!("/lnurlw/{secret}/callback?k1={k1}"),
        "/lnurlw/nosuchsecret/callback?k1=00&pr=x".to_owned(),
        "/lnurlp/pl_nope".to_owned(),
        "/lnurlp/pl_nope/callback?amount=1000".to_owned(),
        format!("/lnurlp/{id}/callback?amount=abc"),
        format!("/lnurlp/{id}/callback?amount=1"),
        format!("/lnurlp/{id}/callback?amount=999999999999999"),
        format!("/lnurlp/{id}/callback?amount=-5"),
        format!("/lnurlp/{id}/callback"),
        format!("/lnurlp/{id}/callback?amount=1000&comment=too-long"),
        "/lnurlp/verify/nothex".to_owned(),
        format!("/lnurlp/verify/{zeros}"),
        "/.well-known/lnurlp/nobody".to_owned(),
        "/.well-known/lnurlp/NO%20BODY".to_owned(),
        // Pages and QR images.
        "/w/nosuchsecret".to_owned(),
        "/w/nosuchsecret/status".to_owned(),
        "/p/pl_nope".to_owned(),
        "/u/nobody".to_owned(),
        "/qr/p/pl_nope.png".to_owned(),
        "/qr/w/nosuchsecret.svg".to_owned(),
        "/qr/u/nobody.bmp".to_owned(),
        "/vouchers/nope".to_owned(),
        // Unknown paths.
        "/nope".to_owned(),
        "/api/v1/nope".to_owned(),
        "/lnurlw".to_owned(),
        "/../../etc/passwd".to_owned(),
    ];
    for path in &gets {
        let r = http.get(format!("{base}{path}")).send().await.expect(path);
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
    // The admin API with a valid token and bad input, and without one.
    let bad_admin = [
        admin(Method::POST, "/api/v1/withdraw-links")
            .header("content-type", "application/json")
            .body("{"),
        admin(Method::POST, "/api/v1/withdraw-links")
            .json(&json!({"min_msat": 2_000, "max_msat": 1_000})),
        admin(Method::POST, "/api/v1/pay-links").json(&json!({"min_msat": "x"})),
        admin(Method::POST, "/api/v1/pay-links")
            .json(&json!({"min_msat": 1_000, "max_msat": 1_000, "description": "x", "username": "no body"})),
        admin(Method::GET, "/api/v1/withdraw-links/wl_nope"),
        admin(Method::GET, "/api/v1/pay-links/pl_nope"),
        admin(Method::DELETE, "/api/v1/pay-links/pl_nope"),
        admin(Method::PATCH, &format!("/api/v1/pay-links/{id}")).json(&json!({"min_msat": -1})),
        admin(Method::GET, "/api/v1/withdraw-links?limit=abc"),
        admin(Method::GET, "/api/v1/withdraw-links?cursor=%%%"),
        http.get(format!("{base}/api/v1/withdraw-links")),
        http.get(format!("{base}/api/v1/withdraw-links"))
            .bearer_auth("lnurld_wrong"),
        http.post(format!("{base}/lnurlp/{id}")),
    ];
    for rb in bad_admin {
        let r = rb.send().await.expect("admin request");
        assert!(r.status().as_u16() < 500, "{:?}", r.url().path());
    }

    let log = served.stop();
    let errors = lines_at(&log, "ERROR");
    // Nor at WARN: the only warning is the dev node's, at start.
    let warns: Vec<String> = lines_at(&log, "WARN")
        .into_iter()
        .filter(|l| !l.contains("THE DEV NODE IS ACTIVE"))
        .collect();
    assert!(warns.is_empty(), "bad requests logged at WARN: {warns:#?}");
    assert!(
        errors.is_empty(),
        "bad requests logged at ERROR: {errors:#?}"
    );
    let refused: Vec<String> = lines_at(&log, "DEBUG")
        .into_iter()
        .filter(|l| l.contains("request refused"))
        .collect();
    for surface in ["wallet", "page", "admin"] {
        assert!(
            refused
                .iter()
                .any(|l| l.contains(&format!("surface=\"{surface}\""))
                    || l.contains(&format!("surface={surface}"))),
            "no DEBUG refusal from the {surface} surface: {log}"
        );
    }
    assert!(
        refused.len() >= 20,
        "{} refusals logged: {log}",
        refused.len()
    );
}
