//! `lnurld key rotate`: a new server key for the server's own database.
//! Every instance must be stopped first (a running one keeps the old key in
//! memory); afterwards each is started with the new key, and one still
//! configured with the old key refuses to start (the key check).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use rand::RngCore;

use lnurld::config::Config;
use lnurld::service::ServerKeys;

use super::out::out;

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Replace the server key: generate a new one into a new file, re-seal
    /// every stored secret and recompute the link lookups and the key check
    /// under it, in one transaction. Stop every instance first.
    Rotate {
        /// Where to write the new key (64 hex characters, mode 0600). Must
        /// not exist yet; it is never overwritten.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

/// Runs one `key` command.
pub async fn run(cmd: KeyCmd, config: Config) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::Rotate { new_key_file } => rotate(config, &new_key_file).await,
    }
}

async fn rotate(config: Config, path: &Path) -> anyhow::Result<()> {
    // Before anything else: a refusal here leaves no trace at all.
    if path.symlink_metadata().is_ok() {
        bail!(
            "{} exists; name a file that does not exist yet for the new key (an existing file is never overwritten)",
            path.display()
        );
    }
    let by_secret_key = config.secret_key.is_some();
    let svc = super::existing(config).await?.services;

    let mut master = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut master);
    // The key reaches the disk before the database depends on it: if this
    // process dies after the commit, the key is not lost with it.
    lnurld::files::write_private(path, &hex::encode(master))
        .with_context(|| format!("cannot write the new key file {}", path.display()))?;
    let new = ServerKeys::from_master(&master);

    let done = match svc.sealed().rotate(&new).await {
        Ok(done) => done,
        Err(e) => {
            // Only when the database certainly still has the old key is the
            // new file unused; if that cannot be told, it is kept.
            if let Ok(false) = svc.sealed().database_key_is(&new).await {
                let removed = std::fs::remove_file(path).is_ok();
                bail!(
                    "key rotate: {e}; nothing was changed: the database still uses the current key{}",
                    if removed {
                        " (the new key file was removed)"
                    } else {
                        ""
                    }
                );
            }
            bail!(
                "key rotate: {e}; it is not known whether the database now uses the new key in {}: keep both keys, and try `lnurld token list` with each",
                path.display()
            );
        }
    };

    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let shown = shown.display();
    out!(
        "rotated the server key: {} withdraw link secret(s) and {} webhook secret(s) re-sealed, {} offline push webhook(s) re-sealed, link lookups and the key check recomputed, in one transaction.",
        done.links,
        done.webhooks,
        done.push_webhooks
    );
    out!("The new key is in {shown} (mode 0600).");
    out!("Now, on every instance:");
    if by_secret_key {
        out!("  - set secret_key (LNURLD_SECRET_KEY) to the contents of {shown};");
    } else {
        out!("  - set key_file = \"{shown}\" (or move it to where the old key file is);");
    }
    out!("  - restart it. An instance still on the old key refuses to start (\"secret_key: this is not the server key …\"); one still running keeps the old key in memory until restarted.");
    out!("Keep the old key as long as you keep database backups made before now: they need it.");
    out!("Signed voucher sheet URLs made before now no longer open; make new ones with `lnurld batch sheet`.");
    Ok(())
}
