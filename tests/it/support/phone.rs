//! A fake phone wallet for offline receive: its own secp256k1 key and a
//! `SignMessage` written here from the bLIP (independent of lnurld's
//! `lnsign`, whose golden vectors pin the same bytes), and the registration
//! bodies c-breez and Misty send.

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use serde_json::{json, Value};

/// A phone wallet's key.
pub struct Phone {
    key: SecretKey,
    /// Compressed, lowercase hex.
    pub pubkey: String,
    /// The preimage of each invoice it made, by payment hash (hex).
    preimages: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn zbase32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    bits.chunks(5)
        .map(|c| {
            let v = c
                .iter()
                .chain(std::iter::repeat(&0))
                .take(5)
                .fold(0usize, |acc, b| (acc << 1) | usize::from(*b));
            char::from(ALPHABET[v])
        })
        .collect()
}

impl Phone {
    /// A phone with a fresh random key.
    pub fn new() -> Phone {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(key) = SecretKey::from_slice(&bytes) {
                let pubkey =
                    hex::encode(PublicKey::from_secret_key(&Secp256k1::new(), &key).serialize());
                return Phone {
                    key,
                    pubkey,
                    preimages: Default::default(),
                };
            }
        }
    }

    /// LN `SignMessage`: zbase32(31 + recid ‖ r ‖ s) over
    /// sha256d("Lightning Signed Message:" ‖ msg).
    pub fn sign(&self, msg: &str) -> String {
        let digest = sha256d::Hash::hash(format!("Lightning Signed Message:{msg}").as_bytes());
        let sig = Secp256k1::new()
            .sign_ecdsa_recoverable(&Message::from_digest(digest.to_byte_array()), &self.key);
        let (id, rs) = sig.serialize_compact();
        let mut raw = vec![31 + id.to_i32() as u8];
        raw.extend_from_slice(&rs);
        zbase32(&raw)
    }

    /// c-breez's register body (`username` first, `null` when unset), signed
    /// `{time}-{webhook}[-{username}]`.
    pub fn register_body(&self, time: i64, webhook: &str, username: Option<&str>) -> Value {
        let msg = match username {
            Some(u) => format!("{time}-{webhook}-{u}"),
            None => format!("{time}-{webhook}"),
        };
        json!({
            "username": username,
            "time": time,
            "webhook_url": webhook,
            "signature": self.sign(&msg),
        })
    }

    /// Misty's register body (with `offer`), signed
    /// `{time}-{webhook}-{username}[-{offer}]`.
    pub fn misty_body(
        &self,
        time: i64,
        webhook: &str,
        username: &str,
        offer: Option<&str>,
    ) -> Value {
        let msg = match offer {
            Some(o) => format!("{time}-{webhook}-{username}-{o}"),
            None => format!("{time}-{webhook}-{username}"),
        };
        json!({
            "time": time,
            "webhook_url": webhook,
            "username": username,
            "offer": offer,
            "signature": self.sign(&msg),
        })
    }

    /// The unregister and recover body, signed `{time}-{webhook}`.
    pub fn plain_body(&self, time: i64, webhook: &str) -> Value {
        json!({
            "time": time,
            "webhook_url": webhook,
            "signature": self.sign(&format!("{time}-{webhook}")),
        })
    }

    /// lnurld's version 1 body for `route` on `domain`.
    pub fn v1_body(
        &self,
        route: &str,
        domain: &str,
        time: i64,
        webhook: &str,
        username: Option<&str>,
    ) -> Value {
        let msg = format!(
            "lnurld:v1\n{route}\n{domain}\n{}\n{webhook}\n{}\n{time}",
            self.pubkey,
            username.unwrap_or_default()
        );
        json!({
            "version": 1,
            "time": time,
            "webhook_url": webhook,
            "username": username,
            "signature": self.sign(&msg),
        })
    }
}

/// The metadata the fake phone serves, as the Breez plugins do.
pub const META: &str = "[[\"text/plain\",\"Pay with LNURL\"]]";

impl Phone {
    /// A regtest (or `currency`) invoice signed with the phone's key,
    /// committing to sha256(`metadata`); `payee` puts another node's key in
    /// the invoice (so its signature no longer matches).
    pub fn invoice(
        &self,
        amount_msat: u64,
        metadata: &str,
        expiry_secs: u64,
        currency: lightning_invoice::Currency,
        payee: Option<&Phone>,
    ) -> (String, String) {
        use bitcoin::hashes::sha256;
        use lightning_invoice::{InvoiceBuilder, PaymentSecret};
        let preimage: [u8; 32] = rand::random();
        let hash = sha256::Hash::hash(&preimage);
        let b = InvoiceBuilder::new(currency)
            .description_hash(sha256::Hash::hash(metadata.as_bytes()))
            .payment_hash(hash)
            .payment_secret(PaymentSecret(rand::random()))
            .current_timestamp()
            .min_final_cltv_expiry_delta(40)
            .expiry_time(std::time::Duration::from_secs(expiry_secs))
            .amount_milli_satoshis(amount_msat);
        let b = match payee {
            Some(p) => b.payee_pub_key(PublicKey::from_secret_key(&Secp256k1::new(), &p.key)),
            None => b,
        };
        let inv = b
            .build_signed(|m| Secp256k1::new().sign_ecdsa_recoverable(m, &self.key))
            .expect("build invoice");
        let hash = hex::encode(hash.to_byte_array());
        self.preimages
            .lock()
            .unwrap()
            .insert(hash.clone(), hex::encode(preimage));
        (inv.to_string(), hash)
    }

    /// The preimage of an invoice it made.
    pub fn preimage(&self, payment_hash: &str) -> Option<String> {
        self.preimages.lock().unwrap().get(payment_hash).cloned()
    }
}

/// What the fake phone does with one push.
pub enum PhoneReply {
    /// Acknowledge the push and never reply.
    Silent,
    /// The push relay answers 500.
    PushFails,
    /// Acknowledge, wait `delay`, then POST `body` (no Content-Type) with
    /// an optional `Cache-Control`.
    Send {
        body: Value,
        cache_control: Option<&'static str>,
        delay: std::time::Duration,
    },
}

/// How the phone answers: (phone, template, data) → reply.
pub type Script = Box<dyn Fn(&Phone, &str, &Value) -> PhoneReply + Send + Sync>;

/// An honest phone: the pay request with [`META`], an invoice of its own
/// for exactly the amount asked (with the verify URL it was given, as the
/// Liquid plugin does), and "not settled yet" to verify.
pub fn honest(phone: &Phone, template: &str, data: &Value) -> PhoneReply {
    let body = match template {
        "lnurlpay_info" => json!({
            "callback": data["callback_url"],
            "maxSendable": 10_000_000,
            "minSendable": 1000,
            "metadata": META,
            "tag": "payRequest",
        }),
        "lnurlpay_invoice" => {
            let amount = data["amount"].as_u64().expect("amount");
            let (pr, hash) = phone.invoice(
                amount,
                META,
                600,
                lightning_invoice::Currency::Regtest,
                None,
            );
            match data["verify_url"].as_str() {
                Some(v) => {
                    json!({"pr": pr, "routes": [], "verify": v.replace("{payment_hash}", &hash)})
                }
                None => json!({"pr": pr, "routes": []}),
            }
        }
        "lnurlpay_verify" => json!({"status": "OK", "settled": false, "preimage": null}),
        _ => return PhoneReply::Silent,
    };
    PhoneReply::Send {
        body,
        cache_control: None,
        delay: std::time::Duration::ZERO,
    }
}

struct PhoneState {
    phone: Phone,
    script: std::sync::Mutex<Script>,
    pushes: std::sync::Mutex<Vec<Value>>,
    replies: std::sync::Mutex<Vec<(u16, String)>>,
    /// When each reply's answer came back (same order as `replies`).
    replied_at: std::sync::Mutex<Vec<std::time::Instant>>,
    /// Replies to URLs starting with `.0` go to `.1` instead (another
    /// instance behind the same load balancer).
    reroute: std::sync::Mutex<Option<(String, String)>>,
    http: reqwest::Client,
}

/// The fake phone as its push relay reaches it: an HTTP server on
/// 127.0.0.1 taking pushes (the NDS's JSON) and posting replies to their
/// `reply_url`, as the app's notification plugin does.
pub struct PhoneServer {
    state: std::sync::Arc<PhoneState>,
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

async fn take_push(
    body: actix_web::web::Bytes,
    st: actix_web::web::Data<std::sync::Arc<PhoneState>>,
) -> actix_web::HttpResponse {
    let push: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.pushes.lock().unwrap().push(push.clone());
    let template = push["template"].as_str().unwrap_or_default().to_owned();
    let reply = (st.script.lock().unwrap())(&st.phone, &template, &push["data"]);
    match reply {
        PhoneReply::PushFails => actix_web::HttpResponse::InternalServerError().finish(),
        PhoneReply::Silent => actix_web::HttpResponse::Ok().finish(),
        PhoneReply::Send {
            body,
            cache_control,
            delay,
        } => {
            let st = st.get_ref().clone();
            let mut url = push["data"]["reply_url"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some((from, to)) = st.reroute.lock().unwrap().clone() {
                if let Some(rest) = url.strip_prefix(&from) {
                    url = format!("{to}{rest}");
                }
            }
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let mut rb = st.http.post(url).body(body.to_string());
                if let Some(cc) = cache_control {
                    rb = rb.header("Cache-Control", cc);
                }
                let (status, text) = match rb.send().await {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                };
                let at = std::time::Instant::now();
                // One lock order for both lists, so their indexes agree.
                let mut replies = st.replies.lock().unwrap();
                st.replied_at.lock().unwrap().push(at);
                replies.push((status, text));
            });
            actix_web::HttpResponse::Ok().finish()
        }
    }
}

impl PhoneServer {
    /// A phone with a fresh key, answering honestly.
    pub async fn start() -> PhoneServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = std::sync::Arc::new(PhoneState {
            phone: Phone::new(),
            script: std::sync::Mutex::new(Box::new(honest)),
            pushes: std::sync::Mutex::new(Vec::new()),
            replies: std::sync::Mutex::new(Vec::new()),
            replied_at: std::sync::Mutex::new(Vec::new()),
            reroute: std::sync::Mutex::new(None),
            http: reqwest::Client::new(),
        });
        let data = actix_web::web::Data::new(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .default_service(actix_web::web::to(take_push))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        PhoneServer {
            state,
            port,
            handle,
        }
    }

    /// The phone's key.
    pub fn phone(&self) -> &Phone {
        &self.state.phone
    }

    /// Its push webhook (what it registers).
    pub fn webhook(&self) -> String {
        format!(
            "http://127.0.0.1:{}/api/v1/notify?platform=android&token=t",
            self.port
        )
    }

    /// A push webhook with the push token `token` (the phone takes pushes
    /// on any path).
    pub fn webhook_with_token(&self, token: &str) -> String {
        format!(
            "http://127.0.0.1:{}/api/v1/notify?platform=android&token={token}",
            self.port
        )
    }

    /// Answer from now on with `script`.
    pub fn script(
        &self,
        script: impl Fn(&Phone, &str, &Value) -> PhoneReply + Send + Sync + 'static,
    ) {
        *self.state.script.lock().unwrap() = Box::new(script);
    }

    /// Sends replies meant for `from` (a base URL) to `to` instead.
    pub fn reroute(&self, from: &str, to: &str) {
        *self.state.reroute.lock().unwrap() = Some((from.to_owned(), to.to_owned()));
    }

    /// Every push so far.
    pub fn pushes(&self) -> Vec<Value> {
        self.state.pushes.lock().unwrap().clone()
    }

    /// Every reply so far: lnurld's status and body.
    pub fn replies(&self) -> Vec<(u16, String)> {
        self.state.replies.lock().unwrap().clone()
    }

    /// When lnurld's answer to each reply came back, in the order of
    /// [`PhoneServer::replies`].
    pub fn replied_at(&self) -> Vec<std::time::Instant> {
        self.state.replied_at.lock().unwrap().clone()
    }

    /// Stops listening.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
