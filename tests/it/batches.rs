//! Voucher batches as units, and `external_id` as an idempotency key that
//! refuses a reuse with other parameters: through the admin API (HTTP to
//! the real app), a wallet (lnurl-rs) spending a voucher, the signed sheet
//! link opened without a token, and the `lnurld batch …` CLI run as the
//! real binary on the same database.

use std::collections::HashSet;
use std::process::Output;
use std::time::Duration;

use lnurl::Response;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cli_output::ok;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;
use crate::support::wallet::{wallet_invoice, withdraw_request};

const WAIT: Duration = Duration::from_secs(30);
const BATCH: &str = "/api/v1/withdraw-links/batch";

fn ids(links: &Value) -> HashSet<String> {
    links
        .as_array()
        .unwrap_or_else(|| panic!("a list: {links}"))
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> (StatusCode, Value) {
    app.api(
        Method::GET,
        &format!("/api/v1/withdraw-links?{query}"),
        None,
    )
    .await
}

async fn summary(app: &TestApp, batch: &str) -> Value {
    let (code, v) = app
        .api(Method::GET, &format!("{BATCH}/{batch}"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    v
}

/// Spends `lnurl` with a wallet and waits until the payout succeeded.
async fn spend(app: &TestApp, lnurl: &str, id: &str, amount_msat: u64) {
    let w = withdraw_request(app, lnurl).await;
    let (pr, _) = wallet_invoice(amount_msat);
    let res = app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    assert_eq!(res, Response::Ok(()));
    eventually("the voucher is paid", WAIT, || async {
        let l = app.withdraw_link(id).await;
        (l["withdrawals"][0]["state"] == "succeeded").then_some(())
    })
    .await;
}

async fn batch_lifecycle(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let body = json!({
        "count": 3, "min_msat": 21_000, "max_msat": 21_000, "title": "Meetup",
        "external_id": "meetup-2026-12", "expires_at": "2099-01-01T00:00:00Z",
    });
    let (code, made) = app.api(Method::POST, BATCH, Some(body.clone())).await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    let batch = made["batch_id"].as_str().unwrap().to_owned();
    let vouchers = ids(&made["links"]);
    assert_eq!(vouchers.len(), 3);
    assert_eq!(made["external_id"], "meetup-2026-12");

    // A retry answers the same batch and makes no voucher.
    let (code, again) = app.api(Method::POST, BATCH, Some(body.clone())).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["batch_id"], batch.as_str());
    assert_eq!(ids(&again["links"]), vouchers);
    assert_eq!(
        again["links"][0]["secret"], made["links"][0]["secret"],
        "the same vouchers, shown again"
    );

    // The list filters by batch; other links are not in it.
    let (_, other) = app
        .api(
            Method::POST,
            BATCH,
            Some(json!({"count": 2, "min_msat": 1000, "max_msat": 1000})),
        )
        .await;
    app.create_withdraw(json!({"min_msat": 1000, "max_msat": 1000}))
        .await;
    let (code, all) = list(&app, "").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(all["data"].as_array().unwrap().len(), 6, "3 + 2 + 1: {all}");
    let (code, page) = list(&app, &format!("batch_id={batch}")).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert_eq!(ids(&page["data"]), vouchers);
    let (_, page) = list(
        &app,
        &format!("batch_id={}", other["batch_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids(&page["data"]), ids(&other["links"]));
    let (_, page) = list(&app, "batch_id=wb_000000000000000000000000").await;
    assert_eq!(page["data"], json!([]), "an unknown batch has no links");
    // Paging within a batch keeps to the batch.
    let (_, first) = list(&app, &format!("batch_id={batch}&limit=2")).await;
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    let (_, rest) = list(&app, &format!("batch_id={batch}&limit=2&cursor={cursor}")).await;
    let mut paged = ids(&first["data"]);
    paged.extend(ids(&rest["data"]));
    assert_eq!(paged, vouchers);
    assert_eq!(rest["next_cursor"], Value::Null);

    let s = summary(&app, &batch).await;
    for (k, v) in [
        ("count", json!(3)),
        ("active", json!(3)),
        ("spent", json!(0)),
        ("expired", json!(0)),
        ("disabled", json!(0)),
        ("min_msat", json!(21_000)),
        ("max_msat", json!(21_000)),
        ("uses", json!(1)),
        ("total_msat", json!(63_000)),
        ("withdrawn_msat", json!(0)),
        ("expires_at", json!("2099-01-01T00:00:00Z")),
        ("title", json!("Meetup")),
        ("external_id", json!("meetup-2026-12")),
    ] {
        assert_eq!(s[k], v, "{k}: {s}");
    }

    // The sheet link of the answer opens in a browser, without a token.
    let sheet_url = made["vouchers_url"].as_str().unwrap();
    assert!(sheet_url.contains("?t="), "a signed link: {sheet_url}");
    let (code, page) = app.get_json(sheet_url).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let page = page.as_str().unwrap_or_default().to_owned();
    assert_eq!(page.matches(r#"class="voucher""#).count(), 3, "{page}");

    // A wallet spends one voucher: the summary says so.
    let spent = made["links"][0].clone();
    let spent_id = spent["id"].as_str().unwrap().to_owned();
    spend(&app, spent["lnurl"].as_str().unwrap(), &spent_id, 21_000).await;
    let s = summary(&app, &batch).await;
    assert_eq!(
        (s["active"].clone(), s["spent"].clone()),
        (json!(2), json!(1)),
        "{s}"
    );
    assert_eq!(s["withdrawn_msat"], 21_000, "{s}");
    assert_eq!(s["pending_msat"], 0, "{s}");

    // Disabling the batch disables the two unspent vouchers and keeps the
    // spent one as it is.
    let (code, after) = app
        .api(Method::DELETE, &format!("{BATCH}/{batch}"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(
        (
            after["active"].clone(),
            after["spent"].clone(),
            after["disabled"].clone()
        ),
        (json!(0), json!(1), json!(2)),
        "{after}"
    );
    assert_eq!(after["withdrawn_msat"], 21_000);
    let (_, disabled) = list(&app, &format!("batch_id={batch}&status=disabled")).await;
    let unspent: HashSet<String> = vouchers
        .iter()
        .filter(|v| **v != spent_id)
        .cloned()
        .collect();
    assert_eq!(ids(&disabled["data"]), unspent);
    assert_eq!(app.withdraw_link(&spent_id).await["status"], "spent");
    // A wallet is refused on a disabled voucher.
    let other_voucher = made["links"][1]["lnurl"].as_str().unwrap();
    let decoded = lnurl::lnurl::LnUrl::decode(other_voucher.to_owned()).unwrap();
    let path = &decoded.url[decoded.url.find("/lnurlw/").unwrap()..];
    let (_, refused) = app.get_json(&app.url(path)).await;
    assert_eq!(refused["status"], "ERROR", "{refused}");
    // The other batch is untouched.
    let o = summary(&app, other["batch_id"].as_str().unwrap()).await;
    assert_eq!(o["active"], 2, "{o}");
    // Again: nothing more to do, the same answer.
    let (code, twice) = app
        .api(Method::DELETE, &format!("{BATCH}/{batch}"), None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(twice["disabled"], 2);
    // The reprinted sheet has nothing left to print.
    let (_, page) = app.get_json(sheet_url).await;
    assert_eq!(
        page.as_str()
            .unwrap_or_default()
            .matches(r#"class="voucher""#)
            .count(),
        0
    );

    // The list of batches: newest first, with their counts.
    let (code, batches) = app.api(Method::GET, BATCH, None).await;
    assert_eq!(code, StatusCode::OK, "{batches}");
    let listed = batches["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{batches}");
    let ours = listed
        .iter()
        .find(|b| b["batch_id"] == batch.as_str())
        .unwrap_or_else(|| panic!("{batches}"));
    assert_eq!(ours["disabled"], 2, "{ours}");
    assert!(listed.iter().any(|b| b["batch_id"] == other["batch_id"]));

    for (method, path) in [
        (Method::GET, format!("{BATCH}/wb_000000000000000000000000")),
        (
            Method::DELETE,
            format!("{BATCH}/wb_000000000000000000000000"),
        ),
        (Method::GET, format!("{BATCH}/nonsense")),
    ] {
        let (code, v) = app.api(method, &path, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"]["code"], "not_found");
    }
    app.stop(true).await;
}

/// A batch disabled while its vouchers are being claimed: afterwards no
/// voucher is active, and each one either was claimed (and paid) before
/// the disable or is disabled with no withdrawal — never both sides.
async fn disable_races_claims(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (code, made) = app
        .api(
            Method::POST,
            BATCH,
            Some(json!({"count": 8, "min_msat": 5_000, "max_msat": 5_000})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    let batch = made["batch_id"].as_str().unwrap().to_owned();
    let mut requests = Vec::new();
    for l in made["links"].as_array().unwrap() {
        requests.push(withdraw_request(&app, l["lnurl"].as_str().unwrap()).await);
    }
    let wallet = app.wallet();
    let wallet = &wallet;
    let claims = requests.iter().map(|w| async move {
        let (pr, _) = wallet_invoice(5_000);
        wallet.do_withdrawal(w, &pr).await.expect("callback")
    });
    let path = format!("{BATCH}/{batch}");
    let disable = app.api(Method::DELETE, &path, None);
    let (answers, (code, _)) = tokio::join!(futures_util::future::join_all(claims), disable);
    assert_eq!(code, StatusCode::OK);
    let accepted = answers.iter().filter(|r| **r == Response::Ok(())).count();
    eventually("every accepted claim is paid", WAIT, || async {
        let s = summary(&app, &batch).await;
        (s["pending_msat"] == 0).then_some(())
    })
    .await;
    let s = summary(&app, &batch).await;
    assert_eq!(s["active"], 0, "{s}");
    assert_eq!(s["withdrawn_msat"], json!(5_000 * accepted as u64), "{s}");
    let (_, page) = list(&app, &format!("batch_id={batch}")).await;
    for l in page["data"].as_array().unwrap() {
        let l = app.withdraw_link(l["id"].as_str().unwrap()).await;
        let paid = !l["withdrawals"].as_array().unwrap().is_empty();
        match l["status"].as_str().unwrap() {
            "spent" => assert!(paid, "{l}"),
            "disabled" => {}
            other => panic!("{other}: {l}"),
        }
    }
    app.stop(true).await;
}

async fn external_id_conflicts(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = json!({
        "min_msat": 1_000, "max_msat": 1_000, "title": "Order 42",
        "external_id": "order-42",
    });
    let (code, first) = app
        .api(Method::POST, "/api/v1/withdraw-links", Some(link.clone()))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{first}");
    let (code, again) = app
        .api(Method::POST, "/api/v1/withdraw-links", Some(link.clone()))
        .await;
    assert_eq!(code, StatusCode::OK, "same parameters: the stored link");
    assert_eq!(again["id"], first["id"]);
    for (field, value) in [
        ("max_msat", json!(2_000)),
        ("uses", json!(2)),
        ("wait_seconds", json!(60)),
        ("expires_at", json!("2099-01-01T00:00:00Z")),
        ("title", json!("Order 43")),
        ("description", json!("other")),
    ] {
        let mut other = link.clone();
        other[field] = value;
        if field == "max_msat" {
            other["min_msat"] = json!(1_000);
        }
        let (code, v) = app
            .api(Method::POST, "/api/v1/withdraw-links", Some(other))
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "{field}: {v}");
        assert_eq!(v["error"]["code"], "external_id_conflict", "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(first["id"].as_str().unwrap()), "{m}");
        let differ = m
            .split_once("other parameters (")
            .and_then(|(_, rest)| rest.split_once(" differ)"))
            .map(|(list, _)| list)
            .unwrap_or_else(|| panic!("names what differs: {m}"));
        // Exactly the field changed (max_msat's case keeps min_msat as
        // stored; a description left out is the title, so it changes too).
        let changed = if field == "title" {
            "title, description"
        } else {
            field
        };
        assert_eq!(differ, changed, "{m}");
        for stored in [
            "min_msat=1000",
            "max_msat=1000",
            "uses=1",
            "wait_seconds=0",
            "expires_at=never",
            "title=\"Order 42\"",
        ] {
            assert!(m.contains(stored), "{stored}: {m}");
        }
    }
    let (_, all) = list(&app, "").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        1,
        "no link was added"
    );

    // Batches: the same rule, count included.
    let batch = json!({"count": 2, "min_msat": 5_000, "max_msat": 5_000, "external_id": "drop-7"});
    let (code, made) = app.api(Method::POST, BATCH, Some(batch.clone())).await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    for (field, value) in [("count", json!(3)), ("max_msat", json!(6_000))] {
        let mut other = batch.clone();
        other[field] = value;
        let (code, v) = app.api(Method::POST, BATCH, Some(other)).await;
        assert_eq!(code, StatusCode::CONFLICT, "{field}: {v}");
        assert_eq!(v["error"]["code"], "external_id_conflict", "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(made["batch_id"].as_str().unwrap()), "{m}");
        assert!(
            m.contains("count=2, min_msat=5000, max_msat=5000, uses=1"),
            "{m}"
        );
    }
    // One key, one thing: a link's key does not make a batch, nor the
    // other way round.
    let mut as_batch = link.clone();
    as_batch["count"] = json!(1);
    let (code, v) = app.api(Method::POST, BATCH, Some(as_batch)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "external_id_conflict");
    let mut as_link = batch.clone();
    as_link.as_object_mut().unwrap().remove("count");
    let (code, v) = app
        .api(Method::POST, "/api/v1/withdraw-links", Some(as_link))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    let (_, all) = list(&app, "").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        3,
        "1 link + 2 vouchers"
    );

    // Retries racing with a new key make one batch.
    let racing = json!({"count": 5, "min_msat": 1_000, "max_msat": 1_000, "external_id": "drop-8"});
    let tries = (0..6).map(|_| app.api(Method::POST, BATCH, Some(racing.clone())));
    let answers = futures_util::future::join_all(tries).await;
    let batches: HashSet<String> = answers
        .iter()
        .map(|(code, v)| {
            assert!(code.is_success(), "{code} {v}");
            v["batch_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    let created = answers
        .iter()
        .filter(|(c, _)| *c == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    let (_, all) = list(&app, "limit=500").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        8,
        "5 more vouchers, once"
    );
    app.stop(true).await;
}

/// `lnurld <args>` on `db`, in `dir`, with the test key, links under
/// `public`.
fn cli(db: &TestDb, dir: &std::path::Path, public: &str, args: &[&str]) -> Output {
    crate::cli_output::cli(db, dir, &[&["--public-url", public], args].concat())
        .output()
        .expect("run lnurld")
}

async fn batch_cli(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let dir = tempfile::tempdir().unwrap();
    let public = app.url("");
    let run = |args: &[&str]| ok(cli(&db, dir.path(), &public, args));
    let create = [
        "batch",
        "create",
        "--count",
        "3",
        "--amount",
        "2sat",
        "--title",
        "Fair",
        "--external-id",
        "fair-1",
        "--json",
    ];
    let made: Value = serde_json::from_str(&run(&create)).expect("--json is JSON");
    let batch = made["batch_id"].as_str().unwrap().to_owned();
    assert_eq!(made["links"].as_array().unwrap().len(), 3);
    let again: Value = serde_json::from_str(&run(&create)).unwrap();
    assert_eq!(again["batch_id"], batch.as_str(), "idempotent");
    let conflict = cli(
        &db,
        dir.path(),
        &public,
        &[
            "batch",
            "create",
            "--count",
            "4",
            "--amount",
            "2sat",
            "--title",
            "Fair",
            "--external-id",
            "fair-1",
        ],
    );
    assert_eq!(conflict.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("lnurld: external_id \"fair-1\"")),
        "{stderr}"
    );
    assert!(stderr.contains("count=3"), "{stderr}");

    let human = run(&["batch", "create", "--count", "2", "--amount", "1500msat"]);
    assert!(human.contains("vouchers:  2 × 1,500 msat"), "{human}");
    let signed = human
        .lines()
        .find_map(|l| l.strip_prefix("sheet:"))
        .unwrap_or_else(|| panic!("a sheet line: {human}"));
    assert!(
        signed.trim().starts_with(&format!("{public}/vouchers/wb_")),
        "{human}"
    );

    // list: a table with a header and both batches, newest first.
    let table = run(&["batch", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for col in [
        "ID", "CREATED", "COUNT", "ACTIVE", "SPENT", "AMOUNT", "EXPIRES", "TITLE",
    ] {
        assert!(lines[0].contains(col), "{table}");
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with(&batch))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("  2 sat  ") && row.ends_with("Fair"),
        "{table}"
    );
    let listed: Value = serde_json::from_str(&run(&["batch", "list", "--json"])).unwrap();
    let (_, api) = app.api(Method::GET, BATCH, None).await;
    assert_eq!(listed, api, "the API's JSON");
    let cut = run(&["batch", "list", "--limit", "1"]);
    assert!(
        cut.lines()
            .last()
            .unwrap()
            .starts_with("1 more — use --cursor"),
        "{cut}"
    );

    // show: the summary, in words, and --json as the API answers it.
    let shown = run(&["batch", "show", &batch, "--links"]);
    assert!(
        shown.contains("states:    3 active, 0 spent, 0 expired, 0 disabled"),
        "{shown}"
    );
    assert!(shown.contains("withdrawn: 0 sat of 6 sat"), "{shown}");
    assert_eq!(
        shown.matches(" active ").count(),
        3,
        "three voucher rows: {shown}"
    );
    let json: Value = serde_json::from_str(&run(&["batch", "show", &batch, "--json"])).unwrap();
    assert_eq!(json, summary(&app, &batch).await);

    // sheet: a signed URL that opens the sheet without a token.
    let url = run(&["batch", "sheet", &batch]);
    let url = url.trim();
    assert!(
        url.starts_with(&format!("{public}/vouchers/{batch}?t=")),
        "{url}"
    );
    let (code, page) = app.get_json(url).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert_eq!(
        page.as_str().unwrap().matches(r#"class="voucher""#).count(),
        3
    );
    let missing = cli(
        &db,
        dir.path(),
        &public,
        &["batch", "sheet", "wb_000000000000000000000000"],
    );
    assert_eq!(missing.status.code(), Some(1));

    // disable: every voucher at once.
    let said = run(&["batch", "disable", &batch]);
    assert_eq!(
        said.trim(),
        format!("{batch} disabled: 3 voucher(s) disabled, 0 spent kept")
    );
    assert_eq!(summary(&app, &batch).await["disabled"], 3);
    app.stop(true).await;
}

crate::both_dbs!(
    batch_lifecycle,
    disable_races_claims,
    external_id_conflicts,
    batch_cli
);
