//! Admin API (`/api/v1/…`, `Authorization: Bearer <token>`; described by
//! [`openapi`] at `/api/v1/openapi.json`): JSON in and
//! out, amounts in msat, timestamps RFC 3339, errors
//! `{"error":{"code","message"}}`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::params::{self, query_param};
use crate::service::{Error, Services};

pub mod node;
pub mod offline;
pub mod openapi;
pub mod pay;
pub mod tokens;
pub mod webhooks;
pub mod withdraw;

/// One admin route: its method, its pattern (from [`crate::paths::api`])
/// and its handler. Each module's `ROUTES` table is what [`configure`]
/// registers and what the OpenAPI document is checked against, so a route
/// cannot be served without being described.
pub struct AdminRoute {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, `{name}` for a path parameter.
    pub path: &'static str,
    /// Attaches the handler.
    to: fn(actix_web::Route) -> actix_web::Route,
}

impl AdminRoute {
    const fn new(
        method: Method,
        path: &'static str,
        to: fn(actix_web::Route) -> actix_web::Route,
    ) -> Self {
        AdminRoute { method, path, to }
    }
}

/// Every admin route, in registration order (a literal segment before a
/// `{param}` of the same place).
pub fn routes() -> impl Iterator<Item = &'static AdminRoute> {
    [
        withdraw::ROUTES,
        pay::ROUTES,
        node::ROUTES,
        webhooks::ROUTES,
        tokens::ROUTES,
        offline::ROUTES,
        openapi::ROUTES,
    ]
    .into_iter()
    .flatten()
}

/// Registers the admin routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for r in routes() {
        cfg.route(r.path, (r.to)(web::route().method(r.method.clone())));
    }
}

/// JSON extractor settings: bad bodies become our JSON error shape.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _req| ApiError::invalid(format!("invalid JSON body: {err}")).into())
}

/// The paging parameters of a listing: `?limit=&cursor=`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery<C> {
    /// Page size; the service applies its default and its bounds.
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before, if any.
    #[param(value_type = Option<String>)]
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

/// One page of a listing.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub data: Vec<T>,
    /// `cursor` of the next page; `null` after the last page.
    pub next_cursor: Option<String>,
}

/// A whole list, unpaged.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    /// The items.
    pub data: Vec<T>,
}

/// The answer of every listing: a [`Page`]. It goes through a JSON value,
/// so every object's keys come out sorted, as they always have on listings.
pub fn page_json<T: Serialize>(data: Vec<T>, next_cursor: Option<impl ToString>) -> HttpResponse {
    let next_cursor = next_cursor.map(|c| c.to_string());
    match serde_json::to_value(Page { data, next_cursor }) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => {
            ApiError(Error::Internal(format!("listing not serializable: {e}"))).error_response()
        }
    }
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
