//! NIP-57 zaps end to end: zap requests made with the `nostr` crate from a
//! throwaway key, invoices from the dev node, receipts published to local
//! relays (`support/relay.rs`), on both databases.

use std::str::FromStr;
use std::time::Duration;

use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use lnurld::config::Config;
use lnurld::service::pay::{PayInvoiceView, PayLinkView};
use nostr::nips::nip01::Coordinate;
use nostr::nips::nip57::ZapRequestData;
use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Keys, Kind, PublicKey, RelayUrl, Tag,
};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_dbs;
use crate::pay::{create_pay, invoices_of};
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::receiver::Receiver;
use crate::support::relay::{Answer, Relay};
use crate::support::{eventually, free_port};

const WAIT: Duration = Duration::from_secs(30);

both_dbs!(
    a_zap_is_invoiced_settled_and_its_receipt_reaches_every_relay,
    each_rule_refuses_a_bad_zap_request,
    zaps_are_refused_where_they_are_off,
    a_refusing_relay_gets_the_receipt_once_it_accepts,
    a_silent_relay_does_not_hold_up_the_others,
    a_crash_before_publishing_still_publishes_after_restart,
    two_instances_send_each_receipt_once_per_relay,
    the_key_file_is_created_beside_the_server_key,
);

/// Zaps on, `ws://` relays and loopback allowed (the relays are local), a
/// short retry pace; the Nostr key file beside the test database.
fn zaps_on(db: &TestDb) -> impl Fn(&mut Config) + '_ {
    move |c: &mut Config| {
        c.key_file = Some(db.dir().join("lnurld.key"));
        c.nostr.enabled = true;
        c.nostr.allow_insecure_relays = true;
        c.nostr.retry_base_ms = 200;
        c.nostr.timeout_secs = 5;
        c.webhooks.allow_private_targets = true;
    }
}

async fn start(db: &TestDb) -> TestApp {
    TestApp::start_with(db, Node::Dev, zaps_on(db)).await
}

/// A zap request (kind 9734) signed by `sender`, built by rust-nostr, to
/// `recipient` for `amount` msat, with `extra` tags.
fn zap_request(
    sender: &Keys,
    recipient: PublicKey,
    relays: &[String],
    amount: u64,
    extra: Vec<Tag>,
) -> String {
    let relays: Vec<RelayUrl> = relays
        .iter()
        .map(|r| RelayUrl::parse(r).expect("relay url"))
        .collect();
    let data = ZapRequestData::new(recipient, relays)
        .amount(amount)
        .message("Onward 🚀");
    EventBuilder::new(Kind::ZapRequest, "Onward 🚀")
        .tags(Vec::<Tag>::from(data))
        .tags(extra)
        .finalize(sender)
        .expect("sign zap request")
        .as_json()
}

/// Any signed event of `kind` with `tags` (for the refusals).
fn signed(sender: &Keys, kind: Kind, tags: Vec<Tag>) -> String {
    EventBuilder::new(kind, "")
        .tags(tags)
        .finalize(sender)
        .expect("sign")
        .as_json()
}

fn tag(parts: &[&str]) -> Tag {
    Tag::parse(parts.iter().copied()).expect("tag")
}

/// GETs the callback of `link` with `amount` and `nostr`; the JSON answer.
async fn zap_callback(app: &TestApp, link: &PayLinkView, amount: u64, nostr: &str) -> Value {
    let enc: String = url::form_urlencoded::byte_serialize(nostr.as_bytes()).collect();
    let url = app.url(&format!(
        "/lnurlp/{}/callback?amount={amount}&nostr={enc}",
        link.id.as_str()
    ));
    let (status, v) = app.get_json(&url).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The status line of a callback sent over a plain HTTP/1.1 socket, for
/// URLs longer than reqwest builds.
async fn raw_callback(app: &TestApp, link: &PayLinkView, amount: u64, nostr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let enc: String = url::form_urlencoded::byte_serialize(nostr.as_bytes()).collect();
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let req = format!(
        "GET /lnurlp/{}/callback?amount={amount}&nostr={enc} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        link.id.as_str()
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.expect("read");
    answer.lines().next().unwrap_or_default().to_owned()
}

fn payment_hash(pr: &str) -> String {
    let inv = Bolt11Invoice::from_str(pr).expect("bolt11");
    hex::encode(AsRef::<[u8; 32]>::as_ref(inv.payment_hash()))
}

async fn dev_settle(app: &TestApp, hash: &str) {
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/dev/invoices/{hash}/settle"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

/// The invoice `hash` of `link` as the admin API shows it.
async fn invoice(app: &TestApp, link: &PayLinkView, hash: &str) -> PayInvoiceView {
    invoices_of(app, link.id.as_str())
        .await
        .into_iter()
        .find(|i| i.payment_hash == hash)
        .expect("the invoice is listed")
}

/// Waits until every relay row of the invoice is `published`.
async fn wait_published(app: &TestApp, link: &PayLinkView, hash: &str, relays: usize) {
    eventually("every relay published", WAIT, || async {
        let inv = invoice(app, link, hash).await;
        let zap = inv.zap?;
        let done = zap
            .relays
            .iter()
            .filter(|r| r.state.as_str() == "published")
            .count();
        (done == relays).then_some(())
    })
    .await;
}

fn tag_value(e: &Event, name: &str) -> Option<String> {
    e.tags
        .iter()
        .find(|t| t.kind() == name)
        .and_then(|t| t.content())
        .map(str::to_owned)
}

async fn zap_link(app: &TestApp) -> PayLinkView {
    create_pay(
        app,
        json!({"min_msat": 1_000, "max_msat": 10_000_000, "description": "Zap me",
               "username": "satoshi"}),
    )
    .await
}

async fn a_zap_is_invoiced_settled_and_its_receipt_reaches_every_relay(db: TestDb) {
    let (r1, r2) = (Relay::start(&[]).await, Relay::start(&[]).await);
    let rx = Receiver::start(&[]).await;
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        zaps_on(&db)(c);
        c.webhooks.url = Some(rx.url());
    })
    .await;
    let link = zap_link(&app).await;

    // Advertised on the link and on the address, with a valid x-only key.
    let (_, pr) = app.get_json(&link.url).await;
    let (_, addr) = app.get_json(&app.url("/.well-known/lnurlp/satoshi")).await;
    assert_eq!(pr["allowsNostr"], true, "{pr}");
    assert_eq!(addr["allowsNostr"], true, "{addr}");
    let server_key = pr["nostrPubkey"].as_str().expect("nostrPubkey").to_owned();
    assert_eq!(addr["nostrPubkey"], server_key.as_str());
    let server_key = PublicKey::from_hex(&server_key).expect("x-only hex key");

    // A zap of a note and of a long-form article, from a throwaway key.
    let (sender, recipient) = (Keys::generate(), Keys::generate().public_key());
    let note = EventId::from_hex(&"ab".repeat(32)).expect("id");
    let article = format!("30023:{}:my-article", recipient.to_hex());
    Coordinate::parse(&article).expect("coordinate");
    let relays = vec![r1.url(), r2.url()];
    let raw = zap_request(
        &sender,
        recipient,
        &relays,
        21_000,
        vec![
            Tag::event(note),
            tag(&["a", &article]),
            tag(&["k", "30023"]),
            tag(&["lnurl", &link.lnurl.to_lowercase()]),
        ],
    );
    let v = zap_callback(&app, &link, 21_000, &raw).await;
    let pr = v["pr"]
        .as_str()
        .unwrap_or_else(|| panic!("an invoice: {v}"));
    let bolt11 = Bolt11Invoice::from_str(pr).expect("bolt11");
    assert_eq!(bolt11.amount_milli_satoshis(), Some(21_000));
    let want: [u8; 32] = Sha256::digest(raw.as_bytes()).into();
    match bolt11.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => assert_eq!(AsRef::<[u8]>::as_ref(&h.0), &want[..]),
        other => panic!("description hash expected, got {other:?}"),
    }
    let hash = payment_hash(pr);
    let inv = invoice(&app, &link, &hash).await;
    let zap = inv.zap.expect("the invoice is a zap");
    assert_eq!(zap.request, raw, "stored byte for byte");
    assert!(zap.relays.is_empty() && zap.receipt.is_none());

    dev_settle(&app, &hash).await;
    wait_published(&app, &link, &hash, 2).await;
    let inv = invoice(&app, &link, &hash).await;
    let zap = inv.zap.clone().expect("zap");
    let receipt_id = zap.summary.receipt_id.clone().expect("receipt id");
    let settled_at = time::OffsetDateTime::parse(
        inv.settled_at.as_deref().expect("settled"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339")
    .unix_timestamp();

    for relay in [&r1, &r2] {
        let got = relay.stored();
        assert_eq!(got.len(), 1, "one receipt at {}", relay.url());
        let r = &got[0];
        r.verify().expect("the receipt verifies");
        assert_eq!(r.pubkey, server_key, "signed by the advertised key");
        assert_eq!(r.kind, Kind::ZapReceipt);
        assert_eq!(r.id.to_hex(), receipt_id);
        assert_eq!(r.content, "");
        assert_eq!(r.created_at.as_secs(), u64::try_from(settled_at).unwrap());
        assert_eq!(tag_value(r, "p"), Some(recipient.to_hex()));
        assert_eq!(tag_value(r, "P"), Some(sender.public_key().to_hex()));
        assert_eq!(tag_value(r, "e"), Some(note.to_hex()));
        assert_eq!(tag_value(r, "a"), Some(article.clone()));
        assert_eq!(tag_value(r, "k"), Some("30023".into()));
        assert_eq!(tag_value(r, "bolt11").as_deref(), Some(pr));
        assert_eq!(tag_value(r, "description"), Some(raw.clone()));
        let pre = hex::decode(tag_value(r, "preimage").expect("preimage")).expect("hex");
        assert_eq!(hex::encode(Sha256::digest(&pre)), hash);
        // What a client checks: sha256(description) is the invoice's h.
        let d: [u8; 32] = Sha256::digest(tag_value(r, "description").unwrap().as_bytes()).into();
        assert_eq!(d, want);
    }
    assert_eq!(zap.summary.sender, sender.public_key().to_hex());
    assert_eq!(zap.summary.recipient, recipient.to_hex());
    assert_eq!(zap.summary.event_id, Some(note.to_hex()));

    // invoice.settled carries the zap.
    let settled = eventually("invoice.settled webhook", WAIT, || async {
        rx.hits()
            .into_iter()
            .map(|h| h.json())
            .find(|j| j["type"] == "invoice.settled")
    })
    .await;
    assert_eq!(
        settled["data"]["zap"],
        json!({"sender": sender.public_key().to_hex(), "recipient": recipient.to_hex(),
               "event_id": note.to_hex(), "receipt_id": receipt_id}),
        "{settled}"
    );

    // Counted by relay host.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lnurld_zap_receipts_total{relay=\"127.0.0.1\",outcome=\"published\"} 2"),
        "{metrics}"
    );
    app.stop(true).await;
}

async fn each_rule_refuses_a_bad_zap_request(db: TestDb) {
    let relay = Relay::start(&[]).await;
    let app = start(&db).await;
    let link = zap_link(&app).await;
    let k = Keys::generate();
    let to = Keys::generate().public_key();
    let relays = vec![relay.url()];
    let good = zap_request(&k, to, &relays, 5_000, vec![]);
    let mut v: Value = serde_json::from_str(&good).unwrap();

    // Rule 1: id, signature, kind.
    let mut bad_id = v.clone();
    bad_id["content"] = json!("changed after signing");
    let mut bad_sig = v.clone();
    let sig = bad_sig["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    bad_sig["sig"] = json!(format!("{flipped}{}", &sig[1..]));
    let p = |pk: &PublicKey| tag(&["p", &pk.to_hex()]);
    let relays_tag = tag(&["relays", &relay.url()]);
    let other = Keys::generate().public_key();
    let too_many: Vec<String> = (0..21)
        .map(|i| format!("ws://127.0.0.1:{}", 1000 + i))
        .collect();
    let cases: Vec<(String, &str)> = vec![
        (bad_id.to_string(), "id does not match"),
        (bad_sig.to_string(), "signature is not valid"),
        (
            signed(&k, Kind::TextNote, vec![p(&to), relays_tag.clone()]),
            "kind 9734",
        ),
        ("{not json".into(), "not a valid Nostr event"),
        // Rule 2.
        (signed(&k, Kind::ZapRequest, vec![]), "rule 2"),
        // Rule 3.
        (
            signed(&k, Kind::ZapRequest, vec![relays_tag.clone()]),
            "rule 3",
        ),
        (
            signed(
                &k,
                Kind::ZapRequest,
                vec![p(&to), p(&other), relays_tag.clone()],
            ),
            "rule 3",
        ),
        // Rule 4.
        (
            zap_request(
                &k,
                to,
                &relays,
                5_000,
                vec![tag(&["e", &"11".repeat(32)]), tag(&["e", &"22".repeat(32)])],
            ),
            "rule 4",
        ),
        // Rule 5: present, at most 20, each one we may publish to.
        (signed(&k, Kind::ZapRequest, vec![p(&to)]), "rule 5"),
        (zap_request(&k, to, &too_many, 5_000, vec![]), "at most 20"),
        (
            signed(
                &k,
                Kind::ZapRequest,
                vec![p(&to), tag(&["relays", "https://relay.example"])],
            ),
            "wss://",
        ),
        (
            signed(
                &k,
                Kind::ZapRequest,
                vec![p(&to), tag(&["relays", "wss://169.254.169.254"])],
            ),
            "never allowed",
        ),
        // Rule 6.
        (zap_request(&k, to, &relays, 4_000, vec![]), "rule 6"),
        // Rule 7.
        (
            zap_request(
                &k,
                to,
                &relays,
                5_000,
                vec![tag(&["a", "not-a-coordinate"])],
            ),
            "rule 7",
        ),
        // Rule 8.
        (
            zap_request(&k, to, &relays, 5_000, vec![p_upper(&k), p_upper(&k)]),
            "rule 8",
        ),
    ];
    for (raw, why) in &cases {
        let v = zap_callback(&app, &link, 5_000, raw).await;
        assert_eq!(v["status"], "ERROR", "{why}: {v}");
        let reason = v["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{why}: {reason}");
    }
    // Larger than 64 KB: no URL can carry it (the HTTP layer refuses any
    // request target past 64 KB, before lnurld's own check, which
    // `lnurl::zap`'s unit tests hold to its message). Sent over a plain
    // socket, as reqwest will not build such a URL.
    v["content"] = json!("z".repeat(66_000));
    let head = raw_callback(&app, &link, 5_000, &v.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // Nothing was written, no relay was contacted.
    assert!(invoices_of(&app, link.id.as_str()).await.is_empty());
    // And the good one passes.
    let ok = zap_callback(&app, &link, 5_000, &good).await;
    assert!(ok["pr"].is_string(), "{ok}");
    assert!(relay.received().is_empty());
    app.stop(true).await;
}

fn p_upper(k: &Keys) -> Tag {
    tag(&["P", &k.public_key().to_hex()])
}

async fn zaps_are_refused_where_they_are_off(db: TestDb) {
    let relay = Relay::start(&[]).await;
    let app = start(&db).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "No zaps",
               "allows_nostr": false}),
    )
    .await;
    assert!(!link.allows_nostr);
    let (_, pr) = app.get_json(&link.url).await;
    assert!(
        pr.get("allowsNostr").is_none() && pr.get("nostrPubkey").is_none(),
        "{pr}"
    );
    let raw = zap_request(
        &Keys::generate(),
        Keys::generate().public_key(),
        &[relay.url()],
        5_000,
        vec![],
    );
    let v = zap_callback(&app, &link, 5_000, &raw).await;
    assert_eq!(v["status"], "ERROR");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("This link does not accept zaps"),
        "{v}"
    );
    assert!(invoices_of(&app, link.id.as_str()).await.is_empty());
    // Turned on again by PATCH.
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/pay-links/{}", link.id.as_str()),
            Some(json!({"allows_nostr": true})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let v = zap_callback(&app, &link, 5_000, &raw).await;
    assert!(v["pr"].is_string(), "{v}");
    app.stop(true).await;

    // With [nostr] disabled nothing is advertised and zaps are refused.
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        zaps_on(&db)(c);
        c.nostr.enabled = false;
    })
    .await;
    let (_, pr) = app
        .get_json(&app.url(&format!("/lnurlp/{}", link.id.as_str())))
        .await;
    assert!(pr.get("allowsNostr").is_none(), "{pr}");
    let v = zap_callback(&app, &link, 5_000, &raw).await;
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not accept zaps"),
        "{v}"
    );
    app.stop(true).await;
}

async fn a_refusing_relay_gets_the_receipt_once_it_accepts(db: TestDb) {
    let picky = Relay::start(&[
        Answer::Refuse("rate-limited: slow down"),
        Answer::Refuse("rate-limited: slow down"),
    ])
    .await;
    let app = start(&db).await;
    let link = zap_link(&app).await;
    let raw = zap_request(
        &Keys::generate(),
        Keys::generate().public_key(),
        &[picky.url()],
        2_000,
        vec![],
    );
    let v = zap_callback(&app, &link, 2_000, &raw).await;
    let hash = payment_hash(v["pr"].as_str().expect("pr"));
    dev_settle(&app, &hash).await;
    wait_published(&app, &link, &hash, 1).await;
    let sent = picky.received();
    assert_eq!(sent.len(), 3, "two refusals, then accepted");
    // The very same event each time: its id is stable across retries.
    assert!(sent
        .iter()
        .all(|e| e.id == sent[0].id && e.sig == sent[0].sig));
    assert_eq!(picky.stored().len(), 1);
    let inv = invoice(&app, &link, &hash).await;
    let zap = inv.zap.expect("zap");
    assert_eq!(zap.relays[0].attempts, 3);
    assert_eq!(zap.summary.receipt_id, Some(sent[0].id.to_hex()));
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lnurld_zap_receipts_total{relay=\"127.0.0.1\",outcome=\"refused\"} 2"),
        "{metrics}"
    );
    app.stop(true).await;
}

async fn a_silent_relay_does_not_hold_up_the_others(db: TestDb) {
    let silent = Relay::start(&[Answer::Silent, Answer::Silent, Answer::Silent]).await;
    let good = Relay::start(&[]).await;
    // An attempt at the silent relay lasts far longer than the wait below.
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        zaps_on(&db)(c);
        c.nostr.timeout_secs = 120;
    })
    .await;
    let link = zap_link(&app).await;
    let raw = zap_request(
        &Keys::generate(),
        Keys::generate().public_key(),
        &[silent.url(), good.url()],
        3_000,
        vec![],
    );
    let v = zap_callback(&app, &link, 3_000, &raw).await;
    let hash = payment_hash(v["pr"].as_str().expect("pr"));
    dev_settle(&app, &hash).await;
    eventually("the good relay has the receipt", WAIT, || async {
        (good.stored().len() == 1).then_some(())
    })
    .await;
    eventually("the silent relay was sent it too", WAIT, || async {
        (!silent.received().is_empty()).then_some(())
    })
    .await;
    let inv = invoice(&app, &link, &hash).await;
    let zap = inv.zap.expect("zap");
    let state = |url: &str| {
        zap.relays
            .iter()
            .find(|r| r.relay == url)
            .map(|r| r.state.as_str())
    };
    assert_eq!(state(&good.url()), Some("published"));
    assert_eq!(state(&silent.url()), Some("pending"));
    app.stop(false).await;
}

async fn a_crash_before_publishing_still_publishes_after_restart(db: TestDb) {
    // The relay is down when the zap is paid…
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let app = start(&db).await;
    let link = zap_link(&app).await;
    let raw = zap_request(
        &Keys::generate(),
        Keys::generate().public_key(),
        std::slice::from_ref(&url),
        4_000,
        vec![],
    );
    let v = zap_callback(&app, &link, 4_000, &raw).await;
    let hash = payment_hash(v["pr"].as_str().expect("pr"));
    dev_settle(&app, &hash).await;
    eventually("the first attempt failed", WAIT, || async {
        let inv = invoice(&app, &link, &hash).await;
        let r = inv.zap?.relays.first()?.clone();
        (r.attempts >= 1 && r.last_error.is_some()).then_some(())
    })
    .await;
    let receipt_id = invoice(&app, &link, &hash)
        .await
        .zap
        .and_then(|z| z.summary.receipt_id)
        .expect("receipt written with the settlement");
    // …then lnurld dies, and comes back with the relay up.
    app.stop(false).await;
    let relay = Relay::start_at(port, &[]).await;
    let app = start(&db).await;
    wait_published(&app, &link, &hash, 1).await;
    let got = relay.stored();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].id.to_hex(),
        receipt_id,
        "the receipt signed before the crash"
    );
    app.stop(true).await;
}

async fn two_instances_send_each_receipt_once_per_relay(db: TestDb) {
    // Every answer takes a while, so the two instances' workers overlap.
    let delay = || Answer::Delay(Duration::from_millis(200));
    let (r1, r2) = (Relay::always(delay()).await, Relay::always(delay()).await);
    let a = start(&db).await;
    let b = start(&db).await;
    let link = zap_link(&a).await;
    let mut hashes = Vec::new();
    for i in 0..6u64 {
        let amount = 1_000 + i;
        let raw = zap_request(
            &Keys::generate(),
            Keys::generate().public_key(),
            &[r1.url(), r2.url()],
            amount,
            vec![],
        );
        // Both instances issue and settle zaps.
        let app = if i % 2 == 0 { &a } else { &b };
        let v = zap_callback(app, &link, amount, &raw).await;
        hashes.push(payment_hash(v["pr"].as_str().expect("pr")));
    }
    for (i, h) in hashes.iter().enumerate() {
        dev_settle(if i % 2 == 0 { &b } else { &a }, h).await;
    }
    for h in &hashes {
        wait_published(&a, &link, h, 2).await;
    }
    for relay in [&r1, &r2] {
        let sent = relay.received();
        assert_eq!(
            sent.len(),
            hashes.len(),
            "each receipt sent once to {}",
            relay.url()
        );
        let mut ids: Vec<String> = sent.iter().map(|e| e.id.to_hex()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), hashes.len());
    }
    a.stop(true).await;
    b.stop(true).await;
}

async fn the_key_file_is_created_beside_the_server_key(db: TestDb) {
    let app = start(&db).await;
    let file = db.dir().join("lnurld-nostr.key");
    let text = std::fs::read_to_string(&file).expect("the Nostr key file exists");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let keys = Keys::parse(text.trim()).expect("a secret key");
    let link = zap_link(&app).await;
    let (_, pr) = app.get_json(&link.url).await;
    assert_eq!(pr["nostrPubkey"], keys.public_key().to_hex());
    app.stop(true).await;
    // The same key at the next start; a configured key wins over the file.
    let app = start(&db).await;
    let url = app.url(&format!("/lnurlp/{}", link.id.as_str()));
    let (_, pr) = app.get_json(&url).await;
    assert_eq!(pr["nostrPubkey"], keys.public_key().to_hex());
    app.stop(true).await;
    let configured = Keys::generate();
    let app = TestApp::start_with(&db, Node::Dev, |c| {
        zaps_on(&db)(c);
        c.nostr.secret_key = Some(configured.secret_key().to_secret_hex());
    })
    .await;
    let url = app.url(&format!("/lnurlp/{}", link.id.as_str()));
    let (_, pr) = app.get_json(&url).await;
    assert_eq!(pr["nostrPubkey"], configured.public_key().to_hex());
    app.stop(true).await;
}
