//! The server key check and a CLI that creates nothing (issue 11, item 2),
//! through the real binary: a start or a CLI command with another key than
//! the one the database was created with is refused with one line naming
//! `secret_key`, before anything listens; the CLI run where there is no
//! database says so and leaves no file behind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::db::TestDb;
use crate::support::serve::{lnurld_on, Served};
use crate::support::{eventually, free_port};

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Kills the child if a test gives up on it.
pub(crate) struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `c` to its end (a server that wrongly starts would never end: the
/// wait gives up after a minute) and returns (exit code, stderr).
pub(crate) async fn ends(mut c: Command) -> (i32, String) {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let err = log.reopen().expect("reopen log");
    let mut child = Reaped(
        c.stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn lnurld"),
    );
    let status = eventually("lnurld exits", Duration::from_secs(60), || {
        let done = child.0.try_wait().expect("try_wait");
        async move { done }
    })
    .await;
    let stderr = std::fs::read_to_string(log.path()).expect("read log");
    (status.code().unwrap_or(-1), stderr)
}

/// `lnurld serve` on `db` with `env`, on a port of its own.
pub(crate) fn serve(db: &TestDb, env: &[(&str, &str)]) -> Command {
    let port = free_port();
    let mut c = lnurld_on(db);
    c.args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}"), "serve"])
        .envs(env.iter().copied());
    c
}

/// `lnurld ARGS` on `db` with `env`.
pub(crate) fn cli(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = lnurld_on(db);
    c.env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .args(args);
    c
}

/// Asserts a refusal: non-zero exit, and exactly one line, naming
/// `secret_key` and saying `words`; never got as far as listening.
pub(crate) fn assert_key_refused((code, stderr): (i32, String), words: &str) {
    assert_ne!(code, 0, "refused: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("secret_key"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("lnurld: secret_key: "),
        "names secret_key first: {stderr}"
    );
    assert!(lines[0].contains(words), "{words:?}: {stderr}");
    assert!(!stderr.contains("lnurld listening"), "{stderr}");
}

async fn a_wrong_key_is_refused_by_serve_and_the_cli(db: TestDb) {
    let key_a = [("LNURLD_SECRET_KEY", KEY_A)];
    let key_b = [("LNURLD_SECRET_KEY", KEY_B)];
    let (code, stderr) = ends(cli(&db, &key_a, &["migrate"])).await;
    assert_eq!(code, 0, "{stderr}");
    // The first instance, with key A.
    let first = Served::start(&db, &key_a, "022").await;

    // A second instance with key B does not start.
    assert_key_refused(
        ends(serve(&db, &key_b)).await,
        "not the server key of this database (the configured secret_key)",
    );
    // Nor does a CLI command with key B.
    for args in [
        &["withdraw", "list"][..],
        &["token", "create", "--name", "b"],
    ] {
        assert_key_refused(
            ends(cli(&db, &key_b, args)).await,
            "set secret_key (or key_file) to the database's key",
        );
    }
    // A key file with key B is named in the refusal.
    let b_file = db.dir().join("b.key");
    std::fs::write(&b_file, KEY_B).unwrap();
    let b_file = b_file.to_str().unwrap();
    assert_key_refused(
        ends(cli(&db, &[("LNURLD_KEY_FILE", b_file)], &["token", "list"])).await,
        &format!("(key file {b_file})"),
    );
    assert_key_refused(
        ends(serve(&db, &[("LNURLD_KEY_FILE", b_file)])).await,
        &format!("(key file {b_file})"),
    );
    // No key at all: neither the CLI nor a start makes one up for a
    // database that has one.
    let missing = db.dir().join("missing.key");
    let missing_s = missing.to_str().unwrap();
    assert_key_refused(
        ends(cli(
            &db,
            &[("LNURLD_KEY_FILE", missing_s)],
            &["withdraw", "list"],
        ))
        .await,
        &format!("there is no key file {missing_s}"),
    );
    assert_key_refused(
        ends(serve(&db, &[("LNURLD_KEY_FILE", missing_s)])).await,
        &format!("there is no key file {missing_s}"),
    );
    assert!(!missing.exists(), "no key file made up");
    assert!(!db.dir().join("lnurld.key").exists(), "no key file made up");

    // With key A the CLI works, and the running instance serves what it made.
    let (code, made) = {
        let out = cli(
            &db,
            &key_a,
            &[
                "--public-url",
                &first.base,
                "withdraw",
                "create",
                "--amount",
                "1sat",
            ],
        )
        .output()
        .expect("run lnurld");
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    assert_eq!(code, Some(0), "{made}");
    let url = made
        .lines()
        .find_map(|l| l.strip_prefix("url:"))
        .unwrap_or_else(|| panic!("a url line: {made}"))
        .trim()
        .to_owned();
    let answer: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(answer["tag"], "withdrawRequest", "{answer}");
    // And a second instance with key A starts beside the first.
    let second = Served::start(&db, &key_a, "022").await;
    let again: serde_json::Value = reqwest::get(url.replace(&first.base, &second.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["tag"], "withdrawRequest", "{again}");
    second.stop();
    first.stop();
}

/// The names in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// How many tables the PostgreSQL database `url` has.
fn pg_tables(url: &str) -> i64 {
    use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = PgConnection::establish(url).expect("connect");
    diesel::sql_query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result::<Count>(&mut c)
    .expect("count tables")
    .n
}

async fn the_cli_where_there_is_no_database_creates_nothing(db: TestDb) {
    let empty = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 10] = [
        &["token", "list"],
        &["token", "create", "--name", "ops"],
        &["token", "revoke", "ops"],
        &["batch", "list"],
        &["batch", "create", "--count", "2", "--amount", "1sat"],
        &["withdraw", "list"],
        &["withdraw", "create", "--amount", "1sat"],
        &["pay", "list"],
        &["address", "add", "alice"],
        &["node", "switch", "--confirm"],
    ];
    // No configuration at all: the default database, ./lnurld.db.
    // And the test database, which does not exist yet (SQLite) or has no
    // tables (PostgreSQL).
    let url = db.url();
    let shown = lnurld::db::redact_url(&url);
    let setups: [(&[&str], &str); 2] = [
        (&[], "sqlite://lnurld.db"),
        (&["--database-url", url.as_str()], shown.as_str()),
    ];
    for (flags, at) in setups {
        for args in commands {
            let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
            for (k, _) in std::env::vars() {
                if k.starts_with("LNURLD_") {
                    c.env_remove(k);
                }
            }
            c.current_dir(empty.path())
                .env("RUST_LOG", "warn")
                .args(flags)
                .args(args);
            let (code, stderr) = ends(c).await;
            assert_ne!(code, 0, "{args:?}: {stderr}");
            assert_eq!(
                stderr.trim(),
                format!(
                    "lnurld: no lnurld database at {at}; run this where `lnurld serve` runs, or pass --config/--database-url"
                ),
                "{args:?}"
            );
            assert_eq!(files_in(empty.path()), Vec::<String>::new(), "{args:?}");
            assert_eq!(files_in(db.dir()), Vec::<String>::new(), "{args:?}");
            if db.is_postgres() {
                assert_eq!(pg_tables(&url), 0, "{args:?}: no tables made");
            }
        }
    }
    // `migrate` is what creates a database; then the CLI finds it.
    let (code, stderr) = ends(cli(&db, &[], &["migrate"])).await;
    assert_eq!(code, 0, "{stderr}");
    // With the server key; not the dev node's, which only `serve` uses.
    let made = files_in(db.dir());
    assert!(made.contains(&"lnurld.key".to_owned()), "{made:?}");
    assert!(
        !made.contains(&"lnurld-dev-node.key".to_owned()),
        "{made:?}"
    );
    let (code, stderr) = ends(cli(&db, &[], &["withdraw", "list"])).await;
    assert_eq!(code, 0, "{stderr}");
}

crate::both_dbs!(
    a_wrong_key_is_refused_by_serve_and_the_cli,
    the_cli_where_there_is_no_database_creates_nothing,
);
