//! A local Nostr relay for the zap tests: a websocket server on 127.0.0.1
//! that takes `["EVENT", …]`, stores the event and answers NIP-01
//! `["OK", id, true|false, msg]` — by a script of answers (refuse, stay
//! silent, delay), then accepting. It counts every EVENT it was sent, so
//! a test can tell a receipt sent twice from one stored once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nostr::prelude::{ClientMessage, Event, RelayMessage};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How the relay answers one EVENT.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `OK` true, stored.
    Accept,
    /// `OK` false with this message, not stored.
    Refuse(&'static str),
    /// No answer at all (the connection stays open).
    Silent,
    /// `OK` true after this long.
    Delay(Duration),
}

#[derive(Default)]
struct State {
    script: VecDeque<Answer>,
    /// The answer once the script is used up (`None`: accept).
    then: Option<Answer>,
    /// Every EVENT received, in order (duplicates too).
    received: Vec<Event>,
    /// Events accepted, once per id.
    stored: Vec<Event>,
}

/// A running relay.
pub struct Relay {
    port: u16,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts on a random port with `script` (then it accepts).
    pub async fn start(script: &[Answer]) -> Relay {
        Self::start_at(0, script).await
    }

    /// Starts on a random port answering every EVENT with `answer`.
    pub async fn always(answer: Answer) -> Relay {
        let r = Self::start_at(0, &[]).await;
        r.state.lock().expect("relay state").then = Some(answer);
        r
    }

    /// Starts on `port` (0: any) with `script`.
    pub async fn start_at(port: u16, script: &[Answer]) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            script: script.iter().cloned().collect(),
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        let Message::Text(text) = msg else { continue };
                        let Ok(ClientMessage::Event(ev)) = ClientMessage::from_json(text.as_str())
                        else {
                            continue;
                        };
                        let ev = ev.into_owned();
                        let answer = {
                            let mut s = st.lock().expect("relay state");
                            s.received.push(ev.clone());
                            let then = s.then.clone().unwrap_or(Answer::Accept);
                            s.script.pop_front().unwrap_or(then)
                        };
                        let ok = |status: bool, msg: &str| {
                            Message::text(RelayMessage::ok(ev.id, status, msg).as_json())
                        };
                        let reply = match answer {
                            Answer::Silent => continue,
                            Answer::Refuse(m) => ok(false, m),
                            Answer::Accept | Answer::Delay(_) => {
                                if let Answer::Delay(d) = answer {
                                    tokio::time::sleep(d).await;
                                }
                                let valid = ev.verify().is_ok();
                                if valid {
                                    let mut s = st.lock().expect("relay state");
                                    if !s.stored.iter().any(|e| e.id == ev.id) {
                                        s.stored.push(ev.clone());
                                    }
                                }
                                if valid {
                                    ok(true, "")
                                } else {
                                    ok(false, "invalid: bad signature")
                                }
                            }
                        };
                        if ws.send(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Relay { port, state, task }
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Every EVENT received, duplicates included.
    pub fn received(&self) -> Vec<Event> {
        self.state.lock().expect("relay state").received.clone()
    }

    /// The events accepted and stored, once per id.
    pub fn stored(&self) -> Vec<Event> {
        self.state.lock().expect("relay state").stored.clone()
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
