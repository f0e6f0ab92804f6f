//! What the CLI prints, run as the real binary against each database:
//! tables with a header and amounts in sats, paging that says what it cut,
//! `--json` as the admin API answers it, a quiet end on a closed pipe,
//! amount errors that say what is wrong, and links that follow `--listen`.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::app::{Node, TestApp, TEST_SECRET_KEY};
use crate::support::db::TestDb;
use crate::support::serve::Served;
use crate::support::wallet::{wallet_invoice, withdraw_request};
use crate::support::{eventually, free_port};

/// `lnurld <args>` on `db`, in a directory of its own, with the test key.
pub(crate) fn cli(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LNURLD_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn")
        .env("LNURLD_SECRET_KEY", TEST_SECRET_KEY)
        .args(["--database-url", &db.url()])
        .args(args);
    c
}

pub(crate) fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

async fn lists_are_tables_that_say_what_they_cut(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(cli(&db, dir.path(), &["migrate"]).output().unwrap());
    let run = |args: &[&str]| ok(cli(&db, dir.path(), args).output().expect("run lnurld"));
    run(&[
        "withdraw", "create", "--amount", "1000sat", "--title", "Gift",
    ]);
    run(&["withdraw", "create", "--amount", "1500msat"]);
    run(&["withdraw", "create", "--min", "1sat", "--max", "2000sat"]);
    run(&["withdraw", "create", "--amount", "0.001btc", "--uses", "3"]);
    run(&["withdraw", "create", "--amount", "7sat"]);

    let page = run(&["withdraw", "list", "--limit", "2"]);
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(lines.len(), 4, "header, two rows, the cut line: {page}");
    for col in ["ID", "STATUS", "AMOUNT", "USES LEFT", "EXPIRES", "TITLE"] {
        assert!(lines[0].contains(col), "{page}");
    }
    let cursor = lines[3]
        .strip_prefix("3 more — use --cursor ")
        .and_then(|l| l.strip_suffix(" or --all"))
        .unwrap_or_else(|| panic!("cut line: {page}"));
    // Columns line up: every row's AMOUNT starts where the header's does.
    let at = lines[0].find("AMOUNT").unwrap();
    assert!(lines[1..3].iter().all(|l| l[at - 2..at] == *"  "), "{page}");

    let rest = run(&["withdraw", "list", "--limit", "2", "--cursor", cursor]);
    assert!(rest.lines().last().unwrap().starts_with("1 more"), "{rest}");
    let all = run(&["withdraw", "list", "--all"]);
    assert_eq!(all.lines().count(), 6, "header and five rows: {all}");
    assert!(!all.contains("more —"), "{all}");
    for amount in [
        "1,000 sat",
        "1,500 msat",
        "1 – 2,000 sat",
        "100,000 sat",
        "3 of 3",
    ] {
        assert!(all.contains(amount), "{amount}: {all}");
    }

    // --json: the admin API's page, cursor included.
    let page: Value = serde_json::from_str(&run(&["withdraw", "list", "--limit", "2", "--json"]))
        .expect("--json is JSON");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], cursor);
    // The same two links, in the same order, as the table showed.
    for (item, row) in page["data"].as_array().unwrap().iter().zip(&lines[1..3]) {
        assert!(row.starts_with(item["id"].as_str().unwrap()), "{row}");
        assert!(
            item["min_msat"].is_u64() && item["uses_left"].is_u64(),
            "{item}"
        );
    }
    let all: Value = serde_json::from_str(&run(&["withdraw", "list", "--all", "--json"])).unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);

    run(&[
        "pay",
        "create",
        "--description",
        "Tips",
        "--min",
        "10sat",
        "--max",
        "20sat",
    ]);
    run(&["address", "add", "alice"]);
    let pays = run(&["pay", "list"]);
    assert!(pays.lines().next().unwrap().starts_with("ID"), "{pays}");
    assert!(pays.contains("10 – 20 sat"), "{pays}");
    let addresses = run(&["address", "list"]);
    assert!(addresses.starts_with("ADDRESS"), "{addresses}");
    assert!(addresses.contains("alice@127.0.0.1"), "{addresses}");
    let json: Value = serde_json::from_str(&run(&["address", "list", "--json"])).unwrap();
    assert_eq!(json["data"][0]["username"], "alice");
}

async fn show_says_states_in_words(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let link = app
        .create_withdraw(json!({"min_msat": 5_000, "max_msat": 5_000, "title": "Show"}))
        .await;
    let w = withdraw_request(&app, link["lnurl"].as_str().unwrap()).await;
    let (pr, _) = wallet_invoice(5_000);
    app.wallet().do_withdrawal(&w, &pr).await.expect("callback");
    let id = link["id"].as_str().unwrap().to_owned();
    eventually("withdrawal succeeded", Duration::from_secs(30), || {
        let app = &app;
        let id = id.clone();
        async move {
            let l = app.withdraw_link(&id).await;
            (l["withdrawals"][0]["state"] == "succeeded").then_some(())
        }
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    // The CLI builds URLs from the same configuration as the server.
    let public = app.url("");
    let show = |extra: &[&str]| {
        let args = [
            &["--public-url", public.as_str(), "withdraw", "show", &id],
            extra,
        ]
        .concat();
        ok(cli(&db, dir.path(), &args).output().unwrap())
    };
    let shown = show(&[]);
    assert!(shown.contains("amount:   5 sat"), "{shown}");
    assert!(shown.contains("uses:     0 of 1 left, spent"), "{shown}");
    let row = shown
        .lines()
        .find(|l| l.starts_with("wd_") || l.contains(" succeeded "))
        .unwrap_or_else(|| panic!("a withdrawal row: {shown}"));
    assert!(row.contains(" succeeded "), "{row}");
    assert!(row.contains("5 sat"), "{row}");
    assert!(!shown.contains("Some("), "Rust debug text: {shown}");
    assert!(!shown.contains("Succeeded"), "Rust debug text: {shown}");

    let json: Value = serde_json::from_str(&show(&["--json"])).unwrap();
    assert_eq!(json, app.withdraw_link(&id).await, "the API's JSON");
    app.stop(true).await;
}

async fn a_closed_pipe_ends_quietly(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(cli(&db, dir.path(), &["migrate"]).output().unwrap());
    ok(
        cli(&db, dir.path(), &["withdraw", "create", "--amount", "1sat"])
            .output()
            .unwrap(),
    );
    let mut child = cli(&db, dir.path(), &["withdraw", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the command writes a byte (opening the
    // database takes far longer than this), so every write meets EPIPE.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.trim().is_empty(), "nothing to say: {stderr}");
}

async fn amount_errors_say_what_is_wrong(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(cli(&db, dir.path(), &["migrate"]).output().unwrap());
    let refused = |amount: &str| {
        let out = cli(&db, dir.path(), &["withdraw", "create", "--amount", amount])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{amount}");
        String::from_utf8(out.stderr).unwrap()
    };
    for (amount, says) in [
        ("-5sat", "must be more than 0"),
        ("0sat", "must be more than 0"),
        ("0.5btcx", "unknown unit"),
        ("99999999999999999999sat", "too large"),
        ("1.0001sat", "finer than 1 msat"),
        ("1000", "needs a unit"),
    ] {
        let stderr = refused(amount);
        let line = format!("lnurld: --amount \"{amount}\"");
        assert!(stderr.starts_with(&line), "{amount}: {stderr}");
        assert!(stderr.contains(says), "{amount}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "said once: {stderr}");
    }
    // Not whole sats: made, with a note.
    let out = cli(
        &db,
        dir.path(),
        &["withdraw", "create", "--amount", "1500msat"],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not whole sats"));
    // Nothing was written by the refusals.
    let all = ok(
        cli(&db, dir.path(), &["withdraw", "list", "--all", "--json"])
            .output()
            .unwrap(),
    );
    let all: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
}

async fn links_follow_listen(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    ok(cli(&db, dir.path(), &["migrate"]).output().unwrap());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let made = ok(cli(
        &db,
        dir.path(),
        &[
            "--listen", &listen, "withdraw", "create", "--amount", "1sat",
        ],
    )
    .output()
    .unwrap());
    let url = made
        .lines()
        .find_map(|l| l.strip_prefix("url:"))
        .unwrap()
        .trim();
    assert!(
        url.starts_with(&format!("http://{listen}/lnurlw/")),
        "{made}"
    );
    // A given public URL wins over --listen.
    let made = ok(cli(
        &db,
        dir.path(),
        &[
            "--listen",
            &listen,
            "--public-url",
            "https://pay.example.com",
            "withdraw",
            "create",
            "--amount",
            "1sat",
        ],
    )
    .output()
    .unwrap());
    assert!(
        made.contains("url:      https://pay.example.com/lnurlw/"),
        "{made}"
    );
}

async fn logs_are_all_json_or_plain_text_without_colour(db: TestDb) {
    let json = Served::start(&db, &[("LNURLD_LOG_FORMAT", "json")], "022").await;
    let log = json.stop();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let said = |words: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(words))
        })
    };
    assert!(said("DEV NODE IS ACTIVE"), "{log}");
    assert!(said("lnurld listening"), "{log}");
    // The first start's admin token is in the JSON too, as a field.
    let token = lines
        .iter()
        .find_map(|l| l["fields"]["token"].as_str())
        .unwrap_or_else(|| panic!("a token line: {log}"));
    assert!(token.starts_with("lnurld_"), "{token}");

    // Plain text into a file: the banner, and no terminal colour codes.
    let text = Served::start(&db, &[], "022").await.stop();
    assert!(text.contains("lnurld listening"), "{text}");
    assert!(text.contains("No real money moves"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text:?}");
}

crate::both_dbs!(
    logs_are_all_json_or_plain_text_without_colour,
    lists_are_tables_that_say_what_they_cut,
    show_says_states_in_words,
    a_closed_pipe_ends_quietly,
    amount_errors_say_what_is_wrong,
    links_follow_listen,
    help_keeps_global_flags_apart,
);

/// `--help` of a subcommand lists its own options first and the flags every
/// command takes once, under their own heading, without the value of
/// `LNURLD_CONFIG`.
async fn help_keeps_global_flags_apart(db: TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cli(&db, dir.path(), &["withdraw", "list", "--help"])
        .env("LNURLD_CONFIG", "/secret/place.toml")
        .output()
        .expect("run lnurld");
    let help = ok(out);
    let (own, global) = help
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("no global heading:\n{help}"));
    assert!(
        own.contains("--status") && own.contains("--cursor"),
        "{help}"
    );
    for flag in ["--config", "--listen", "--public-url", "--database-url"] {
        assert!(
            !own.contains(flag),
            "{flag} among the command's own options:\n{help}"
        );
        assert_eq!(global.matches(flag).count(), 1, "{flag}:\n{help}");
    }
    assert!(!help.contains("/secret/place.toml"), "{help}");
}
