//! Lightning Address helpers for the public pages and QR images
//! (`web/pages.rs`, `web/qr.rs`): the address of a username and its LNURL.
//! Pay-side; kept apart from `service/pay.rs` for the pay side to adopt.
//!
//! Service layer: imports `lnurl` encoding; formats no HTTP. Addresses are
//! LUD-16: <https://github.com/lnurl/luds/blob/luds/16.md>; LNURLs are the
//! uppercase LUD-01 form: <https://github.com/lnurl/luds/blob/luds/01.md>.

use super::Services;
use crate::lnurl;

impl Services {
    /// The Lightning Address of `username` on this server.
    pub fn lightning_address(&self, username: &str) -> String {
        format!("{username}@{}", self.config.address_domain())
    }

    /// The uppercase LNURL of a Lightning Address: LUD-16's
    /// `{public_url}/.well-known/lnurlp/{username}`, bech32-encoded (LUD-01),
    /// so wallets that do not know addresses can still scan it.
    pub fn address_lnurl(&self, username: &str) -> String {
        lnurl::bech32::encode_upper(&self.url(&format!("/.well-known/lnurlp/{username}")))
    }
}
