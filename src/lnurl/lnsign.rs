//! Lightning `SignMessage` signatures, as LND's `signmessage`/`verifymessage`,
//! CLN's `signmessage`/`checkmessage` and the Breez SDK's `sign_message`
//! make them: a recoverable secp256k1 ECDSA signature over
//! sha256(sha256(`"Lightning Signed Message:"` ‖ message)), 65 bytes
//! (header 31 + recovery id, then r ‖ s), written in zbase32.
//! <https://github.com/lightning/blips> ("General-purpose Lightning
//! signatures").
//!
//! Pure (no I/O): imports only `bitcoin::secp256k1` and `bitcoin::hashes`.
//! The offline-receive registration ([`super::offline`]) checks its
//! signatures with [`recover`]; [`sign`] is what a phone (the tests' fake
//! one, the demo) signs with.

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};

/// The prefix every signed message gets before it is hashed.
pub const PREFIX: &[u8] = b"Lightning Signed Message:";

/// zbase32's alphabet (Zooko's human-oriented base-32).
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Not zbase32 text.
    #[error("the signature is not zbase32")]
    NotZbase32,
    /// Decoded, but not the 65 bytes of a recoverable signature.
    #[error("the signature is not 65 bytes (header and r, s)")]
    BadLength,
    /// The header byte names no recovery id.
    #[error("the signature's header byte is not a recovery id")]
    BadHeader,
    /// r, s out of range, or no key recovers from it.
    #[error("the signature does not verify")]
    Invalid,
}

/// `bytes` in zbase32 (bits taken most significant first; the last group
/// padded with zero bits).
pub fn zbase32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ZBASE32[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ZBASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of zbase32 `text`. Left-over bits past the last whole byte
/// must be zero, so each byte string has exactly one spelling.
pub fn zbase32_decode(text: &str) -> Result<Vec<u8>, SignError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ZBASE32
            .iter()
            .position(|z| *z == c)
            .ok_or(SignError::NotZbase32)?;
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if acc != 0 {
        return Err(SignError::NotZbase32);
    }
    Ok(out)
}

/// The digest that is signed: sha256d(`PREFIX` ‖ `msg`).
pub fn digest(msg: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(PREFIX.len() + msg.len());
    data.extend_from_slice(PREFIX);
    data.extend_from_slice(msg);
    sha256d::Hash::hash(&data).to_byte_array()
}

/// Signs `msg` with `key` (RFC 6979 nonces, so the same message and key
/// always give the same signature, as LND's and LDK's do).
pub fn sign(msg: &[u8], key: &SecretKey) -> String {
    let secp = Secp256k1::signing_only();
    let sig = secp.sign_ecdsa_recoverable(&Message::from_digest(digest(msg)), key);
    let (id, compact) = sig.serialize_compact();
    let mut out = Vec::with_capacity(65);
    // 31 + id: "compressed key" headers, as LND writes them. The id is 0..=3.
    out.push(31 + u8::try_from(id.to_i32()).unwrap_or(0));
    out.extend_from_slice(&compact);
    zbase32_encode(&out)
}

/// The public key that signed `msg` with the zbase32 signature `sig`.
/// Headers 27..=34 are accepted, as btcec's `RecoverCompact` (which LND and
/// breez-lnurl verify with) accepts them; the caller compares the key.
pub fn recover(msg: &[u8], sig: &str) -> Result<PublicKey, SignError> {
    let raw = zbase32_decode(sig)?;
    let [header, rest @ ..] = raw.as_slice() else {
        return Err(SignError::BadLength);
    };
    if rest.len() != 64 {
        return Err(SignError::BadLength);
    }
    if !(27..=34).contains(header) {
        return Err(SignError::BadHeader);
    }
    let id =
        RecoveryId::from_i32(i32::from((header - 27) & 3)).map_err(|_| SignError::BadHeader)?;
    let sig = RecoverableSignature::from_compact(rest, id).map_err(|_| SignError::Invalid)?;
    Secp256k1::verification_only()
        .recover_ecdsa(&Message::from_digest(digest(msg)), &sig)
        .map_err(|_| SignError::Invalid)
}

/// Whether `sig` is `pubkey_hex`'s (compressed, lowercase hex) signature of
/// `msg`.
pub fn verify(msg: &[u8], sig: &str, pubkey_hex: &str) -> Result<(), SignError> {
    let key = recover(msg, sig)?;
    if hex::encode(key.serialize()) == pubkey_hex {
        Ok(())
    } else {
        Err(SignError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_key() -> SecretKey {
        let mut b = [0u8; 32];
        b[31] = 1;
        SecretKey::from_slice(&b).expect("1 is a valid key")
    }

    fn pubkey_hex(k: &SecretKey) -> String {
        hex::encode(PublicKey::from_secret_key(&Secp256k1::signing_only(), k).serialize())
    }

    /// LDK's `message_signing` vector: key 1, "test message".
    const LDK_SIG: &str = "d9tibmnic9t5y41hg7hkakdcra94akas9ku3rmmj4ag9mritc8ok4p5qzefs78c9pqfhpuftqqzhydbdwfg7u6w6wdxcqpqn4sj4e73e";

    #[test]
    fn signs_as_ldk_does() {
        assert_eq!(sign(b"test message", &one_key()), LDK_SIG);
        let key = recover(b"test message", LDK_SIG).expect("recovers");
        assert_eq!(hex::encode(key.serialize()), pubkey_hex(&one_key()));
    }

    /// Signatures made by LND and checked by CLN's test suite (also in LDK's).
    #[test]
    fn verifies_lnd_signatures() {
        let corpus = [
            (
                "is this compatible?",
                "rbgfioj114mh48d8egqx8o9qxqw4fmhe8jbeeabdioxnjk8z3t1ma1hu1fiswpakgucwwzwo6ofycffbsqusqdimugbh41n1g698hr9t",
                "02b80cabdf82638aac86948e4c06e82064f547768dcef977677b9ea931ea75bab5",
            ),
            (
                "hi",
                "rnrphcjswusbacjnmmmrynh9pqip7sy5cx695h6mfu64iac6qmcmsd8xnsyczwmpqp9shqkth3h4jmkgyqu5z47jfn1q7gpxtaqpx4xg",
                "02de60d194e1ca5947b59fe8e2efd6aadeabfb67f2e89e13ae1a799c1e08e4a43b",
            ),
            (
                "hi",
                "ry8bbsopmduhxy3dr5d9ekfeabdpimfx95kagdem7914wtca79jwamtbw4rxh69hg7n6x9ty8cqk33knbxaqftgxsfsaeprxkn1k48p3",
                "022b8ece90ee891cbcdac0c1cc6af46b73c47212d8defbce80265ac81a6b794931",
            ),
        ];
        for (msg, sig, pk) in corpus {
            assert_eq!(verify(msg.as_bytes(), sig, pk), Ok(()), "{msg}");
            // Another message, or another key, does not verify.
            assert_eq!(verify(b"not the message", sig, pk), Err(SignError::Invalid));
        }
    }

    #[test]
    fn zbase32_round_trips_and_is_canonical() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(zbase32_decode(&zbase32_encode(&bytes)), Ok(bytes));
        }
        // One byte 0xff is "9h" (11111 111 + 00); "9j" (11111 111 + 01)
        // has a padding bit set.
        assert_eq!(zbase32_encode(&[0xff]), "9h");
        assert_eq!(zbase32_decode("9j"), Err(SignError::NotZbase32));
        assert_eq!(zbase32_decode("l0v"), Err(SignError::NotZbase32));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        assert_eq!(recover(b"m", ""), Err(SignError::BadLength));
        assert_eq!(
            recover(b"m", &zbase32_encode(&[31; 64])),
            Err(SignError::BadLength)
        );
        let mut raw = zbase32_decode(LDK_SIG).expect("decodes");
        raw[0] = 35;
        assert_eq!(
            recover(b"test message", &zbase32_encode(&raw)),
            Err(SignError::BadHeader)
        );
        // Another recovery id recovers another key (or none).
        let mut raw = zbase32_decode(LDK_SIG).expect("decodes");
        raw[0] ^= 1;
        assert_ne!(
            verify(
                b"test message",
                &zbase32_encode(&raw),
                &pubkey_hex(&one_key())
            ),
            Ok(())
        );
    }
}
