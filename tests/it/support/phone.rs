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
                return Phone { key, pubkey };
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
