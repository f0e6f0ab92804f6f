//! Bounded resources of the pay side (issue 10): the open-invoice cap per
//! link, LUD-21 verify answered from the database, an expiry sweeper that
//! keeps up with a flood, and retention. Real HTTP to the app, the `lnd`
//! backend against the fake LND, rows planted through a pool of our own.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use lnurld::db::models::{Event, EventAttempt, PayInvoice, Withdrawal, WithdrawalState};
use lnurld::db::types::{
    AttemptId, EventId, EventState, EventType, Msat, PayInvoiceState, PayLinkId, WithdrawLinkId,
    WithdrawalId,
};
use lnurld::db::{now_unix, Db};
use lnurld::node::PaymentHash;
use lnurld::service::pay::PayLinkView;
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;

const WAIT: Duration = Duration::from_secs(60);
const DAY: i64 = 86_400;

both_dbs!(
    open_invoice_cap_answers_before_the_node,
    open_invoice_cap_holds_when_the_link_fills_during_the_node_call,
    verify_answers_from_the_database,
    expiry_sweeper_keeps_up_with_a_flood,
    retention_prunes_only_what_is_done,
);

async fn create_pay(app: &TestApp, body: Value) -> PayLinkView {
    let (status, v) = app.api(Method::POST, "/api/v1/pay-links", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// The pay callback of `link` for `amount` msat, as raw JSON.
async fn callback(app: &TestApp, link: &PayLinkId, amount: u64) -> Value {
    let url = app.url(&format!("/lnurlp/{link}/callback?amount={amount}"));
    app.get_json(&url).await.1
}

fn refused_for_the_cap(v: &Value) -> bool {
    v["status"] == "ERROR"
        && v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("too many unpaid invoices"))
}

fn random_hash() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// An open invoice row for `link` expiring at `expires_at` (not on any
/// node: the hash is random).
fn planted_invoice(link: &PayLinkId, expires_at: i64) -> PayInvoice {
    PayInvoice {
        payment_hash: random_hash(),
        pay_link_id: link.clone(),
        bolt11: "lnbcrt-planted".into(),
        amount_msat: Msat::new(1_000).expect("fits"),
        comment: None,
        payer_data: None,
        state: PayInvoiceState::Open,
        preimage: None,
        amount_paid_msat: None,
        settle_index: None,
        expires_at,
        created_at: expires_at - 3_600,
        settled_at: None,
        node_pubkey: None,
        zap_request: None,
        zap_receipt: None,
    }
}

/// Open, unexpired invoices of `link` as the database has them.
async fn open_invoices(pool: &Db, link: &PayLinkId) -> i64 {
    use lnurld::db::schema::pay_invoices::dsl as i;
    let (link, t) = (link.clone(), now_unix());
    pool.run(move |c| {
        Ok(i::pay_invoices
            .filter(i::pay_link_id.eq(link))
            .filter(i::state.eq(PayInvoiceState::Open))
            .filter(i::expires_at.gt(t))
            .count()
            .get_result::<i64>(c)?)
    })
    .await
    .expect("count")
}

async fn set_expires_at(pool: &Db, hash: &str, at: i64) {
    use lnurld::db::schema::pay_invoices::dsl as i;
    let h = hash.to_owned();
    pool.run(move |c| {
        diesel::update(i::pay_invoices.filter(i::payment_hash.eq(h)))
            .set(i::expires_at.eq(at))
            .execute(c)?;
        Ok(())
    })
    .await
    .expect("backdate");
}

/// The payment hash of a callback's `pr`.
fn hash_of(pr: &Value) -> PaymentHash {
    let inv: lightning_invoice::Bolt11Invoice = pr
        .as_str()
        .expect("pr is a string")
        .parse()
        .expect("valid bolt11");
    PaymentHash(*AsRef::<[u8; 32]>::as_ref(inv.payment_hash()))
}

async fn open_invoice_cap_answers_before_the_node(db: TestDb) {
    const CAP: usize = 5;
    let fake = FakeLnd::start().await;
    let app = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        c.pay.max_open_invoices_per_link = CAP as u32;
    })
    .await;
    let pool = db.pool().await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "capped",
               "username": "capped"}),
    )
    .await;
    let other = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "other"}),
    )
    .await;

    // A flood of concurrent callbacks: exactly CAP invoices are handed out.
    let answers =
        futures_util::future::join_all((0..40).map(|n| callback(&app, &link.id, 1_000 + n))).await;
    let ok: Vec<&Value> = answers.iter().filter(|v| v["pr"].is_string()).collect();
    assert_eq!(ok.len(), CAP, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|v| !v["pr"].is_string())
            .all(refused_for_the_cap),
        "{answers:?}"
    );
    assert_eq!(open_invoices(&pool, &link.id).await, CAP as i64);

    // Past the cap the node is not asked at all, also through the
    // Lightning Address (the same link).
    let before = fake.add_invoice_calls();
    for n in 0..20 {
        let v = callback(&app, &link.id, 2_000 + n).await;
        assert!(refused_for_the_cap(&v), "{v}");
    }
    let (_, pay) = app.get_json(&app.url("/.well-known/lnurlp/capped")).await;
    let cb = pay["callback"].as_str().expect("callback").to_owned();
    let (_, v) = app.get_json(&format!("{cb}?amount=5000")).await;
    assert!(refused_for_the_cap(&v), "{v}");
    assert_eq!(
        fake.add_invoice_calls(),
        before,
        "refused callbacks never reach the node"
    );
    // The cap is per link.
    let v = callback(&app, &other.id, 1_000).await;
    assert!(v["pr"].is_string(), "{v}");

    // An invoice that expired frees its slot at once (before any sweep)...
    set_expires_at(&pool, &hash_of(&ok[0]["pr"]).to_hex(), now_unix() - 10).await;
    let v = callback(&app, &link.id, 3_000).await;
    assert!(v["pr"].is_string(), "{v}");
    let v = callback(&app, &link.id, 3_001).await;
    assert!(refused_for_the_cap(&v), "full again: {v}");

    // ... and so does one that was paid.
    let paid = hash_of(&ok[1]["pr"]);
    eventually("the watcher subscribes", WAIT, || async {
        (fake.invoice_subscribers() > 0).then_some(())
    })
    .await;
    fake.settle_invoice(paid);
    eventually("the payment frees a slot", WAIT, || async {
        (open_invoices(&pool, &link.id).await < CAP as i64).then_some(())
    })
    .await;
    let before = fake.add_invoice_calls();
    let v = callback(&app, &link.id, 3_002).await;
    assert!(v["pr"].is_string(), "{v}");
    assert_eq!(fake.add_invoice_calls(), before + 1);
    let v = callback(&app, &link.id, 3_003).await;
    assert!(refused_for_the_cap(&v), "full again: {v}");
    assert_eq!(open_invoices(&pool, &link.id).await, CAP as i64);
    app.stop(true).await;
}

/// The second layer alone: the count before the node call passes, the
/// link fills up while the node is making the invoice, and the count in
/// the insert transaction refuses it.
async fn open_invoice_cap_holds_when_the_link_fills_during_the_node_call(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        c.pay.max_open_invoices_per_link = 2;
    })
    .await;
    let pool = db.pool().await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "race"}),
    )
    .await;
    let v = callback(&app, &link.id, 1_000).await;
    assert!(v["pr"].is_string(), "{v}");

    fake.set_add_invoice_delay(Duration::from_secs(2));
    let before = fake.add_invoice_calls();
    let url = app.url(&format!("/lnurlp/{}/callback?amount=2000", link.id));
    let http = app.http.clone();
    let slow = tokio::spawn(async move {
        let res = http.get(url).send().await.expect("request");
        res.json::<Value>().await.expect("json")
    });
    eventually("the callback is at the node", WAIT, || async {
        (fake.add_invoice_calls() > before).then_some(())
    })
    .await;
    // Another instance (here: us) fills the last slot meanwhile.
    let row = planted_invoice(&link.id, now_unix() + 3_600);
    pool.run(move |c| row.insert(c)).await.expect("plant");
    let v = slow.await.expect("callback task");
    assert!(refused_for_the_cap(&v), "{v}");
    assert_eq!(fake.invoices().len(), 2, "the node made the invoice...");
    assert_eq!(
        open_invoices(&pool, &link.id).await,
        2,
        "... but it was never stored or handed out"
    );
    app.stop(true).await;
}

async fn verify_answers_from_the_database(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "verify"}),
    )
    .await;
    eventually("the watcher subscribes", WAIT, || async {
        (fake.invoice_subscribers() > 0).then_some(())
    })
    .await;
    let v = callback(&app, &link.id, 5_000).await;
    let verify = v["verify"].as_str().expect("verify URL").to_owned();
    let hash = hash_of(&v["pr"]);

    // Many unauthenticated requests; few node lookups.
    let started = Instant::now();
    for _ in 0..10 {
        let answers = futures_util::future::join_all((0..20).map(|_| app.get_json(&verify))).await;
        for (status, a) in answers {
            assert_eq!(status, 200, "{a}");
            assert_eq!(a["settled"], false, "{a}");
            assert_eq!(a["pr"], v["pr"], "{a}");
        }
    }
    let elapsed = started.elapsed().as_secs();
    let lookups = fake.lookup_invoice_calls(hash);
    // One per 5 s window at most (two partial windows at the ends), plus
    // the watcher's reconcile at start.
    let bound = 3 + elapsed as usize / 5;
    assert!(
        lookups <= bound,
        "{lookups} lookups for 200 verify requests in {elapsed} s (at most {bound})"
    );

    // A settlement the watcher never hears of is still seen: verify asks
    // the node once the last check is a few seconds old.
    let preimage = fake
        .invoices()
        .into_iter()
        .find(|i| i.payment_hash == hash)
        .expect("on the node")
        .preimage;
    fake.settle_invoice_unannounced(hash);
    let a = eventually("verify sees the settlement", WAIT, || async {
        let (_, a) = app.get_json(&verify).await;
        (a["settled"] == true).then_some(a)
    })
    .await;
    assert_eq!(a["preimage"], preimage.to_hex(), "{a}");

    // Settled: answered from the database only.
    let lookups = fake.lookup_invoice_calls(hash);
    for _ in 0..30 {
        let (_, a) = app.get_json(&verify).await;
        assert_eq!(a["settled"], true, "{a}");
        assert_eq!(a["preimage"], preimage.to_hex(), "{a}");
    }
    assert_eq!(fake.lookup_invoice_calls(hash), lookups);

    // A settlement the watcher hears of shows at once, from the database.
    let v2 = callback(&app, &link.id, 6_000).await;
    let hash2 = hash_of(&v2["pr"]);
    let verify2 = v2["verify"].as_str().expect("verify URL").to_owned();
    fake.settle_invoice(hash2);
    eventually("verify sees the streamed settlement", WAIT, || async {
        let (_, a) = app.get_json(&verify2).await;
        (a["settled"] == true).then_some(())
    })
    .await;

    // An unknown hash is a plain not-found, without asking the node.
    let unknown = random_hash();
    let (_, a) = app
        .get_json(&app.url(&format!("/lnurlp/verify/{unknown}")))
        .await;
    assert_eq!(a["status"], "ERROR", "{a}");
    let unknown = PaymentHash::from_hex(&unknown).expect("hex");
    assert_eq!(fake.lookup_invoice_calls(unknown), 0);
    app.stop(true).await;
}

async fn expiry_sweeper_keeps_up_with_a_flood(db: TestDb) {
    use lnurld::db::schema::events::dsl as e;
    use lnurld::db::schema::pay_invoices::dsl as i;
    // The old sweeper (50 per 5 s) needed 17 minutes for these, and one
    // batch per sweep would still need 100 s: this needs the batches of
    // one sweep to go on until nothing is due.
    const FLOOD: usize = 10_000;
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let pool = db.pool().await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "flood"}),
    )
    .await;
    // One real invoice, paid but never announced: the sweeper asks the
    // node and records the settlement instead of expiring it.
    let v = callback(&app, &link.id, 7_000).await;
    let paid = hash_of(&v["pr"]);
    fake.settle_invoice_unannounced(paid);

    let t = now_unix();
    let rows: Vec<PayInvoice> = (0..FLOOD)
        .map(|n| planted_invoice(&link.id, t - 10 - n as i64 % 100))
        .collect();
    let planted: HashSet<String> = rows.iter().map(|r| r.payment_hash.clone()).collect();
    let paid_hex = paid.to_hex();
    pool.transaction(move |c| {
        for r in &rows {
            r.insert(c)?;
        }
        diesel::update(i::pay_invoices.filter(i::payment_hash.eq(paid_hex)))
            .set(i::expires_at.eq(t - 5))
            .execute(c)?;
        Ok(())
    })
    .await
    .expect("plant the flood");

    eventually("every expired invoice is marked", WAIT, || async {
        let left = pool
            .run(|c| {
                Ok(i::pay_invoices
                    .filter(i::state.eq(PayInvoiceState::Open))
                    .filter(i::expired_at.is_null())
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .expect("count");
        (left == 0).then_some(())
    })
    .await;
    let payloads: Vec<String> = pool
        .run(|c| {
            Ok(e::events
                .filter(e::event_type.eq(EventType::InvoiceExpired))
                .select(e::payload)
                .load(c)?)
        })
        .await
        .expect("events");
    let hashes: Vec<String> = payloads
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(p).expect("payload");
            v["data"]["payment_hash"].as_str().expect("hash").to_owned()
        })
        .collect();
    assert_eq!(hashes.len(), FLOOD, "one invoice.expired per invoice");
    assert_eq!(
        hashes.into_iter().collect::<HashSet<_>>(),
        planted,
        "each planted invoice once, the paid one not"
    );
    let paid_hex = paid.to_hex();
    let state: PayInvoiceState = pool
        .run(move |c| {
            Ok(i::pay_invoices
                .filter(i::payment_hash.eq(paid_hex))
                .select(i::state)
                .first(c)?)
        })
        .await
        .expect("paid invoice");
    assert_eq!(state, PayInvoiceState::Settled, "recorded, not expired");
    app.stop(true).await;
}

/// Ids of the rows planted for the retention test, by table, each with
/// whether it must go.
#[derive(Clone)]
struct Planted {
    events: Vec<(String, bool)>,
    attempts: Vec<(String, bool)>,
    invoices: Vec<(String, bool)>,
    withdrawals: Vec<(String, bool)>,
}

/// The ids of `all` that must stay.
fn kept(all: &[(String, bool)]) -> HashSet<String> {
    all.iter()
        .filter(|(_, goes)| !goes)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Which of the planted rows are still there, by table.
async fn still_there(pool: &Db, p: &Planted) -> [HashSet<String>; 4] {
    use lnurld::db::schema::{event_attempts, events, pay_invoices, withdrawals};
    let ids = |v: &[(String, bool)]| v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    let (ev, at, inv, wd) = (
        ids(&p.events),
        ids(&p.attempts),
        ids(&p.invoices),
        ids(&p.withdrawals),
    );
    let found: [Vec<String>; 4] = pool
        .run(move |c| {
            let ev: Vec<EventId> = events::table
                .filter(events::id.eq_any(ev.into_iter().map(EventId::from_raw)))
                .select(events::id)
                .load(c)?;
            let at: Vec<AttemptId> = event_attempts::table
                .filter(event_attempts::id.eq_any(at.into_iter().map(AttemptId::from_raw)))
                .select(event_attempts::id)
                .load(c)?;
            let inv: Vec<String> = pay_invoices::table
                .filter(pay_invoices::payment_hash.eq_any(inv))
                .select(pay_invoices::payment_hash)
                .load(c)?;
            let wd: Vec<WithdrawalId> = withdrawals::table
                .filter(withdrawals::id.eq_any(wd.into_iter().map(WithdrawalId::from_raw)))
                .select(withdrawals::id)
                .load(c)?;
            Ok([
                ev.iter().map(ToString::to_string).collect(),
                at.iter().map(ToString::to_string).collect(),
                inv,
                wd.iter().map(ToString::to_string).collect(),
            ])
        })
        .await
        .expect("read back");
    found.map(|v| v.into_iter().collect())
}

fn event_row(state: EventState, final_at: i64) -> Event {
    Event {
        id: EventId::generate(),
        event_type: EventType::InvoiceSettled,
        payload: "{}".into(),
        target_url: Some("http://127.0.0.1:9/hook".into()),
        state,
        attempts: 1,
        next_attempt_at: final_at,
        retry_from: final_at,
        lease_owner: None,
        lease_until: None,
        last_error: None,
        created_at: final_at - 60,
        updated_at: final_at,
        delivered_at: (state == EventState::Delivered).then_some(final_at),
    }
}

fn attempt_row(event: &EventId, at: i64) -> EventAttempt {
    EventAttempt {
        id: AttemptId::generate(),
        event_id: event.clone(),
        attempt_no: 1,
        attempted_at: at,
        url: "http://127.0.0.1:9/hook".into(),
        status_code: Some(200),
        error: None,
        duration_ms: 3,
    }
}

fn withdrawal_row(link: &WithdrawLinkId, state: WithdrawalState, done_at: i64) -> Withdrawal {
    let mut w = Withdrawal::pending(
        link.clone(),
        random_hash(),
        "lnbcrt-planted".into(),
        Msat::new(1_000).expect("fits"),
        Msat::new(10).expect("fits"),
        done_at - 60,
    );
    w.state = state;
    w.updated_at = done_at;
    match state {
        WithdrawalState::Succeeded | WithdrawalState::Failed => w.completed_at = Some(done_at),
        // Leased far ahead to "another instance": our payer leaves it be.
        _ => {
            w.lease_owner = Some("inst_elsewhere".into());
            w.lease_until = Some(now_unix() + DAY);
        }
    }
    w
}

async fn retention_prunes_only_what_is_done(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start_with(&db, Node::Lnd(&fake), |c| {
        // Defaults (30/90/30 days), but withdrawals after a day too.
        c.retention.finished_withdrawals_days = 1;
        c.retention.prune_every_secs = 1;
    })
    .await;
    let pool = db.pool().await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "old"}),
    )
    .await;
    let wlink = app
        .create_withdraw(json!({"min_msat": 1_000, "max_msat": 1_000, "uses": 10}))
        .await;
    let wlink = WithdrawLinkId::from_raw(wlink["id"].as_str().expect("id"));
    let t = now_unix();

    // (row, whether it must go)
    let mut events = Vec::new();
    for (state, age_days, goes) in [
        (EventState::Delivered, 31, true),
        (EventState::Delivered, 29, false),
        (EventState::Failed, 91, true),
        (EventState::Failed, 89, false),
        (EventState::NoTarget, 91, true),
        (EventState::NoTarget, 89, false),
        // Still to be sent: never pruned, however old.
        (EventState::Pending, 400, false),
    ] {
        events.push((event_row(state, t - age_days * DAY), goes));
    }
    let attempts: Vec<(EventAttempt, bool)> = events
        .iter()
        .map(|(ev, goes)| (attempt_row(&ev.id, ev.updated_at), *goes))
        .collect();
    let mut invoices = Vec::new();
    // Expired unpaid 31 days ago: goes; 29 days ago: kept.
    for (age_days, goes) in [(31, true), (29, false)] {
        let mut inv = planted_invoice(&link.id, t - age_days * DAY - 600);
        inv.created_at = inv.expires_at - 3_600;
        invoices.push((inv, Some(t - age_days * DAY), goes));
    }
    // Paid a year ago, late (after the sweeper had marked it expired):
    // the operator's record, kept.
    let mut paid = planted_invoice(&link.id, t - 400 * DAY);
    paid.state = PayInvoiceState::Settled;
    paid.preimage = Some(random_hash());
    paid.amount_paid_msat = Some(paid.amount_msat);
    paid.settled_at = Some(t - 400 * DAY + 60);
    invoices.push((paid, Some(t - 400 * DAY), false));
    // Open (made long ago, expiring in an hour): kept.
    let mut open = planted_invoice(&link.id, t + 3_600);
    open.created_at = t - 400 * DAY;
    invoices.push((open, None, false));
    let mut withdrawals = Vec::new();
    for (state, age_secs, goes) in [
        (WithdrawalState::Succeeded, 2 * DAY, true),
        (WithdrawalState::Failed, 2 * DAY, true),
        (WithdrawalState::Succeeded, 3_600, false),
        // Being paid: never pruned, however old.
        (WithdrawalState::InFlight, 400 * DAY, false),
    ] {
        withdrawals.push((withdrawal_row(&wlink, state, t - age_secs), goes));
    }

    let planted = Planted {
        events: events.iter().map(|(e, g)| (e.id.to_string(), *g)).collect(),
        attempts: attempts
            .iter()
            .map(|(a, g)| (a.id.to_string(), *g))
            .collect(),
        invoices: invoices
            .iter()
            .map(|(i, _, g)| (i.payment_hash.clone(), *g))
            .collect(),
        withdrawals: withdrawals
            .iter()
            .map(|(w, g)| (w.id.to_string(), *g))
            .collect(),
    };
    // All in one transaction: any pruning pass sees all of it or none.
    pool.transaction(move |c| {
        use lnurld::db::schema::pay_invoices::dsl as i;
        for (e, _) in &events {
            e.insert(c)?;
        }
        for (a, _) in &attempts {
            a.insert(c)?;
        }
        for (inv, expired_at, _) in &invoices {
            inv.insert(c)?;
            diesel::update(i::pay_invoices.filter(i::payment_hash.eq(&inv.payment_hash)))
                .set(i::expired_at.eq(expired_at))
                .execute(c)?;
        }
        for (w, _) in &withdrawals {
            Withdrawal::insert(c, w)?;
        }
        Ok(())
    })
    .await
    .expect("plant");

    let want = [
        kept(&planted.events),
        kept(&planted.attempts),
        kept(&planted.invoices),
        kept(&planted.withdrawals),
    ];
    // Exactly the kept rows are left once a pass has run (it saw every
    // planted row at once, so it would have taken a kept one too).
    let left = eventually("a pruning pass takes the old rows", WAIT, || async {
        let left = still_there(&pool, &planted).await;
        // Nothing that must go is left.
        left.iter()
            .zip(&want)
            .all(|(l, w)| l.is_subset(w))
            .then_some(left)
    })
    .await;
    assert_eq!(left[0], want[0], "events");
    assert_eq!(left[1], want[1], "attempts go with their events");
    assert_eq!(left[2], want[2], "invoices");
    assert_eq!(left[3], want[3], "withdrawals");
    app.stop(true).await;
}
