//! Page responses shared by the HTML pages ([`super::pages`]) and the QR
//! image routes ([`super::qr`]): the security headers, template rendering,
//! the plain message page (service errors are turned into these pages by
//! [`super::error::page_error`], which this module does not import).
//!
//! Web layer: imports actix and askama templates from `templates/`; nothing
//! from the other route groups.
//! Every page, QR image and static file carries [`security_headers`]: a
//! strict CSP (no inline script or style, nothing from other origins),
//! `nosniff`, `Referrer-Policy: no-referrer` (withdraw URLs are secrets) and
//! `Cache-Control: no-store` (never kept by shared caches).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::HttpResponse;
use askama::Template;

/// The Content-Security-Policy of every page, QR image and static file:
/// only our own stylesheet, script, images (and `data:` images for the
/// self-contained voucher sheet) and same-origin `fetch` for the live state.
pub const CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'self'; \
script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The policy of a page with an amount form: [`CSP`], except that forms
/// may be sent to this origin (only the pay and address pages have one).
pub const FORM_CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'self'; \
script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Headers for every page, QR image and static file. Set only where the
/// handler did not set its own (static files are cacheable).
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .into_iter()
        .fold(DefaultHeaders::new(), |d, h| d.add(h))
}

/// [`security_headers`] on one response, where they are not set already:
/// for pages answered before a route's middleware runs (the rate limiter's
/// 429 page).
pub fn add_security_headers(res: &mut HttpResponse) {
    for (name, value) in SECURITY_HEADERS {
        if !res.headers().contains_key(&name) {
            res.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
}

const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store, private"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// An HTML answer.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Renders a template; a template error is logged and becomes a 500 page.
pub fn render<T: Template>(status: StatusCode, tpl: &T) -> HttpResponse {
    match tpl.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            // ERROR: no request can make a template fail (askama fails only
            // when a value's Display does), so this is a bug to fix.
            tracing::error!(error = %e, "page template failed");
            // The message page is plain; if even that fails, say it in text.
            match (MessagePage {
                title: "Server problem",
                text: "This page could not be shown. Please try again later.",
            })
            .render()
            {
                Ok(body) => html(StatusCode::INTERNAL_SERVER_ERROR, body),
                Err(_) => HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("This page could not be shown. Please try again later."),
            }
        }
    }
}

/// A plain page with a heading and one paragraph (errors, refusals).
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
}

/// A [`MessagePage`] answer.
pub(super) fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    render(status, &MessagePage { title, text })
}

/// The 404 page.
pub fn not_found_page() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here. The link may be mistyped, or it no longer exists.",
    )
}

/// The 503 page for node, database and internal trouble (the cause is
/// logged by the caller, never shown).
pub(super) fn server_trouble() -> HttpResponse {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporary problem",
        "The server has a temporary problem. Please try again in a minute.",
    )
}

/// The 401 page of a voucher sheet asked for without a valid admin token
/// or signed link (with `WWW-Authenticate: Bearer`).
pub fn refused_unauthenticated() -> HttpResponse {
    let mut res = message(
        StatusCode::UNAUTHORIZED,
        "Sign-in needed",
        "This voucher sheet holds spendable vouchers, so it is only shown with the admin \
         token or a fresh signed link. Ask for a link with the admin API: \
         POST /api/v1/withdraw-links/batch/{batch_id}/sheet-url.",
    );
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// The 403 page of a voucher sheet asked for with an expired or forged
/// signed link.
pub fn refused_bad_link() -> HttpResponse {
    message(
        StatusCode::FORBIDDEN,
        "Link expired or not valid",
        "This voucher sheet link is not valid or has expired. Ask for a fresh link with \
         the admin API: POST /api/v1/withdraw-links/batch/{batch_id}/sheet-url.",
    )
}
