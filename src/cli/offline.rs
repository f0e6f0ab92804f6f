//! `lnurld offline demo`: a fake phone wallet for trying offline receive
//! (issue 14) on one machine, with a server started with `[offline]` on and
//! insecure loopback webhooks allowed (development only).
//!
//! The phone has a fresh secp256k1 key, registers its push webhook and a
//! username with a `SignMessage` signature, listens on 127.0.0.1 for the
//! pushes the server sends (the Breez notification service's JSON, the
//! NDS being skipped) and answers each on its reply URL, as a Breez SDK
//! app's notification plugin does: the pay request, a real regtest
//! invoice signed with its key for exactly the amount asked (committing to
//! its metadata), and verify (settled, with the preimage, once it was
//! paid). With `--pay SATS` it also plays the payer once: resolves the
//! address, asks for an invoice, checks it as LUD-06 says, pays it with a
//! throw-away dev node of its own (regtest: no money moves) and asks the
//! server to verify it.
//!
//! It talks to loopback only: the server URL and every reply URL must be
//! an IP literal on 127.0.0.0/8 or ::1 (not the name `localhost`).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use clap::Subcommand;
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use serde_json::{json, Value};

use lnurld::node::LightningNode;

use super::out::out;

/// The metadata the demo phone serves (a text/plain entry, as the Breez
/// plugins' `[["text/plain","Pay with LNURL"]]`).
const META: &str = "[[\"text/plain\",\"lnurld offline demo\"]]";

#[derive(Subcommand)]
pub enum OfflineCmd {
    /// Play a phone wallet against a local server (development only): it
    /// registers `--username`, answers the server's pushes, and with
    /// `--pay` pays its own address once and checks LUD-21 verify. The
    /// server needs `[offline] enabled`, `webhook_hosts = ["127.0.0.1"]`,
    /// `allow_insecure_webhooks` and `[webhooks] allow_private_targets`.
    Demo {
        /// The server's public URL (loopback only).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The username to register (its Lightning Address).
        #[arg(long)]
        username: String,
        /// Pay the address this many sats once, then exit; without it the
        /// phone answers pushes until Ctrl-C.
        #[arg(long)]
        pay: Option<u64>,
    },
}

/// Runs one `offline` command.
pub async fn run(cmd: OfflineCmd) -> anyhow::Result<()> {
    match cmd {
        OfflineCmd::Demo {
            server,
            username,
            pay,
        } => demo(&server, &username, pay).await,
    }
}

/// Whether `url` is http(s) on a loopback host.
fn loopback(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    if !matches!(u.scheme(), "http" | "https") {
        return false;
    }
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        // Not `localhost`: a name is whatever the resolver (or
        // /etc/hosts) says, and the demo must not send anywhere else.
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// The phone: its key, its invoices' preimages, and which were paid.
struct Phone {
    key: SecretKey,
    pubkey: String,
    preimages: Mutex<HashMap<String, [u8; 32]>>,
    paid: Mutex<HashSet<String>>,
    http: reqwest::Client,
}

impl Phone {
    /// A regtest invoice for `amount_msat`, committing to [`META`].
    fn invoice(&self, amount_msat: u64) -> anyhow::Result<(String, String)> {
        let preimage: [u8; 32] = rand::random();
        let hash = sha256::Hash::hash(&preimage);
        let inv = InvoiceBuilder::new(Currency::Regtest)
            .description_hash(sha256::Hash::hash(META.as_bytes()))
            .payment_hash(hash)
            .payment_secret(PaymentSecret(rand::random()))
            .current_timestamp()
            .min_final_cltv_expiry_delta(40)
            .expiry_time(Duration::from_secs(600))
            .amount_milli_satoshis(amount_msat)
            .build_signed(|m| Secp256k1::new().sign_ecdsa_recoverable(m, &self.key))
            .map_err(|e| anyhow::anyhow!("cannot sign an invoice: {e:?}"))?;
        let hash = hex::encode(hash.to_byte_array());
        self.lock_preimages().insert(hash.clone(), preimage);
        Ok((inv.to_string(), hash))
    }

    fn lock_preimages(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        self.preimages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_paid(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.paid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the app's plugin answers to one push.
    fn answer(&self, template: &str, data: &Value) -> anyhow::Result<Value> {
        Ok(match template {
            "lnurlpay_info" => json!({
                "callback": data["callback_url"],
                "tag": "payRequest",
                "minSendable": 1000,
                "maxSendable": 1_000_000_000u64,
                "metadata": META,
            }),
            "lnurlpay_invoice" => {
                let amount = data["amount"]
                    .as_u64()
                    .context("lnurlpay_invoice without an amount")?;
                let (pr, hash) = self.invoice(amount)?;
                let mut v = json!({"pr": pr, "routes": []});
                if let Some(url) = data["verify_url"].as_str() {
                    v["verify"] = json!(url.replace("{payment_hash}", &hash));
                }
                v
            }
            "lnurlpay_verify" => {
                let hash = data["payment_hash"].as_str().unwrap_or_default();
                let preimage = self.lock_preimages().get(hash).copied();
                let paid = self.lock_paid().contains(hash);
                match preimage {
                    Some(p) if paid => {
                        json!({"status": "OK", "settled": true, "preimage": hex::encode(p)})
                    }
                    Some(_) => json!({"status": "OK", "settled": false, "preimage": null}),
                    None => json!({"status": "ERROR", "reason": "no such invoice"}),
                }
            }
            other => bail!("unknown push template {other:?}"),
        })
    }
}

/// One push from the server: acknowledged at once, answered on its reply
/// URL right after (as the plugin does, woken by the notification).
async fn take_push(
    body: actix_web::web::Bytes,
    phone: actix_web::web::Data<Arc<Phone>>,
) -> actix_web::HttpResponse {
    let Ok(push) = serde_json::from_slice::<Value>(&body) else {
        return actix_web::HttpResponse::BadRequest().finish();
    };
    let template = push["template"].as_str().unwrap_or_default().to_owned();
    let data = push["data"].clone();
    let reply_url = data["reply_url"].as_str().unwrap_or_default().to_owned();
    if !loopback(&reply_url) {
        eprintln!("phone: refused a push whose reply URL is not on loopback: {reply_url}");
        return actix_web::HttpResponse::BadRequest().finish();
    }
    let phone = phone.get_ref().clone();
    tokio::spawn(async move {
        let answer = match phone.answer(&template, &data) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("phone: cannot answer {template}: {e:#}");
                return;
            }
        };
        // The Swift plugin sends no Content-Type; lnurld needs none.
        let sent = phone
            .http
            .post(&reply_url)
            .body(answer.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => println!(
                "phone: push {template} answered, server said {}",
                r.status().as_u16()
            ),
            Err(e) => eprintln!("phone: cannot reply to {template}: {e}"),
        }
    });
    actix_web::HttpResponse::Ok().finish()
}

async fn demo(server: &str, username: &str, pay: Option<u64>) -> anyhow::Result<()> {
    let server = server.trim_end_matches('/');
    if !loopback(server) {
        bail!("--server must be http(s) on an IP literal in 127.0.0.0/8 or [::1] (not a name such as localhost): the demo is for a local development server");
    }
    let key = loop {
        if let Ok(k) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let pubkey = hex::encode(PublicKey::from_secret_key(&Secp256k1::new(), &key).serialize());
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let phone = Arc::new(Phone {
        key,
        pubkey: pubkey.clone(),
        preimages: Mutex::new(HashMap::new()),
        paid: Mutex::new(HashSet::new()),
        http: http.clone(),
    });

    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot listen on 127.0.0.1 for pushes")?;
    let port = listener.local_addr()?.port();
    let data = actix_web::web::Data::new(phone.clone());
    let push_server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route("/notify", actix_web::web::post().to(take_push))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = push_server.handle();
    tokio::spawn(push_server);

    // The token stands for an app's push token (FCM/APNs) in the NDS URL.
    let token = hex::encode(rand::random::<[u8; 16]>());
    let webhook = format!("http://127.0.0.1:{port}/notify?platform=demo&token={token}");
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let msg = format!("{time}-{webhook}-{username}");
    let body = json!({
        "time": time,
        "webhook_url": webhook,
        "username": username,
        "signature": lnurld::lnurl::lnsign::sign(msg.as_bytes(), &phone.key),
    });
    out!("phone: key {}, pushes to 127.0.0.1:{port}", phone.pubkey);
    let res = http
        .post(format!("{server}/lnurlpay/{}", phone.pubkey))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("registration refused ({status}): {text} (is the server started with [offline] enabled and loopback webhooks allowed? see the README's offline demo)");
    }
    let reg: Value = serde_json::from_str(&text).context("registration answer")?;
    out!(
        "registered: {} ({})",
        reg["lightning_address"].as_str().unwrap_or(username),
        reg["lnurl"].as_str().unwrap_or_default()
    );

    let result = match pay {
        Some(sats) => pay_once(&http, server, username, sats, &phone).await,
        None => {
            out!("phone: answering pushes until Ctrl-C");
            tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
        }
    };
    handle.stop(false).await;
    result
}

/// The payer, once: address → pay request → invoice (checked) → paid by
/// a throw-away dev node → LUD-21 verify.
async fn pay_once(
    http: &reqwest::Client,
    server: &str,
    username: &str,
    sats: u64,
    phone: &Phone,
) -> anyhow::Result<()> {
    let get = |url: String| async move {
        let v: Value = http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("GET {url}: not JSON"))?;
        if v["status"] == "ERROR" {
            bail!("GET {url}: {}", v["reason"]);
        }
        Ok::<Value, anyhow::Error>(v)
    };
    let amount_msat = sats.checked_mul(1000).context("--pay is too large")?;
    let info = get(format!("{server}/.well-known/lnurlp/{username}")).await?;
    if info["tag"] != "payRequest" {
        bail!("not a pay request: {info}");
    }
    let (min, max) = (
        info["minSendable"].as_u64().unwrap_or(0),
        info["maxSendable"].as_u64().unwrap_or(0),
    );
    if amount_msat < min || amount_msat > max {
        bail!("{sats} sats is outside {min}..{max} msat");
    }
    let metadata = info["metadata"].as_str().unwrap_or_default().to_owned();
    let callback = info["callback"].as_str().unwrap_or_default();
    if !loopback(callback) {
        bail!("the callback is not on loopback: {callback}");
    }
    let mut url = url::Url::parse(callback)?;
    url.query_pairs_mut()
        .append_pair("amount", &amount_msat.to_string());
    let answer = get(url.to_string()).await?;
    let pr = answer["pr"].as_str().context("no pr in the answer")?;
    // What LUD-06 asks of a payer before paying.
    let inv = Bolt11Invoice::from_str(pr).map_err(|e| anyhow::anyhow!("bad invoice: {e}"))?;
    if inv.amount_milli_satoshis() != Some(amount_msat) {
        bail!("the invoice is not for {amount_msat} msat");
    }
    let committed = match inv.description() {
        lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) => h.0,
        lightning_invoice::Bolt11InvoiceDescriptionRef::Direct(_) => {
            bail!("the invoice has no description hash")
        }
    };
    if committed != sha256::Hash::hash(metadata.as_bytes()) {
        bail!("the invoice's description hash is not the metadata's");
    }
    let hash = hex::encode(inv.payment_hash().to_byte_array());
    out!("payer: got invoice {pr}");

    let paid = pay_with_throwaway_node(pr, amount_msat).await?;
    if !paid {
        bail!("the payer's dev node could not pay the invoice");
    }
    // The phone's node would see the HTLC; here it is told.
    phone.lock_paid().insert(hash.clone());
    out!("payer: paid {sats} sats (payment hash {hash}; a dev node on regtest: no money moved)");

    let verify_url = answer["verify"]
        .as_str()
        .context("the answer has no LUD-21 verify URL")?;
    if !loopback(verify_url) {
        bail!("the verify URL is not on loopback: {verify_url}");
    }
    let v = get(verify_url.to_owned()).await?;
    let preimage = v["preimage"].as_str().unwrap_or_default();
    let proved = hex::decode(preimage)
        .ok()
        .is_some_and(|p| hex::encode(sha256::Hash::hash(&p).to_byte_array()) == hash);
    if v["settled"] != true || !proved {
        bail!("verify does not say settled with the preimage: {v}");
    }
    out!("payer: verify: settled, preimage {preimage} (its sha256 is the payment hash)");
    Ok(())
}

/// Pays `pr` with a dev node of its own, on a database in a temporary file
/// removed afterwards; whether it succeeded.
async fn pay_with_throwaway_node(pr: &str, amount_msat: u64) -> anyhow::Result<bool> {
    let path = std::env::temp_dir().join(format!(
        "lnurld-demo-payer-{}.db",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let outcome = async {
        let db = lnurld::db::Db::connect(&lnurld::db::DbUrl::Sqlite(path.clone()), 2)?;
        db.migrate().await?;
        let key = loop {
            if let Ok(k) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break k;
            }
        };
        let node = lnurld::node::dev::DevNode::with_key(key, db, amount_msat.saturating_mul(2));
        let out = node.pay(pr, 0, Duration::from_secs(10)).await?;
        Ok::<bool, anyhow::Error>(matches!(
            out,
            lnurld::node::PaymentOutcome::Succeeded { .. }
        ))
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn only_loopback_urls_are_used() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7/x",
            "http://[::1]:9/",
            "http://127.1/",
            "http://[0:0:0:0:0:0:0:1]/",
        ] {
            assert!(loopback(ok), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "https://example.com/",
            "http://[::2]/",
            "ftp://127.0.0.1/",
            "http://0.0.0.0/",
            "not a url",
            // Names resolve to whatever the resolver says: refused, even
            // `localhost` and names that look local.
            "https://localhost/r",
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://127.0.0.1.nip.io/",
            "http://loopback/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(!loopback(bad), "{bad}");
        }
    }
}
