//! The database layer: migrations up from empty on each backend, and the two
//! migration trees kept in step.

use std::collections::BTreeSet;

use lnurld::db::{Db, DbUrl};

use crate::both_dbs;
use crate::support::db::TestDb;

both_dbs!(
    migrations_run_from_empty_and_are_idempotent,
    a_connection_that_panicked_in_a_transaction_is_not_reused,
);

async fn migrations_run_from_empty_and_are_idempotent(db: TestDb) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let pool = tokio::task::spawn_blocking(move || Db::connect(&url, 2))
        .await
        .unwrap()
        .unwrap();
    let ran = pool.migrate().await.unwrap();
    let expected = std::fs::read_dir("migrations/sqlite").unwrap().count();
    assert_eq!(ran, expected, "every migration ran on an empty database");
    assert_eq!(pool.migrate().await.unwrap(), 0, "nothing left to run");
    pool.ping().await.unwrap();
    assert_eq!(
        pool.url().backend(),
        if db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
}

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(names("migrations/sqlite"), names("migrations/postgres"));
    for name in names("migrations/sqlite") {
        for backend in ["sqlite", "postgres"] {
            for f in ["up.sql", "down.sql"] {
                let p = format!("migrations/{backend}/{name}/{f}");
                assert!(std::path::Path::new(&p).exists(), "{p} missing");
            }
        }
    }
}

#[test]
fn database_urls_pick_the_backend_by_scheme() {
    assert_eq!(DbUrl::parse("sqlite://a/b.db").unwrap().backend(), "sqlite");
    assert_eq!(
        DbUrl::parse("postgres://u@h/d").unwrap().backend(),
        "postgres"
    );
    assert_eq!(
        DbUrl::parse("postgresql://u@h/d").unwrap().backend(),
        "postgres"
    );
    assert!(DbUrl::parse("mysql://x").is_err());
    assert!(DbUrl::parse("sqlite://").is_err());
    let e = DbUrl::parse("redis://user:hunter2@h")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2"), "{e}");
}

fn token(id: &str) -> lnurld::db::models::ApiToken {
    lnurld::db::models::ApiToken {
        id: lnurld::db::types::TokenId::from_raw(id),
        name: id.into(),
        token_hash: format!("hash-{id}"),
        created_at: 0,
        last_used_at: None,
        revoked_at: None,
    }
}

async fn a_connection_that_panicked_in_a_transaction_is_not_reused(db: TestDb) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let u = url.clone();
    // One connection, so a broken one would be handed out again.
    let pool = tokio::task::spawn_blocking(move || Db::connect(&u, 1))
        .await
        .unwrap()
        .unwrap();
    pool.migrate().await.unwrap();
    let r: Result<(), _> = pool
        .transaction(|c| {
            token("a").insert(c)?;
            panic!("boom inside a transaction");
        })
        .await;
    assert!(r.is_err());
    pool.transaction(|c| token("b").insert(c)).await.unwrap();
    // Another pool sees exactly the committed row.
    let fresh = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
        .await
        .unwrap()
        .unwrap();
    let n = fresh
        .run(|c| {
            lnurld::db::models::ApiToken::find_active_by_hash(c, "hash-b").map(|t| t.is_some())
        })
        .await
        .unwrap();
    assert!(n, "the write after the panic was really committed");
    let a = fresh
        .run(|c| {
            lnurld::db::models::ApiToken::find_active_by_hash(c, "hash-a").map(|t| t.is_some())
        })
        .await
        .unwrap();
    assert!(!a, "the panicked transaction was rolled back");
}
