//! The `lnurld` binary itself: config refusals at start, `serve` on its
//! embedded defaults answering `/healthz` and `/metrics`, `token create`,
//! `migrate`, `withdraw create`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{eventually, free_port};

fn lnurld(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
    c.current_dir(dir);
    // The developer's own settings must not leak into these runs.
    for (k, _) in std::env::vars() {
        if k.starts_with("LNURLD_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Runs `lnurld serve` with `env` and returns (exit code, stderr).
fn refused_start(env: &[(&str, &str)], extra_args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = lnurld(dir.path());
    c.args(extra_args).arg("serve");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run lnurld");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(env: &[(&str, &str)], args: &[&str], key: &str, words: &str) {
    let (code, stderr) = refused_start(env, args);
    assert_ne!(code, 0, "lnurld should refuse to start: {stderr}");
    let first = stderr
        .lines()
        .find(|l| l.contains("config"))
        .unwrap_or_default();
    assert!(
        first.contains(key),
        "{first:?} should name {key}; stderr: {stderr}"
    );
    assert!(first.contains(words), "{first:?} should say {words:?}");
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    // Each refusal names the key and where it was given.
    assert_refused(
        &[("LNURLD_PUBLIC_URL", "http://pay.example.com")],
        &[],
        "public_url (env LNURLD_PUBLIC_URL)",
        "https",
    );
    assert_refused(
        &[],
        &["--public-url", "http://10.0.0.1"],
        "public_url (--public-url)",
        "localhost or .onion",
    );
    assert_refused(
        &[("LNURLD_NODE__KIND", "LND")],
        &[],
        "node.kind (env LNURLD_NODE__KIND)",
        "unknown variant `LND`",
    );
    assert_refused(
        &[("LNURLD_DATABASE_URL", "mysql://x")],
        &[],
        "database_url",
        "sqlite://",
    );
    assert_refused(
        &[("LNURLD_WITHDRAW__MAX_FEE_PPM", "lots")],
        &[],
        "withdraw.max_fee_ppm (env LNURLD_WITHDRAW__MAX_FEE_PPM)",
        "\"lots\" is not a whole number",
    );
    let lnd = [
        ("LNURLD_NODE__KIND", "lnd"),
        ("LNURLD_NODE__ENDPOINT", "https://127.0.0.1:10009"),
    ];
    assert_refused(
        &[
            lnd[0],
            lnd[1],
            ("LNURLD_NODE__TLS_CERT", "/nonexistent/tls.cert"),
            ("LNURLD_NODE__MACAROON", "0201"),
        ],
        &[],
        "node.tls_cert",
        "cannot read",
    );
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.cert");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let cert = cert.to_str().unwrap();
    assert_refused(
        &[
            lnd[0],
            lnd[1],
            ("LNURLD_NODE__TLS_CERT", cert),
            ("LNURLD_NODE__MACAROON", "/nonexistent/admin.macaroon"),
        ],
        &[],
        "node.macaroon",
        "neither a readable file nor hex",
    );
    assert_refused(
        &[lnd[0], ("LNURLD_NODE__TLS_CERT", cert)],
        &[],
        "node.endpoint",
        "required",
    );
    // A config file with an unknown key, and one that is not TOML.
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "listen = \"127.0.0.1:1\"\n[withdraw]\nmax_fee = 5\n").unwrap();
    assert_refused(
        &[],
        &["--config", f.to_str().unwrap()],
        "withdraw.max_fee (",
        "bad.toml line 3): unknown field `max_fee`",
    );
    let (_, stderr) = refused_start(&[], &["--config", f.to_str().unwrap()]);
    assert!(!stderr.contains("config: config"), "{stderr}");
    std::fs::write(&f, "listen = ").unwrap();
    assert_refused(
        &[],
        &["--config", f.to_str().unwrap()],
        "bad.toml",
        "not valid TOML",
    );
}

#[test]
fn unrelated_lnurld_variables_are_ignored_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = lnurld(dir.path())
        .env("LNURLD_UPDATE_SCREENSHOT", "1")
        .env("LNURLD_CHECKOUT", "/srv/lnurld")
        .env("LNURLD_NODE__COLOUR", "red")
        .arg("migrate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("no lnurld setting"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    for name in [
        "LNURLD_UPDATE_SCREENSHOT",
        "LNURLD_CHECKOUT",
        "LNURLD_NODE__COLOUR",
    ] {
        assert!(warnings[0].contains(name), "{stderr}");
    }
}

#[test]
fn unreadable_database_is_refused() {
    let (code, stderr) = refused_start(
        &[(
            "LNURLD_DATABASE_URL",
            "sqlite:///nonexistent-dir/sub/lnurld.db",
        )],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("/nonexistent-dir/sub/lnurld.db")
            && stderr.contains("the directory /nonexistent-dir/sub does not exist"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("database").count(), 1, "said once: {stderr}");
    let (code, stderr) = refused_start(
        &[(
            "LNURLD_DATABASE_URL",
            "postgres://nobody:secretpw@127.0.0.1:1/x",
        )],
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("database"), "{stderr}");
    assert!(!stderr.contains("secretpw"), "password leaked: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_embedded_defaults_answers_healthz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = lnurld(dir.path())
        .args([
            "--listen",
            &listen,
            "--public-url",
            &format!("http://127.0.0.1:{port}"),
            "serve",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lnurld serve");
    let http = reqwest::Client::new();
    let health: serde_json::Value = eventually("healthz answers", Duration::from_secs(60), || {
        let http = http.clone();
        let url = format!("http://{listen}/healthz");
        async move {
            let r = http.get(url).send().await.ok()?;
            (r.status() == 200).then_some(())?;
            r.json().await.ok()
        }
    })
    .await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["node"]["kind"], "dev");
    assert_eq!(health["node"]["network"], "regtest");
    assert_eq!(health["database"]["backend"], "sqlite");
    let metrics = http
        .get(format!("http://{listen}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "lnurld_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("lnurld_node_call_seconds_count{call=\"info\",ok=\"true\"}"),
        "{text}"
    );

    // Embedded defaults: the SQLite file and the key files in the working dir.
    assert!(dir.path().join("lnurld.db").exists());
    assert!(dir.path().join("lnurld.key").exists());
    assert!(dir.path().join("lnurld-dev-node.key").exists());

    // SIGTERM, as an operator stops it: the server shuts down gracefully and
    // closes the database, which folds SQLite's WAL into the file read below.
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No real money moves"), "{stderr}");
    let token = stderr
        .split_whitespace()
        .find(|w| w.starts_with("lnurld_"))
        .expect("first start prints an admin token");
    // Stored only as a hash.
    let db = std::fs::read(dir.path().join("lnurld.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(token));
}

#[test]
fn token_create_migrate_and_withdraw_create_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = lnurld(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lnurld(dir.path())
        .args(["token", "create", "--name", "ops"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("lnurld_") && token.len() > 40, "{token}");
    let db = std::fs::read(dir.path().join("lnurld.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(&token),
        "token stored in clear"
    );

    let out = lnurld(dir.path())
        .args([
            "withdraw",
            "create",
            "--amount",
            "1000sat",
            "--title",
            "Gift",
            "--external-id",
            "x1",
            "--qr",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lnurl_line = text
        .lines()
        .find(|l| l.starts_with("lnurl:"))
        .expect("lnurl line");
    let lnurl_str = lnurl_line.trim_start_matches("lnurl:").trim();
    let url = lnurl::lnurl::LnUrl::decode(lnurl_str.to_owned())
        .unwrap()
        .url;
    assert!(url.starts_with("http://127.0.0.1:8080/lnurlw/"), "{url}");
    assert!(
        text.contains('█') || text.contains('▀'),
        "QR drawn in the terminal"
    );
    // Same external id and parameters: the same link (other parameters
    // would be an external_id_conflict).
    let again = lnurld(dir.path())
        .args([
            "withdraw",
            "create",
            "--amount",
            "1000sat",
            "--title",
            "Gift",
            "--external-id",
            "x1",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8(again.stdout).unwrap().contains(lnurl_str));
    let list = lnurld(dir.path())
        .args(["withdraw", "list"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(list.stdout).unwrap().lines().count(),
        2,
        "a header and the one link"
    );

    let bad = lnurld(dir.path())
        .args(["withdraw", "create", "--amount", "1000"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs a unit"));
}

#[test]
fn pay_and_address_commands() {
    let dir = tempfile::tempdir().unwrap();
    assert!(lnurld(dir.path())
        .arg("migrate")
        .status()
        .unwrap()
        .success());
    let run = |args: &[&str]| {
        let out = lnurld(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let added = run(&["address", "add", "Alice", "--comment-allowed", "100"]);
    assert!(added.contains("address:  alice@127.0.0.1"), "{added}");
    let listed = run(&["address", "list"]);
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("alice@127.0.0.1"),
        "{listed}"
    );
    let created = run(&[
        "pay",
        "create",
        "--description",
        "Donations",
        "--min",
        "10sat",
        "--max",
        "20sat",
    ]);
    let id = created
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("id:")
        .trim()
        .to_owned();
    let shown = run(&["pay", "show", &id]);
    assert!(shown.contains("10 – 20 sat"), "{shown}");
    assert_eq!(
        run(&["pay", "list"]).lines().count(),
        3,
        "a header and two links"
    );
    run(&["address", "remove", "alice"]);
    assert!(!run(&["address", "list"]).contains("alice"));
    let bad = lnurld(dir.path())
        .args(["address", "add", "al ice"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("username may contain only"));
}
