//! Files that hold secrets or payer data (the SQLite database and its
//! `-wal`/`-shm`, the server key, the dev node key): created readable by
//! their owner only (0600), and reported at WARN when an existing one is
//! open to the group or to others. A leaf beside the layers: imports only
//! `std` and `tracing`, so `db`, `node` and `service` can all use it.
//!
//! Modes are set by `open(2)` itself (subject to the umask, which can only
//! take bits away), so a file is never briefly readable by others. An
//! existing file's mode is left alone: the operator may have chosen it (a
//! backup group, say); the warning names the file so they can decide.

use std::io::Write;
use std::path::Path;

/// Owner read/write only.
#[cfg(unix)]
const PRIVATE_MODE: u32 = 0o600;

/// Writes a new file readable by its owner only; fails if it exists.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = private_options().open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// Creates `path` empty, readable by its owner only, unless it exists;
/// when it does, warns if others may read it. Used for the SQLite file,
/// whose `-wal` and `-shm` SQLite then creates with the same mode.
/// Returns whether the file was created.
pub fn create_private_if_missing(path: &Path) -> std::io::Result<bool> {
    match private_options().open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_exposed(path);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn private_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(PRIVATE_MODE);
    }
    opts
}

/// The permission bits of `path` when its group or others have any access
/// to it; `None` when it is private or does not exist.
pub fn exposed_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Logs a WARN naming `path` and its mode when group or others may access it.
pub fn warn_if_exposed(path: &Path) {
    if let Some(mode) = exposed_mode(path) {
        // The full path: `./lnurld.key` in a log says little about where.
        let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        tracing::warn!(
            file = %full.display(),
            mode = %format!("{mode:04o}"),
            "file holding secrets or payer data is accessible to group or others; run chmod 600 on it"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_private_and_old_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("k");
        write_private(&key, "secret").expect("write");
        assert_eq!(mode(&key), 0o600);
        assert!(write_private(&key, "again").is_err(), "never overwrites");
        assert_eq!(std::fs::read_to_string(&key).expect("read"), "secret");

        let db = dir.path().join("db");
        assert!(create_private_if_missing(&db).expect("create"));
        assert_eq!(mode(&db), 0o600);
        assert_eq!(exposed_mode(&db), None);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(!create_private_if_missing(&db).expect("exists"));
        assert_eq!(
            mode(&db),
            0o644,
            "an existing file's mode is the operator's"
        );
        assert_eq!(exposed_mode(&db), Some(0o644));
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o620)).expect("chmod");
        assert_eq!(exposed_mode(&db), Some(0o620));
        assert_eq!(exposed_mode(&dir.path().join("missing")), None);
    }
}
