//! The server under test: the release `lnurld` binary as its own process,
//! so that its CPU time and peak memory are its own, not the load
//! generator's. Loopback only.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `lnurld serve`.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub base: String,
    /// An admin token.
    pub token: String,
    http: reqwest::Client,
}

fn lnurld(dir: &Path, database_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LNURLD_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .env("LNURLD_DATABASE_URL", database_url)
        .env("LNURLD_SECRET_KEY", "33".repeat(32))
        .env("LNURLD_NODE__DEV_KEY_FILE", dir.join("dev-node.key"))
        .env("RUST_LOG", "warn");
    if let Ok(n) = std::env::var("LOAD_DB_CONNS") {
        c.env("LNURLD_DATABASE_MAX_CONNECTIONS", n);
    }
    c
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

impl Server {
    /// Migrates `database_url`, makes a token, and starts serving with
    /// `limits` on or off. The open-invoice cap is off: the pay callback
    /// phase makes thousands of invoices on one link.
    pub async fn start(
        dir: &Path,
        database_url: &str,
        limits: bool,
        token: Option<&str>,
    ) -> Server {
        let token = match token {
            Some(t) => t.to_owned(),
            None => {
                let out = lnurld(dir, database_url)
                    .arg("migrate")
                    .output()
                    .expect("lnurld migrate");
                assert!(out.status.success(), "migrate: {out:?}");
                let out = lnurld(dir, database_url)
                    .args(["token", "create", "--name", "bench"])
                    .output()
                    .expect("lnurld token create");
                assert!(out.status.success(), "token: {out:?}");
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        };
        let addr = free_addr();
        let base = format!("http://{addr}");
        let child = lnurld(dir, database_url)
            .env("LNURLD_LISTEN", addr.to_string())
            .env("LNURLD_PUBLIC_URL", &base)
            .env("LNURLD_LIMITS__ENABLED", limits.to_string())
            .env("LNURLD_PAY__MAX_OPEN_INVOICES_PER_LINK", "0")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lnurld serve");
        let s = Server {
            child,
            addr,
            base,
            token,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = s.http.get(format!("{}/healthz", s.base)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "lnurld did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        s
    }

    /// An admin API call; panics unless it succeeds.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("admin request");
        let status = res.status();
        let v: Value = res.json().await.expect("admin JSON");
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// A plain GET, as JSON.
    pub async fn get_json(&self, url: &str) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// The server's peak resident memory (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Server {
    /// GET of a path on this server, as JSON.
    pub async fn get_json_path(&self, path: &str) -> Value {
        self.get_json(&format!("{}{path}", self.base)).await
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}
