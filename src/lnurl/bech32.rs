//! `lnurl` layer: bech32 LNURLs ([LUD-01](https://github.com/lnurl/luds/blob/luds/01.md))
//! and raw scheme-prefixed URLs ([LUD-17](https://github.com/lnurl/luds/blob/luds/17.md)).
//!
//! Pure functions; imports only `bech32` and `url`. LNURLs are plain bech32
//! (BIP-173 checksum, not bech32m) of the URL's UTF-8 bytes with the HRP
//! `lnurl`, but far longer than BIP-173's 90-character cap, so this module uses
//! its own checksum type with no length limit.

use ::bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
use ::bech32::{Checksum, Hrp};

/// The human-readable part of every LNURL.
const HRP: Hrp = Hrp::parse_unchecked("lnurl");

/// The BIP-173 bech32 checksum with the code-length limit lifted: LNURLs of
/// long URLs exceed the 1023 characters that `bech32::Bech32` allows.
enum LnurlBech32 {}

impl Checksum for LnurlBech32 {
    type MidstateRepr = <::bech32::Bech32 as Checksum>::MidstateRepr;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = ::bech32::Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [Self::MidstateRepr; 5] = ::bech32::Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: Self::MidstateRepr = ::bech32::Bech32::TARGET_RESIDUE;
}

/// Encodes a URL as a lowercase LUD-01 LNURL (`lnurl1…`), for links and text.
pub fn encode(url: &str) -> String {
    url.bytes()
        .bytes_to_fes()
        .with_checksum::<LnurlBech32>(&HRP)
        .chars()
        .collect()
}

/// Encodes a URL as an uppercase LUD-01 LNURL (`LNURL1…`), for QR codes
/// (the alphanumeric QR mode is denser).
pub fn encode_upper(url: &str) -> String {
    encode(url).to_ascii_uppercase()
}

/// Which LUD-17 scheme prefix to use for a raw URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lud17 {
    /// `lnurlw://`, a LUD-03 withdrawRequest.
    Withdraw,
    /// `lnurlp://`, a LUD-06 payRequest.
    Pay,
}

impl Lud17 {
    /// The scheme this prefix stands for (without `://`).
    pub fn scheme(self) -> &'static str {
        match self {
            Lud17::Withdraw => "lnurlw",
            Lud17::Pay => "lnurlp",
        }
    }
}

/// Rewrites an `https://` (or `.onion` `http://`) URL into its LUD-17 form,
/// e.g. `https://h/p?q` → `lnurlw://h/p?q`. Wallets map it back to `https://`
/// (`http://` for `.onion`). Any `#fragment` is dropped: it is never sent to the server.
pub fn lud17(url: &url::Url, scheme: Lud17) -> String {
    let rest = &url[url::Position::BeforeUsername..url::Position::AfterQuery];
    format!("{}://{rest}", scheme.scheme())
}

#[cfg(test)]
mod tests {
    use ::bech32::primitives::decode::CheckedHrpstring;

    use super::*;
    use crate::lnurl::invoice::strip_prefix_ignore_case;
    use crate::lnurl::Error;

    /// Inputs longer than this are refused before decoding (no real URL is
    /// this long).
    const MAX_LNURL_CHARS: usize = 8192;

    /// Decodes a LUD-01 LNURL back to its URL. lnurld only ever encodes; this
    /// is the wallet's side, kept to prove the encoder against the LUD vectors.
    ///
    /// Accepts all-lowercase or all-uppercase input (mixed case is invalid), with
    /// surrounding whitespace and an optional `lightning:` prefix in any case.
    pub fn decode(lnurl: &str) -> Result<String, Error> {
        let s = lnurl.trim();
        let s = strip_prefix_ignore_case(s, "lightning:").unwrap_or(s);
        if s.is_empty() {
            return Err(Error::InvalidLnurl("it is empty".into()));
        }
        if s.len() > MAX_LNURL_CHARS {
            return Err(Error::InvalidLnurl("it is too long".into()));
        }
        if s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidLnurl(
                "it mixes upper and lower case letters".into(),
            ));
        }
        let checked = CheckedHrpstring::new::<LnurlBech32>(s)
            .map_err(|e| Error::InvalidLnurl(format!("bad bech32 ({e})")))?;
        if checked.hrp() != HRP {
            return Err(Error::InvalidLnurl(format!(
                "it starts with \"{}\" instead of \"lnurl\"",
                checked.hrp()
            )));
        }
        checked
            .validate_segwit_padding()
            .map_err(|e| Error::InvalidLnurl(format!("bad bech32 padding ({e})")))?;
        let bytes: Vec<u8> = checked.byte_iter().collect();
        String::from_utf8(bytes).map_err(|_| Error::InvalidLnurl("it does not contain text".into()))
    }

    const LUD01_URL: &str =
        "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df";
    const LUD01_LNURL: &str = "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS";
    const NIP57_URL: &str = "https://stacker.news/.well-known/lnurlp/odell";
    const NIP57_LNURL: &str =
        "lnurl1dp68gurn8ghj7um5v93kketj9ehx2amn9uh8wetvdskkkmn0wahz7mrww4excup0dajx2mrv92x9xp";

    /// Each vector encodes to its LNURL in either case and decodes back
    /// from either case.
    #[test]
    fn vectors_both_directions() {
        for (url, lnurl) in [(LUD01_URL, LUD01_LNURL), (NIP57_URL, NIP57_LNURL)] {
            let (lower, upper) = (lnurl.to_ascii_lowercase(), lnurl.to_ascii_uppercase());
            assert_eq!(encode(url), lower);
            assert_eq!(encode_upper(url), upper);
            assert_eq!(decode(&lower).unwrap(), url);
            assert_eq!(decode(&upper).unwrap(), url);
        }
    }

    #[test]
    fn lightning_prefix_any_case_and_whitespace() {
        assert_eq!(
            decode(&format!("lightning:{NIP57_LNURL}")).unwrap(),
            NIP57_URL
        );
        assert_eq!(
            decode(&format!("LIGHTNING:{LUD01_LNURL}")).unwrap(),
            LUD01_URL
        );
        assert_eq!(
            decode(&format!(" Lightning:{NIP57_LNURL}\n")).unwrap(),
            NIP57_URL
        );
    }

    #[test]
    fn mixed_case_rejected() {
        let mut mixed = NIP57_LNURL.to_string();
        mixed.replace_range(0..5, "LNURL");
        assert!(matches!(decode(&mixed), Err(Error::InvalidLnurl(_))));
    }

    #[test]
    fn bad_inputs_rejected_without_panic() {
        let mut bad_checksum = NIP57_LNURL.to_string();
        bad_checksum.pop();
        bad_checksum.push('q');
        for input in [
            "",
            "lightning:",
            "lnurl1",
            "hello",
            "ünïcødé",
            "lightning:ü",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            bad_checksum.as_str(),
        ] {
            assert!(
                matches!(decode(input), Err(Error::InvalidLnurl(_))),
                "{input:?}"
            );
        }
        assert!(decode(&"q".repeat(100_000)).is_err());
    }

    #[test]
    fn long_urls_roundtrip() {
        // 600+ bytes: beyond BIP-173's 90 chars and bech32's 1023-char code length.
        let url = format!("https://example.com/lnurlw/{}", "a".repeat(900));
        let lnurl = encode(&url);
        assert!(lnurl.len() > 1023);
        assert_eq!(decode(&lnurl).unwrap(), url);
        assert_eq!(decode(&encode_upper(&url)).unwrap(), url);
    }

    #[test]
    fn lud17_prefixes() {
        let u = url::Url::parse("https://example.com/lnurlw/abc?x=1#frag").unwrap();
        assert_eq!(
            lud17(&u, Lud17::Withdraw),
            "lnurlw://example.com/lnurlw/abc?x=1"
        );
        let u = url::Url::parse("http://xyz.onion:8080/p").unwrap();
        assert_eq!(lud17(&u, Lud17::Pay), "lnurlp://xyz.onion:8080/p");
    }
}
