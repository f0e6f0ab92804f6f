//! Offline receive, the wire side: the registration bodies that phone
//! wallets built on the Breez SDK send to breez-lnurl
//! (`POST|DELETE /lnurlpay/{pubkey}`, `POST /lnurlpay/{pubkey}/recover`),
//! the exact bytes they sign, lnurld's own versioned message, the time
//! window and the single-use statement hash. `shared/spec/OFFLINE-RECEIVE.md`
//! §1 and §6 are the reference.
//!
//! Pure (no I/O, no clock: callers pass `now`). Imports [`super::lnsign`],
//! `serde` and `sha2`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::lnsign;

/// How far `time` may be from the server's clock, either way (breez-lnurl's
/// `ACCEPTABLE_TIME_DIFF`).
pub const TIME_WINDOW_SECS: i64 = 60;

/// The first line of lnurld's versioned message.
pub const V1_TAG: &str = "lnurld:v1";

/// Which route a statement was signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /lnurlpay/{pubkey}`.
    Register,
    /// `DELETE /lnurlpay/{pubkey}`.
    Unregister,
    /// `POST /lnurlpay/{pubkey}/recover`.
    Recover,
}

impl Route {
    /// The route's name in a versioned message and in the claims table.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Register => "register",
            Route::Unregister => "unregister",
            Route::Recover => "recover",
        }
    }
}

/// The JSON body of all three routes. Absent and `null` fields are the same
/// (c-breez sends `"username":null`, Misty `"offer":null`); unknown fields
/// are ignored, as breez-lnurl's decoder ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBody {
    /// Unix seconds when the phone signed.
    pub time: i64,
    /// The push webhook (breez NDS URL with the app's push token).
    pub webhook_url: String,
    /// The wanted username (register only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A BOLT12 offer (register only, only with a username; legacy only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// zbase32 `SignMessage` signature of [`message`]'s bytes.
    pub signature: String,
    /// Absent: breez-lnurl's message. `1`: lnurld's versioned message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// Why a signed body was refused (the service answers 400 or 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// `time` is more than [`TIME_WINDOW_SECS`] from now (401).
    #[error("time {time} is more than {TIME_WINDOW_SECS} s from the server's clock ({now}); check the phone's clock")]
    Stale {
        /// What the body said.
        time: i64,
        /// The server's clock.
        now: i64,
    },
    /// The signature is not the pubkey's over the message (401).
    #[error("invalid signature: {0}")]
    Signature(#[from] lnsign::SignError),
    /// A version lnurld does not know (400).
    #[error("unknown message version {0}; lnurld knows version 1 and the unversioned breez-lnurl message")]
    UnknownVersion(u32),
    /// A field the message of this version cannot carry (400).
    #[error("{0}")]
    Unsigned(&'static str),
    /// A line break in a field of a versioned message would let it be read
    /// as another message (400).
    #[error("{0} must not contain a line break")]
    LineBreak(&'static str),
}

impl StatementError {
    /// Whether the answer is 401 (a signature or time problem) rather
    /// than 400 (a malformed body).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            StatementError::Stale { .. } | StatementError::Signature(_)
        )
    }
}

/// The exact message the phone signed for `route`.
///
/// Unversioned (breez-lnurl): `{time}-{webhook_url}`, and on register
/// `-{username}` when a username is given, then `-{offer}` when an offer is
/// given with it. An offer without a username is not signed: it is dropped
/// (see [`Signed::offer`]), as breez-lnurl drops it.
///
/// Version 1: `lnurld:v1\n{route}\n{domain}\n{pubkey}\n{webhook_url}\n{username}\n{time}`
/// (an empty line for no username); `domain` is the server's authority
/// (host, and port when not the scheme's), so a statement made for one
/// server or route is worth nothing on another. It carries no offer.
pub fn message(
    route: Route,
    domain: &str,
    pubkey: &str,
    body: &SignedBody,
) -> Result<String, StatementError> {
    match body.version {
        None => {
            let mut m = format!("{}-{}", body.time, body.webhook_url);
            if route == Route::Register {
                if let Some(u) = &body.username {
                    m.push('-');
                    m.push_str(u);
                    if let Some(o) = &body.offer {
                        m.push('-');
                        m.push_str(o);
                    }
                }
            }
            Ok(m)
        }
        Some(1) => {
            if body.offer.is_some() {
                return Err(StatementError::Unsigned(
                    "offer cannot be registered with a version 1 message",
                ));
            }
            let username = body.username.as_deref().unwrap_or_default();
            for (name, v) in [
                ("webhook_url", body.webhook_url.as_str()),
                ("username", username),
            ] {
                if v.contains(['\n', '\r']) {
                    return Err(StatementError::LineBreak(name));
                }
            }
            Ok(format!(
                "{V1_TAG}\n{}\n{domain}\n{pubkey}\n{}\n{username}\n{}",
                route.as_str(),
                body.webhook_url,
                body.time
            ))
        }
        Some(v) => Err(StatementError::UnknownVersion(v)),
    }
}

/// A body whose time and signature hold: what the service may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The message that was signed.
    pub message: String,
    /// [`statement_hash`] of it: the single-use key.
    pub statement_hash: String,
    /// The signed username (register only; `None` on the other routes).
    pub username: Option<String>,
    /// The signed offer: only with a username, on an unversioned register.
    pub offer: Option<String>,
}

/// Checks the time window and the signature of `body` for `route` and
/// `pubkey` (66 lowercase hex), as of `now`.
pub fn check(
    route: Route,
    domain: &str,
    pubkey: &str,
    body: &SignedBody,
    now: i64,
) -> Result<Signed, StatementError> {
    let message = message(route, domain, pubkey, body)?;
    if (now.saturating_sub(body.time)).abs() > TIME_WINDOW_SECS {
        return Err(StatementError::Stale {
            time: body.time,
            now,
        });
    }
    lnsign::verify(message.as_bytes(), &body.signature, pubkey)?;
    let register = route == Route::Register;
    let username = body.username.clone().filter(|_| register);
    let offer = body
        .offer
        .clone()
        .filter(|_| register && username.is_some());
    Ok(Signed {
        statement_hash: statement_hash(pubkey, &message),
        message,
        username,
        offer,
    })
}

/// sha256(pubkey ‖ 0x00 ‖ message) in hex. Keyed on the statement, not the
/// signature: ECDSA signatures are malleable, so one statement has many
/// valid signatures and only the statement can be claimed once.
pub fn statement_hash(pubkey: &str, message: &str) -> String {
    let mut h = Sha256::new();
    h.update(pubkey.as_bytes());
    h.update([0u8]);
    h.update(message.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `id` has the form of a wallet pubkey: 66 hex characters. Such
/// ids are reserved for offline registrations: no pay-link id or username
/// may take this form.
pub fn is_pubkey_form(id: &str) -> bool {
    id.len() == 66 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A path's pubkey as stored: a compressed secp256k1 key (02/03 + 32
/// bytes) in lowercase hex; `None` for anything else.
pub fn normalize_pubkey(id: &str) -> Option<String> {
    if !is_pubkey_form(id) {
        return None;
    }
    let lower = id.to_ascii_lowercase();
    let bytes = hex::decode(&lower).ok()?;
    bitcoin::secp256k1::PublicKey::from_slice(&bytes).ok()?;
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};

    fn key() -> (SecretKey, String) {
        let k = SecretKey::from_slice(&[7u8; 32]).expect("valid key");
        let pk =
            hex::encode(PublicKey::from_secret_key(&Secp256k1::signing_only(), &k).serialize());
        (k, pk)
    }

    const NDS: &str =
        "https://notifier.breez.technology/api/v1/notify?platform=android&token=fcm-token-1";
    const T: i64 = 1_764_000_000;

    #[test]
    fn unversioned_messages_are_breez_lnurls_bytes() {
        let (_, pk) = key();
        let mut b = SignedBody {
            time: T,
            webhook_url: NDS.into(),
            ..SignedBody::default()
        };
        let plain = format!("{T}-{NDS}");
        assert_eq!(message(Route::Register, "d", &pk, &b), Ok(plain.clone()));
        b.offer = Some("lno1qq".into());
        // An offer without a username is not part of the message.
        assert_eq!(message(Route::Register, "d", &pk, &b), Ok(plain.clone()));
        b.username = Some("alice".into());
        assert_eq!(
            message(Route::Register, "d", &pk, &b),
            Ok(format!("{T}-{NDS}-alice-lno1qq"))
        );
        // Unregister and recover sign only time and URL: the same bytes
        // as a register without a username.
        assert_eq!(message(Route::Unregister, "d", &pk, &b), Ok(plain.clone()));
        assert_eq!(message(Route::Recover, "d", &pk, &b), Ok(plain));
    }

    #[test]
    fn version_1_names_route_domain_and_key() {
        let (_, pk) = key();
        let b = SignedBody {
            time: T,
            webhook_url: NDS.into(),
            username: Some("alice".into()),
            version: Some(1),
            ..SignedBody::default()
        };
        assert_eq!(
            message(Route::Register, "pay.example.com", &pk, &b),
            Ok(format!(
                "lnurld:v1\nregister\npay.example.com\n{pk}\n{NDS}\nalice\n{T}"
            ))
        );
        let none = SignedBody {
            username: None,
            ..b.clone()
        };
        assert_eq!(
            message(Route::Unregister, "pay.example.com", &pk, &none),
            Ok(format!(
                "lnurld:v1\nunregister\npay.example.com\n{pk}\n{NDS}\n\n{T}"
            ))
        );
        let v2 = SignedBody {
            version: Some(2),
            ..b.clone()
        };
        assert_eq!(
            message(Route::Register, "d", &pk, &v2),
            Err(StatementError::UnknownVersion(2))
        );
        let offer = SignedBody {
            offer: Some("lno1".into()),
            ..b.clone()
        };
        assert!(matches!(
            message(Route::Register, "d", &pk, &offer),
            Err(StatementError::Unsigned(_))
        ));
        let sneaky = SignedBody {
            username: Some("alice\n1".into()),
            ..b
        };
        assert_eq!(
            message(Route::Register, "d", &pk, &sneaky),
            Err(StatementError::LineBreak("username"))
        );
    }

    #[test]
    fn check_holds_time_signature_key_and_route() {
        let (k, pk) = key();
        let mut b = SignedBody {
            time: T,
            webhook_url: NDS.into(),
            username: Some("alice".into()),
            ..SignedBody::default()
        };
        b.signature = lnsign::sign(format!("{T}-{NDS}-alice").as_bytes(), &k);
        let ok = check(Route::Register, "d", &pk, &b, T + 60).expect("valid");
        assert_eq!(ok.username.as_deref(), Some("alice"));
        assert_eq!(ok.statement_hash, statement_hash(&pk, &ok.message));
        assert!(check(Route::Register, "d", &pk, &b, T - 60).is_ok());
        for now in [T + 61, T - 61] {
            let e = check(Route::Register, "d", &pk, &b, now).expect_err("stale");
            assert!(e.is_unauthorized(), "{e}");
            assert!(matches!(e, StatementError::Stale { .. }));
        }
        // Another key's path, or another route's message, does not verify.
        let other = hex::encode(
            PublicKey::from_secret_key(
                &Secp256k1::signing_only(),
                &SecretKey::from_slice(&[8u8; 32]).expect("valid"),
            )
            .serialize(),
        );
        assert!(matches!(
            check(Route::Register, "d", &other, &b, T),
            Err(StatementError::Signature(_))
        ));
        assert!(matches!(
            check(Route::Unregister, "d", &pk, &b, T),
            Err(StatementError::Signature(_))
        ));
        // A version 1 statement for one domain is refused on another.
        let mut v1 = SignedBody {
            version: Some(1),
            ..b.clone()
        };
        v1.signature = lnsign::sign(
            message(Route::Register, "a.example", &pk, &v1)
                .expect("message")
                .as_bytes(),
            &k,
        );
        assert!(check(Route::Register, "a.example", &pk, &v1, T).is_ok());
        assert!(check(Route::Register, "b.example", &pk, &v1, T).is_err());
    }

    /// The bodies c-breez (`username` first, `null` when unset) and Misty
    /// (`offer: null`) send, byte for byte, signed by key 1: they parse,
    /// their message is the signed text, and the signature holds.
    #[test]
    fn c_breez_and_misty_bodies() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let k = SecretKey::from_slice(&one).expect("valid");
        let pk =
            hex::encode(PublicKey::from_secret_key(&Secp256k1::signing_only(), &k).serialize());
        assert_eq!(
            pk,
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
        let url = "https://notifier.breez.technology/api/v1/notify?platform=ios&token=abc";
        let msg = format!("1764000000-{url}");
        // RFC 6979: the signature of key 1 over these bytes is fixed.
        let sig = "d6m71b765zatjabw58jo5ihrde1ff1ueaz77gh9ybn38tqz3314wrumi847zyrej4iwp8h7tzxmxs99ahze6qt9dz88hbq8p48yzx33u";
        assert_eq!(lnsign::sign(msg.as_bytes(), &k), sig);
        let c_breez = format!(
            r#"{{"username":null,"time":1764000000,"webhook_url":"{url}","signature":"{sig}"}}"#
        );
        let misty = format!(
            r#"{{"time":1764000000,"webhook_url":"{url}","username":null,"offer":null,"signature":"{sig}"}}"#
        );
        for body in [c_breez, misty] {
            let b: SignedBody = serde_json::from_str(&body).expect("parses");
            let s = check(Route::Register, "d", &pk, &b, 1_764_000_010).expect("verifies");
            assert_eq!(s.message, msg);
            assert_eq!(s.username, None);
        }
    }

    #[test]
    fn pubkey_forms() {
        let (_, pk) = key();
        assert!(is_pubkey_form(&pk));
        assert_eq!(normalize_pubkey(&pk.to_ascii_uppercase()), Some(pk.clone()));
        assert!(!is_pubkey_form(&pk[..64]));
        // 66 hex that is no curve point.
        let bad = format!("05{}", &pk[2..]);
        assert!(is_pubkey_form(&bad));
        assert_eq!(normalize_pubkey(&bad), None);
    }
}
