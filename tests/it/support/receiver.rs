//! A webhook receiver for the tests: an HTTP server on 127.0.0.1 that
//! answers per its script, records every request, and checks the
//! `Lnurld-Signature` itself, as a receiving service would.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// Answer at once with this status.
    Status(u16),
    /// Hold the answer this long (then 200).
    Hang(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// The raw body (what the signature covers).
    pub body: Vec<u8>,
    /// What the receiver answered (0: held past the sender's timeout).
    pub status: u16,
}

impl Hit {
    /// A header's value (`""` when absent), any case of name.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// The `Lnurld-Event-Id` header.
    pub fn event_id(&self) -> String {
        self.header("Lnurld-Event-Id").to_owned()
    }

    /// The receiver's own signature check.
    pub fn signed_with(&self, secret: &str) -> bool {
        let sig = self.header("Lnurld-Signature");
        let mut t = None;
        let mut v1 = None;
        for part in sig.split(',') {
            match part.split_once('=') {
                Some(("t", x)) => t = Some(x.to_owned()),
                Some(("v1", x)) => v1 = Some(x.to_owned()),
                _ => {}
            }
        }
        let (Some(t), Some(v1)) = (t, v1) else {
            return false;
        };
        let age = lnurld::db::now_unix() - t.parse::<i64>().unwrap_or(0);
        if !(-300..=300).contains(&age) {
            return false;
        }
        let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(t.as_bytes());
        m.update(b".");
        m.update(&self.body);
        let expected = m.finalize().into_bytes();
        hex::decode(v1).is_ok_and(|v| v.as_slice() == expected.as_slice())
    }
}

#[derive(Default)]
/// What the receiver got and what it still has to answer.
struct RecvState {
    hits: Mutex<Vec<Hit>>,
    script: Mutex<VecDeque<Reply>>,
}

/// Answers one request per the script and records it.
async fn receive(req: HttpRequest, body: web::Bytes, st: web::Data<RecvState>) -> HttpResponse {
    let reply = st
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(200));
    let status = match reply {
        Reply::Status(s) => s,
        Reply::Hang(_) => 200,
    };
    // A held answer comes after the sender gave up: not a delivery.
    let recorded = match reply {
        Reply::Status(s) => s,
        Reply::Hang(_) => 0,
    };
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    st.hits.lock().unwrap().push(Hit {
        headers,
        body: body.to_vec(),
        status: recorded,
    });
    if let Reply::Hang(d) = reply {
        tokio::time::sleep(d).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// A webhook receiver on 127.0.0.1 answering per its script (then 200).
pub struct Receiver {
    port: u16,
    state: web::Data<RecvState>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// On a fresh port.
    pub async fn start(script: &[Reply]) -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), script).await
    }

    /// On a port chosen earlier (see [`super::free_port`]).
    pub async fn start_at(port: u16, script: &[Reply]) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the reserved port");
        Self::start_on(listener, script).await
    }

    async fn start_on(listener: TcpListener, script: &[Reply]) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let state = web::Data::new(RecvState::default());
        state.script.lock().unwrap().extend(script.iter().copied());
        let st = state.clone();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(st.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            port,
            state,
            handle,
        }
    }

    /// Its webhook URL.
    pub fn url(&self) -> String {
        hook_url(self.port)
    }

    /// Every request so far, oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Successful (2xx) deliveries per event id.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for h in self.hits().iter().filter(|h| h.status / 100 == 2) {
            *m.entry(h.event_id()).or_default() += 1;
        }
        m
    }

    /// Stops listening.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// The webhook URL of a receiver on `port`.
pub fn hook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hooks/lnurld")
}
