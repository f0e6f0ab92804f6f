//! The wallet side of the tests: lnurl-rs plus invoices a wallet would make.

use std::time::Duration;

use lightning_invoice::Currency;
use lnurl::api::LnUrlResponse;
use lnurl::withdraw::WithdrawalResponse;

use super::app::TestApp;
use super::fake_lnd::FakeLnd;

/// A real signed regtest invoice of a foreign wallet, valid for 10 minutes.
pub fn wallet_invoice(amount_msat: u64) -> (String, lnurld::node::PaymentHash) {
    let (pr, hash, _) = FakeLnd::wallet_invoice(
        Some(amount_msat),
        Duration::from_secs(600),
        Currency::Regtest,
    );
    (pr, hash)
}

/// LUD-03 step 1 like a wallet: decode the LNURL and GET it. The path is
/// sent to `app`, so a link made by an earlier instance (another port)
/// still resolves.
pub async fn withdraw_request(app: &TestApp, lnurl_str: &str) -> WithdrawalResponse {
    let decoded = lnurl::lnurl::LnUrl::decode(lnurl_str.to_owned()).expect("valid bech32 LNURL");
    let path = &decoded.url[decoded.url.find("/lnurlw/").expect("withdraw path")..];
    match app
        .wallet()
        .make_request(&app.url(path))
        .await
        .expect("withdrawRequest")
    {
        LnUrlResponse::LnUrlWithdrawResponse(w) => w,
        other => panic!("expected a withdrawRequest, got {other:?}"),
    }
}
