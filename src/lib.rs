//! lnurld: a self-hosted LNURL server (LUD-03 withdraw, LUD-06 pay, LUD-16
//! Lightning Address) in front of the operator's own LND.
//!
//! Layers (arrows point one way): `web → service → {lnurl, db, node}`;
//! `lnurl` is pure. [`App`] builds the whole thing from a [`Config`], so
//! `main.rs` and the integration tests start the very same server.

pub mod config;
pub mod db;
pub mod files;
pub mod lnurl;
pub mod metrics;
pub mod node;
pub mod paths;
pub mod qr;
pub mod service;
pub mod text;
pub mod web;
pub mod webhook_target;
pub mod worker;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

pub use config::Config;

use crate::config::NodeKind;
use crate::db::{Db, DbUrl};
use crate::node::dev::DevNode;
use crate::node::{LightningNode, Network};
use crate::service::{Base, ServerKeys, Services};

/// Why the server could not start. One line, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Database trouble (its texts name the database themselves).
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// Node trouble.
    #[error("node: {0}")]
    Node(#[from] node::NodeError),
    /// The configured node is not the one the database belongs to.
    #[error(
        "node: the configured node is {current}, but this database belongs to node {recorded}. \
         If you moved to another node on purpose, stop every instance and run \
         `lnurld node switch` (it shows what is still in flight on the old node), \
         then `lnurld node switch --confirm`"
    )]
    NodeChanged {
        /// Pubkey recorded in the database.
        recorded: String,
        /// Pubkey of the configured node.
        current: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
    /// The CLI found no database where the configuration points.
    #[error("no lnurld database at {url}; run this where `lnurld serve` runs, or pass --config/--database-url")]
    NoDatabase {
        /// `database_url`, password hidden.
        url: String,
    },
    /// The configured key is not the database's (the one it was created
    /// with, or the one `lnurld key rotate` last gave it).
    #[error("secret_key: this is not the server key of this database ({used}); set secret_key (or key_file) to the database's key: the first instance's, or the new one after `lnurld key rotate`")]
    WrongKey {
        /// Where the key came from: the key file's path, or `secret_key`.
        used: String,
    },
    /// No `secret_key` and no key file, where making one up is not allowed
    /// (the CLI, or a database that already belongs to a key).
    #[error("secret_key: not set, and there is no key file {key_file}; set secret_key to the server's key (or key_file to its file), or run this where `lnurld serve` runs")]
    NoKey {
        /// The key file looked for.
        key_file: String,
    },
}

/// Whether a start may create the database and the key files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// May (`serve`, `migrate`): creates the database, migrates it, and
    /// makes the key files on first start.
    Create,
    /// Must find them (other CLI commands): a missing database or key is an
    /// error, and no file is made.
    MustExist,
}

/// Whether to ask the node for its identity at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCheck {
    /// Ask (serve): the node's network is needed to check withdraw invoices,
    /// and its pubkey must be the one recorded in the database (recorded on
    /// the first start); another node is refused ([`StartError::NodeChanged`]).
    Required,
    /// Ask, and accept whichever node answers (`lnurld node switch`).
    Identify,
    /// Don't (CLI commands that only touch the database).
    Skip,
}

/// Everything built from a config, ready to serve.
pub struct App {
    /// The shared services.
    pub services: Arc<Services>,
    /// The rate limiters, shared by every HTTP worker.
    limits: Arc<web::limits::Limits>,
}

/// Where files that live beside the database go (keys).
fn data_dir(url: &DbUrl) -> PathBuf {
    url.sqlite_dir()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A node backend, and the dev node again when that is the one (for its
/// admin routes).
type Backend = (Arc<dyn LightningNode>, Option<Arc<DevNode>>);

/// The configured node backend. No network I/O happens yet. The dev node
/// keeps its invoices, payments and balance in `db`.
fn connect_node(
    config: &Config,
    dir: &Path,
    db: &Db,
    check: NodeCheck,
) -> Result<Backend, StartError> {
    Ok(match config.node.kind {
        NodeKind::Dev => {
            let key_file = config
                .node
                .dev_key_file
                .clone()
                .unwrap_or_else(|| dir.join("lnurld-dev-node.key"));
            let start_msat = config.node.dev_balance_sat.saturating_mul(1000);
            let dev = if check == NodeCheck::Skip && !key_file.exists() {
                // Commands that skip the node (`migrate`, the CLI) never
                // call it, so a key held in memory only stands in, and no
                // file is made: the first `serve` makes the node's key.
                DevNode::with_key(throwaway_dev_key()?, db.clone(), start_msat)
            } else {
                DevNode::open(&key_file, db.clone(), start_msat)?
            };
            let dev = Arc::new(dev);
            (dev.clone(), Some(dev))
        }
        NodeKind::Lnd => {
            let pem = std::fs::read(config.node.tls_cert.clone().unwrap_or_default())
                .map_err(|e| StartError::Other(format!("node.tls_cert: {e}")))?;
            let lnd = node::lnd::LndNode::connect(node::lnd::LndConfig {
                endpoint: config.node.endpoint.clone().unwrap_or_default(),
                tls_cert_pem: pem,
                macaroon: config.macaroon_bytes()?,
                private_invoices: config.node.private_invoices,
            })?;
            (Arc::new(lnd), None)
        }
        NodeKind::Cln => {
            let files = config.cln_files()?;
            let name = |p: &Option<PathBuf>| {
                p.as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            };
            let cln = node::cln::ClnNode::connect(node::cln::ClnConfig {
                endpoint: config.node.endpoint.clone().unwrap_or_default(),
                ca_cert_pem: files.ca_cert,
                client_cert_pem: files.client_cert,
                client_key_pem: files.client_key,
                tls_domain: config.cln_tls_domain(),
                ca_cert_name: name(&config.node.ca_cert),
                client_cert_name: name(&config.node.client_cert),
            })?;
            (Arc::new(cln), None)
        }
    })
}

fn throwaway_dev_key() -> Result<bitcoin::secp256k1::SecretKey, StartError> {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    bitcoin::secp256k1::SecretKey::from_slice(&b).map_err(|e| StartError::Other(e.to_string()))
}

impl App {
    /// Connects the database (creating and migrating it), loads the server
    /// key (creating the key file on first start), checks it against the
    /// database, and sets up the node backend. What `serve` does.
    pub async fn build(config: Config, check: NodeCheck) -> Result<App, StartError> {
        Self::build_with(config, check, Files::Create).await
    }

    /// As [`App::build`]; with [`Files::MustExist`] a missing database or
    /// key file is an error and nothing is created.
    pub async fn build_with(
        config: Config,
        check: NodeCheck,
        files: Files,
    ) -> Result<App, StartError> {
        let config = Arc::new(config);
        let url = DbUrl::parse(&config.database_url)?;
        let max = config.pool_size();
        let u = url.clone();
        let db = tokio::task::spawn_blocking(move || match files {
            Files::Create => Db::connect(&u, max).map(Some),
            Files::MustExist => Db::open_existing(&u, max),
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??
        .ok_or_else(|| StartError::NoDatabase {
            url: db::redact_url(&config.database_url),
        })?;
        let ran = db.migrate().await?;
        if ran > 0 {
            tracing::info!(
                migrations = ran,
                backend = url.backend(),
                "database migrated"
            );
        }
        let dir = data_dir(&url);
        let key_file = config
            .key_file
            .clone()
            .unwrap_or_else(|| dir.join("lnurld.key"));
        let keys = load_keys(&config, &db, &key_file, files).await?;
        let nostr_keys = if config.nostr.enabled {
            let file = key_file.with_file_name(service::zaps::KEY_FILE_NAME);
            let k = service::zaps::load_key(&config.nostr, &file, files == Files::Create)
                .map_err(|e| StartError::Other(e.to_string()))?;
            if let Some(k) = &k {
                tracing::info!(pubkey = %k.public_key().to_hex(), "zaps enabled (NIP-57): receipts are signed with this key");
            }
            k
        } else {
            None
        };
        let push_rules = (
            config.offline.webhook_hosts.clone(),
            config.offline.allow_insecure_webhooks,
            config.webhooks.allow_private_targets,
        );
        let push_check = move |url: &str, host: &str| {
            let policy = webhook_target::PushPolicy {
                hosts: &push_rules.0,
                allow_http: push_rules.1,
                allow_private: push_rules.2,
            };
            webhook_target::check_bound_push_url(url, host, policy)
        };
        let resealed = service::sealed::reseal_v1(&db, &keys, push_check)
            .await
            .map_err(|e| StartError::Other(e.to_string()))?;
        if resealed != service::sealed::Resealed::default() {
            tracing::info!(
                links = resealed.links,
                webhooks = resealed.webhooks,
                push_webhooks = resealed.push_webhooks,
                "re-sealed stored secrets bound to their rows"
            );
        }

        let metrics = Arc::new(metrics::Metrics::default());
        let mut limits = web::limits::Limits::new(&config.limits);
        if config.offline.enabled {
            limits = limits.with_offline_registrations(
                config.offline.registrations_per_ip_per_hour,
                config.limits.max_keys,
            );
        }
        let limits = Arc::new(limits);
        let (raw, dev_node) = connect_node(&config, &dir, &db, check)?;
        let node: Arc<dyn LightningNode> =
            Arc::new(node::instrumented::Instrumented::new(raw, metrics.clone()));
        let (network, node_pubkey) = match check {
            NodeCheck::Required | NodeCheck::Identify => {
                let info = node.info().await?;
                tracing::info!(kind = node.kind(), alias = %info.alias, network = %info.network, pubkey = %info.pubkey, "node connected");
                if check == NodeCheck::Required {
                    let (pk, net) = (info.pubkey.clone(), info.network.to_string());
                    let recorded = db
                        .write(move |c| {
                            db::models::NodeRecord::record_first(c, &pk, &net, db::now_unix())
                        })
                        .await?;
                    if recorded.pubkey != info.pubkey {
                        return Err(StartError::NodeChanged {
                            recorded: recorded.pubkey,
                            current: info.pubkey,
                        });
                    }
                }
                (info.network, info.pubkey)
            }
            // Only withdraw callbacks use the network, and CLI commands
            // never answer those; no row belongs to an empty pubkey.
            NodeCheck::Skip => (Network::Regtest, String::new()),
        };
        let services = Arc::new(Services::new(Base {
            config,
            db,
            node,
            network,
            node_pubkey,
            keys,
            metrics,
            instance_id: db::new_id("inst"),
            dev_node,
            nostr_keys,
        }));
        Ok(App { services, limits })
    }

    /// Serves on `listener` and starts the workers.
    pub fn spawn(self, listener: TcpListener, workers: usize) -> Result<Running, StartError> {
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?;
        let svc = self.services.clone();
        let limits = self.limits.clone();
        let server = actix_web::HttpServer::new(move || web::app(svc.clone(), limits.clone()))
            .workers(workers.max(1))
            .disable_signals()
            .shutdown_timeout(5)
            .listen(listener)
            .map_err(|e| StartError::Other(format!("cannot listen on {addr}: {e}")))?
            .run();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        // Two signals, because the payer stops later than the others: it
        // must see every claim the HTTP server committed.
        let (payer_tx, payer_rx) = watch::channel(false);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let payer = tokio::spawn(worker::payer::run(self.services.clone(), payer_rx));
        let watcher = tokio::spawn(worker::invoices::run(
            self.services.clone(),
            shutdown_rx.clone(),
        ));
        let webhooks = tokio::spawn(worker::webhooks::run(
            self.services.clone(),
            shutdown_rx.clone(),
        ));
        let expiry = tokio::spawn(worker::invoices::sweep_expired(
            self.services.clone(),
            shutdown_rx.clone(),
        ));
        let zaps = tokio::spawn(worker::zaps::run(
            self.services.clone(),
            shutdown_rx.clone(),
        ));
        let limits_pruner = tokio::spawn(web::limits::prune_loop(self.limits, shutdown_rx.clone()));
        let mut tasks = Vec::new();
        // Offline receive on PostgreSQL: one LISTEN connection per instance
        // wakes payers waiting here for replies other instances took.
        if let (true, db::DbUrl::Postgres(url)) = (
            self.services.offline().notifies(),
            self.services.offline().db_url(),
        ) {
            let wake = self.services.offline().waker();
            let stop = shutdown_rx.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                db::listen::run(&url, db::models::offline::NOTIFY_CHANNEL, stop, |_| {
                    wake.notify_waiters()
                });
            }));
        }
        let retention = tokio::spawn(worker::retention::run(self.services.clone(), shutdown_rx));
        Ok(Running {
            addr,
            services: self.services,
            handle,
            payer_tx,
            shutdown_tx,
            server: vec![tokio::spawn(async move {
                let _ = server_task.await;
            })],
            payer: vec![payer],
            tasks: [watcher, webhooks, zaps, expiry, limits_pruner, retention]
                .into_iter()
                .chain(tasks)
                .collect(),
        })
    }
}

/// The server key, checked against the one the database was created with
/// (recorded on first start). A new key file is made only by a start that
/// may create files, and only for a database that belongs to no key yet.
async fn load_keys(
    config: &Config,
    db: &Db,
    key_file: &Path,
    files: Files,
) -> Result<ServerKeys, StartError> {
    use service::key_check::{self, KeyCheck};
    let secret_key = config.secret_key.as_deref();
    let no_key = || StartError::NoKey {
        key_file: shown_path(key_file),
    };
    let keys = match ServerKeys::read(secret_key, key_file)
        .map_err(|e| StartError::Other(e.to_string()))?
    {
        Some(keys) => keys,
        None if files == Files::MustExist => return Err(no_key()),
        None if key_check::database_has_key(db).await? => return Err(no_key()),
        None => ServerKeys::create_file(key_file).map_err(|e| StartError::Other(e.to_string()))?,
    };
    match key_check::verify(db, &keys).await? {
        KeyCheck::Matches => {}
        KeyCheck::Recorded => {
            tracing::info!("recorded the server key check in the database");
        }
        KeyCheck::Mismatch => {
            return Err(StartError::WrongKey {
                used: match secret_key {
                    Some(_) => "the configured secret_key".to_owned(),
                    None => format!("key file {}", shown_path(key_file)),
                },
            })
        }
    }
    Ok(keys)
}

/// A path as the operator can find it: absolute when it can be made so.
fn shown_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// A running server and its workers.
pub struct Running {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// The shared services.
    pub services: Arc<Services>,
    handle: actix_web::dev::ServerHandle,
    /// Stops the payer (which then hands over what is left).
    payer_tx: watch::Sender<bool>,
    /// Stops the other workers.
    shutdown_tx: watch::Sender<bool>,
    /// The HTTP server, then the payer, then the other workers: the order
    /// of a graceful stop. (`Vec`s so that a task taken by
    /// [`Running::take_panics`] leaves no hole.)
    server: Vec<JoinHandle<()>>,
    payer: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops serving and stops the workers.
    ///
    /// Gracefully, in this order: the HTTP server stops accepting and
    /// finishes the requests under way; then the payer hands every
    /// withdrawal answered OK to the node (up to `[withdraw]
    /// shutdown_grace_secs`) and releases its leases; then the invoice
    /// watchers, the webhook sender and the other loops stop. While the
    /// database answers, a wallet told OK is thus not left `pending` by a
    /// stop.
    ///
    /// With `graceful = false` it is as abrupt as a crash can be made
    /// in-process: requests are cut, and withdrawals being paid are left
    /// exactly as the database has them, leases included.
    ///
    /// Returns the panic messages of background tasks that panicked (each is
    /// also logged); empty when none did. Tasks cut by a non-graceful stop
    /// are not counted.
    pub async fn stop(self, graceful: bool) -> Vec<String> {
        if !graceful {
            let _ = self.payer_tx.send(true);
            let _ = self.shutdown_tx.send(true);
            self.handle.stop(false).await;
            let all = [self.server, self.payer, self.tasks]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            for t in &all {
                t.abort();
            }
            return join_all(all).await;
        }
        self.handle.stop(true).await;
        let mut panics = join_all(self.server).await;
        let _ = self.payer_tx.send(true);
        panics.extend(join_all(self.payer).await);
        let _ = self.shutdown_tx.send(true);
        panics.extend(join_all(self.tasks).await);
        panics
    }

    /// Waits until every task has ended; returns the panic messages as
    /// [`Running::stop`] does.
    pub async fn wait(self) -> Vec<String> {
        join_all(
            [self.server, self.payer, self.tasks]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        )
        .await
    }

    /// Panic messages of the tasks that have already ended, without waiting
    /// (a worker that panicked ends while the server goes on). Each panic is
    /// reported once: a later `stop` or `wait` no longer includes it.
    pub fn take_panics(&mut self) -> Vec<String> {
        let mut panics = Vec::new();
        for tasks in [&mut self.server, &mut self.payer, &mut self.tasks] {
            tasks.retain_mut(|t| {
                if !t.is_finished() {
                    return true;
                }
                // Unconstrained: a finished task's result is ready, so this
                // poll cannot be told to yield by tokio's cooperative budget.
                match tokio::task::unconstrained(t).now_or_never() {
                    None => true,
                    Some(result) => {
                        panics.extend(panic_of(result));
                        false
                    }
                }
            });
        }
        panics
    }
}

/// Awaits every task; returns the panic messages.
async fn join_all(tasks: Vec<JoinHandle<()>>) -> Vec<String> {
    let mut panics = Vec::new();
    for t in tasks {
        panics.extend(panic_of(t.await));
    }
    panics
}

/// The panic message of a task's result, logged; `None` when the task ended
/// or was aborted (an aborted task is cancelled, not panicked).
fn panic_of(result: Result<(), JoinError>) -> Option<String> {
    let err = result.err().filter(JoinError::is_panic)?;
    let payload = err.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into());
    tracing::error!(panic = %message, "a background task panicked");
    Some(message)
}
