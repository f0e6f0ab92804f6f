//! `lnurl` layer: payRequest metadata ([LUD-06](https://github.com/lnurl/luds/blob/luds/06.md),
//! [LUD-16](https://github.com/lnurl/luds/blob/luds/16.md) identifier,
//! [LUD-20](https://github.com/lnurl/luds/blob/luds/20.md) long description), the
//! invoice description hash, and [LUD-18](https://github.com/lnurl/luds/blob/luds/18.md)
//! payer-data checks.
//!
//! Pure; imports only serde_json, sha2, hex, base64 and `bitcoin::secp256k1`.
//! The metadata string is built once and served verbatim: the invoice's `h`
//! must be the sha256 of exactly those bytes (DESIGN invariant 3), so never
//! re-serialize a metadata string that was already served.

use base64::Engine as _;
use bitcoin::secp256k1::{ecdsa, Message, PublicKey, Secp256k1};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::wire::{PayerDataField, PayerDataSpec};
use super::Error;

/// LUD-06: the most base64 characters an image entry may have (~100 KB).
pub const MAX_IMAGE_BASE64_CHARS: usize = 136_536;
/// LUD-18: the most characters accepted in a `name`, `identifier` or `email`.
pub const MAX_PAYER_TEXT_CHARS: usize = 256;

/// The thumbnail format of a LUD-06 image entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageMime {
    /// `image/png;base64`.
    Png,
    /// `image/jpeg;base64`.
    Jpeg,
}

impl ImageMime {
    /// The metadata entry type, e.g. `image/png;base64`.
    pub fn entry_type(self) -> &'static str {
        match self {
            ImageMime::Png => "image/png;base64",
            ImageMime::Jpeg => "image/jpeg;base64",
        }
    }
}

/// Builder of a LUD-06 metadata array (`[["text/plain", …], …]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    text_plain: String,
    long_desc: Option<String>,
    identifier: Option<String>,
    image: Option<(ImageMime, String)>,
}

impl Metadata {
    /// Metadata with its one required entry, `["text/plain", text_plain]`.
    pub fn new(text_plain: &str) -> Metadata {
        Metadata {
            text_plain: text_plain.to_owned(),
            long_desc: None,
            identifier: None,
            image: None,
        }
    }

    /// Adds LUD-20 `["text/long-desc", s]` (replacing an earlier one).
    pub fn long_desc(mut self, s: &str) -> Self {
        self.long_desc = Some(s.to_owned());
        self
    }

    /// Adds a thumbnail, `["image/png;base64", b64]` or `["image/jpeg;base64", b64]`
    /// (replacing an earlier one); refuses empty, non-base64 or > 136536-character data.
    pub fn image(mut self, mime: ImageMime, base64: &str) -> Result<Self, Error> {
        let len = base64.len();
        if len > MAX_IMAGE_BASE64_CHARS {
            return Err(Error::InvalidMetadata(format!(
                "the image is too large ({len} base64 characters, at most {MAX_IMAGE_BASE64_CHARS})"
            )));
        }
        if base64.is_empty()
            || base64::engine::general_purpose::STANDARD
                .decode(base64)
                .is_err()
        {
            return Err(Error::InvalidMetadata(
                "the image is not valid standard base64".into(),
            ));
        }
        self.image = Some((mime, base64.to_owned()));
        Ok(self)
    }

    /// Adds LUD-16 `["text/identifier", address]` (`user@domain`), replacing an earlier one.
    pub fn identifier(mut self, address: &str) -> Self {
        self.identifier = Some(address.to_owned());
        self
    }

    /// The exact metadata string to serve in `metadata` and to hash into `h`:
    /// a compact JSON array of arrays. Build it once and store/serve that string.
    pub fn to_json_string(&self) -> String {
        let mut entries: Vec<[&str; 2]> = vec![["text/plain", &self.text_plain]];
        if let Some(long) = &self.long_desc {
            entries.push(["text/long-desc", long]);
        }
        if let Some(address) = &self.identifier {
            entries.push(["text/identifier", address]);
        }
        if let Some((mime, data)) = &self.image {
            entries.push([mime.entry_type(), data]);
        }
        let array = entries
            .iter()
            .map(|[kind, content]| Value::Array(vec![Value::from(*kind), Value::from(*content)]))
            .collect();
        // `Value`'s Display is compact JSON and cannot fail.
        Value::Array(array).to_string()
    }
}

/// The invoice description hash `h`: sha256 of the metadata string's bytes,
/// followed by the URL-decoded `payerdata` string exactly as received (LUD-06/18).
pub fn description_hash(metadata: &str, payerdata: Option<&str>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(metadata.as_bytes());
    if let Some(payerdata) = payerdata {
        hasher.update(payerdata.as_bytes());
    }
    hasher.finalize().into()
}

/// Checks the LUD-18 `payerdata` a wallet sent (already URL-decoded) against
/// what the payRequest advertised in `spec`.
///
/// It must be a JSON object holding every mandatory kind; `name`, `identifier`
/// and `email` must be strings of ≤ 256 characters, `pubkey` a hex compressed
/// secp256k1 key. When `auth` was advertised and sent, `auth.k1` must equal the
/// advertised `k1` and `auth.sig` must be a valid DER (or 64-byte compact) ECDSA
/// signature of the 32 raw `k1` bytes by `auth.key` (as in LUD-04). Kinds that
/// were not advertised are ignored.
pub fn check_payer_data(spec: &PayerDataSpec, payerdata_json: &str) -> Result<(), Error> {
    let value: Value = serde_json::from_str(payerdata_json)
        .map_err(|_| Error::InvalidPayerData("it is not valid JSON".into()))?;
    let object = value
        .as_object()
        .ok_or_else(|| Error::InvalidPayerData("it is not a JSON object".into()))?;
    // Every string, also of kinds we do not read, is stored and shown.
    crate::text::check_json("payerdata", &value, crate::text::Rule::line(4096))
        .map_err(|e| Error::InvalidPayerData(e.to_string()))?;

    let text_kinds = [
        ("name", &spec.name),
        ("identifier", &spec.identifier),
        ("email", &spec.email),
    ];
    for (kind, field) in text_kinds {
        check_kind(object.get(kind), kind, field.as_ref(), check_text)?;
    }
    check_kind(
        object.get("pubkey"),
        "pubkey",
        spec.pubkey.as_ref(),
        |kind, v| check_pubkey(kind, v).map(|_| ()),
    )?;
    if let Some(auth) = &spec.auth {
        match object.get("auth") {
            None | Some(Value::Null) if auth.mandatory => {
                return Err(Error::InvalidPayerData("\"auth\" is required".into()))
            }
            None | Some(Value::Null) => {}
            Some(value) => check_auth(value, &auth.k1)?,
        }
    }
    Ok(())
}

/// Applies `check` to an advertised kind when present; errors when a mandatory one is missing.
fn check_kind(
    value: Option<&Value>,
    kind: &str,
    field: Option<&PayerDataField>,
    check: impl Fn(&str, &Value) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(field) = field else {
        return Ok(());
    };
    match value {
        None | Some(Value::Null) if field.mandatory => {
            Err(Error::InvalidPayerData(format!("\"{kind}\" is required")))
        }
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if field.mandatory && s.trim().is_empty() => Err(
            Error::InvalidPayerData(format!("\"{kind}\" is required and must not be empty")),
        ),
        Some(value) => check(kind, value),
    }
}

/// `name`/`identifier`/`email`: a string of reasonable length.
fn check_text(kind: &str, value: &Value) -> Result<(), Error> {
    let s = value
        .as_str()
        .ok_or_else(|| Error::InvalidPayerData(format!("\"{kind}\" must be a string")))?;
    if s.chars().count() > MAX_PAYER_TEXT_CHARS {
        return Err(Error::InvalidPayerData(format!(
            "\"{kind}\" is too long (at most {MAX_PAYER_TEXT_CHARS} characters)"
        )));
    }
    Ok(())
}

/// A hex 33-byte compressed secp256k1 public key.
fn check_pubkey(kind: &str, value: &Value) -> Result<PublicKey, Error> {
    let bad = || {
        Error::InvalidPayerData(format!(
            "\"{kind}\" must be a hex compressed secp256k1 public key (33 bytes)"
        ))
    };
    let s = value.as_str().ok_or_else(bad)?;
    let bytes = hex::decode(s).map_err(|_| bad())?;
    if bytes.len() != 33 {
        return Err(bad());
    }
    PublicKey::from_slice(&bytes).map_err(|_| bad())
}

/// LUD-18 `auth`: `{"key", "k1", "sig"}` with `sig` over the raw `k1` bytes (LUD-04).
fn check_auth(value: &Value, expected_k1: &str) -> Result<(), Error> {
    let auth = value
        .as_object()
        .ok_or_else(|| Error::InvalidPayerData("\"auth\" must be an object".into()))?;
    let key = check_pubkey(
        "auth.key",
        auth.get("key")
            .ok_or_else(|| Error::InvalidPayerData("\"auth.key\" is missing".into()))?,
    )?;
    let k1 = auth
        .get("k1")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidPayerData("\"auth.k1\" is missing".into()))?;
    if !k1.eq_ignore_ascii_case(expected_k1) {
        return Err(Error::InvalidPayerData(
            "\"auth.k1\" is not the challenge this service sent".into(),
        ));
    }
    let k1_bytes: [u8; 32] = hex::decode(k1)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::InvalidPayerData("\"auth.k1\" must be 32 bytes of hex".into()))?;
    let sig_bytes = auth
        .get("sig")
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| Error::InvalidPayerData("\"auth.sig\" must be a hex signature".into()))?;
    let mut sig = ecdsa::Signature::from_der(&sig_bytes)
        .or_else(|e| {
            if sig_bytes.len() == 64 {
                ecdsa::Signature::from_compact(&sig_bytes)
            } else {
                Err(e)
            }
        })
        .map_err(|_| Error::InvalidPayerData("\"auth.sig\" is not a valid signature".into()))?;
    // Wallets may emit high-S signatures; they are just as valid for this purpose.
    sig.normalize_s();
    let secp = Secp256k1::verification_only();
    secp.verify_ecdsa(&Message::from_digest(k1_bytes), &sig, &key)
        .map_err(|_| Error::InvalidPayerData("\"auth.sig\" does not verify".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lnurl::wire::PayerDataAuth;

    // LUDS.md §12 (LUD-04) vector.
    const K1: &str = "e2af6254a8df433264fa23f67eb8188635d15ce883e8fc020989d5f82ae6f11e";
    const KEY: &str = "02c3b844b8104f0c1b15c507774c9ba7fc609f58f343b9b149122e944dd20c9362";
    const SIG: &str = "304402203767faf494f110b139293d9bab3c50e07b3bf33c463d4aa767256cd09132dc5102205821f8efacdb5c595b92ada255876d9201e126e2f31a140d44561cc1f7e9e43d";

    #[test]
    fn v3_metadata_hashed_verbatim() {
        let metadata = r#"[["text/plain", "lorem ipsum blah blah"]]"#;
        assert_eq!(
            hex::encode(description_hash(metadata, None)),
            "f7d6f565d86b0065d2d2af771106de4f8477f1f14b4cca4c009c0d53bb9be25f"
        );
    }

    #[test]
    fn v4_payerdata_appended() {
        let metadata = r#"[["text/plain", "description"], ["image/png;base64", "AAA=="]]"#;
        let payerdata = r#"{"name":"bob","auth":{"key":"02c9323d02fc164f89c8f688dbfba8aad69a96fa8f6253ba8cce2c6f1546073fa3","sig":"2afd21794e2a801d0d516584ceebe1a24ed8991dd5ec708259aeaee5c0d2d1437542b689ee5d39e619a01a257142d49c18a4af3088c46ce87e2d941a1bcc7210"},"identifier":"bob@bob.com","pubkey":"03ee58475055820fbfa52e356a8920f62f8316129c39369dbdde3e5d0198a9e315"}"#;
        assert_eq!(
            hex::encode(description_hash(metadata, None)),
            "b5d77f8d3228c7f015fbf0c3f0b2167cc1c1db6148517cf1a4c951f09d48954e"
        );
        assert_eq!(
            hex::encode(description_hash(metadata, Some(payerdata))),
            "449be9db5a2d7eae50fa5a1b6f4ade66dbf5dbfd7fa6348d939370f008e16323"
        );
        // The URL-encoded form from the spec decodes to exactly that string.
        let encoded = "%7B%22name%22%3A%22bob%22%2C%22auth%22%3A%7B%22key%22%3A%2202c9323d02fc164f89c8f688dbfba8aad69a96fa8f6253ba8cce2c6f1546073fa3%22%2C%22sig%22%3A%222afd21794e2a801d0d516584ceebe1a24ed8991dd5ec708259aeaee5c0d2d1437542b689ee5d39e619a01a257142d49c18a4af3088c46ce87e2d941a1bcc7210%22%7D%2C%22identifier%22%3A%22bob%40bob.com%22%2C%22pubkey%22%3A%2203ee58475055820fbfa52e356a8920f62f8316129c39369dbdde3e5d0198a9e315%22%7D";
        let decoded = percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, payerdata);
    }

    #[test]
    fn metadata_builder_json() {
        let m = Metadata::new("Pay alice").identifier("alice@example.com");
        assert_eq!(
            m.to_json_string(),
            r#"[["text/plain","Pay alice"],["text/identifier","alice@example.com"]]"#
        );
        let m = Metadata::new("Say \"hi\"\n")
            .long_desc("line 1\nline 2")
            .image(ImageMime::Jpeg, "AAA=")
            .unwrap()
            .identifier("bob@example.com");
        let s = m.to_json_string();
        assert_eq!(
            s,
            r#"[["text/plain","Say \"hi\"\n"],["text/long-desc","line 1\nline 2"],["text/identifier","bob@example.com"],["image/jpeg;base64","AAA="]]"#
        );
        // Served string and hashed string are the same bytes.
        let hash = description_hash(&s, None);
        assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(s.as_bytes())));
        let parsed: Vec<Vec<String>> = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed[0], ["text/plain", "Say \"hi\"\n"]);
    }

    #[test]
    fn image_limits() {
        let max = "A".repeat(MAX_IMAGE_BASE64_CHARS);
        assert!(Metadata::new("x").image(ImageMime::Png, &max).is_ok());
        let too_big = "A".repeat(MAX_IMAGE_BASE64_CHARS + 4);
        assert!(matches!(
            Metadata::new("x").image(ImageMime::Png, &too_big),
            Err(Error::InvalidMetadata(_))
        ));
        assert!(Metadata::new("x").image(ImageMime::Png, "").is_err());
        assert!(Metadata::new("x")
            .image(ImageMime::Png, "not base64!")
            .is_err());
    }

    fn auth_spec(mandatory: bool) -> PayerDataSpec {
        PayerDataSpec {
            auth: Some(PayerDataAuth {
                mandatory,
                k1: K1.into(),
            }),
            ..PayerDataSpec::default()
        }
    }

    #[test]
    fn lud04_vector_auth_verifies() {
        let payerdata = format!(r#"{{"auth":{{"key":"{KEY}","k1":"{K1}","sig":"{SIG}"}}}}"#);
        assert_eq!(check_payer_data(&auth_spec(true), &payerdata), Ok(()));
    }

    #[test]
    fn auth_rejections() {
        let spec = auth_spec(true);
        // Missing while mandatory.
        assert!(check_payer_data(&spec, "{}").is_err());
        // Optional and absent is fine.
        assert!(check_payer_data(&auth_spec(false), "{}").is_ok());
        // Other k1 than the one advertised.
        let other_k1 = "00".repeat(32);
        let pd = format!(r#"{{"auth":{{"key":"{KEY}","k1":"{other_k1}","sig":"{SIG}"}}}}"#);
        assert!(check_payer_data(&spec, &pd).is_err());
        // Signature of the vector but by another key.
        let other_key = "03ee58475055820fbfa52e356a8920f62f8316129c39369dbdde3e5d0198a9e315";
        let pd = format!(r#"{{"auth":{{"key":"{other_key}","k1":"{K1}","sig":"{SIG}"}}}}"#);
        assert!(check_payer_data(&spec, &pd).is_err());
        // Tampered signature.
        let bad_sig = SIG.replace("3767", "3768");
        let pd = format!(r#"{{"auth":{{"key":"{KEY}","k1":"{K1}","sig":"{bad_sig}"}}}}"#);
        assert!(check_payer_data(&spec, &pd).is_err());
        // Garbage shapes.
        for pd in [
            r#"{"auth":"x"}"#,
            r#"{"auth":{}}"#,
            r#"{"auth":{"key":"zz","k1":"","sig":""}}"#,
        ] {
            assert!(check_payer_data(&spec, pd).is_err(), "{pd}");
        }
    }

    #[test]
    fn payer_data_kinds() {
        let spec = PayerDataSpec {
            name: Some(PayerDataField { mandatory: true }),
            pubkey: Some(PayerDataField { mandatory: false }),
            identifier: Some(PayerDataField { mandatory: false }),
            email: Some(PayerDataField { mandatory: false }),
            auth: None,
        };
        assert!(check_payer_data(&spec, r#"{"name":"bob"}"#).is_ok());
        assert!(check_payer_data(
            &spec,
            r#"{"name":"bob","identifier":"bob@bob.com","email":"bob@bob.com","pubkey":"03ee58475055820fbfa52e356a8920f62f8316129c39369dbdde3e5d0198a9e315"}"#
        )
        .is_ok());
        // Unadvertised kinds are ignored.
        assert!(check_payer_data(&spec, r#"{"name":"bob","auth":42}"#).is_ok());
        for bad in [
            "",
            "not json",
            "[]",
            r#""bob""#,
            "{}",
            r#"{"name":""}"#,
            r#"{"name":null}"#,
            r#"{"name":42}"#,
            r#"{"name":"bob","email":["x"]}"#,
            r#"{"name":"bob","pubkey":"02"}"#,
            r#"{"name":"bob","pubkey":"0400000000000000000000000000000000000000000000000000000000000000ff"}"#,
            r#"{"name":"bob","pubkey":"zz"}"#,
        ] {
            assert!(
                matches!(
                    check_payer_data(&spec, bad),
                    Err(Error::InvalidPayerData(_))
                ),
                "{bad}"
            );
        }
        let long = format!(r#"{{"name":"{}"}}"#, "x".repeat(257));
        assert!(check_payer_data(&spec, &long).is_err());
    }
}
