//! Service errors as JSON answers (web layer): LUD bodies for wallet routes
//! (`{"status":"ERROR","reason":…}` with HTTP 200, because common wallet
//! libraries raise on 4xx before reading the reason), and
//! `{"error":{"code","message"}}` with a fitting 4xx/5xx for the admin API.
//!
//! Not the only renderer: HTML pages and QR images answer errors with
//! [`super::html::page_error`]; the live state of a withdraw page
//! (`/w/{secret}/status`, in `pages`) builds its own small JSON error; and
//! `/healthz` reports its checks' failures itself.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::service::Error;

/// JSON answer to a wallet, with the headers every LNURL route carries.
pub fn lud_json<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// A wallet-facing error answer. Internal causes are logged, not sent.
pub fn lud_error(svc: &crate::service::Services, route: &str, e: &Error) -> HttpResponse {
    let (kind, reason) = match e {
        Error::NotFound(m) => ("not_found", m.clone()),
        Error::Invalid(m) => ("invalid", m.clone()),
        Error::Conflict(m) => ("conflict", m.clone()),
        Error::Unavailable(m) => ("unavailable", m.clone()),
        Error::Invoice(inv) => ("invoice", inv.to_string()),
        Error::Unauthorized(_) => ("unauthorized", "Not allowed.".to_owned()),
        Error::Node(err) => {
            tracing::error!(route, error = %err, "node error on a wallet route");
            (
                "node",
                "The Lightning node is not available right now; please try again later.".to_owned(),
            )
        }
        Error::Db(err) => {
            tracing::error!(route, error = %err, "database error on a wallet route");
            (
                "internal",
                "Temporary server problem; please try again later.".to_owned(),
            )
        }
        Error::Internal(err) => {
            tracing::error!(route, error = %err, "internal error on a wallet route");
            (
                "internal",
                "Temporary server problem; please try again later.".to_owned(),
            )
        }
    };
    svc.metrics.lud_error(route, kind);
    lud_json(&crate::lnurl::wire::LudError { reason })
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
        match &self.0 {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) | Error::Invoice(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) | Error::Unavailable(_) => StatusCode::CONFLICT,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Node(_) => StatusCode::BAD_GATEWAY,
            Error::Db(crate::db::DbError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Db(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = match &self.0 {
            Error::NotFound(m) => ("not_found", m.clone()),
            Error::Invalid(m) => ("invalid_request", m.clone()),
            Error::Invoice(e) => ("invalid_invoice", e.to_string()),
            Error::Conflict(m) => ("conflict", m.clone()),
            Error::Unavailable(m) => ("unavailable", m.clone()),
            Error::Unauthorized(m) => ("unauthorized", m.clone()),
            Error::Node(e) => ("node_error", e.to_string()),
            Error::Db(e) => {
                tracing::error!(error = %e, "database error on the admin API");
                ("internal", "database error; see the server log".to_owned())
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, "internal error on the admin API");
                ("internal", "internal error; see the server log".to_owned())
            }
        };
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self.0, Error::Unauthorized(_)) {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        res.insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({"error": {"code": code, "message": message}}))
    }
}
