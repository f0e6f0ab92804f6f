//! File modes (issue 10): the files a start creates — the SQLite database
//! and its `-wal`/`-shm`, the server key, the dev node key — are 0600, and
//! an existing one open to group or others is named at WARN at start.
//! Through the real `lnurld serve`, under umask 022 so the modes are
//! lnurld's own choice.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::both_dbs;
use crate::support::db::TestDb;
use crate::support::serve::{lines_at, Served};

both_dbs!(
    files_created_by_a_start_are_private,
    exposed_files_are_named_at_start,
);

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The files a start makes in the data dir on `db`.
fn made_files(db: &TestDb) -> Vec<&'static str> {
    let mut files = vec!["lnurld.key", "lnurld-dev-node.key"];
    if !db.is_postgres() {
        // -wal and -shm exist while the server has the database open.
        files.extend(["lnurld.db", "lnurld.db-wal", "lnurld.db-shm"]);
    }
    files
}

async fn files_created_by_a_start_are_private(db: TestDb) {
    let served = Served::start(&db, &[("RUST_LOG", "warn")], "022").await;
    for f in made_files(&db) {
        let p = db.dir().join(f);
        assert_eq!(mode(&p), 0o600, "{} is {:o}", p.display(), mode(&p));
    }
    let log = served.stop();
    assert!(
        !lines_at(&log, "WARN")
            .iter()
            .any(|l| l.contains("chmod 600")),
        "files it made itself are not reported: {log}"
    );
}

async fn exposed_files_are_named_at_start(db: TestDb) {
    Served::start(&db, &[("RUST_LOG", "warn")], "022")
        .await
        .stop();
    let mut exposed = vec![("lnurld.key", 0o644), ("lnurld-dev-node.key", 0o640)];
    if !db.is_postgres() {
        exposed.push(("lnurld.db", 0o604));
    }
    for (f, m) in &exposed {
        chmod(&db.dir().join(f), *m);
    }
    let log = Served::start(&db, &[("RUST_LOG", "warn")], "022")
        .await
        .stop();
    let warns = lines_at(&log, "WARN");
    for (f, m) in &exposed {
        let file = format!("/{f} mode={m:04o}");
        assert!(
            warns
                .iter()
                .any(|l| l.contains(&file) && l.contains("chmod 600")),
            "no WARN naming {file}: {log}"
        );
    }
    // Private again: no warning. SQLite gave the -wal and -shm of that
    // start the database's mode; they are gone after a clean stop, unless
    // the last close did not fold them in.
    for f in made_files(&db) {
        let p = db.dir().join(f);
        if p.exists() {
            chmod(&p, 0o600);
        }
    }
    let log = Served::start(&db, &[("RUST_LOG", "warn")], "022")
        .await
        .stop();
    assert!(
        !lines_at(&log, "WARN")
            .iter()
            .any(|l| l.contains("chmod 600")),
        "{log}"
    );
}
