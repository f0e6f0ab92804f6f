//! Admin API (`/api/v1/…`, `Authorization: Bearer <token>`): JSON in and
//! out, amounts in msat, timestamps RFC 3339, errors
//! `{"error":{"code","message"}}`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use super::error::ApiError;
use super::params::{self, query_param};
use crate::service::{Error, Services};

pub mod node;
pub mod pay;
pub mod tokens;
pub mod webhooks;
pub mod withdraw;

/// Registers the admin routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    withdraw::configure(cfg);
    pay::configure(cfg);
    node::configure(cfg);
    webhooks::configure(cfg);
    tokens::configure(cfg);
}

/// JSON extractor settings: bad bodies become our JSON error shape.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _req| ApiError::invalid(format!("invalid JSON body: {err}")).into())
}

/// The paging parameters of a listing: `?limit=&cursor=`.
pub struct PageQuery<C> {
    /// Page size; the service applies its default and its bounds.
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before, if any.
    pub cursor: Option<C>,
}

impl<C> PageQuery<C> {
    /// Reads `limit` (a whole number, else 400) and `cursor`, typed by
    /// `cursor_of`. A cursor is not checked: an unknown one finds nothing.
    pub fn parse(req: &HttpRequest, cursor_of: impl FnOnce(String) -> C) -> Result<Self, ApiError> {
        let limit = query_param(req, "limit", params::FILTER)?
            .map(|l| {
                l.parse::<u32>()
                    .map_err(|_| ApiError::invalid("limit must be a whole number"))
            })
            .transpose()?;
        Ok(PageQuery {
            limit,
            cursor: query_param(req, "cursor", params::CURSOR)?.map(cursor_of),
        })
    }
}

/// The answer of every listing: `{"data": [...], "next_cursor": ...}`
/// (`null` after the last page). It goes through a JSON value, so every
/// object's keys come out sorted, as they always have on listings.
pub fn page_json(data: impl Serialize, next_cursor: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"data": data, "next_cursor": next_cursor}))
}

/// `body` as JSON that no cache may keep (secrets, signed URLs).
pub fn no_store_json(mut res: HttpResponseBuilder, body: impl Serialize) -> HttpResponse {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The token of an `Authorization: Bearer <token>` header (trimmed), if
/// the request has one; the admin routes and the voucher sheet read it here.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Proof that the request carried a valid admin token.
pub struct Admin {
    /// Token name (for logs).
    pub token_name: String,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let tokens = req
            .app_data::<web::Data<Services>>()
            .map(|s| s.tokens().clone());
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let tokens = tokens.ok_or_else(|| ApiError(Error::Internal("no app state".into())))?;
            let token = token.ok_or_else(|| {
                ApiError(Error::Unauthorized(
                    "missing Authorization: Bearer <token> header".into(),
                ))
            })?;
            let t = tokens.authenticate(&token).await?;
            Ok(Admin { token_name: t.name })
        })
    }
}
