//! NIP-57 zaps: the server's Nostr key, the receipts written with a
//! settlement, and their publishing to relays — at least once per relay,
//! never lost. Service layer: imports `db`, `config`, `metrics`, [`crate::lnurl::zap`]
//! (the protocol rules) and [`crate::webhook_target`] (which relay
//! addresses may be reached); the websocket client here is an *outgoing*
//! one (tokio-tungstenite), never actix.
//! <https://github.com/nostr-protocol/nips/blob/master/57.md>
//!
//! - this file: the handle, [`ZapService`] (`svc.zaps()`), and
//!   [`ZapOutbox`], what the pay service needs to check requests and to
//!   write receipts inside a settlement's transaction;
//! - `key.rs`: the key receipts are signed with (config or key file);
//! - `outbox.rs`: the signed receipt and one outbox row per relay, written
//!   in the settlement's transaction;
//! - `publish.rs`: claiming rows (leased as webhook events are), sending,
//!   retrying with backoff until `[nostr] publish_window_secs`;
//! - `relay.rs`: one `EVENT` to one relay over a websocket, and its `OK`.

mod key;
mod outbox;
mod publish;
mod relay;

pub use key::{load_key, KEY_FILE_NAME};
pub use outbox::write_receipt;
pub use publish::Published;
pub use relay::{send_event, RelayAnswer};

use std::sync::Arc;

use tokio::sync::Notify;

use super::Base;
use crate::config::NostrConfig;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::webhook_target::check_relay_url;

/// What checking zap requests and writing receipts needs; cloned into the
/// settlement's DB transaction. `keys` is `None` while `[nostr] enabled`
/// is false: then no zap is taken and no receipt written.
#[derive(Clone)]
pub struct ZapOutbox {
    /// The server's Nostr key.
    keys: Option<nostr::prelude::Keys>,
    /// `[nostr] publish_window_secs`.
    window_secs: i64,
    /// `[nostr] allow_insecure_relays`.
    allow_insecure: bool,
    /// `[webhooks] allow_private_targets` (the same guard as webhooks).
    allow_private: bool,
    /// Wakes the local zap worker.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for ZapOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapOutbox")
            .field("pubkey", &self.pubkey())
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

impl ZapOutbox {
    /// The outbox of `base`, waking the worker that waits on `wake`.
    pub fn new(base: &Base, wake: Arc<Notify>) -> ZapOutbox {
        let c = &base.config;
        ZapOutbox {
            keys: base.nostr_keys.clone().filter(|_| c.nostr.enabled),
            window_secs: i64::try_from(c.nostr.publish_window_secs).unwrap_or(i64::MAX),
            allow_insecure: c.nostr.allow_insecure_relays,
            allow_private: c.webhooks.allow_private_targets,
            wake,
        }
    }

    /// Whether zaps are taken at all (`[nostr] enabled` with a key).
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// The x-only public key receipts are signed with, 64 hex
    /// characters (`nostrPubkey`).
    pub fn pubkey(&self) -> Option<String> {
        self.keys.as_ref().map(|k| k.public_key().to_hex())
    }

    /// Why `relay` may not receive receipts, or `Ok` (see
    /// [`check_relay_url`]).
    pub fn check_relay(&self, relay: &str) -> Result<(), String> {
        check_relay_url(relay, self.allow_insecure, self.allow_private).map(|_| ())
    }

    /// Wakes the local zap worker; call after the settlement committed
    /// (other instances find the rows by polling).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The zaps handle: publishing receipts.
pub struct ZapService {
    db: Db,
    config: NostrConfig,
    outbox: ZapOutbox,
    metrics: Arc<Metrics>,
    instance_id: String,
}

impl ZapService {
    /// Built once by [`super::Services::new`].
    pub(crate) fn new(base: &Base, outbox: ZapOutbox) -> ZapService {
        ZapService {
            db: base.db.clone(),
            config: base.config.nostr.clone(),
            outbox,
            metrics: base.metrics.clone(),
            instance_id: base.instance_id.clone(),
        }
    }

    /// The outbox (checks, pubkey, wake).
    pub fn outbox(&self) -> &ZapOutbox {
        &self.outbox
    }

    /// Waits until [`ZapOutbox::wake`] is called; a wake that came while
    /// nobody waited is kept for the next wait.
    pub async fn woken(&self) {
        self.outbox.wake.notified().await;
    }
}
