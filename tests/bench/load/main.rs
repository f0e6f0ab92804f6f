//! Load benchmark: `cargo bench --bench load` (issue 12).
//!
//! Starts the real release server as its own process (dev node, rate
//! limits off, no open-invoice cap) and drives it over loopback with
//! keep-alive connections, phase after phase, on SQLite and, when
//! `LOAD_POSTGRES_URL` (or `LNURLD_TEST_POSTGRES_URL`) names a server, on a
//! fresh PostgreSQL database there too. It prints one table and writes it
//! as JSON (`LOAD_JSON`, default `target/load-bench.json`). It asserts
//! nothing about speed; it does check that the races paid every link
//! exactly once, and says so.
//!
//! Knobs: `LOAD_SECS` (each timed phase, default 5), `LOAD_CONNECTIONS`
//! (timed phases, default 64), `LOAD_EXPIRED` (unpaid invoices the expiry
//! phase plants; default 0, which skips it), `LOAD_PHASES` (only these
//! phases, see [`wanted`]), `LOAD_MARKS` (print each measured window as
//! seconds since boot, for `perf record -k CLOCK_MONOTONIC` and
//! `perf report --time FROM,TO`), `LOAD_DB_CONNS` (the server's
//! `database_max_connections`; unset: its default).

mod expiry;
mod http;
mod invoice;
mod server;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use http::{burst, each, timed, Check, Sample};
use server::Server;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `LOAD_PHASES` (a comma list of `pay`, `withdraw-first`,
/// `withdraw`, `race`, `limits`; unset: all) asks for this phase. The
/// static ceiling always runs. For profiling one path at a time.
fn wanted(phase: &str) -> bool {
    std::env::var("LOAD_PHASES").map_or(true, |v| v.split(',').any(|p| p.trim() == phase))
}

fn has(body: &[u8], needle: &str) -> bool {
    body.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const STATIC: Check = |s, _| s == 200;
const PAY_REQUEST: Check = |s, b| s == 200 && has(b, "\"payRequest\"");
const INVOICE: Check = |s, b| s == 200 && has(b, "\"pr\"");
const WITHDRAW_REQUEST: Check = |s, b| s == 200 && has(b, "\"withdrawRequest\"");
const OK: Check = |s, b| s == 200 && has(b, "\"OK\"");
const ANSWERED: Check = |s, _| s == 200;

/// Amount of every withdraw link, msat.
const AMOUNT: u64 = 1_000;

/// One line of the table.
struct Row {
    db: &'static str,
    phase: String,
    unit: &'static str,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_s: f64,
    share: Option<f64>,
    done: u64,
    errors: u64,
    note: String,
}

impl Row {
    fn of(db: &'static str, phase: &str, unit: &'static str, s: &mut Sample, cpu_s: f64) -> Row {
        s.latencies_us.sort_unstable();
        let pct = |p: usize| {
            let v = &s.latencies_us;
            v.get((v.len() * p / 100).min(v.len().saturating_sub(1)))
                .map_or(0.0, |us| f64::from(*us) / 1000.0)
        };
        Row {
            db,
            phase: phase.to_owned(),
            unit,
            rate: s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9),
            p50_ms: pct(50),
            p99_ms: pct(99),
            max_ms: s
                .latencies_us
                .last()
                .map_or(0.0, |us| f64::from(*us) / 1000.0),
            cpu_s,
            share: None,
            done: s.ok,
            errors: s.errors,
            note: String::new(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "db": self.db, "phase": self.phase, "unit": self.unit,
            "rate": self.rate, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "max_ms": self.max_ms, "server_cpu_s": self.cpu_s,
            "share_of_static": self.share, "done": self.done, "errors": self.errors,
            "note": self.note,
        })
    }
}

/// Runs `f`, with the server's CPU seconds it cost.
async fn measured<F: std::future::Future<Output = Sample>>(srv: &Server, f: F) -> (Sample, f64) {
    let before = srv.cpu_secs();
    let from = uptime();
    let s = f.await;
    if std::env::var_os("LOAD_MARKS").is_some() {
        // Seconds since boot, the clock of `perf record -k CLOCK_MONOTONIC`
        // on a machine that never slept: `perf report --time FROM,TO`.
        eprintln!("measured window: {from},{}", uptime());
    }
    (s, srv.cpu_secs() - before)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// One timed phase on `srv` from the default loopback address, as its row.
async fn timed_row(
    srv: &Server,
    db: &'static str,
    phase: &str,
    conns: usize,
    secs: u64,
    path: Arc<dyn Fn(u64) -> String + Send + Sync>,
    check: Check,
) -> Row {
    let (mut s, cpu) = measured(srv, timed(srv.addr, &[], conns, secs, path, check)).await;
    Row::of(db, phase, "req/s", &mut s, cpu)
}

/// `n` single-use withdraw links of [`AMOUNT`]: (id, path of the first step).
async fn withdraw_links(srv: &Server, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let count = (n - out.len()).min(1000);
        let b = srv
            .api(
                Method::POST,
                "/api/v1/withdraw-links/batch",
                Some(json!({"count": count, "min_msat": AMOUNT, "max_msat": AMOUNT})),
            )
            .await;
        for l in b["links"].as_array().expect("links") {
            let url = l["url"].as_str().expect("url");
            let path = url.strip_prefix(&srv.base).expect("a local URL").to_owned();
            out.push((l["id"].as_str().expect("id").to_owned(), path));
        }
    }
    out
}

/// The callback path of each link's first step (k1 included, `pr` to add).
async fn callbacks(srv: &Server, links: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::with_capacity(links.len());
    for chunk in links.chunks(32) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|(_, path)| srv.get_json_path(path)))
                .await;
        for w in answers {
            let cb = w["callback"].as_str().expect("callback");
            let k1 = w["k1"].as_str().expect("k1");
            let path = cb
                .strip_prefix(&srv.base)
                .expect("a local callback")
                .to_owned();
            out.push(format!("{path}?k1={k1}&pr="));
        }
    }
    out
}

/// `lnurld_withdrawals_succeeded_total` and the dev node's balance.
async fn paid_and_balance(srv: &Server) -> (u64, u64) {
    let text = srv.metrics().await;
    let paid = text
        .lines()
        .find_map(|l| l.strip_prefix("lnurld_withdrawals_succeeded_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let node = srv.api(Method::GET, "/api/v1/node", None).await;
    let balance = node["balance"]["local_msat"].as_u64().unwrap_or(0);
    (paid, balance)
}

/// Waits until `want` withdrawals have succeeded in all; the time it took.
async fn wait_paid(srv: &Server, want: u64) -> Duration {
    let t = Instant::now();
    loop {
        let (paid, _) = paid_and_balance(srv).await;
        if paid >= want || t.elapsed() > Duration::from_secs(120) {
            return t.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every phase on one database; the rows and the server's peak RSS (KiB).
async fn run(db: &'static str, database_url: &str, secs: u64, conns: usize) -> (Vec<Row>, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(dir.path(), database_url, false, None).await;
    let addr = srv.addr;
    let mut rows = Vec::new();

    // Setup (not timed).
    let pay = srv
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(json!({"min_msat": 1_000, "max_msat": 100_000_000, "description": "Benchmark"})),
        )
        .await;
    let pay_id = pay["id"].as_str().expect("pay link id").to_owned();
    let first_steps = withdraw_links(&srv, 2_700).await;
    let eight = withdraw_links(&srv, 2_000).await;
    let single = withdraw_links(&srv, 500).await;
    let race_same = withdraw_links(&srv, 100).await;
    let race_different = withdraw_links(&srv, 100).await;

    let ceiling = timed_row(
        &srv,
        db,
        "static file (ceiling)",
        conns,
        secs,
        Arc::new(|_| "/static/app.js".into()),
        STATIC,
    )
    .await;
    let ceiling_rate = ceiling.rate;
    rows.push(ceiling);

    if wanted("pay") {
        let path = format!("/lnurlp/{pay_id}");
        rows.push(
            timed_row(
                &srv,
                db,
                "payRequest first step",
                conns,
                secs,
                Arc::new(move |_| path.clone()),
                PAY_REQUEST,
            )
            .await,
        );

        let cb = format!("/lnurlp/{pay_id}/callback?amount=");
        rows.push(
            timed_row(
                &srv,
                db,
                "pay callback (1,000 amounts)",
                conns,
                secs,
                Arc::new(move |n| format!("{cb}{}", 1_000 * (1 + n % 1_000))),
                INVOICE,
            )
            .await,
        );
    }
    if wanted("withdraw-first") {
        let paths: Arc<Vec<String>> =
            Arc::new(first_steps.iter().map(|(_, p)| p.clone()).collect());
        rows.push(
            timed_row(
                &srv,
                db,
                "withdrawRequest first step (2,700 links)",
                conns,
                secs,
                Arc::new(move |n| paths[n as usize % paths.len()].clone()),
                WITHDRAW_REQUEST,
            )
            .await,
        );
    }
    let mut race_rows = Vec::new();
    let (paid0, balance0) = paid_and_balance(&srv).await;
    if wanted("withdraw") {
        // Withdraw callbacks: fresh invoices, signed before the clock starts.
        for (links, conc, name) in [
            (&eight, 8, "withdraw callbacks, 2,000 links, 8 at a time"),
            (&single, 1, "withdraw callbacks, 500 links, one at a time"),
        ] {
            let cbs = callbacks(&srv, links).await;
            let prs = invoice::wallet_invoices(cbs.len(), AMOUNT);
            let paths: Vec<String> = cbs
                .iter()
                .zip(&prs)
                .map(|(c, p)| format!("{c}{p}"))
                .collect();
            let before = paid_and_balance(&srv).await.0;
            let (mut s, cpu) = measured(&srv, each(addr, conc, paths, OK)).await;
            let ok = s.ok;
            let mut row = Row::of(db, name, "completions/s", &mut s, cpu);
            let took = wait_paid(&srv, before + ok).await;
            row.note = format!("all paid {:.2} s after the last answer", took.as_secs_f64());
            rows.push(row);
        }
    }
    if wanted("race") {
        // Races: 50 callbacks at once on each link.
        for (links, same, name) in [
            (
                &race_same,
                true,
                "race: 100 links x 50 callbacks, same invoice",
            ),
            (
                &race_different,
                false,
                "race: 100 links x 50 callbacks, different invoices",
            ),
        ] {
            let cbs = callbacks(&srv, links).await;
            let mut total = Sample::default();
            let cpu0 = srv.cpu_secs();
            let t = Instant::now();
            for cb in &cbs {
                let prs = invoice::wallet_invoices(if same { 1 } else { 50 }, AMOUNT);
                let paths: Vec<String> = (0..50)
                    .map(|i| format!("{cb}{}", prs[i % prs.len()]))
                    .collect();
                let s = burst(addr, &paths, ANSWERED).await;
                total.ok += s.ok;
                total.errors += s.errors;
                total.latencies_us.extend(s.latencies_us);
            }
            total.elapsed = t.elapsed();
            race_rows.push(Row::of(
                db,
                name,
                "req/s",
                &mut total,
                srv.cpu_secs() - cpu0,
            ));
        }
    }
    let links = if wanted("withdraw") {
        eight.len() + single.len()
    } else {
        0
    } as u64
        + if wanted("race") {
            race_same.len() + race_different.len()
        } else {
            0
        } as u64;
    wait_paid(&srv, paid0 + links).await;
    // Exactly one payment per link: one succeeded withdrawal on each race
    // link, and the node's balance down by exactly one amount per link.
    let mut twice = 0;
    for (id, _) in race_same
        .iter()
        .chain(&race_different)
        .filter(|_| wanted("race"))
    {
        let l = srv
            .api(Method::GET, &format!("/api/v1/withdraw-links/{id}"), None)
            .await;
        let paid = l["withdrawals"].as_array().map_or(0, |w| {
            w.iter().filter(|w| w["state"] == "succeeded").count()
        });
        if paid != 1 {
            twice += 1;
        }
    }
    let (paid1, balance1) = paid_and_balance(&srv).await;
    let once = twice == 0 && paid1 - paid0 == links && balance0 - balance1 == links * AMOUNT;
    for mut r in race_rows {
        r.note = if once {
            format!(
                "exactly one payment per link ({links} links, node balance down {} msat)",
                links * AMOUNT
            )
        } else {
            format!(
                "NOT exactly once: {twice} race links without exactly one success; {} paid for {links} links; balance down {} msat",
                paid1 - paid0,
                balance0 - balance1
            )
        };
        rows.push(r);
    }

    if wanted("limits") {
        // The limiter's cost: a second instance with the default limits, the
        // first step from 16 loopback clients.
        let limited = Server::start(dir.path(), database_url, true, Some(&srv.token)).await;
        let from: Vec<IpAddr> = (2..18).map(|i| IpAddr::from([127, 0, 0, i])).collect();
        let paths: Arc<Vec<String>> =
            Arc::new(first_steps.iter().map(|(_, p)| p.clone()).collect());
        let (mut s, cpu) = measured(
            &limited,
            timed(
                limited.addr,
                &from,
                conns,
                secs,
                Arc::new(move |n| paths[n as usize % paths.len()].clone()),
                WITHDRAW_REQUEST,
            ),
        )
        .await;
        let mut row = Row::of(
            db,
            "withdrawRequest, default limits, 16 clients",
            "req/s",
            &mut s,
            cpu,
        );
        row.note = format!("{} refused by the limits", row.errors);
        rows.push(row);
        limited.stop();
    }

    let flood = env_num("LOAD_EXPIRED", 0);
    if flood > 0 {
        let took = expiry::expiry_flood(database_url, &pay_id, flood).await;
        let mut s = Sample {
            ok: flood,
            elapsed: took,
            ..Sample::default()
        };
        let mut row = Row::of(
            db,
            "expiry sweep of planted invoices",
            "invoices/s",
            &mut s,
            0.0,
        );
        row.note = format!(
            "{flood} marked expired in {:.1} s (the sweeper wakes every {} s)",
            took.as_secs_f64(),
            lnurld::worker::invoices::SWEEP_EVERY.as_secs()
        );
        rows.push(row);
    }
    let peak = srv.peak_rss_kib();
    srv.stop();

    for r in &mut rows {
        if r.unit == "req/s" {
            r.share = Some(r.rate / ceiling_rate.max(1e-9));
        }
    }
    (rows, peak)
}

/// A fresh database on the PostgreSQL server `url`, and its URL.
fn postgres_database(url: &str) -> Option<(String, String)> {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let name = format!("lnurld_bench_{}", std::process::id());
    let mut c = PgConnection::establish(url).ok()?;
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .ok()?;
    let mut u = url::Url::parse(url).ok()?;
    u.set_path(&name);
    Some((name, u.to_string()))
}

fn drop_postgres_database(url: &str, name: &str) {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    if let Ok(mut c) = PgConnection::establish(url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c);
    }
}

fn main() {
    let secs = env_num("LOAD_SECS", 5);
    let conns = env_num("LOAD_CONNECTIONS", 64) as usize;
    let out = std::env::var("LOAD_JSON").unwrap_or_else(|_| "target/load-bench.json".into());
    let pg = std::env::var("LOAD_POSTGRES_URL")
        .or_else(|_| std::env::var("LNURLD_TEST_POSTGRES_URL"))
        .ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let mut all = Vec::new();
    let mut peaks = Vec::new();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        let (rows, peak) = run("sqlite", &sqlite, secs, conns).await;
        all.extend(rows);
        peaks.push(("sqlite", peak));
        if let Some(server) = &pg {
            match postgres_database(server) {
                Some((name, url)) => {
                    let (rows, peak) = run("postgres", &url, secs, conns).await;
                    all.extend(rows);
                    peaks.push(("postgres", peak));
                    drop_postgres_database(server, &name);
                }
                None => eprintln!("PostgreSQL at {server} not reachable: SQLite only"),
            }
        }
    });
    println!(
        "lnurld load benchmark: {secs} s per timed phase, {conns} keep-alive connections, release server with the dev node, rate limits off, no open-invoice cap; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| db | phase | rate | p50 ms | p99 ms | max ms | server CPU s | share of static | done | errors | note |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &all {
        println!(
            "| {} | {} | {:.0} {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
            r.db,
            r.phase,
            r.rate,
            r.unit,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.cpu_s,
            r.share.map_or("".into(), |s| format!("{s:.2}")),
            r.done,
            r.errors,
            r.note
        );
    }
    for (db, kib) in &peaks {
        println!(
            "peak RSS of the server ({db}): {:.1} MiB",
            *kib as f64 / 1024.0
        );
    }
    println!("took {:.0} s", started.elapsed().as_secs_f64());
    let doc = json!({
        "secs": secs, "connections": conns,
        "rows": all.iter().map(Row::json).collect::<Vec<_>>(),
        "peak_rss_kib": peaks.iter().map(|(db, k)| json!({"db": db, "kib": k})).collect::<Vec<_>>(),
    });
    if let Err(e) = std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
        eprintln!("cannot write {out}: {e}");
    }
}
