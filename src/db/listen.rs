//! PostgreSQL `LISTEN` on a connection of its own (database layer): wakes
//! its caller for every `NOTIFY` on a channel. Used by offline receive, whose
//! replies may be taken by another instance than the one the payer waits
//! on. Needs a direct connection: a pooler in transaction mode (PgBouncer)
//! does not deliver notifications, and callers must keep polling anyway,
//! because notifications sent while this reconnects are lost.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use tokio::sync::watch;

/// How often the connection is asked for notifications (libpq's
/// `PQconsumeInput` does not block).
const TICK: Duration = Duration::from_millis(20);
/// Wait before connecting again after the connection broke.
const RECONNECT: Duration = Duration::from_secs(1);

/// Listens on `channel` until `stop` turns true, calling `on_notify` with
/// each payload. Blocking: run it on a blocking thread. Reconnects after
/// any error.
pub fn run(url: &str, channel: &str, stop: watch::Receiver<bool>, on_notify: impl Fn(&str)) {
    while !*stop.borrow() {
        let mut conn = match PgConnection::establish(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, channel, "LISTEN connection failed; retrying");
                std::thread::sleep(RECONNECT);
                continue;
            }
        };
        // The channel is ours (a constant), never a caller's text.
        if let Err(e) = conn.batch_execute(&format!("LISTEN {channel}")) {
            tracing::warn!(error = %e, channel, "LISTEN failed; retrying");
            std::thread::sleep(RECONNECT);
            continue;
        }
        'connected: while !*stop.borrow() {
            for n in conn.notifications_iter() {
                match n {
                    Ok(n) => on_notify(&n.payload),
                    Err(e) => {
                        tracing::warn!(error = %e, channel, "LISTEN connection lost; reconnecting");
                        std::thread::sleep(RECONNECT);
                        break 'connected;
                    }
                }
            }
            std::thread::sleep(TICK);
        }
    }
}
