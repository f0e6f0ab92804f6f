//! The database layer: migrations up from empty on each backend, and the two
//! migration trees kept in step.

use std::collections::BTreeSet;

use lnurld::db::{Db, DbUrl};

use crate::both_dbs;
use crate::support::db::TestDb;

both_dbs!(
    migrations_run_from_empty_and_are_idempotent,
    a_connection_that_panicked_in_a_transaction_is_not_reused,
    waiting_transactions_commit_together_and_fail_alone,
    a_panic_in_a_batch_fails_only_what_it_took_with_it,
    a_batch_whose_transaction_was_lost_commits_nothing_it_ran,
    a_transaction_left_open_is_never_answered_ok,
    the_last_pool_handle_closes_every_connection_before_it_returns,
);

async fn migrations_run_from_empty_and_are_idempotent(db: TestDb) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let pool = connect(&url, 2).await;
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

/// A pool of at most `max` connections on `url` (made off the async
/// workers: connecting blocks).
async fn connect(url: &DbUrl, max: u32) -> Db {
    let url = url.clone();
    tokio::task::spawn_blocking(move || Db::connect(&url, max))
        .await
        .unwrap()
        .unwrap()
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
    // One connection, so a broken one would be handed out again.
    let pool = connect(&url, 1).await;
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
    let fresh = connect(&url, 1).await;
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

/// `f`'s transaction submitted now (polled once, which hands it to the
/// database), awaited later: so a test knows it is queued. On SQLite it must
/// be (the writer is busy with the held transaction); on PostgreSQL it runs
/// at once on another pooled connection and, on a loaded machine, may even
/// be answered before that first poll returns.
fn submitted<T: Send + 'static>(
    db: &TestDb,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let mut f = Box::pin(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Pending => tokio::spawn(f),
        // A finished future must not be polled again: hand on its answer.
        std::task::Poll::Ready(answer) => {
            assert!(db.is_postgres(), "answered at once");
            tokio::spawn(async move { answer })
        }
    }
}

/// A pool whose first transaction is held open until the returned sender
/// is dropped or sent to; returns once that transaction is running.
async fn held_pool(
    db: &TestDb,
) -> (
    Db,
    std::sync::mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), lnurld::db::DbError>>,
) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let pool = connect(&url, 4).await;
    pool.migrate().await.unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(tx(&pool, move |c| {
        token("first").insert(c)?;
        let _ = started.send(());
        let _ = held.recv();
        Ok(())
    }));
    running.await.unwrap();
    (pool, release, first)
}

/// `pool.transaction(f)` as a future that owns its pool handle.
fn tx<T, F>(
    pool: &Db,
    f: F,
) -> impl std::future::Future<Output = Result<T, lnurld::db::DbError>> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(&mut lnurld::db::DbConn) -> Result<T, lnurld::db::DbError> + Send + 'static,
{
    let pool = pool.clone();
    async move { pool.transaction(f).await }
}

type Answer<T> = Result<T, lnurld::db::DbError>;

/// Three transactions queued behind [`held_pool`]'s held one, so that on
/// SQLite they wait for the same batch: one that inserts the token
/// "before", `middle`, and one that inserts "after". Releases the held
/// transaction and returns the pool and the three answers.
async fn queued_around<T, F>(db: &TestDb, middle: F) -> (Db, Answer<()>, Answer<T>, Answer<()>)
where
    T: Send + 'static,
    F: FnOnce(&mut lnurld::db::DbConn) -> Answer<T> + Send + 'static,
{
    let (pool, release, first) = held_pool(db).await;
    let before = submitted(db, tx(&pool, |c| token("before").insert(c)));
    let middle = submitted(db, tx(&pool, middle));
    let after = submitted(db, tx(&pool, |c| token("after").insert(c)));
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    (
        pool,
        before.await.unwrap(),
        middle.await.unwrap(),
        after.await.unwrap(),
    )
}

async fn has_token(pool: &Db, id: &str) -> bool {
    let hash = format!("hash-{id}");
    pool.run(move |c| {
        lnurld::db::models::ApiToken::find_active_by_hash(c, &hash).map(|t| t.is_some())
    })
    .await
    .unwrap()
}

/// SQLite's group commit (`db/writer.rs`): transactions that wait while
/// one commits are committed together, with one fsync, and one that fails
/// rolls back alone. On PostgreSQL each is its own commit.
async fn waiting_transactions_commit_together_and_fail_alone(db: TestDb) {
    let (pool, release, first) = held_pool(&db).await;
    let before = pool.commits();
    let mut oks = Vec::new();
    for n in 0..20 {
        oks.push(submitted(
            &db,
            tx(&pool, move |c| token(&format!("t{n}")).insert(c)),
        ));
    }
    let failing = submitted(
        &db,
        tx(&pool, |c| {
            token("refused").insert(c)?;
            Err::<(), _>(lnurld::db::DbError::Unavailable(
                "refused by the caller".into(),
            ))
        }),
    );
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    for ok in oks {
        ok.await.unwrap().unwrap();
    }
    let e = failing.await.unwrap().unwrap_err().to_string();
    assert!(e.contains("refused by the caller"), "{e}");
    for n in 0..20 {
        assert!(has_token(&pool, &format!("t{n}")).await, "t{n} committed");
    }
    assert!(has_token(&pool, "first").await);
    assert!(
        !has_token(&pool, "refused").await,
        "the failed one rolled back alone"
    );
    let commits = pool.commits() - before;
    if db.is_postgres() {
        assert_eq!(
            commits, 21,
            "one commit per transaction that wrote and succeeded"
        );
    } else {
        // The held one (counted before the others were even submitted,
        // or just after) and one batch for the 21 waiting.
        assert!(
            commits <= 2,
            "{commits} commits for 21 waiting transactions"
        );
    }
}

/// A transaction that panics takes its batch's uncommitted work with it
/// (those callers are told it failed, and nothing of theirs is written);
/// what was queued behind it runs in the next batch.
async fn a_panic_in_a_batch_fails_only_what_it_took_with_it(db: TestDb) {
    let (pool, before, panics, after) = queued_around(&db, |c| -> Answer<()> {
        token("panics").insert(c)?;
        panic!("boom inside a batch");
    })
    .await;
    assert!(panics.is_err());
    assert!(!has_token(&pool, "panics").await);
    after.unwrap();
    assert!(
        has_token(&pool, "after").await,
        "queued behind the panic, committed"
    );
    // Every caller's answer matches what is in the database.
    assert_eq!(before.is_ok(), has_token(&pool, "before").await);
    if !db.is_postgres() {
        let e = before.unwrap_err().to_string();
        assert_eq!(
            e, "database unavailable: a transaction of the same batch panicked",
            "SQLite: batched with the panic, rolled back with it, and told why"
        );
    }
    assert!(has_token(&pool, "first").await);
    pool.transaction(|c| token("later").insert(c))
        .await
        .unwrap();
    assert!(has_token(&pool, "later").await, "the writer goes on");
}

/// A transaction that leaves a nested transaction of its own open (a
/// savepoint never released) would otherwise make its batch's COMMIT a mere
/// RELEASE: every caller hears Ok and nothing is durable. It and what ran
/// with it are told no, and what was queued behind it runs in the next
/// batch. On PostgreSQL the connection it leaves inside a transaction is
/// dropped (rolled back) and its caller is told no.
async fn a_transaction_left_open_is_never_answered_ok(db: TestDb) {
    use diesel::connection::TransactionManager;
    let (pool, before, leaks, after) = queued_around(&db, |c| {
        token("leaks").insert(c)?;
        <lnurld::db::DbConn as TransactionManager<_>>::begin_transaction(c)?;
        token("leaks-inner").insert(c)
    })
    .await;
    // A fresh pool reads what is really committed.
    let url = DbUrl::parse(&db.url()).unwrap();
    let fresh = connect(&url, 1).await;
    for (id, answer) in [("before", &before), ("leaks", &leaks), ("after", &after)] {
        assert_eq!(
            answer.is_ok(),
            has_token(&fresh, id).await,
            "{id}: {answer:?}"
        );
    }
    assert!(!has_token(&fresh, "leaks-inner").await);
    let e = leaks.unwrap_err().to_string();
    if db.is_postgres() {
        assert_eq!(
            e,
            "database unavailable: a transaction was left open and rolled back"
        );
    } else {
        assert_eq!(
            e,
            "database unavailable: a transaction of the same batch could not be rolled back alone"
        );
        assert!(before.is_err(), "batched with the one left open");
    }
    assert!(after.is_ok(), "queued behind it, committed: {after:?}");
    pool.transaction(|c| token("later").insert(c))
        .await
        .unwrap();
    assert!(has_token(&fresh, "later").await, "the writer goes on");
}

/// SQLite may roll back a whole transaction by itself (a full disk, an
/// I/O error), under the savepoints of a batch. Simulated here by a
/// transaction that runs `ROLLBACK` itself: the batch's transaction is
/// gone, so nothing that ran in it may be answered Ok, and nothing after
/// it may run outside a batch (it runs in the next one). Every caller's
/// answer must match the database.
async fn a_batch_whose_transaction_was_lost_commits_nothing_it_ran(db: TestDb) {
    use diesel::connection::SimpleConnection;
    let (pool, before, loses, after) = queued_around(&db, |c| {
        token("loses").insert(c)?;
        c.batch_execute("ROLLBACK")
            .map_err(|e| lnurld::db::DbError::Unavailable(e.to_string()))
    })
    .await;
    assert_eq!(
        before.is_ok(),
        has_token(&pool, "before").await,
        "{before:?}"
    );
    assert_eq!(after.is_ok(), has_token(&pool, "after").await, "{after:?}");
    assert!(
        after.is_ok(),
        "queued behind the lost batch, committed in the next"
    );
    if !db.is_postgres() {
        // (On PostgreSQL each transaction has its own connection, and a
        // COMMIT after a stray ROLLBACK only warns: not the writer's case.)
        assert_eq!(loses.is_ok(), has_token(&pool, "loses").await, "{loses:?}");
        let e = before.unwrap_err().to_string();
        assert_eq!(
            e,
            "database unavailable: a transaction of the same batch could not be rolled back alone",
            "batched with the lost transaction, and told why"
        );
    }
    pool.transaction(|c| token("later").insert(c))
        .await
        .unwrap();
    assert!(has_token(&pool, "later").await, "the writer goes on");
}

/// Dropping the last handle of a pool closes its connections before the
/// drop returns (the writer's and the readers' threads are joined). On
/// SQLite the last close checkpoints the WAL into the database file and
/// removes `-wal`: a CLI command that exits right after a write leaves the
/// whole database in its one file (a copy of that file is then a full
/// backup), and no thread is still closing it while the process exits.
async fn the_last_pool_handle_closes_every_connection_before_it_returns(db: TestDb) {
    let url = DbUrl::parse(&db.url()).unwrap();
    let pool = connect(&url, 2).await;
    pool.migrate().await.unwrap();
    pool.transaction(|c| token("w").insert(c)).await.unwrap();
    assert!(has_token(&pool, "w").await);
    if let DbUrl::Sqlite(path) = &url {
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        assert!(wal.exists(), "WAL mode, while the pool is open");
        tokio::task::spawn_blocking(move || drop(pool))
            .await
            .unwrap();
        assert!(
            !wal.exists(),
            "every connection closed (the last one checkpointed) before drop returned"
        );
    } else {
        use diesel::{Connection, RunQueryDsl};
        let others = || {
            let mut c = diesel::PgConnection::establish(&db.url()).unwrap();
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid())",
            ))
            .get_result::<i64>(&mut c)
            .unwrap()
        };
        assert!(others() > 0, "the pool's connections, while it is open");
        tokio::task::spawn_blocking(move || drop(pool))
            .await
            .unwrap();
        // The server ends a backend just after its client has gone.
        crate::support::eventually(
            "no connection of the pool left",
            std::time::Duration::from_secs(10),
            || async { (others() == 0).then_some(()) },
        )
        .await;
    }
}
