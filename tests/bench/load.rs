//! Load benchmark: `cargo bench --bench load`.
//!
//! Starts the real server (release build, dev node, SQLite in a temp dir)
//! and drives the wallet-facing routes from concurrent clients on loopback
//! for a fixed time each, printing requests/s, latency percentiles and the
//! process's peak memory. Rerun it to compare changes; it asserts nothing
//! about speed (targets are read off its output, not enforced by tests).
//!
//! Knobs: `LOAD_SECS` (per scenario, default 5), `LOAD_CONCURRENCY`
//! (default 32), `LOAD_DATABASE_URL` (default: a temp SQLite file; a
//! `postgres://` URL benchmarks PostgreSQL).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnurld::config::Config;
use lnurld::service::pay::PayLinkSpec;
use lnurld::service::withdraw::NewLink;
use lnurld::{App, NodeCheck};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn scenario(
    name: &str,
    urls: Arc<dyn Fn(u64) -> String + Send + Sync>,
    secs: u64,
    conc: u64,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc as usize)
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (client, stop, errors, counter, latencies, urls) = (
            client.clone(),
            stop.clone(),
            errors.clone(),
            counter.clone(),
            latencies.clone(),
            urls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let ok = match client.get(urls(n)).send().await {
                    Ok(r) => r.text().await.map(|b| r_ok(&b)).unwrap_or(false),
                    Err(_) => false,
                };
                mine.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Ok(mut l) = latencies.lock() {
                l.extend(mine);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| -> f64 {
        if l.is_empty() {
            return 0.0;
        }
        l[((l.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0
    };
    println!(
        "{name:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        l.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors.load(Ordering::Relaxed)
    );
}

/// A response counts as good when it is LUD JSON without an ERROR status.
fn r_ok(body: &str) -> bool {
    !body.contains("\"ERROR\"") && body.starts_with('{')
}

fn main() {
    let secs = env_num("LOAD_SECS", 5);
    let conc = env_num("LOAD_CONCURRENCY", 32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut config = Config {
            public_url: format!("http://127.0.0.1:{port}"),
            database_url: std::env::var("LOAD_DATABASE_URL")
                .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display())),
            secret_key: Some("33".repeat(32)),
            ..Config::default()
        };
        // One address sends every request here: the default per-IP and
        // per-link limits would refuse most of them, and this measures the
        // routes, not the refusals.
        config.limits.enabled = false;
        // The callback route makes thousands of invoices on one link: a
        // measurement of invoice making, not of the open-invoice cap.
        config.pay.max_open_invoices_per_link = 0;
        config.validate().expect("config");
        let app = App::build(config, NodeCheck::Required).await.expect("app");
        let svc = app.services.clone();
        let pay = svc
            .pay()
            .create_pay_link(PayLinkSpec {
                min_msat: 1_000,
                max_msat: 100_000_000,
                description: "Benchmark".into(),
                username: Some(format!("bench{port}")),
                comment_allowed: 100,
                ..PayLinkSpec::default()
            })
            .await
            .expect("pay link");
        let (withdraw, _) = svc
            .withdraw()
            .create_withdraw_link(NewLink {
                min_msat: 1_000,
                max_msat: 1_000,
                uses: 1,
                wait_seconds: 0,
                expires_at: None,
                title: "Benchmark".into(),
                description: "Benchmark".into(),
                webhook_url: None,
                external_id: None,
                balance_check: false,
                pay_link: None,
            })
            .await
            .expect("withdraw link");
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let running = app.spawn(listener, threads).expect("serve");
        let base = format!("http://127.0.0.1:{port}");
        println!(
            "lnurld load benchmark: {} s per scenario, {conc} concurrent clients, {} workers, {}",
            secs,
            threads,
            svc.status().db_backend()
        );
        let b = base.clone();
        let user = pay.username.clone().unwrap_or_default();
        scenario(
            "address payRequest",
            Arc::new(move |_| format!("{b}/.well-known/lnurlp/{user}")),
            secs,
            conc,
        )
        .await;
        let b = base.clone();
        let w = withdraw.secret.clone();
        scenario(
            "withdrawRequest",
            Arc::new(move |_| format!("{b}/lnurlw/{w}")),
            secs,
            conc,
        )
        .await;
        let b = base.clone();
        let id = pay.id.clone();
        scenario(
            "pay callback (new invoice)",
            Arc::new(move |n| format!("{b}/lnurlp/{id}/callback?amount={}", 1_000 + n % 1000)),
            secs,
            conc,
        )
        .await;
        let b = base.clone();
        scenario(
            "healthz",
            Arc::new(move |_| format!("{b}/healthz")),
            secs,
            conc,
        )
        .await;
        println!(
            "peak RSS (server + load generator, one process): {} MiB",
            peak_rss_kib() / 1024
        );
        running.stop(true).await;
    });
}
