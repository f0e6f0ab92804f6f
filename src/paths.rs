//! Every route path in one place. Pure (no I/O, imports nothing of the
//! crate): `web` registers its routes with the patterns, `service` builds
//! the URLs it hands out (LNURLs, page and QR links, LUD-21 verify) with the
//! fillers. Each filler is the pattern with its `{…}` segments filled, so a
//! route and the links to it cannot drift apart.

/// LUD-03 `withdrawRequest`.
pub const LNURLW: &str = "/lnurlw/{secret}";
/// LUD-03 callback.
pub const LNURLW_CALLBACK: &str = "/lnurlw/{secret}/callback";
/// LUD-06 `payRequest`.
pub const LNURLP: &str = "/lnurlp/{id}";
/// LUD-06 callback.
pub const LNURLP_CALLBACK: &str = "/lnurlp/{id}/callback";
/// LUD-21 verify.
pub const LNURLP_VERIFY: &str = "/lnurlp/verify/{payment_hash}";
/// LUD-16 Lightning Address.
pub const WELL_KNOWN_LNURLP: &str = "/.well-known/lnurlp/{username}";
/// Withdraw page.
pub const WITHDRAW_PAGE: &str = "/w/{secret}";
/// Live state of a withdraw page.
pub const WITHDRAW_STATUS: &str = "/w/{secret}/status";
/// Pay-link page.
pub const PAY_PAGE: &str = "/p/{id}";
/// Lightning Address page.
pub const ADDRESS_PAGE: &str = "/u/{username}";
/// The amount form of a pay page (`POST`): makes an invoice for a person
/// whose wallet has no LNURL.
pub const PAY_INVOICE: &str = "/p/{id}/invoice";
/// The amount form of a Lightning Address page (`POST`).
pub const ADDRESS_INVOICE: &str = "/u/{username}/invoice";
/// An invoice made by an amount form, with its state.
pub const PAY_INVOICE_PAGE: &str = "/p/{id}/invoice/{payment_hash}";
/// Printable voucher sheet of a batch.
pub const VOUCHERS: &str = "/vouchers/{batch_id}";
/// QR image of a withdraw link (`{file}` is `<secret>.svg|png`).
pub const QR_WITHDRAW: &str = "/qr/w/{file}";
/// QR image of a pay link (`{file}` is `<id>.svg|png`).
pub const QR_PAY: &str = "/qr/p/{file}";
/// QR image of a Lightning Address (`{file}` is `<username>.svg|png`).
pub const QR_ADDRESS: &str = "/qr/u/{file}";

/// Offline receive: a phone wallet registers (`POST`) or unregisters
/// (`DELETE`) its push webhook (breez-lnurl's path).
pub const OFFLINE_REGISTRATION: &str = "/lnurlpay/{pubkey}";
/// Offline receive: a reinstalled app recovers its registration (`POST`).
pub const OFFLINE_RECOVER: &str = "/lnurlpay/{pubkey}/recover";
/// Offline receive: the LUD-06 callback of a phone wallet (breez-lnurl's
/// path); the invoice comes from the phone.
pub const OFFLINE_INVOICE: &str = "/lnurlpay/{pubkey}/invoice";
/// Offline receive: LUD-21 verify of an invoice a phone gave, asked of the
/// phone (breez-lnurl's path).
pub const OFFLINE_VERIFY: &str = "/lnurlpay/{pubkey}/{payment_hash}";
/// Offline receive: where a phone posts its reply (a single-use token).
pub const OFFLINE_REPLY: &str = "/offline/reply/{token}";

/// The admin API's patterns (`/api/v1/…`): registered by `web::admin`'s
/// route table and named by its OpenAPI document, so the two cannot drift.
pub mod api {
    /// The OpenAPI document of the admin API.
    pub const OPENAPI: &str = "/api/v1/openapi.json";
    /// Withdraw links: create, list.
    pub const WITHDRAW_LINKS: &str = "/api/v1/withdraw-links";
    /// One withdraw link.
    pub const WITHDRAW_LINK: &str = "/api/v1/withdraw-links/{id}";
    /// Voucher batches: create, list.
    pub const WITHDRAW_BATCHES: &str = "/api/v1/withdraw-links/batch";
    /// One voucher batch.
    pub const WITHDRAW_BATCH: &str = "/api/v1/withdraw-links/batch/{batch_id}";
    /// A signed URL of a batch's voucher sheet.
    pub const WITHDRAW_BATCH_SHEET_URL: &str = "/api/v1/withdraw-links/batch/{batch_id}/sheet-url";
    /// Pay links: create, list.
    pub const PAY_LINKS: &str = "/api/v1/pay-links";
    /// One pay link.
    pub const PAY_LINK: &str = "/api/v1/pay-links/{id}";
    /// A pay link's invoices.
    pub const PAY_LINK_INVOICES: &str = "/api/v1/pay-links/{id}/invoices";
    /// The node.
    pub const NODE: &str = "/api/v1/node";
    /// Settle a dev node invoice.
    pub const DEV_SETTLE: &str = "/api/v1/dev/invoices/{payment_hash}/settle";
    /// Webhook events.
    pub const EVENTS: &str = "/api/v1/events";
    /// One webhook event.
    pub const EVENT: &str = "/api/v1/events/{id}";
    /// Send an event again.
    pub const EVENT_REDELIVER: &str = "/api/v1/events/{id}/redeliver";
    /// Webhook endpoints.
    pub const WEBHOOK_ENDPOINTS: &str = "/api/v1/webhooks/endpoints";
    /// An endpoint's signing secret.
    pub const WEBHOOK_ENDPOINT_SECRET: &str = "/api/v1/webhooks/endpoints/secret";
    /// A new signing secret for an endpoint.
    pub const WEBHOOK_ENDPOINT_ROTATE: &str = "/api/v1/webhooks/endpoints/rotate";
    /// Admin tokens.
    pub const TOKENS: &str = "/api/v1/tokens";
    /// One admin token.
    pub const TOKEN: &str = "/api/v1/tokens/{id}";
    /// Offline receive: the phone wallets' registrations.
    pub const OFFLINE_REGISTRATIONS: &str = "/api/v1/offline/registrations";
    /// One phone wallet's registration.
    pub const OFFLINE_REGISTRATION: &str = "/api/v1/offline/registrations/{pubkey}";
}

/// Fills the `{…}` segments of `pattern`, in order, with `values`.
fn fill(pattern: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(pattern.len() + 64);
    let mut values = values.iter();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// `/lnurlw/{secret}`.
pub fn lnurlw(secret: &str) -> String {
    fill(LNURLW, &[secret])
}

/// `/lnurlw/{secret}/callback`.
pub fn lnurlw_callback(secret: &str) -> String {
    fill(LNURLW_CALLBACK, &[secret])
}

/// `/lnurlp/{id}/callback`.
pub fn lnurlp_callback(id: &str) -> String {
    fill(LNURLP_CALLBACK, &[id])
}

/// `/lnurlp/{id}`.
pub fn lnurlp(id: &str) -> String {
    fill(LNURLP, &[id])
}

/// `/lnurlp/verify/{payment_hash}`.
pub fn lnurlp_verify(payment_hash: &str) -> String {
    fill(LNURLP_VERIFY, &[payment_hash])
}

/// `/.well-known/lnurlp/{username}`.
pub fn well_known_lnurlp(username: &str) -> String {
    fill(WELL_KNOWN_LNURLP, &[username])
}

/// `/lnurlpay/{pubkey}/invoice`.
pub fn offline_invoice(pubkey: &str) -> String {
    fill(OFFLINE_INVOICE, &[pubkey])
}

/// `/lnurlpay/{pubkey}/{payment_hash}`.
pub fn offline_verify(pubkey: &str, payment_hash: &str) -> String {
    fill(OFFLINE_VERIFY, &[pubkey, payment_hash])
}

/// `/offline/reply/{token}`.
pub fn offline_reply(token: &str) -> String {
    fill(OFFLINE_REPLY, &[token])
}

/// `/w/{secret}`.
pub fn withdraw_page(secret: &str) -> String {
    fill(WITHDRAW_PAGE, &[secret])
}

/// `/w/{secret}/status`.
pub fn withdraw_status(secret: &str) -> String {
    fill(WITHDRAW_STATUS, &[secret])
}

/// `/p/{id}`.
pub fn pay_page(id: &str) -> String {
    fill(PAY_PAGE, &[id])
}

/// `/u/{username}`.
pub fn address_page(username: &str) -> String {
    fill(ADDRESS_PAGE, &[username])
}

/// `/p/{id}/invoice`.
pub fn pay_invoice(id: &str) -> String {
    fill(PAY_INVOICE, &[id])
}

/// `/u/{username}/invoice`.
pub fn address_invoice(username: &str) -> String {
    fill(ADDRESS_INVOICE, &[username])
}

/// `/p/{id}/invoice/{payment_hash}`.
pub fn pay_invoice_page(id: &str, payment_hash: &str) -> String {
    fill(PAY_INVOICE_PAGE, &[id, payment_hash])
}

/// `/vouchers/{batch_id}`.
pub fn vouchers(batch_id: &str) -> String {
    fill(VOUCHERS, &[batch_id])
}

/// The image formats of the QR routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    /// `image/svg+xml`.
    Svg,
    /// `image/png`.
    Png,
}

impl QrFormat {
    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            QrFormat::Svg => "svg",
            QrFormat::Png => "png",
        }
    }

    /// The format a file extension asks for; `None` for any other.
    pub fn from_ext(ext: &str) -> Option<QrFormat> {
        [QrFormat::Svg, QrFormat::Png]
            .into_iter()
            .find(|f| f.ext() == ext)
    }
}

/// `/qr/w/{secret}.{svg|png}`.
pub fn qr_withdraw(secret: &str, f: QrFormat) -> String {
    fill(QR_WITHDRAW, &[&format!("{secret}.{}", f.ext())])
}

/// `/qr/p/{id}.{svg|png}`.
pub fn qr_pay(id: &str, f: QrFormat) -> String {
    fill(QR_PAY, &[&format!("{id}.{}", f.ext())])
}

/// `/qr/u/{username}.{svg|png}`.
pub fn qr_address(username: &str, f: QrFormat) -> String {
    fill(QR_ADDRESS, &[&format!("{username}.{}", f.ext())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_fill_their_patterns() {
        assert_eq!(lnurlw("s3cr3t"), "/lnurlw/s3cr3t");
        assert_eq!(lnurlw_callback("s"), "/lnurlw/s/callback");
        assert_eq!(lnurlp_callback("pl_1"), "/lnurlp/pl_1/callback");
        assert_eq!(lnurlp_verify("ab"), "/lnurlp/verify/ab");
        assert_eq!(well_known_lnurlp("alice"), "/.well-known/lnurlp/alice");
        assert_eq!(withdraw_status("s"), "/w/s/status");
        assert_eq!(qr_pay("pl_1", QrFormat::Png), "/qr/p/pl_1.png");
        assert_eq!(vouchers("wb_1"), "/vouchers/wb_1");
        assert_eq!(pay_invoice_page("pl_1", "ab"), "/p/pl_1/invoice/ab");
        assert_eq!(address_invoice("alice"), "/u/alice/invoice");
        assert_eq!(fill("/a/{x}/b/{y}", &["1", "2"]), "/a/1/b/2");
    }
}
