//! The one place a service [`Error`] becomes an answer (web layer), on each
//! of the three surfaces, all read from one table ([`Surfaces::of`]):
//! - wallet routes: the LUD body `{"status":"ERROR","reason":…}` with HTTP
//!   200, because common wallet libraries raise on 4xx before reading the
//!   reason; counted in `/metrics` by route and kind;
//! - the admin API: `{"error":{"code","message"}}` with a fitting 4xx/5xx;
//! - pages and QR images: an HTML message page (drawn by [`super::html`]).
//!
//! Our own trouble (node, database, bugs) is logged here with its cause and
//! never shown to a wallet or a page; the operator's API shows node errors.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::html;
use crate::service::{Error, ErrorCode, Services};

/// How one [`ErrorCode`] is answered on every surface.
struct Surfaces {
    /// HTTP status on the admin API.
    admin_status: StatusCode,
    /// Whether the admin API shows the error's message (else a fixed text
    /// pointing at the log).
    admin_shows_message: bool,
    /// The reason a wallet reads; `None`: the error's own message.
    wallet_reason: Option<&'static str>,
    /// The `kind` label of `lnurld_lud_errors_total`.
    metric_kind: &'static str,
    /// The HTML page.
    page: Page,
}

/// The HTML answer of a code.
#[derive(Clone, Copy)]
enum Page {
    NotFound,
    BadRequest,
    NotAvailable,
    SignInNeeded,
    ServerTrouble,
    TooManyRequests,
}

const SERVER_TROUBLE: &str = "Temporary server problem; please try again later.";

impl Surfaces {
    /// The table. Longer than 60 lines because it is data: one row per
    /// code, every surface side by side, so a code's answers are read (and
    /// changed) in one place.
    fn of(code: ErrorCode) -> Surfaces {
        use ErrorCode as C;
        let (admin_status, admin_shows_message, wallet_reason, metric_kind, page) = match code {
            C::NotFound => (
                StatusCode::NOT_FOUND,
                true,
                None,
                "not_found",
                Page::NotFound,
            ),
            C::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                true,
                None,
                "invalid",
                Page::BadRequest,
            ),
            C::InvalidInvoice => (
                StatusCode::BAD_REQUEST,
                true,
                None,
                "invoice",
                Page::BadRequest,
            ),
            C::Conflict => (
                StatusCode::CONFLICT,
                true,
                None,
                "conflict",
                Page::NotAvailable,
            ),
            C::Unavailable => (
                StatusCode::CONFLICT,
                true,
                None,
                "unavailable",
                Page::NotAvailable,
            ),
            C::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                true,
                Some("Not allowed."),
                "unauthorized",
                Page::SignInNeeded,
            ),
            C::NodeError => (
                StatusCode::BAD_GATEWAY,
                true,
                Some("The Lightning node is not available right now; please try again later."),
                "node",
                Page::ServerTrouble,
            ),
            C::TemporarilyUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                Some(SERVER_TROUBLE),
                "internal",
                Page::ServerTrouble,
            ),
            C::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                Some(SERVER_TROUBLE),
                "internal",
                Page::ServerTrouble,
            ),
            C::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                true,
                None,
                "too_many_requests",
                Page::TooManyRequests,
            ),
            C::ExternalIdConflict => (
                StatusCode::CONFLICT,
                true,
                None,
                "conflict",
                Page::NotAvailable,
            ),
        };
        Surfaces {
            admin_status,
            admin_shows_message,
            wallet_reason,
            metric_kind,
            page,
        }
    }
}

/// Logs a failed request at the level its code calls for. ERROR means the
/// operator must act (the node or the database is down, a bug), so only
/// our own trouble is logged there. A caller's mistake (unknown link, bad
/// amount, bad invoice, bad token, spent link) is DEBUG: anyone can send
/// those, and they must not be able to fill the operator's error alerts.
pub(super) fn log_cause(surface: &'static str, route: &str, e: &Error) {
    let code = e.code().as_str();
    if e.code().is_ours() {
        tracing::error!(surface, route, code, error = %e, "request failed");
    } else {
        tracing::debug!(surface, route, code, error = %e, "request refused");
    }
}

/// JSON answer to a wallet, with the headers every LNURL route carries.
pub fn lud_json<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// A wallet-facing error answer. `route` is a pattern of [`crate::paths`]
/// and the reason label a fixed code of the table, so the metric's series
/// stay a closed set whatever the request was.
pub fn lud_error(svc: &Services, route: &'static str, e: &Error) -> HttpResponse {
    let s = Surfaces::of(e.code());
    log_cause("wallet", route, e);
    let reason = s.wallet_reason.map_or_else(|| e.message(), str::to_owned);
    svc.metrics().lud_error(route, s.metric_kind);
    lud_json(&crate::lnurl::wire::LudError::new(reason))
}

/// The answer of a wallet route: its body, or the LUD error (logged and
/// counted under `route`).
pub fn lud_answer<T: Serialize>(
    svc: &Services,
    route: &'static str,
    result: Result<T, Error>,
) -> HttpResponse {
    match result {
        Ok(body) => lud_json(&body),
        Err(e) => lud_error(svc, route, &e),
    }
}

/// A service error as an HTML page (pages and QR images).
pub fn page_error(e: &Error) -> HttpResponse {
    log_cause("page", "", e);
    match Surfaces::of(e.code()).page {
        Page::NotFound => html::not_found_page(),
        Page::BadRequest => html::message(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "This request is not valid.",
        ),
        // Only the voucher sheet asks for credentials on a page.
        Page::SignInNeeded => html::refused_unauthenticated(),
        Page::NotAvailable => html::message(
            StatusCode::CONFLICT,
            "Not available",
            "This is not available right now.",
        ),
        Page::ServerTrouble => html::server_trouble(),
        Page::TooManyRequests => {
            let secs = e.retry_after_secs().unwrap_or(1);
            with_retry_after(
                html::message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests",
                    &format!("Please wait {secs} s and try again."),
                ),
                secs,
            )
        }
    }
}

/// A service error as a person filling in a form reads it: the HTTP status
/// of its page and the text a wallet would read (the same reason, so our
/// own trouble stays a fixed text), logged like [`page_error`].
pub fn form_error(e: &Error) -> (StatusCode, String) {
    log_cause("page", "form", e);
    let s = Surfaces::of(e.code());
    let status = match s.page {
        Page::NotFound => StatusCode::NOT_FOUND,
        Page::BadRequest => StatusCode::BAD_REQUEST,
        Page::SignInNeeded => StatusCode::UNAUTHORIZED,
        Page::NotAvailable => StatusCode::CONFLICT,
        Page::ServerTrouble => StatusCode::SERVICE_UNAVAILABLE,
        Page::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
    };
    (
        status,
        crate::lnurl::wire::sentence(&s.wallet_reason.map_or_else(|| e.message(), str::to_owned)),
    )
}

/// `res` with `Retry-After: secs`.
fn with_retry_after(mut res: HttpResponse, secs: u64) -> HttpResponse {
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(secs),
    );
    res
}

/// An error on the offline registration routes (`/lnurlpay/{pubkey}`):
/// breez-lnurl's statuses (400, 401 bad signature or time, 404, 409) with
/// the admin API's JSON body, and no `WWW-Authenticate` (the credential is
/// the body's signature, not a bearer token).
pub fn registration_error(e: &Error) -> HttpResponse {
    let code = e.code();
    let s = Surfaces::of(code);
    log_cause("offline", "", e);
    let message = if s.admin_shows_message {
        e.message()
    } else {
        SERVER_TROUBLE.to_owned()
    };
    let mut res = HttpResponse::build(s.admin_status);
    if let Some(secs) = e.retry_after_secs() {
        res.insert_header((actix_web::http::header::RETRY_AFTER, secs));
    }
    res.insert_header(("Cache-Control", "no-store"))
        .json(ApiErrorBody {
            error: ApiErrorDetail { code, message },
        })
}

/// The HTTP status of `code` on the admin API (the OpenAPI document lists
/// each status's codes from here).
pub fn admin_status(code: ErrorCode) -> StatusCode {
    Surfaces::of(code).admin_status
}

/// The body of every admin API error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    /// What went wrong.
    pub error: ApiErrorDetail,
}

/// `error` of [`ApiErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorDetail {
    /// Stable: a client branches on it.
    pub code: ErrorCode,
    /// For people; may change.
    pub message: String,
}

/// An admin API error.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// A 400 with a message (bad JSON, bad query).
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError(Error::Invalid(msg.into()))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        Surfaces::of(self.0.code()).admin_status
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.0.code();
        let s = Surfaces::of(code);
        log_cause("admin", "", &self.0);
        let message = match (s.admin_shows_message, code) {
            (true, _) => self.0.message(),
            (false, ErrorCode::TemporarilyUnavailable) => {
                "the database is unavailable; see the server log".to_owned()
            }
            (false, _) => "internal error; see the server log".to_owned(),
        };
        let mut res = HttpResponse::build(s.admin_status);
        if code == ErrorCode::Unauthorized {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(secs) = self.0.retry_after_secs() {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs));
        }
        res.insert_header(("Cache-Control", "no-store"))
            .json(ApiErrorBody {
                error: ApiErrorDetail { code, message },
            })
    }
}
