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
use super::error::page_error;
use super::html::{
    not_found_page, refused_bad_link, refused_unauthenticated, render, security_headers,
};
use super::params::{self, query_param};
use crate::db::types::{BatchId, PayLinkId, PayLinkStatus};
use crate::paths::{self, QrFormat};
use crate::service::pay::PayLinkView;
use crate::service::withdraw::vouchers::VoucherSheet;
use crate::service::{Error, Services};

/// Vouchers per printed A4 page (2 columns × 4 rows of 95 × 69 mm).
const VOUCHERS_PER_PAGE: usize = 8;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let page = |path: &str| web::resource(path.to_owned()).wrap(security_headers());
    cfg.service(page(paths::WITHDRAW_PAGE).route(web::get().to(withdraw_page)))
        .service(page(paths::WITHDRAW_STATUS).route(web::get().to(withdraw_status)))
        .service(page(paths::PAY_PAGE).route(web::get().to(pay_page)))
        .service(page(paths::ADDRESS_PAGE).route(web::get().to(address_page)))
        .service(page(paths::VOUCHERS).route(web::get().to(voucher_sheet)))
        .service(page("/static/{file}").route(web::get().to(static_file)));
}

/// `1,234,567` (thousands separated, for people).
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

#[derive(Template)]
#[template(path = "withdraw.html")]
struct WithdrawTpl {
    heading: String,
    description: String,
    amount: String,
    msat_note: Option<String>,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
    status_url: String,
    state: &'static str,
    label: &'static str,
    detail: String,
    expires: Option<String>,
    live: bool,
}

async fn withdraw_page(svc: web::Data<Services>, secret: web::Path<String>) -> HttpResponse {
    let p = match svc.withdraw().withdraw_page(&secret).await {
        Ok(p) => p,
        Err(e) => return page_error(&e),
    };
    let (min_msat, max_msat) = (p.min_msat.get(), p.max_msat.get());
    let amount = amount_text(min_msat, max_msat);
    let heading = if p.title.trim().is_empty() {
        format!("Withdraw {amount}")
    } else {
        p.title.clone()
    };
    render(
        StatusCode::OK,
        &WithdrawTpl {
            description: if p.description == p.title {
                String::new()
            } else {
                p.description.clone()
            },
            heading,
            msat_note: msat_note(min_msat, max_msat),
            amount,
            qr_svg: paths::qr_withdraw(&p.secret, QrFormat::Svg),
            qr_png: paths::qr_withdraw(&p.secret, QrFormat::Png),
            status_url: paths::withdraw_status(&p.secret),
            lnurl: p.lnurl,
            state: p.status.state.as_str(),
            label: p.status.label,
            detail: p.status.detail.clone(),
            expires: p.expires_at.map(date_text),
            live: !p.status.state.is_final(),
        },
    )
}

async fn withdraw_status(svc: web::Data<Services>, secret: web::Path<String>) -> HttpResponse {
    match svc.withdraw().withdraw_status(&secret).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(Error::NotFound(_)) => HttpResponse::NotFound().json(serde_json::json!({
            "error": {"code": "not_found", "message": "unknown withdraw link"}
        })),
        Err(e) => {
            super::error::log_cause("page", "withdraw_status", &e);
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": {"code": "unavailable", "message": "temporary server problem"}
            }))
        }
    }
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayTpl {
    heading: String,
    description: String,
    long_description: Option<String>,
    amount: String,
    msat_note: Option<String>,
    lightning_address: Option<String>,
    comment_allowed: u32,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
}

/// `Any amount from 1 to 1,000 sats` for ranges, the amount for fixed ones.
fn pay_amount_text(l: &PayLinkView) -> String {
    let (min, max) = (l.min_msat.get(), l.max_msat.get());
    if min == max {
        amount_text(min, max)
    } else {
        format!("Any amount from {} to {} sats", sats(min), sats(max))
    }
}

async fn pay_page(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    let l = match svc
        .pay()
        .get_pay_link(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        // A disabled link answers wallets "unknown pay link"; so does its page.
        Ok(l) if l.status == PayLinkStatus::Active => l,
        Ok(_) => return not_found_page(),
        Err(e) => return page_error(&e),
    };
    render(
        StatusCode::OK,
        &PayTpl {
            heading: match &l.lightning_address {
                Some(a) => format!("Pay {a}"),
                None => "Pay with Lightning".to_owned(),
            },
            amount: pay_amount_text(&l),
            msat_note: msat_note(l.min_msat.get(), l.max_msat.get()),
            qr_svg: paths::qr_pay(l.id.as_str(), QrFormat::Svg),
            qr_png: paths::qr_pay(l.id.as_str(), QrFormat::Png),
            description: l.description,
            long_description: l.long_description,
            lightning_address: l.lightning_address,
            comment_allowed: l.comment_allowed,
            lnurl: l.lnurl,
        },
    )
}

#[derive(Template)]
#[template(path = "address.html")]
struct AddressTpl {
    address: String,
    description: String,
    amount: String,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
}

async fn address_page(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    let l = match svc.pay().pay_link_by_username(&username).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let Some(name) = l.username.clone() else {
        return not_found_page();
    };
    render(
        StatusCode::OK,
        &AddressTpl {
            address: svc.pay().lightning_address(&name),
            amount: pay_amount_text(&l),
            description: l.description,
            lnurl: svc.pay().address_lnurl(&name),
            qr_svg: paths::qr_address(&name, QrFormat::Svg),
            qr_png: paths::qr_address(&name, QrFormat::Png),
        },
    )
}

/// One voucher as printed.
struct VoucherCard {
    amount: String,
    msat_note: Option<String>,
    title: String,
    expires: Option<String>,
    id: String,
    uses: u64,
    qr_data_uri: String,
}

#[derive(Template)]
#[template(path = "vouchers.html")]
struct VouchersTpl {
    batch_id: String,
    count: usize,
    left_off: usize,
    pages: Vec<Vec<VoucherCard>>,
}

/// Draws the sheet: one PNG QR per voucher, embedded as a `data:` URI so the
/// printed page needs nothing else (and a saved copy keeps its codes).
fn sheet_template(sheet: VoucherSheet) -> Result<VouchersTpl, Error> {
    let count = sheet.vouchers.len();
    let mut cards = Vec::with_capacity(count);
    for v in sheet.vouchers {
        let png = crate::qr::png(&v.lnurl).map_err(|e| Error::Internal(e.to_string()))?;
        cards.push(VoucherCard {
            amount: amount_text(v.min_msat.get(), v.max_msat.get()),
            msat_note: msat_note(v.min_msat.get(), v.max_msat.get()),
            title: v.title,
            expires: v.expires_at.map(date_text),
            id: v.id.to_string(),
            uses: v.uses,
            qr_data_uri: format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
        });
    }
    let mut pages = Vec::new();
    let mut it = cards.into_iter().peekable();
    while it.peek().is_some() {
        pages.push(it.by_ref().take(VOUCHERS_PER_PAGE).collect());
    }
    Ok(VouchersTpl {
        batch_id: sheet.batch_id.to_string(),
        count,
        left_off: sheet.left_off,
        pages,
    })
}

/// `Authorization: Bearer <admin token>` or `?t=<signed token>`; anything
/// else is refused before the batch is even looked up, and the refusal
/// shows nothing of the batch.
async fn voucher_sheet(
    svc: web::Data<Services>,
    batch_id: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let batch_id = BatchId::from_raw(batch_id.into_inner());
    let bearer = bearer_token(&req).map(str::to_owned);
    if let Some(token) = bearer {
        match svc.tokens().authenticate(&token).await {
            Ok(_) => {}
            Err(Error::Unauthorized(_)) => return refused_unauthenticated(),
            Err(e) => return page_error(&e),
        }
    } else {
        match query_param(&req, "t", params::SHEET_TOKEN) {
            Ok(Some(t)) => {
                if svc
                    .withdraw()
                    .check_voucher_sheet_token(&batch_id, &t)
                    .is_err()
                {
                    return refused_bad_link();
                }
            }
            Ok(None) => return refused_unauthenticated(),
            // Not text at all, so not a token we signed.
            Err(_) => return refused_bad_link(),
        }
    }
    let sheet = match svc.withdraw().voucher_sheet(&batch_id).await {
        Ok(s) => s,
        Err(e) => return page_error(&e),
    };
    // Drawing hundreds of PNGs is CPU work: keep it off the async workers.
    match web::block(move || sheet_template(sheet)).await {
        Ok(Ok(tpl)) => render(StatusCode::OK, &tpl),
        Ok(Err(e)) => page_error(&e),
        Err(e) => page_error(&Error::Internal(format!("voucher sheet task: {e}"))),
    }
}

/// Files of `static/`, compiled into the binary: name, content type, bytes.
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../static/icon.svg"),
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
    fn dates_read_well() {
        assert_eq!(date_text(1_798_761_599), "2026-12-31 23:59 UTC");
    }
}
