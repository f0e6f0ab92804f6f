//! `lnurl` layer: the JSON bodies that wallets read, with the LUD field names.
//!
//! Pure serde types; imports only `serde` and `url`. Covers
//! [LUD-03](https://github.com/lnurl/luds/blob/luds/03.md) withdrawRequest
//! (+ LUD-14 `balanceCheck`, LUD-19 `payLink`),
//! [LUD-06](https://github.com/lnurl/luds/blob/luds/06.md) payRequest and its
//! callback response (+ LUD-12 comments, LUD-18 payerData, LUD-11 `disposable`),
//! [LUD-09](https://github.com/lnurl/luds/blob/luds/09.md)/[LUD-10](https://github.com/lnurl/luds/blob/luds/10.md)
//! success actions and [LUD-21](https://github.com/lnurl/luds/blob/luds/21.md) verify.
//! Amounts are integer millisatoshis (`u64`), never floats.

use serde::{Deserialize, Serialize, Serializer};

use super::Error;

/// LUD-09: the most characters a `message` or `description` may have.
pub const MAX_SUCCESS_ACTION_TEXT_CHARS: usize = 144;
/// LUD-10: the most characters an AES `ciphertext` may have (base64).
pub const MAX_AES_CIPHERTEXT_CHARS: usize = 4096;
/// LUD-10: the exact length of an AES `iv` (base64 of 16 bytes).
pub const AES_IV_CHARS: usize = 24;

/// LUD-03 step 1: the `withdrawRequest` answered on the withdraw link's URL.
///
/// Serializes with `"tag":"withdrawRequest"` first (serde writes the tag
/// of a tagged struct before its fields); `None` fields are left out. A
/// `tag` read back is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tag", rename = "withdrawRequest", rename_all = "camelCase")]
pub struct WithdrawRequest {
    /// Absolute URL the wallet calls with `k1` and `pr` (may carry its own query).
    pub callback: String,
    /// Unguessable, single-use identifier of this withdrawal.
    pub k1: String,
    /// Description the wallet puts in its invoice.
    pub default_description: String,
    /// Smallest amount the wallet may invoice, in millisatoshis.
    pub min_withdrawable: u64,
    /// Largest amount the wallet may invoice, in millisatoshis.
    pub max_withdrawable: u64,
    /// LUD-14: URL the wallet may GET later for a fresh withdrawRequest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_check: Option<String>,
    /// LUD-19: LUD-17 (`lnurlp://…`) pay link of the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_link: Option<String>,
}

/// LUD-06 step 1: the `payRequest` answered on a pay link or LUD-16 address.
///
/// Serializes with `"tag":"payRequest"` first (see [`WithdrawRequest`]);
/// `None` fields are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tag", rename = "payRequest", rename_all = "camelCase")]
pub struct PayRequest {
    /// Absolute URL the wallet calls with `amount` (and `comment`, `payerdata`).
    pub callback: String,
    /// Smallest amount accepted, in millisatoshis (≥ 1).
    pub min_sendable: u64,
    /// Largest amount accepted, in millisatoshis.
    pub max_sendable: u64,
    /// The metadata JSON array *as a string*: exactly what the invoice's `h` hashes.
    pub metadata: String,
    /// LUD-12: most characters accepted in `comment`; `None` means comments are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_allowed: Option<u32>,
    /// LUD-18: which payer data the wallet may (or must) send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_data: Option<PayerDataSpec>,
    /// NIP-57: `true` when zaps are taken (then `nostr_pubkey` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows_nostr: Option<bool>,
    /// NIP-57: the x-only BIP-340 public key (64 hex) zap receipts are
    /// signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nostr_pubkey: Option<String>,
}

/// LUD-18 `payerData` in a payRequest: each listed kind is accepted, `mandatory` ones required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayerDataSpec {
    /// The payer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PayerDataField>,
    /// A hex secp256k1 public key of the payer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<PayerDataField>,
    /// An internet identifier (`user@domain`) of the payer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<PayerDataField>,
    /// The payer's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<PayerDataField>,
    /// A LUD-04 style signature over `k1` by the payer's linking key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PayerDataAuth>,
}

/// One LUD-18 payer-data kind: `{"mandatory": bool}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayerDataField {
    /// Whether the wallet must send this kind.
    pub mandatory: bool,
}

/// The LUD-18 `auth` kind: `{"mandatory": bool, "k1": "<hex 32 bytes>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayerDataAuth {
    /// Whether the wallet must send this kind.
    pub mandatory: bool,
    /// The hex 32-byte challenge the wallet signs.
    pub k1: String,
}

/// LUD-06 step 2: the answer to the pay callback, `{"pr":…,"routes":[],…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayCallbackResponse {
    /// The BOLT11 invoice for exactly the requested amount.
    pub pr: String,
    /// Legacy field; always serialized as `[]` whatever it holds.
    #[serde(serialize_with = "empty_array", default)]
    pub routes: Vec<()>,
    /// LUD-09/10: shown by the wallet once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_action: Option<SuccessAction>,
    /// LUD-11: `false` asks the wallet to keep the link; absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposable: Option<bool>,
    /// LUD-21: URL the wallet may GET to learn whether the invoice is paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
}

impl PayCallbackResponse {
    /// A response carrying only the invoice (`routes` empty, no optional fields).
    pub fn new(pr: impl Into<String>) -> Self {
        PayCallbackResponse {
            pr: pr.into(),
            routes: Vec::new(),
            success_action: None,
            disposable: None,
            verify: None,
        }
    }
}

/// Serializes any `routes` as the empty array the spec requires.
fn empty_array<S: Serializer>(_: &[()], serializer: S) -> Result<S::Ok, S::Error> {
    let empty: [(); 0] = [];
    empty.serialize(serializer)
}

/// LUD-09/10 success action, tagged by `"tag"`: `message`, `url` or `aes`.
///
/// Wallets refuse to pay when they don't know the tag, so only these three exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tag", rename_all = "lowercase")]
pub enum SuccessAction {
    /// A text shown after payment (≤ 144 characters).
    Message {
        /// The text.
        message: String,
    },
    /// A link shown after payment; its host must be the callback's host.
    Url {
        /// Text shown with the link (≤ 144 characters).
        description: String,
        /// The link.
        url: String,
    },
    /// A secret encrypted with the payment preimage (LUD-10, see [`super::aes`]).
    Aes {
        /// Text shown with the secret (≤ 144 characters).
        description: String,
        /// Base64 AES-256-CBC ciphertext (≤ 4096 characters).
        ciphertext: String,
        /// Base64 of the 16-byte IV (exactly 24 characters).
        iv: String,
    },
}

impl SuccessAction {
    /// Checks the LUD-09/10 limits: texts ≤ 144 characters, a `url` on the
    /// same host as the callback (`callback_host`, e.g. `example.com`, with or
    /// without `:port`), an AES ciphertext of ≤ 4096 base64 characters and an
    /// IV of exactly 24 base64 characters (16 bytes).
    pub fn validate(&self, callback_host: &str) -> Result<(), Error> {
        match self {
            SuccessAction::Message { message } => check_text("message", message),
            SuccessAction::Url { description, url } => {
                check_text("description", description)?;
                check_url(url, callback_host)
            }
            SuccessAction::Aes {
                description,
                ciphertext,
                iv,
            } => {
                check_text("description", description)?;
                check_aes_fields(ciphertext, iv)
            }
        }
    }
}

/// A success-action text must fit in 144 characters.
fn check_text(field: &str, text: &str) -> Result<(), Error> {
    let chars = text.chars().count();
    if chars > MAX_SUCCESS_ACTION_TEXT_CHARS {
        return Err(Error::InvalidSuccessAction(format!(
            "the {field} has {chars} characters; at most {MAX_SUCCESS_ACTION_TEXT_CHARS} are allowed"
        )));
    }
    Ok(())
}

/// The `url` must be http(s) on the callback's host.
fn check_url(url: &str, callback_host: &str) -> Result<(), Error> {
    let parsed = url::Url::parse(url).map_err(|_| {
        Error::InvalidSuccessAction(format!("\"{url}\" is not a valid absolute URL"))
    })?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(Error::InvalidSuccessAction(
            "the URL must start with https://".into(),
        ));
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let expected = callback_host.trim().to_ascii_lowercase();
    let with_port = parsed
        .port_or_known_default()
        .map(|port| format!("{host}:{port}"));
    if host.is_empty() || (host != expected && with_port.as_deref() != Some(expected.as_str())) {
        return Err(Error::InvalidSuccessAction(format!(
            "the URL's host ({host}) must be the same as the callback's ({expected})"
        )));
    }
    Ok(())
}

/// LUD-10 shape limits of an AES payload.
pub(crate) fn check_aes_fields(ciphertext: &str, iv: &str) -> Result<(), Error> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let len = ciphertext.chars().count();
    if len > MAX_AES_CIPHERTEXT_CHARS {
        return Err(Error::InvalidSuccessAction(format!(
            "the encrypted secret has {len} characters; at most {MAX_AES_CIPHERTEXT_CHARS} are allowed"
        )));
    }
    if ciphertext.is_empty() || engine.decode(ciphertext).is_err() {
        return Err(Error::InvalidSuccessAction(
            "the ciphertext is not valid base64".into(),
        ));
    }
    let iv_ok = iv.len() == AES_IV_CHARS && engine.decode(iv).is_ok_and(|b| b.len() == 16);
    if !iv_ok {
        return Err(Error::InvalidSuccessAction(
            "the IV must be the base64 of 16 bytes (24 characters)".into(),
        ));
    }
    Ok(())
}

/// `{"status":"OK"}`: the LUD success acknowledgement (e.g. the withdraw callback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusOk;

impl Serialize for StatusOk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Repr {
            status: &'static str,
        }
        Repr { status: "OK" }.serialize(serializer)
    }
}

/// `{"status":"ERROR","reason":…}`: the one error body of every LUD (the
/// `status` written first, as the tag of the struct).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename = "ERROR")]
pub struct LudError {
    /// A human-readable reason, shown to the wallet user.
    pub reason: String,
}

impl LudError {
    /// An error body with this reason, written as a [`sentence`].
    pub fn new(reason: impl AsRef<str>) -> Self {
        LudError {
            reason: sentence(reason.as_ref()),
        }
    }
}

/// `text` as a wallet shows it: a sentence with a capital first letter and
/// a final stop. Reasons come from several layers (invoice checks, link
/// rules, limits), each written for its own logs; a wallet user should read
/// one style whichever layer refused.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// LUD-21 verify answer: `{"status":"OK","settled":…,"preimage":…|null,"pr":…}`
/// (the `status` written first, as the tag of the struct; not checked when
/// read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename = "OK")]
pub struct VerifyResponse {
    /// Whether the invoice has been paid.
    pub settled: bool,
    /// Hex payment preimage once settled, else `None` (serialized as `null`).
    pub preimage: Option<String>,
    /// The original BOLT11 invoice.
    pub pr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn withdraw_request_golden() {
        let mut req = WithdrawRequest {
            callback: "https://example.com/lnurlw/s/callback".into(),
            k1: "9f1c".into(),
            default_description: "Voucher #42".into(),
            min_withdrawable: 1000,
            max_withdrawable: 50_000,
            balance_check: None,
            pay_link: None,
        };
        assert_eq!(
            json(&req),
            r#"{"tag":"withdrawRequest","callback":"https://example.com/lnurlw/s/callback","k1":"9f1c","defaultDescription":"Voucher #42","minWithdrawable":1000,"maxWithdrawable":50000}"#
        );
        req.balance_check = Some("https://example.com/lnurlw/s".into());
        req.pay_link = Some("lnurlp://example.com/lnurlp/7".into());
        assert_eq!(
            json(&req),
            r#"{"tag":"withdrawRequest","callback":"https://example.com/lnurlw/s/callback","k1":"9f1c","defaultDescription":"Voucher #42","minWithdrawable":1000,"maxWithdrawable":50000,"balanceCheck":"https://example.com/lnurlw/s","payLink":"lnurlp://example.com/lnurlp/7"}"#
        );
        let back: WithdrawRequest = serde_json::from_str(&json(&req)).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn large_msat_stays_integer() {
        let req = WithdrawRequest {
            callback: "c".into(),
            k1: "k".into(),
            default_description: String::new(),
            min_withdrawable: 0,
            max_withdrawable: 1_113_244_000_123,
            balance_check: None,
            pay_link: None,
        };
        assert!(json(&req).contains(r#""minWithdrawable":0,"maxWithdrawable":1113244000123"#));
    }

    #[test]
    fn pay_request_golden() {
        let mut req = PayRequest {
            callback: "https://example.com/lnurlp/alice/callback".into(),
            min_sendable: 1000,
            max_sendable: 100_000_000,
            metadata: r#"[["text/plain","Pay alice"],["text/identifier","alice@example.com"]]"#
                .into(),
            comment_allowed: None,
            payer_data: None,
            allows_nostr: None,
            nostr_pubkey: None,
        };
        assert_eq!(
            json(&req),
            r#"{"tag":"payRequest","callback":"https://example.com/lnurlp/alice/callback","minSendable":1000,"maxSendable":100000000,"metadata":"[[\"text/plain\",\"Pay alice\"],[\"text/identifier\",\"alice@example.com\"]]"}"#
        );
        req.comment_allowed = Some(140);
        req.payer_data = Some(PayerDataSpec {
            name: Some(PayerDataField { mandatory: false }),
            pubkey: None,
            identifier: Some(PayerDataField { mandatory: true }),
            email: None,
            auth: Some(PayerDataAuth {
                mandatory: false,
                k1: "e2af".into(),
            }),
        });
        assert_eq!(
            json(&req),
            r#"{"tag":"payRequest","callback":"https://example.com/lnurlp/alice/callback","minSendable":1000,"maxSendable":100000000,"metadata":"[[\"text/plain\",\"Pay alice\"],[\"text/identifier\",\"alice@example.com\"]]","commentAllowed":140,"payerData":{"name":{"mandatory":false},"identifier":{"mandatory":true},"auth":{"mandatory":false,"k1":"e2af"}}}"#
        );
        let back: PayRequest = serde_json::from_str(&json(&req)).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn pay_callback_response_golden() {
        let mut resp = PayCallbackResponse::new("lnbc1");
        assert_eq!(json(&resp), r#"{"pr":"lnbc1","routes":[]}"#);
        resp.routes = vec![(), ()];
        assert_eq!(json(&resp), r#"{"pr":"lnbc1","routes":[]}"#);
        resp.success_action = Some(SuccessAction::Message {
            message: "Thanks!".into(),
        });
        resp.disposable = Some(false);
        resp.verify = Some("https://example.com/lnurlp/verify/ab".into());
        assert_eq!(
            json(&resp),
            r#"{"pr":"lnbc1","routes":[],"successAction":{"tag":"message","message":"Thanks!"},"disposable":false,"verify":"https://example.com/lnurlp/verify/ab"}"#
        );
    }

    #[test]
    fn success_action_golden() {
        let url = SuccessAction::Url {
            description: "Your order".into(),
            url: "https://example.com/o/1".into(),
        };
        assert_eq!(
            json(&url),
            r#"{"tag":"url","description":"Your order","url":"https://example.com/o/1"}"#
        );
        let aes = SuccessAction::Aes {
            description: "Your code".into(),
            ciphertext: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
            iv: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        };
        assert_eq!(
            json(&aes),
            r#"{"tag":"aes","description":"Your code","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA==","iv":"AAAAAAAAAAAAAAAAAAAAAA=="}"#
        );
        let back: SuccessAction = serde_json::from_str(&json(&aes)).unwrap();
        assert_eq!(back, aes);
    }

    #[test]
    fn success_action_limits() {
        let ok = SuccessAction::Message {
            message: "é".repeat(144),
        };
        assert!(ok.validate("example.com").is_ok());
        let long = SuccessAction::Message {
            message: "x".repeat(145),
        };
        assert!(matches!(
            long.validate("example.com"),
            Err(Error::InvalidSuccessAction(_))
        ));

        let url = |u: &str| SuccessAction::Url {
            description: "d".into(),
            url: u.into(),
        };
        assert!(url("https://example.com/x").validate("example.com").is_ok());
        assert!(url("https://EXAMPLE.com/x").validate("example.com").is_ok());
        assert!(url("http://127.0.0.1:8080/x")
            .validate("127.0.0.1:8080")
            .is_ok());
        assert!(url("http://127.0.0.1:8080/x").validate("127.0.0.1").is_ok());
        assert!(url("https://evil.com/x").validate("example.com").is_err());
        assert!(url("https://example.com.evil.com/")
            .validate("example.com")
            .is_err());
        assert!(url("javascript:alert(1)").validate("example.com").is_err());
        assert!(url("/relative").validate("example.com").is_err());
        let long_desc = SuccessAction::Url {
            description: "x".repeat(145),
            url: "https://example.com/".into(),
        };
        assert!(long_desc.validate("example.com").is_err());

        let aes = |c: &str, iv: &str| SuccessAction::Aes {
            description: "d".into(),
            ciphertext: c.into(),
            iv: iv.into(),
        };
        let iv = "AAAAAAAAAAAAAAAAAAAAAA==";
        assert!(aes("AAAAAAAAAAAAAAAAAAAAAA==", iv).validate("h").is_ok());
        assert!(aes(&"A".repeat(4096), iv).validate("h").is_ok());
        assert!(aes(&"A".repeat(4100), iv).validate("h").is_err());
        assert!(aes("not base64!", iv).validate("h").is_err());
        assert!(aes("AAAA", "AAAA").validate("h").is_err());
        assert!(aes("AAAA", "AAAAAAAAAAAAAAAAAAAAAAAA")
            .validate("h")
            .is_err());
    }

    #[test]
    fn reasons_are_sentences() {
        assert_eq!(
            sentence("the amount (0.5 sats) is below the minimum of 1 sat"),
            "The amount (0.5 sats) is below the minimum of 1 sat."
        );
        assert_eq!(sentence("Please wait 3 seconds."), "Please wait 3 seconds.");
        assert_eq!(sentence("  über alles? "), "Über alles?");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn status_bodies_golden() {
        assert_eq!(json(&StatusOk), r#"{"status":"OK"}"#);
        assert_eq!(
            json(&LudError::new("Link not found")),
            r#"{"status":"ERROR","reason":"Link not found."}"#
        );
        assert_eq!(
            json(&LudError::new(Error::InvoiceExpired.to_string())),
            r#"{"status":"ERROR","reason":"This invoice has expired; please create a new one."}"#
        );
    }

    #[test]
    fn verify_response_golden() {
        let settled = VerifyResponse {
            settled: true,
            preimage: Some("00ff".into()),
            pr: "lnbc1".into(),
        };
        assert_eq!(
            json(&settled),
            r#"{"status":"OK","settled":true,"preimage":"00ff","pr":"lnbc1"}"#
        );
        let open = VerifyResponse {
            settled: false,
            preimage: None,
            pr: "lnbc1".into(),
        };
        assert_eq!(
            json(&open),
            r#"{"status":"OK","settled":false,"preimage":null,"pr":"lnbc1"}"#
        );
        let back: VerifyResponse = serde_json::from_str(&json(&open)).unwrap();
        assert_eq!(back, open);
    }
}
