//! HTML pages for people: `/w/{secret}` (withdraw link, with its live state
//! at `/w/{secret}/status`), `/p/{id}` (pay link), `/u/{username}`
//! (Lightning Address), `/vouchers/{batch_id}` (printable voucher sheet,
//! admin only) and the static files under `/static/`. The admin route that
//! signs voucher sheet URLs is in [`super::admin::withdraw`].
//!
//! Web layer: askama templates from `templates/`, data from
//! `service::withdraw` and `service::pay`; QR images are drawn by [`crate::qr`].
//! Every answer carries [`security_headers`] (see [`super::html`], which also
//! renders the templates and the error pages).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine;

use super::admin::bearer_token;
use super::error::{form_error, page_error};
use super::html::{
    not_found_page, refused_bad_link, refused_unauthenticated, render, security_headers, FORM_CSP,
};
use super::params::{self, query_param};
use crate::db::types::{BatchId, PayLinkId, PayLinkStatus};
use crate::lnurl::group_thousands;
use crate::paths::{self, QrFormat};
use crate::service::pay::PayLinkView;
use crate::service::withdraw::vouchers::VoucherSheet;
use crate::service::{Error, Services};

mod pay;
mod vouchers;
mod withdraw;

use pay::{address_form, address_page, form_get, invoice_page, pay_form, pay_page};
use vouchers::voucher_sheet;
use withdraw::{withdraw_page, withdraw_status};

/// Largest amount form body: a comment of the most any link allows, each
/// character percent-encoded as 4 UTF-8 bytes, and the amount.
const FORM_MAX_BYTES: usize = 16 * 1024;

/// Vouchers per printed A4 page (2 columns × 4 rows of 95 × 69 mm).
const VOUCHERS_PER_PAGE: usize = 8;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let page = |path: &str| web::resource(path.to_owned()).wrap(security_headers());
    cfg.service(page(paths::WITHDRAW_PAGE).route(web::get().to(withdraw_page)))
        .service(page(paths::WITHDRAW_STATUS).route(web::get().to(withdraw_status)))
        .service(page(paths::PAY_PAGE).route(web::get().to(pay_page)))
        .service(page(paths::ADDRESS_PAGE).route(web::get().to(address_page)))
        .service(
            page(paths::PAY_INVOICE)
                .app_data(web::PayloadConfig::new(FORM_MAX_BYTES))
                .route(web::post().to(pay_form))
                .route(web::get().to(form_get)),
        )
        .service(
            page(paths::ADDRESS_INVOICE)
                .app_data(web::PayloadConfig::new(FORM_MAX_BYTES))
                .route(web::post().to(address_form))
                .route(web::get().to(form_get)),
        )
        .service(page(paths::PAY_INVOICE_PAGE).route(web::get().to(invoice_page)))
        .service(page(paths::VOUCHERS).route(web::get().to(voucher_sheet)))
        .service(page("/static/{file}").route(web::get().to(static_file)));
}

/// An msat amount in sats: `1,000` or `1,000.5` (fractions only when there
/// are some).
pub fn sats(msat: u64) -> String {
    let whole = group_thousands(msat / 1000);
    match msat % 1000 {
        0 => whole,
        frac => {
            let f = format!("{frac:03}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    }
}

/// `1,000 sats`, `1 sat`, `10 – 5,000 sats`.
fn amount_text(min_msat: u64, max_msat: u64) -> String {
    let unit = |msat: u64| if msat == 1000 { "sat" } else { "sats" };
    if min_msat == max_msat {
        format!("{} {}", sats(min_msat), unit(min_msat))
    } else {
        format!("{} – {} sats", sats(min_msat), sats(max_msat))
    }
}

/// The msat line shown under an amount that is not a whole number of sats.
fn msat_note(min_msat: u64, max_msat: u64) -> Option<String> {
    if min_msat.is_multiple_of(1000) && max_msat.is_multiple_of(1000) {
        None
    } else if min_msat == max_msat {
        Some(format!("{} msat", group_thousands(min_msat)))
    } else {
        Some(format!(
            "{} – {} msat",
            group_thousands(min_msat),
            group_thousands(max_msat)
        ))
    }
}

/// `2026-12-31 23:59 UTC`.
fn date_text(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Files of `static/`, compiled into the binary: name, content type, bytes.
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../static/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../static/app.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../../static/icon.svg"),
    ),
];

async fn static_file(file: web::Path<String>) -> HttpResponse {
    match STATIC_FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
    {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            // No secrets here; an hour keeps page loads light, and an
            // upgrade shows within the hour.
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(*bytes),
        None => not_found_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::pay::{parse_sats, plain_sats};
    use super::*;

    #[test]
    fn amounts_read_well() {
        assert_eq!(sats(0), "0");
        assert_eq!(sats(1_000), "1");
        assert_eq!(sats(1_234_567_000), "1,234,567");
        assert_eq!(sats(1_000_500), "1,000.5");
        assert_eq!(sats(1), "0.001");
        assert_eq!(amount_text(1_000, 1_000), "1 sat");
        assert_eq!(amount_text(100_000, 100_000), "100 sats");
        assert_eq!(amount_text(10_000, 5_000_000), "10 – 5,000 sats");
        assert_eq!(msat_note(100_000, 100_000), None);
        assert_eq!(
            msat_note(1_000_500, 1_000_500).as_deref(),
            Some("1,000,500 msat")
        );
    }

    #[test]
    fn sats_are_typed_and_shown_plainly() {
        assert_eq!(parse_sats("1000"), Some(1_000_000));
        assert_eq!(parse_sats(" 100.5 "), Some(100_500));
        assert_eq!(parse_sats("0.001"), Some(1));
        assert_eq!(parse_sats(".5"), Some(500));
        for bad in [
            "",
            ".",
            "1.0001",
            "1,000",
            "-1",
            "+1",
            "1e3",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(parse_sats(bad), None, "{bad}");
        }
        assert_eq!(plain_sats(1_000_000), "1000");
        assert_eq!(plain_sats(100_500), "100.5");
    }

    #[test]
    fn dates_read_well() {
        assert_eq!(date_text(1_798_761_599), "2026-12-31 23:59 UTC");
    }
}
