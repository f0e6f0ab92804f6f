//! `lnurld serve` as a child process, the real binary as an operator runs
//! it, on a test database, for tests that read its log or its files. Its
//! stderr and stdout go to a file (a pipe nobody reads while the server
//! runs would fill up and stall it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::db::TestDb;
use super::{eventually, free_port};

/// Removes the developer's own settings (`LNURLD_*`, `RUST_LOG`) and
/// points `c` at `db`, running in `db.dir()`.
fn on_db(c: &mut Command, db: &TestDb) {
    for (k, _) in std::env::vars() {
        if k.starts_with("LNURLD_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.current_dir(db.dir()).env("LNURLD_DATABASE_URL", db.url());
}

/// `lnurld` on `db` (for CLI commands such as `token create`).
pub fn lnurld_on(db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
    on_db(&mut c, db);
    c
}

/// A running `lnurld serve`.
pub struct Served {
    child: Option<Child>,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Served {
    /// Starts `lnurld serve` on `db` (files in `db.dir()`) with `env`, under
    /// `umask` (so a file's mode shows what lnurld asked for, not the
    /// test runner's umask), and waits until `/healthz` answers.
    pub async fn start(db: &TestDb, env: &[(&str, &str)], umask: &str) -> Served {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = db.dir().join(format!("serve-{port}.log"));
        let out = std::fs::File::create(&log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file");
        // `sh -c SCRIPT UMASK PROGRAM ARGS…`: $0 is the umask.
        let mut sh = Command::new("/bin/sh");
        on_db(&mut sh, db);
        sh.args(["-c", "umask \"$0\" && exec \"$@\"", umask])
            .arg(env!("CARGO_BIN_EXE_lnurld"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &base, "serve"])
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = sh.spawn().expect("spawn lnurld serve");
        let served = Served {
            child: Some(child),
            log,
            base,
        };
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", served.base);
        eventually(
            "lnurld serve answers /healthz",
            Duration::from_secs(60),
            || {
                let http = http.clone();
                let url = url.clone();
                async move {
                    let r = http.get(url).send().await.ok()?;
                    (r.status() == 200).then_some(())
                }
            },
        )
        .await;
        served
    }

    /// Its process id (`sh` execs lnurld, so this is lnurld's own).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What it has logged so far (stderr and stdout).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM, as an operator does, and returns its log.
    pub fn stop(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
            kill(pid, Signal::SIGTERM).expect("send SIGTERM");
            child.wait().expect("wait for lnurld");
        }
        self.log()
    }

    /// Sends SIGTERM and returns at once (the server goes on shutting down).
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
            kill(pid, Signal::SIGTERM).expect("send SIGTERM");
        }
    }

    /// Waits up to `timeout` for the process to exit (after
    /// [`Served::terminate`]); returns whether it exited with success, and
    /// its log.
    pub async fn exited(mut self, timeout: Duration) -> (bool, String) {
        let deadline = tokio::time::Instant::now() + timeout;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return (status.success(), self.log());
            }
            // Past the deadline `self` is dropped by the panic, which kills
            // the process: it must not outlive the test.
            assert!(
                tokio::time::Instant::now() < deadline,
                "lnurld serve did not exit within {timeout:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The lines of a text log at `level` (`ERROR`, `WARN`, …), with the
/// terminal colour codes taken out.
pub fn lines_at(log: &str, level: &str) -> Vec<String> {
    log.lines()
        .map(strip_ansi)
        .filter(|l| l.split_whitespace().nth(1) == Some(level))
        .collect()
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
