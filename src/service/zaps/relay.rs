//! One receipt to one relay (NIP-01): open a websocket, send
//! `["EVENT", <receipt>]`, wait for `["OK", <id>, true|false, <message>]`.
//! The relay's address passes the webhook target guard twice: the URL when
//! the zap request named it, and every resolved address before connecting;
//! the connection then goes to exactly an address checked, so a DNS answer
//! that changes in between cannot reach a refused one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nostr::prelude::{ClientMessage, Event, RelayMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use crate::webhook_target::{check_relay_url, forbidden_ip};

/// Largest message or frame read from a relay.
const MAX_RELAY_MESSAGE: usize = 256 * 1024;

/// What the relay answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayAnswer {
    /// `OK` true: the relay has the receipt (a duplicate counts).
    Accepted,
    /// `OK` false, with the relay's message.
    Refused(String),
}

/// TLS for `wss://`: the public web roots, ring as the provider (as every
/// other client of lnurld).
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The addresses of `url`'s host, each checked by the guard.
async fn checked_addrs(url: &url::Url, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(a)) => vec![SocketAddr::from((a, port))],
        Some(url::Host::Ipv6(a)) => vec![SocketAddr::from((a, port))],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| format!("cannot resolve {d}: {e}"))?
            .collect(),
        None => return Err("the relay URL names no host".into()),
    };
    if addrs.is_empty() {
        return Err("the relay's host resolves to no address".into());
    }
    for a in &addrs {
        if let Some(why) = forbidden_ip(a.ip(), allow_private) {
            return Err(format!("refused: the relay resolves to {}, {why}", a.ip()));
        }
    }
    Ok(addrs)
}

/// Sends `receipt` (a signed event's JSON) to `relay` and waits for its
/// `OK`, all within `timeout`. `Err` for anything but an answer: a refused
/// address, no connection, a closed socket, the time running out.
pub async fn send_event(
    relay: &str,
    receipt: &str,
    allow_insecure: bool,
    allow_private: bool,
    timeout: Duration,
) -> Result<RelayAnswer, String> {
    let url = check_relay_url(relay, allow_insecure, allow_private)
        .map_err(|e| format!("refused: relay {e}"))?;
    let event = Event::from_json(receipt).map_err(|e| format!("stored receipt: {e}"))?;
    match tokio::time::timeout(timeout, exchange(&url, event, allow_private)).await {
        Ok(answer) => answer,
        Err(_) => Err(format!(
            "no OK from the relay within {} s",
            timeout.as_secs()
        )),
    }
}

async fn exchange(
    url: &url::Url,
    event: Event,
    allow_private: bool,
) -> Result<RelayAnswer, String> {
    let addrs = checked_addrs(url, allow_private).await?;
    let mut last = String::new();
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("connection to {a} failed: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let connector = match url.scheme() {
        "wss" => Connector::Rustls(tls()?),
        _ => Connector::Plain,
    };
    // A relay's answers are small; a stranger's relay may not make us
    // buffer more.
    let limits = WebSocketConfig::default()
        .max_message_size(Some(MAX_RELAY_MESSAGE))
        .max_frame_size(Some(MAX_RELAY_MESSAGE));
    let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(
        url.as_str(),
        tcp,
        Some(limits),
        Some(connector),
    )
    .await
    .map_err(|e| format!("websocket handshake failed: {e}"))?;
    let id = event.id;
    let text = ClientMessage::event(event)
        .try_as_json()
        .map_err(|e| format!("cannot serialise the event: {e}"))?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("cannot send the event: {e}"))?;
    let answer = loop {
        let msg = match ws.next().await {
            None => break Err("the relay closed the connection without OK".to_owned()),
            Some(Err(e)) => break Err(format!("websocket error: {e}")),
            Some(Ok(m)) => m,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break Err("the relay closed the connection without OK".to_owned()),
            // Pings are answered by the library; binary frames mean nothing here.
            _ => continue,
        };
        // NOTICE, AUTH and the like are not the answer; only our OK is.
        if let Ok(RelayMessage::Ok {
            event_id,
            status,
            message,
        }) = RelayMessage::from_json(text.as_str())
        {
            if event_id == id {
                break Ok(if status {
                    RelayAnswer::Accepted
                } else {
                    RelayAnswer::Refused(message.into_owned())
                });
            }
        }
    };
    // Best effort: the answer is what counts.
    let _ = ws.close(None).await;
    answer
}
