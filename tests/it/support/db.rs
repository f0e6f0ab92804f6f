//! Throwaway databases: a SQLite file in a temp dir, or a fresh PostgreSQL
//! database (dropped afterwards) on the server named by
//! `LNURLD_TEST_POSTGRES_URL`.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// A database for one test.
pub enum TestDb {
    /// SQLite in a temp dir (the dir also holds the key files).
    Sqlite { dir: tempfile::TempDir },
    /// A fresh PostgreSQL database.
    Postgres {
        admin_url: String,
        name: String,
        url: String,
        dir: tempfile::TempDir,
    },
}

impl TestDb {
    /// A new SQLite database.
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A new PostgreSQL database, or `None` when no server is configured
    /// (panics under `CI`, where a silent skip would hide a gap).
    pub fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var("LNURLD_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                if std::env::var("CI").is_ok() {
                    panic!("CI is set but LNURLD_TEST_POSTGRES_URL is not: PostgreSQL tests must run in CI");
                }
                return None;
            }
        };
        let name = format!("lnurld_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut c =
            PgConnection::establish(&admin_url).expect("connect to LNURLD_TEST_POSTGRES_URL");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("postgres url");
        url.set_path(&format!("/{name}"));
        Some(TestDb::Postgres {
            admin_url,
            name,
            url: url.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    /// A pool of our own on this database: the app's is not ours to reach
    /// into (the service layer lends out no connections).
    pub async fn pool(&self) -> lnurld::db::Db {
        let url = lnurld::db::DbUrl::parse(&self.url()).expect("test database URL");
        tokio::task::spawn_blocking(move || lnurld::db::Db::connect(&url, 1))
            .await
            .expect("connect task")
            .expect("connect")
    }

    /// `database_url` for lnurld.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => {
                format!("sqlite://{}", dir.path().join("lnurld.db").display())
            }
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// A directory for files that belong with this database.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            TestDb::Sqlite { dir } | TestDb::Postgres { dir, .. } => dir.path(),
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url, name, ..
        } = self
        {
            if let Ok(mut c) = PgConnection::establish(admin_url) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
