//! Shared test support: the fake LND and the fake CLN, the in-process lnurld (`TestApp`), databases.
#![allow(dead_code)]
pub mod app;
pub mod db;
pub mod fake_cln;
pub mod fake_lnd;
pub mod nodes;
pub mod phone;
pub mod receiver;
pub mod relay;
pub mod serve;
pub mod wallet;

use std::future::Future;
use std::time::Duration;

/// Polls `cond` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port of 127.0.0.1 nothing listens on (yet): connections to it are
/// refused until something binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Runs a scenario `async fn(TestDb)` once on SQLite and once on PostgreSQL
/// (when `LNURLD_TEST_POSTGRES_URL` is set; under `CI` its absence fails).
#[macro_export]
macro_rules! both_dbs {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::support::db::TestDb::sqlite();
                    super::$name(db).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(db) = $crate::support::db::TestDb::postgres() else {
                        return;
                    };
                    super::$name(db).await;
                }
            }
        )*
    };
}
