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
//! `postgres://` URL benchmarks PostgreSQL), `LOAD_EXPIRED` (invoices the
//! expiry phase plants, default 100,000; 0 skips it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnurld::config::Config;
use lnurld::db::models::PayInvoice;
use lnurld::db::types::{Msat, PayInvoiceState, PayLinkId};
use lnurld::db::{Db, DbUrl};
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
/// Plants `n` open invoices that expired a moment ago (as a flood of unpaid
/// callbacks leaves them) and times the running server's expiry sweeper
/// until every one is marked expired, each with its `invoice.expired` event.
async fn expiry_flood(database_url: &str, link: &PayLinkId, n: u64) {
    use diesel::prelude::*;
    use lnurld::db::schema::pay_invoices::dsl as i;
    let db = Db::connect(&DbUrl::parse(database_url).expect("db url"), 2).expect("db");
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rows: Vec<PayInvoice> = (0..n)
        .map(|k| {
            let mut hash = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut hash);
            PayInvoice {
                payment_hash: hex::encode(hash),
                pay_link_id: link.clone(),
                bolt11: "lnbcrt-planted".into(),
                amount_msat: Msat::new(1_000).expect("fits"),
                comment: None,
                payer_data: None,
                state: PayInvoiceState::Open,
                preimage: None,
                amount_paid_msat: None,
                settle_index: None,
                expires_at: t - 1 - (k % 100) as i64,
                created_at: t - 3_600,
                settled_at: None,
                node_pubkey: None,
            }
        })
        .collect();
    for chunk in rows.chunks(5_000) {
        let chunk = chunk.to_vec();
        db.transaction(move |c| {
            for r in &chunk {
                r.insert(c)?;
            }
            Ok(())
        })
        .await
        .expect("plant expired invoices");
    }
    let started = Instant::now();
    loop {
        let left = db
            .run(move |c| {
                Ok(i::pay_invoices
                    .filter(i::state.eq(PayInvoiceState::Open))
                    .filter(i::expires_at.le(t))
                    .filter(i::expired_at.is_null())
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{:<28} {n} planted invoices marked expired in {:.1} s (sweeper wakes every {} s)",
        "expiry sweep",
        started.elapsed().as_secs_f64(),
        lnurld::worker::invoices::SWEEP_EVERY.as_secs()
    );
}

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
        let database_url = std::env::var("LOAD_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
        let mut config = Config {
            public_url: format!("http://127.0.0.1:{port}"),
            database_url: database_url.clone(),
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
        let flood = env_num("LOAD_EXPIRED", 100_000);
        if flood > 0 {
            expiry_flood(&database_url, &pay.id, flood).await;
        }
        println!(
            "peak RSS (server + load generator, one process): {} MiB",
            peak_rss_kib() / 1024
        );
        running.stop(true).await;
    });
}
