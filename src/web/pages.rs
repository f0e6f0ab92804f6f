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
    label: String,
    detail: String,
    expires: Option<String>,
    /// Not final: the page polls its state and shows the code to scan.
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
            label: p.status.label.clone(),
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

/// The amount form of a pay or address page, as shown (again, with the
/// person's input and what was wrong, after a refused attempt).
struct AmountForm {
    /// Where it is sent (`POST`).
    action: String,
    /// The amount field's value, in sats.
    amount: String,
    /// The comment field's value.
    comment: String,
    /// LUD-12 limit of the link; 0 hides the comment field.
    comment_allowed: u32,
    /// Why the last attempt was refused.
    error: Option<String>,
    /// A fixed amount: the field is filled in and read-only.
    fixed: bool,
}

impl AmountForm {
    fn new(action: String, l: &PayLinkView) -> AmountForm {
        let fixed = l.min_msat == l.max_msat;
        AmountForm {
            action,
            amount: if fixed {
                plain_sats(l.min_msat.get())
            } else {
                String::new()
            },
            comment: String::new(),
            comment_allowed: l.comment_allowed,
            error: None,
            fixed,
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
    /// `None` once the link is disabled: nothing to scan, open or pay.
    form: Option<AmountForm>,
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

/// `1000` or `100.5`: sats as typed into a form (no separators).
fn plain_sats(msat: u64) -> String {
    let whole = msat / 1000;
    match msat % 1000 {
        0 => whole.to_string(),
        frac => format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0')),
    }
}

/// An amount typed in sats (`1000`, `100.5`, up to 3 decimals) as msat.
fn parse_sats(text: &str) -> Option<u64> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

fn pay_tpl(l: PayLinkView, form: Option<AmountForm>) -> PayTpl {
    PayTpl {
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
        form,
    }
}

/// A page with an amount form may send it to us (see [`FORM_CSP`]).
fn with_form_csp(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(FORM_CSP),
    );
    res
}

async fn pay_page(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    let l = match svc
        .pay()
        .get_pay_link(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    // A disabled link (wallets are told "unknown pay link") says so, and
    // offers nothing to scan, open or pay.
    let form = (l.status == PayLinkStatus::Active)
        .then(|| AmountForm::new(paths::pay_invoice(l.id.as_str()), &l));
    with_form_csp(render(StatusCode::OK, &pay_tpl(l, form)))
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
    form: AmountForm,
}

fn address_tpl(svc: &Services, name: &str, l: PayLinkView, form: AmountForm) -> AddressTpl {
    AddressTpl {
        address: svc.pay().lightning_address(name),
        amount: pay_amount_text(&l),
        description: l.description,
        lnurl: svc.pay().address_lnurl(name),
        qr_svg: paths::qr_address(name, QrFormat::Svg),
        qr_png: paths::qr_address(name, QrFormat::Png),
        form,
    }
}

async fn address_page(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    let l = match svc.pay().pay_link_by_username(&username).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let Some(name) = l.username.clone() else {
        return not_found_page();
    };
    let form = AmountForm::new(paths::address_invoice(&name), &l);
    with_form_csp(render(StatusCode::OK, &address_tpl(&svc, &name, l, form)))
}

/// Makes the invoice a form asks for, through the very call the LNURL-pay
/// callback makes (so every rule of a wallet's request holds here too), and
/// sends the person to its page; a refusal re-shows the form with the
/// reason (`Err` holds its status and the form).
async fn invoice_from_form(
    svc: &Services,
    l: &PayLinkView,
    mut form: AmountForm,
    body: &[u8],
) -> Result<HttpResponse, (StatusCode, AmountForm)> {
    let refuse = |form: &mut AmountForm, status: StatusCode, why: String| {
        form.error = Some(why);
        status
    };
    // Field by field, so that the fields read so far are shown again.
    let read = |name: &str, rule| {
        std::str::from_utf8(body)
            .map_err(|_| Error::Invalid("The form was not sent as text.".into()))
            .and_then(|b| params::form_param(b, name, rule))
    };
    let amount = match read("amount", params::AMOUNT) {
        Ok(a) => a,
        Err(e) => {
            let (status, why) = form_error(&e);
            return Err((refuse(&mut form, status, why), form));
        }
    };
    form.amount = amount.clone().unwrap_or_default();
    let comment = match read("comment", params::COMMENT) {
        Ok(c) => c,
        Err(e) => {
            let (status, why) = form_error(&e);
            return Err((refuse(&mut form, status, why), form));
        }
    };
    form.comment = comment.clone().unwrap_or_default();
    let (min, max) = (l.min_msat.get(), l.max_msat.get());
    let range = if min == max {
        format!("The amount is {} sats.", plain_sats(min))
    } else {
        format!("Enter an amount from {} to {} sats.", sats(min), sats(max))
    };
    let Some(amount_msat) = amount.as_deref().and_then(parse_sats) else {
        let why = match amount.as_deref().map(str::trim) {
            None | Some("") => format!("Enter the amount in sats. {range}"),
            Some(_) => {
                format!("Enter the amount as a number of sats, such as 1000 or 100.5. {range}")
            }
        };
        return Err((refuse(&mut form, StatusCode::BAD_REQUEST, why), form));
    };
    // Said in sats here; the service checks the same bounds again in msat.
    if amount_msat < min || amount_msat > max {
        let why = format!("{} sats is not possible. {range}", plain_sats(amount_msat));
        return Err((refuse(&mut form, StatusCode::BAD_REQUEST, why), form));
    }
    let answer = svc
        .pay()
        .pay_callback(
            &l.id,
            Some(amount_msat.to_string().as_str()),
            comment.as_deref(),
            None,
        )
        .await;
    match answer {
        Ok(r) => {
            // The verify URL ends with the payment hash (LUD-21).
            let hash = r
                .verify
                .as_deref()
                .and_then(|v| v.rsplit('/').next())
                .unwrap_or_default();
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    paths::pay_invoice_page(l.id.as_str(), hash),
                ))
                .finish())
        }
        Err(e) => {
            let (status, why) = form_error(&e);
            Err((refuse(&mut form, status, why), form))
        }
    }
}

async fn pay_form(
    svc: web::Data<Services>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let l = match svc
        .pay()
        .get_pay_link(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(l) if l.status == PayLinkStatus::Active => l,
        // The page of a disabled link says so (and has no form).
        Ok(l) => return with_form_csp(render(StatusCode::NOT_FOUND, &pay_tpl(l, None))),
        Err(e) => return page_error(&e),
    };
    let form = AmountForm::new(paths::pay_invoice(l.id.as_str()), &l);
    match invoice_from_form(&svc, &l, form, &body).await {
        Ok(res) => res,
        Err((status, form)) => with_form_csp(render(status, &pay_tpl(l, Some(form)))),
    }
}

async fn address_form(
    svc: web::Data<Services>,
    username: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let l = match svc.pay().pay_link_by_username(&username).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let Some(name) = l.username.clone() else {
        return not_found_page();
    };
    let form = AmountForm::new(paths::address_invoice(&name), &l);
    match invoice_from_form(&svc, &l, form, &body).await {
        Ok(res) => res,
        Err((status, form)) => with_form_csp(render(status, &address_tpl(&svc, &name, l, form))),
    }
}

/// `GET` of a form's target (a bookmark, a reload of a refused form): back
/// to the page with the form.
async fn form_get(req: HttpRequest) -> HttpResponse {
    let to = req.path().trim_end_matches("/invoice").to_owned();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoiceTpl {
    heading: String,
    description: String,
    amount: String,
    msat_note: Option<String>,
    state: &'static str,
    label: &'static str,
    detail: String,
    bolt11: String,
    qr_data_uri: String,
    expires: String,
    expires_at: i64,
    verify_url: String,
    self_url: String,
    back_url: String,
    /// Open: the page polls LUD-21 verify and shows what to pay.
    live: bool,
}

/// What [`invoice_page`] reads from the BOLT11 itself.
struct InvoiceFacts {
    amount_msat: u64,
    expires_at: i64,
    description_hash: [u8; 32],
}

fn invoice_facts(bolt11: &str) -> Option<InvoiceFacts> {
    use bitcoin::hashes::Hash;
    use std::str::FromStr;
    let inv = lightning_invoice::Bolt11Invoice::from_str(bolt11).ok()?;
    let lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) = inv.description() else {
        return None;
    };
    Some(InvoiceFacts {
        amount_msat: inv.amount_milli_satoshis()?,
        expires_at: inv
            .expires_at()
            .and_then(|d| i64::try_from(d.as_secs()).ok())?,
        description_hash: h.0.to_byte_array(),
    })
}

/// The invoice an amount form made, and whether it is paid. Its state comes
/// from LUD-21 verify (which asks the node while the invoice is open), so a
/// reload is the "check payment" of a page without JavaScript.
async fn invoice_page(svc: web::Data<Services>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, hash) = path.into_inner();
    let l = match svc.pay().get_pay_link(&PayLinkId::from_raw(id)).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let v = match svc.pay().verify_invoice(&hash).await {
        Ok(v) => v,
        Err(e) => return page_error(&e),
    };
    // Only an invoice for this link's metadata is shown under its name
    // (a form's invoice hashes the bare metadata: no payer data).
    let facts = match invoice_facts(&v.pr) {
        Some(f) if f.description_hash == crate::lnurl::description_hash(&l.metadata, None) => f,
        _ => return not_found_page(),
    };
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires = date_text(facts.expires_at);
    let (state, label, detail) = if v.settled {
        ("paid", "Paid", "The payment arrived. Thank you!".to_owned())
    } else if l.status != PayLinkStatus::Active {
        (
            "disabled",
            "Disabled",
            "This pay link has been disabled; do not pay this invoice.".to_owned(),
        )
    } else if t >= facts.expires_at {
        (
            "expired",
            "Expired",
            format!("This invoice expired at {expires} unpaid. Make a new one to pay."),
        )
    } else {
        (
            "open",
            "Waiting for payment",
            "Pay this invoice with any Lightning wallet; this page says “Paid” once it arrives."
                .to_owned(),
        )
    };
    let live = state == "open";
    let qr_data_uri = if live {
        let data = v.pr.to_ascii_uppercase();
        // Drawing a PNG is CPU work: keep it off the async workers.
        match web::block(move || crate::qr::png(&data)).await {
            Ok(Ok(png)) => format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
            Ok(Err(e)) => return page_error(&Error::Internal(e.to_string())),
            Err(e) => return page_error(&Error::Internal(format!("invoice QR task: {e}"))),
        }
    } else {
        String::new()
    };
    let back_url = match &l.username {
        Some(u) if l.status == PayLinkStatus::Active => paths::address_page(u),
        _ => paths::pay_page(l.id.as_str()),
    };
    render(
        StatusCode::OK,
        &InvoiceTpl {
            heading: match &l.lightning_address {
                Some(a) => format!("Pay {a}"),
                None => "Pay with Lightning".to_owned(),
            },
            description: l.description,
            amount: amount_text(facts.amount_msat, facts.amount_msat),
            msat_note: msat_note(facts.amount_msat, facts.amount_msat),
            state,
            label,
            detail,
            bolt11: if live { v.pr } else { String::new() },
            qr_data_uri,
            expires,
            expires_at: facts.expires_at,
            verify_url: paths::lnurlp_verify(&hash.to_ascii_lowercase()),
            self_url: paths::pay_invoice_page(l.id.as_str(), &hash),
            back_url,
            live,
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
