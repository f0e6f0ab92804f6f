//! Database layer: diesel schema, models and their queries, migrations and
//! the connection pool. Imports nothing above it (no HTTP, no node).
//!
//! One binary serves SQLite and PostgreSQL: `DbConn` is a diesel
//! `MultiConnection`, the backend is picked from the URL scheme, and every
//! query is written once against portable column types. Per-backend `match`
//! lives only here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

mod commits;
pub mod listen;
pub mod models;
mod readers;
pub mod schema;
pub mod types;
mod writer;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// Embedded SQLite (the default).
    Sqlite(SqliteConnection),
    /// PostgreSQL (for many instances).
    Pg(PgConnection),
}

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The `database_url` is not one lnurld understands.
    #[error("database_url must start with sqlite:// or postgres:// (got {0:?})")]
    BadUrl(String),
    /// No connection could be made or taken from the pool.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row would violate a unique constraint (the caller can usually cause this).
    #[error("duplicate value for {0}")]
    Duplicate(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    /// Running migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                // SQLite names the columns in the message, Postgres the constraint.
                let what = info
                    .constraint_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| info.message().to_owned());
                DbError::Duplicate(what)
            }
            other => DbError::Query(other),
        }
    }
}

/// Which backend a URL selects, with what the driver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// Path of the SQLite file.
    Sqlite(PathBuf),
    /// The full `postgres://` URL.
    Postgres(String),
}

impl DbUrl {
    /// Picks the backend from the URL scheme. We choose the variant ourselves
    /// because `MultiConnection::establish` reports only its last attempt's
    /// error, which turns "wrong password" into "invalid URL".
    pub fn parse(url: &str) -> Result<DbUrl, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::BadUrl(url.to_owned()));
            }
            Ok(DbUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_owned()))
        } else {
            Err(DbError::BadUrl(redact_url(url)))
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            DbUrl::Sqlite(_) => "sqlite",
            DbUrl::Postgres(_) => "postgres",
        }
    }

    /// Directory holding the SQLite file (where the key files live by default).
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            DbUrl::Sqlite(p) => Some(p.parent().unwrap_or(Path::new("."))),
            DbUrl::Postgres(_) => None,
        }
    }

    fn connect(&self) -> Result<DbConn, DbError> {
        match self {
            DbUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    DbError::BadUrl(format!("non UTF-8 sqlite path {}", path.display()))
                })?;
                let mut c = SqliteConnection::establish(path)
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                // WAL lets readers run beside the writer; busy_timeout makes
                // concurrent writers queue instead of failing with SQLITE_BUSY
                // (set first: switching to WAL itself may have to wait).
                // synchronous = FULL: with NORMAL a commit can be rolled back
                // by a power loss after the node was already asked to pay.
                c.batch_execute(
                    "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                )
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
                Ok(DbConn::Sqlite(c))
            }
            DbUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(|e| DbError::Unavailable(e.to_string())),
        }
    }
}

/// Creates the SQLite file owner-only (0600) before SQLite opens it: SQLite
/// gives its `-wal` and `-shm` files the main file's mode, so all three
/// stay private. An existing file (or `-wal`/`-shm`) that others may read
/// is reported at WARN. In-memory and `file:` URI names are SQLite's.
fn create_sqlite_file(path: &Path) -> Result<(), DbError> {
    let name = path.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(DbError::Unavailable(format!(
                "cannot create the SQLite file {}: the directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
    }
    crate::files::create_private_if_missing(path).map_err(|e| {
        DbError::Unavailable(format!(
            "cannot create the SQLite file {}: {e}",
            path.display()
        ))
    })?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        crate::files::warn_if_exposed(Path::new(&side));
    }
    Ok(())
}

/// Whether lnurld's tables are there (migrations have run at least once).
fn has_schema(conn: &mut DbConn) -> Result<bool, DbError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    const TABLES: &str = "('__diesel_schema_migrations', 'withdraw_links')";
    let count = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN {TABLES}"
        ))
        .get_result::<Count>(c),
        DbConn::Pg(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN {TABLES}"
        ))
        .get_result::<Count>(c),
    }
    .map_err(|e| DbError::Unavailable(e.to_string()))?;
    Ok(count.n == 2)
}

/// Hides a password in a URL before it reaches a message or a log.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

struct Manager {
    url: DbUrl,
    /// Commits made on this pool's connections ([`Db::commits`]).
    commits: Arc<AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ManagerError(String);

impl Manager {
    /// A connection counting its commits into `commits`.
    fn open(url: &DbUrl, commits: &Arc<AtomicU64>) -> Result<DbConn, DbError> {
        let mut conn = url.connect()?;
        let count = commits::CommitCount::new(commits.clone());
        match &mut conn {
            DbConn::Sqlite(c) => c.set_instrumentation(count),
            DbConn::Pg(c) => c.set_instrumentation(count),
        }
        Ok(conn)
    }
}

/// How many transactions deep `c` is (0: in none); `None` when its
/// transaction manager is broken.
fn transaction_depth(c: &mut DbConn) -> Option<u32> {
    use diesel::connection::TransactionManager;
    let status = <DbConn as TransactionManager<DbConn>>::transaction_manager_status_mut(c);
    status
        .transaction_depth()
        .ok()
        .map(|d| d.map_or(0, |d| d.get()))
}

/// Page cache of each pooled SQLite connection, KiB.
pub const READER_CACHE_KIB: u32 = 256;

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ManagerError;

    fn connect(&self) -> Result<DbConn, ManagerError> {
        let mut conn =
            Manager::open(&self.url, &self.commits).map_err(|e| ManagerError(e.to_string()))?;
        if let DbConn::Sqlite(c) = &mut conn {
            // A small page cache for the pooled (reading) connections: in
            // WAL mode SQLite drops a connection's whole cache when another
            // one has committed since its last read, which the writer does
            // all the time under load, so the default 2 MiB each (times
            // `database_max_connections`) bought little but memory. The
            // writer keeps the default: its cache stays valid.
            c.batch_execute(&format!("PRAGMA cache_size = -{READER_CACHE_KIB}"))
                .map_err(|e| ManagerError(e.to_string()))?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ManagerError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ManagerError(e.to_string()))
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // A connection left inside a transaction (a panic in a closure) must
        // never be reused: it would hold SQLite's write lock, and later
        // "commits" would be savepoints of a transaction that never ends.
        use diesel::r2d2::R2D2Connection;
        std::thread::panicking()
            || match conn {
                DbConn::Sqlite(c) => c.is_broken(),
                DbConn::Pg(c) => c.is_broken(),
            }
    }
}

/// The connection pool. Cheap to clone. All work runs on the database's
/// own threads (`readers.rs`, and on SQLite the writer, `writer.rs`) so
/// that diesel's synchronous calls never stall the async workers.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    url: Arc<DbUrl>,
    commits: Arc<AtomicU64>,
    /// SQLite only: the group-commit writer every write goes through.
    writer: Option<Arc<writer::Writer>>,
    /// The threads that run database calls (one per pooled connection).
    readers: Arc<readers::Readers>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.url.backend())
            .finish()
    }
}

impl Db {
    /// Opens a pool (making one connection first so a bad URL or password is
    /// reported at start, not on the first request).
    pub fn connect(url: &DbUrl, max_connections: u32) -> Result<Db, DbError> {
        if let DbUrl::Sqlite(path) = url {
            create_sqlite_file(path)?;
        }
        // Fail fast with the driver's own message.
        drop(url.connect()?);
        Self::pool(url, max_connections)
    }

    /// Opens an existing lnurld database, creating nothing: `Ok(None)` when
    /// there is none (no SQLite file, or no lnurld tables in it or in the
    /// PostgreSQL database). For the CLI, which must never make a second,
    /// empty database beside the server's.
    pub fn open_existing(url: &DbUrl, max_connections: u32) -> Result<Option<Db>, DbError> {
        if let DbUrl::Sqlite(path) = url {
            let name = path.to_string_lossy();
            let named_file = name != ":memory:" && !name.starts_with("file:");
            if named_file {
                // SQLite would create a missing file on open.
                if !path.is_file() {
                    return Ok(None);
                }
                crate::files::warn_if_exposed(path);
            }
        }
        if !has_schema(&mut url.connect()?)? {
            return Ok(None);
        }
        Self::pool(url, max_connections).map(Some)
    }

    fn pool(url: &DbUrl, max_connections: u32) -> Result<Db, DbError> {
        let commits = Arc::new(AtomicU64::new(0));
        let pool = r2d2::Pool::builder()
            .max_size(max_connections)
            .connection_timeout(Duration::from_secs(20))
            .build(Manager {
                url: url.clone(),
                commits: commits.clone(),
            })
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let writer = match url {
            DbUrl::Sqlite(_) => Some(Arc::new(writer::Writer::start(
                url.clone(),
                commits.clone(),
            )?)),
            DbUrl::Postgres(_) => None,
        };
        let readers = readers::Readers::start(max_connections)
            .map_err(|e| DbError::Unavailable(format!("cannot start the database threads: {e}")))?;
        Ok(Db {
            pool,
            url: Arc::new(url.clone()),
            commits,
            writer,
            readers: Arc::new(readers),
        })
    }

    /// Commits made through this pool so far: outermost transactions
    /// committed, and write statements run outside one.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The backend in use.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Runs `f` with a pooled connection on one of the database threads.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.readers
            .run(move || {
                let mut conn = pool
                    .get()
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                let done = f(&mut conn);
                if done.is_ok() && transaction_depth(&mut conn) != Some(0) {
                    // `f` left a transaction open: nothing of it is
                    // committed, and `has_broken` drops this connection,
                    // which rolls it back. Its caller must not hear Ok.
                    return Err(DbError::Unavailable(
                        "a transaction was left open and rolled back".into(),
                    ));
                }
                done
            })
            .await
            .unwrap_or_else(|| Err(DbError::Unavailable("database task failed".into())))
    }

    /// Runs `f` in one transaction (committed when it returns `Ok`).
    ///
    /// On SQLite it runs on the group-commit writer (`writer.rs`): inside
    /// a `BEGIN IMMEDIATE` batch, so it holds the write lock from its first
    /// statement and may read before it writes. On PostgreSQL, on a pooled
    /// connection.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        match &self.writer {
            Some(w) => w.transaction(f).await,
            None => self.run(move |conn| conn.transaction(f)).await,
        }
    }

    /// Runs `f`, which writes, as one commit: on SQLite through the
    /// writer like [`Db::transaction`]; on PostgreSQL as it is on a pooled
    /// connection (autocommit, no BEGIN/COMMIT round trips for a single
    /// statement).
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        match &self.writer {
            Some(w) => w.transaction(f).await,
            None => self.run(f).await,
        }
    }

    /// As [`Db::transaction`], for work whose own errors (not only the
    /// database's) roll it back: `f`'s `Err` aborts the transaction and is
    /// returned as it is.
    pub async fn transaction_or<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        enum Abort<E> {
            Db(DbError),
            Caller(E),
        }
        impl<E> From<diesel::result::Error> for Abort<E> {
            fn from(e: diesel::result::Error) -> Self {
                Abort::Db(DbError::from(e))
            }
        }
        impl<E> From<DbError> for Abort<E> {
            fn from(e: DbError) -> Self {
                Abort::Db(e)
            }
        }
        let wrapped = move |c: &mut DbConn| f(c).map_err(Abort::Caller);
        let done = match &self.writer {
            Some(w) => w.transaction(wrapped).await,
            None => match self.run(move |conn| Ok(conn.transaction(wrapped))).await {
                Ok(done) => done,
                Err(e) => Err(Abort::Db(e)),
            },
        };
        done.map_err(|a| match a {
            Abort::Db(e) => E::from(e),
            Abort::Caller(e) => e,
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, DbError> {
        self.run(|conn| {
            let done = match conn {
                DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
                DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| DbError::Migration(e.to_string()))?;
            Ok(done.len())
        })
        .await
    }

    /// Checks the database answers (for `/healthz`); on SQLite also the
    /// writer, without which nothing can be written.
    pub async fn ping(&self) -> Result<(), DbError> {
        if let Some(w) = &self.writer {
            w.transaction(|conn| {
                conn.batch_execute("SELECT 1")
                    .map_err(|e| DbError::Unavailable(e.to_string()))
            })
            .await?;
        }
        self.run(|conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| DbError::Unavailable(e.to_string()))
        })
        .await
    }
}

/// Claims rows for one worker: `candidates` lists ids (on PostgreSQL it
/// locks them `FOR UPDATE SKIP LOCKED`, so concurrent workers pick disjoint
/// rows), `take` is the conditional UPDATE that makes the row ours, `load`
/// reads it back. PostgreSQL runs all of it in one transaction; SQLite (one
/// writer at a time anyway) selects first and then takes each row with its
/// own statement, so no read-then-write transaction can hit SQLITE_BUSY.
pub fn claim_rows<I, T>(
    conn: &mut DbConn,
    candidates: impl Fn(&mut DbConn) -> Result<Vec<I>, DbError>,
    take: impl Fn(&mut DbConn, &I) -> Result<bool, DbError>,
    load: impl Fn(&mut DbConn, &I) -> Result<Option<T>, DbError>,
) -> Result<Vec<T>, DbError> {
    let run = |c: &mut DbConn| -> Result<Vec<T>, DbError> {
        let mut taken = Vec::new();
        for id in candidates(c)? {
            if take(c, &id)? {
                if let Some(row) = load(c, &id)? {
                    taken.push(row);
                }
            }
        }
        Ok(taken)
    };
    match conn {
        DbConn::Pg(_) => conn.transaction(run),
        DbConn::Sqlite(_) => run(conn),
    }
}

/// Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new random id: 12 random bytes as 24 lowercase hex characters, with a
/// short prefix naming what it identifies.
pub fn new_id(prefix: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    #[derive(diesel::QueryableByName)]
    struct CacheSize {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        cache_size: i64,
    }

    /// Pooled SQLite connections keep a small page cache (peak RSS, issue
    /// 12); the writer's connection, opened without the pool, keeps SQLite's
    /// default.
    #[test]
    fn pooled_sqlite_connections_have_a_small_page_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DbUrl::parse(&format!("sqlite://{}/c.db", dir.path().display())).expect("url");
        let commits = Arc::new(AtomicU64::new(0));
        let manager = Manager {
            url: url.clone(),
            commits: commits.clone(),
        };
        let cache = |conn: DbConn| {
            let DbConn::Sqlite(mut c) = conn else {
                panic!("a SQLite connection");
            };
            diesel::sql_query("PRAGMA cache_size")
                .get_result::<CacheSize>(&mut c)
                .expect("cache size")
                .cache_size
        };
        let pooled = cache(manager.connect().expect("pooled"));
        assert_eq!(pooled, -i64::from(READER_CACHE_KIB));
        let writer = cache(Manager::open(&url, &commits).expect("writer's"));
        assert!(
            writer < pooled,
            "the writer keeps the larger default: {writer}"
        );
    }

    /// `.cargo/config.toml` builds the bundled SQLite with the query planner
    /// stability guarantee; without it every `.first()` is parsed and
    /// planned again on each run (see there).
    #[test]
    fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DbUrl::parse(&format!("sqlite://{}/q.db", dir.path().display())).expect("url");
        let DbConn::Sqlite(mut c) = url.connect().expect("connect") else {
            panic!("a SQLite connection");
        };
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut c)
            .expect("compile options")
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "ENABLE_QPSG missing from {options:?}"
        );
    }
}
