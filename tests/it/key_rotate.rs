//! `lnurld key rotate` through the real binary: every sealed value, the
//! links' lookup hashes and the key check move to the new key in one
//! transaction; links and webhook secrets work as before under the new key,
//! the old key is refused, and a rotation that fails midway changes nothing.

use serde_json::json;

use crate::key_check::{assert_key_refused, ends, serve};
use crate::sealing::{hook_secret, set_link_enc, start_app, stored, withdraw_and_see_it_signed};
use crate::support::app::{Node, TestApp, TEST_SECRET_KEY};
use crate::support::db::TestDb;
use crate::support::fake_lnd::{FakeLnd, PayBehavior};
use crate::support::receiver::Receiver;
use crate::support::serve::lnurld_on;

crate::both_dbs!(
    links_and_webhooks_work_under_the_new_key_and_the_old_is_refused,
    a_rotation_that_fails_midway_changes_nothing,
);

/// `lnurld key rotate --new-key-file PATH` with the test key configured;
/// (exit code, stdout, stderr).
fn rotate(db: &TestDb, path: &std::path::Path) -> (Option<i32>, String, String) {
    let out = lnurld_on(db)
        .env("LNURLD_SECRET_KEY", TEST_SECRET_KEY)
        .env("RUST_LOG", "warn")
        .args(["key", "rotate", "--new-key-file"])
        .arg(path)
        .output()
        .expect("run lnurld");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn links_and_webhooks_work_under_the_new_key_and_the_old_is_refused(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 0 });
    let rx = Receiver::start(&[]).await;
    let app = start_app(&db, &fake).await;
    let (_, v) = hook_secret(&app, &rx.url()).await;
    let hook = v["secret"].as_str().unwrap().to_owned();
    let link = app
        .create_withdraw(json!({"min_msat": 30_000, "max_msat": 30_000, "webhook_url": rx.url()}))
        .await;
    let other = app
        .create_withdraw(json!({"min_msat": 1_000, "max_msat": 1_000}))
        .await;
    app.stop(true).await;
    let before = stored(&db).await;

    let new_file = db.dir().join("new.key");
    let (code, stdout, stderr) = rotate(&db, &new_file);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("2 withdraw link secret(s) and 1 webhook secret(s) re-sealed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("set secret_key (LNURLD_SECRET_KEY)"),
        "{stdout}"
    );
    assert!(stdout.contains("refuses to start"), "{stdout}");
    let new_key = std::fs::read_to_string(&new_file).unwrap();
    assert_eq!(new_key.len(), 64, "{new_key}");
    assert!(hex::decode(&new_key).is_ok());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&new_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Every stored value changed: sealed values, lookups, the key check.
    let after = stored(&db).await;
    for (old, new) in before.0.iter().zip(&after.0) {
        assert_eq!(old.0, new.0);
        assert_ne!(old.1, new.1, "lookup of {} recomputed", old.0);
        assert_ne!(old.2, new.2, "secret of {} re-sealed", old.0);
    }
    assert_ne!(before.1[0].1, after.1[0].1, "webhook secret re-sealed");
    assert_ne!(before.2, after.2, "key check recorded for the new key");

    // The old key is refused by serve (before it listens) and by the CLI.
    let old = [("LNURLD_SECRET_KEY", TEST_SECRET_KEY)];
    assert_key_refused(
        ends(serve(&db, &old)).await,
        "not the server key of this database",
    );
    assert_key_refused(
        ends(crate::key_check::cli(&db, &old, &["withdraw", "list"])).await,
        "not the server key of this database",
    );

    // Under the new key: the same links (same URL, so printed QR codes
    // still work), found by the new lookup, paid; the webhook is signed
    // with the same secret as before.
    let app = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        c.secret_key = Some(new_key.clone());
        c.webhooks.allow_private_targets = true;
        c.webhooks.timeout_secs = 1;
    })
    .await;
    for l in [&link, &other] {
        let shown = app.withdraw_link(l["id"].as_str().unwrap()).await;
        assert_eq!(shown["secret"], l["secret"]);
        // The same link URL (apart from this instance's port), found by
        // its recomputed lookup hash.
        let (status, v) = app
            .get_json(&app.url(&format!("/lnurlw/{}", l["secret"].as_str().unwrap())))
            .await;
        assert_eq!(
            (status.as_u16(), &v["tag"]),
            (200, &json!("withdrawRequest")),
            "{v}"
        );
    }
    let (status, v) = hook_secret(&app, &rx.url()).await;
    assert_eq!((status.as_u16(), v["secret"].as_str()), (200, Some(&*hook)));
    withdraw_and_see_it_signed(&app, &rx, &link, 30_000, &hook).await;
    app.stop(true).await;

    // A second rotation refuses to overwrite a key file.
    let (code, _, stderr) = rotate(&db, &new_file);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&new_file).unwrap(), new_key);
}

async fn a_rotation_that_fails_midway_changes_nothing(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start_app(&db, &fake).await;
    let (status, _) = hook_secret(&app, "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        app.create_withdraw(json!({"min_msat": 1_000, "max_msat": 1_000}))
            .await;
    }
    app.stop(true).await;
    // The last link in the rotation's order holds the first one's value:
    // the links before it are re-sealed inside the transaction before it
    // fails.
    let (rows, _, _) = stored(&db).await;
    let (first, last) = (&rows[0], &rows[2]);
    set_link_enc(&db, &last.0, &first.2).await;
    let before = stored(&db).await;

    let new_file = db.dir().join("new.key");
    let (code, stdout, stderr) = rotate(&db, &new_file);
    assert_ne!(code, Some(0), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "cannot open the secret of withdraw link {}: it was sealed for another row or purpose",
            last.0
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(stored(&db).await, before, "the database is unchanged");
    assert!(!new_file.exists(), "the unused new key file is removed");

    // The old key still serves the links that open.
    let app = start_app(&db, &fake).await;
    assert_eq!(app.withdraw_link(&first.0).await["id"], first.0.as_str());
    app.stop(true).await;
}
