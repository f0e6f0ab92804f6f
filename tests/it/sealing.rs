//! Stored secrets bound to their rows (issue 11, item 6): every sealed
//! value has `purpose ‖ row id` as associated data, so a ciphertext copied to
//! another row or column does not open (and the error names the row), and a
//! database written with the old unbound (v1) values is re-sealed at start,
//! also when two instances start at once.

use std::time::Duration;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use lnurl::Response;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::app::{Node, TestApp, TEST_SECRET_KEY};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FakeLnd, PayBehavior};
use crate::support::receiver::Receiver;
use crate::support::serve::lnurld_on;
use crate::support::wallet::{wallet_invoice, withdraw_request};

crate::both_dbs!(
    old_unbound_values_are_resealed_at_start,
    a_value_moved_to_another_row_or_column_does_not_open,
);

const WAIT: Duration = Duration::from_secs(30);

/// A value sealed the way lnurld sealed them before item 6 (written out
/// here, apart from the code under test, as the old code did it): the key
/// `HMAC(master, "lnurld/v1/encrypt")`, one associated data for every
/// column, no row id, base64(nonce ‖ ciphertext) with no prefix.
pub(crate) fn seal_v1(master_hex: &str, clear: &str) -> String {
    let master = hex::decode(master_hex).unwrap();
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&master).unwrap();
    m.update(b"lnurld/v1/encrypt");
    let key: [u8; 32] = m.finalize().into_bytes().into();
    let nonce: [u8; 24] = rand::random();
    let ct = XChaCha20Poly1305::new((&key).into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: clear.as_bytes(),
                aad: b"lnurld withdraw secret v1",
            },
        )
        .unwrap();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Every withdraw link's `(id, secret_lookup, secret_enc)`, every webhook
/// endpoint's `(url, secret_enc)` and the key check value, as stored.
pub(crate) type Stored = (
    Vec<(String, String, String)>,
    Vec<(String, String)>,
    Option<String>,
);

pub(crate) async fn stored(db: &TestDb) -> Stored {
    use lnurld::db::schema::server_key_check::dsl as k;
    use lnurld::db::schema::webhook_endpoints::dsl as e;
    use lnurld::db::schema::withdraw_links::dsl as w;
    db.pool()
        .await
        .run(|c| {
            let links = w::withdraw_links
                .select((w::id, w::secret_lookup, w::secret_enc))
                .order(w::id)
                .load(c)?;
            let hooks = e::webhook_endpoints
                .select((e::url, e::secret_enc))
                .order(e::url)
                .load(c)?;
            let check = k::server_key_check
                .select(k::check_value)
                .first(c)
                .optional()?;
            Ok((links, hooks, check))
        })
        .await
        .unwrap()
}

/// Sets a withdraw link's stored secret.
pub(crate) async fn set_link_enc(db: &TestDb, id: &str, enc: &str) {
    use lnurld::db::schema::withdraw_links::dsl as w;
    let (id, enc) = (id.to_owned(), enc.to_owned());
    let n = db
        .pool()
        .await
        .run(move |c| {
            Ok(diesel::update(w::withdraw_links.filter(w::id.eq(id)))
                .set(w::secret_enc.eq(enc))
                .execute(c)?)
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// Sets a webhook endpoint's stored secret.
pub(crate) async fn set_hook_enc(db: &TestDb, url: &str, enc: &str) {
    use lnurld::db::schema::webhook_endpoints::dsl as e;
    let (url, enc) = (url.to_owned(), enc.to_owned());
    let n = db
        .pool()
        .await
        .run(move |c| {
            Ok(diesel::update(e::webhook_endpoints.filter(e::url.eq(url)))
                .set(e::secret_enc.eq(enc))
                .execute(c)?)
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
}

pub(crate) async fn start_app(db: &TestDb, fake: &FakeLnd) -> TestApp {
    TestApp::start_with(db, Node::Lnd(fake), |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.timeout_secs = 1;
    })
    .await
}

/// The signing secret the admin API shows for `url` (made on first ask).
pub(crate) async fn hook_secret(app: &TestApp, url: &str) -> (reqwest::StatusCode, Value) {
    app.api(
        Method::POST,
        "/api/v1/webhooks/endpoints/secret",
        Some(json!({ "url": url })),
    )
    .await
}

/// Withdraws the whole of `link` like a wallet and waits for its webhook,
/// which must be signed with `secret`.
pub(crate) async fn withdraw_and_see_it_signed(
    app: &TestApp,
    rx: &Receiver,
    link: &Value,
    amount_msat: u64,
    secret: &str,
) {
    let w = withdraw_request(app, link["lnurl"].as_str().unwrap()).await;
    let (pr, _) = wallet_invoice(amount_msat);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));
    let id = link["id"].as_str().unwrap().to_owned();
    let hit = eventually("the withdraw webhook arrives", WAIT, || {
        let hits = rx.hits();
        let id = id.clone();
        async move {
            hits.into_iter()
                .find(|h| h.json()["data"]["withdraw_link_id"] == id.as_str())
        }
    })
    .await;
    assert!(
        hit.signed_with(secret),
        "signed with the same secret: {hit:?}"
    );
}

async fn old_unbound_values_are_resealed_at_start(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 0 });
    let rx = Receiver::start(&[]).await;
    let app = start_app(&db, &fake).await;
    let (status, v) = hook_secret(&app, &rx.url()).await;
    assert_eq!(status, 200, "{v}");
    let hook = v["secret"].as_str().unwrap().to_owned();
    let mut links = Vec::new();
    for _ in 0..3 {
        links.push(
            app.create_withdraw(
                json!({"min_msat": 20_000, "max_msat": 20_000, "webhook_url": rx.url()}),
            )
            .await,
        );
    }
    app.stop(true).await;

    // The database as the old code left it: every value sealed v1.
    let mut v1 = Vec::new();
    for l in &links {
        let enc = seal_v1(TEST_SECRET_KEY, l["secret"].as_str().unwrap());
        set_link_enc(&db, l["id"].as_str().unwrap(), &enc).await;
        v1.push(enc);
    }
    let hook_v1 = seal_v1(TEST_SECRET_KEY, &hook);
    set_hook_enc(&db, &rx.url(), &hook_v1).await;

    // Two instances start at once: both start, and each value is re-sealed.
    let (a, b) = tokio::join!(start_app(&db, &fake), start_app(&db, &fake));
    let (rows, hooks, _) = stored(&db).await;
    assert_eq!(rows.len(), 3);
    for (id, _, enc) in &rows {
        assert!(enc.starts_with("v2:"), "{id} re-sealed: {enc}");
        assert!(!v1.contains(enc));
    }
    assert!(hooks[0].1.starts_with("v2:"), "{hooks:?}");
    // Both instances show and serve what the old values held.
    for (app, l) in [(&a, &links[0]), (&b, &links[1]), (&a, &links[2])] {
        let shown = app.withdraw_link(l["id"].as_str().unwrap()).await;
        assert_eq!(shown["secret"], l["secret"]);
        let path = |v: &Value| {
            v["url"]
                .as_str()
                .unwrap()
                .split_once("/lnurlw/")
                .unwrap()
                .1
                .to_owned()
        };
        assert_eq!(
            path(&shown),
            path(l),
            "same link URL (apart from this instance's port)"
        );
    }
    let (status, v) = hook_secret(&b, &rx.url()).await;
    assert_eq!((status.as_u16(), v["secret"].as_str()), (200, Some(&*hook)));
    withdraw_and_see_it_signed(&a, &rx, &links[0], 20_000, &hook).await;
    a.stop(true).await;
    b.stop(true).await;

    // A later start finds nothing left to re-seal and leaves values alone.
    let before = stored(&db).await;
    let c = start_app(&db, &fake).await;
    assert_eq!(stored(&db).await, before);
    c.stop(true).await;
}

async fn a_value_moved_to_another_row_or_column_does_not_open(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = start_app(&db, &fake).await;
    let cheap = app
        .create_withdraw(json!({"min_msat": 1_000, "max_msat": 1_000, "title": "Cheap"}))
        .await;
    let dear = app
        .create_withdraw(json!({"min_msat": 100_000_000, "max_msat": 100_000_000}))
        .await;
    let hook_url = "http://127.0.0.1:9/hook";
    let (status, v) = hook_secret(&app, hook_url).await;
    assert_eq!(status, 200, "{v}");
    let (cheap_id, dear_id) = (cheap["id"].as_str().unwrap(), dear["id"].as_str().unwrap());
    let dear_secret = dear["secret"].as_str().unwrap();
    let (rows, _, _) = stored(&db).await;
    let enc_of = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().2.clone();
    let (cheap_enc, dear_enc) = (enc_of(cheap_id), enc_of(dear_id));

    // The expensive link's secret copied onto the cheap link: it does not
    // open there, so no page, sheet or API shows it under the cheap link.
    set_link_enc(&db, cheap_id, &dear_enc).await;
    let (status, v) = app
        .api(
            Method::GET,
            &format!("/api/v1/withdraw-links/{cheap_id}"),
            None,
        )
        .await;
    assert_eq!(status, 500, "{v}");
    assert!(!v.to_string().contains(dear_secret), "{v}");
    let (status, v) = app.api(Method::GET, "/api/v1/withdraw-links", None).await;
    assert!(!v.to_string().contains(dear_secret), "{status} {v}");
    // The operator is told which row.
    let out = lnurld_on(&db)
        .env("LNURLD_SECRET_KEY", TEST_SECRET_KEY)
        .args(["withdraw", "show", cheap_id])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "cannot open the secret of withdraw link {cheap_id}: it was sealed for another row or purpose"
        )),
        "{stderr}"
    );
    assert!(!stdout.contains(dear_secret) && !stderr.contains(dear_secret));
    // The expensive link itself is untouched.
    assert_eq!(app.withdraw_link(dear_id).await["secret"], dear_secret);

    // A link secret in a webhook secret column does not open either.
    set_link_enc(&db, cheap_id, &cheap_enc).await;
    set_hook_enc(&db, hook_url, &cheap_enc).await;
    let (status, v) = hook_secret(&app, hook_url).await;
    assert_eq!(status, 500, "{v}");
    assert!(!v.to_string().contains(cheap["secret"].as_str().unwrap()));
    let e = app
        .svc
        .webhooks()
        .webhook_secret(hook_url)
        .await
        .expect_err("does not open");
    assert!(
        e.to_string()
            .contains(&format!("signing secret of webhook endpoint {hook_url}")),
        "{e}"
    );
    // Put back where it belongs, the link opens again.
    assert_eq!(app.withdraw_link(cheap_id).await["secret"], cheap["secret"]);
    app.stop(true).await;
}
