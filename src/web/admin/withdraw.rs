//! Withdraw link admin routes (`/api/v1/withdraw-links…`), including the
//! batch routes: create a batch of vouchers (idempotent by `external_id`),
//! list batches, read and disable one as a unit, and sign a short-lived URL
//! of its printable sheet (the sheet itself is a page,
//! [`crate::web::pages`]).

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::openapi::{BadRequest, Conflict, NotFound};
use super::{no_store_json, page_json, Admin, AdminRoute, Page, PageQuery};
use crate::db::types::{BatchId, WithdrawLinkId, WithdrawLinkStatus};
use crate::paths::api;
use crate::service::withdraw::links::MAX_BATCH_COUNT;
use crate::service::withdraw::vouchers::{
    BatchCreated, BatchView, SHEET_URL_DEFAULT_TTL_SECS, SHEET_URL_MAX_TTL_SECS,
};
use crate::service::withdraw::{LinkView, NewLink};
use crate::service::{Error, Services};
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// The routes. The batch routes come before `{id}`, which would take
/// "batch" for a link id.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::POST, api::WITHDRAW_LINKS, |r| r.to(create_link)),
    AdminRoute::new(Method::GET, api::WITHDRAW_LINKS, |r| r.to(list_links)),
    AdminRoute::new(Method::POST, api::WITHDRAW_BATCHES, |r| r.to(create_batch)),
    AdminRoute::new(Method::GET, api::WITHDRAW_BATCHES, |r| r.to(list_batches)),
    AdminRoute::new(Method::GET, api::WITHDRAW_BATCH, |r| r.to(get_batch)),
    AdminRoute::new(Method::DELETE, api::WITHDRAW_BATCH, |r| r.to(disable_batch)),
    AdminRoute::new(Method::GET, api::WITHDRAW_LINK, |r| r.to(get_link)),
    AdminRoute::new(Method::DELETE, api::WITHDRAW_LINK, |r| r.to(disable_link)),
    AdminRoute::new(Method::POST, api::WITHDRAW_BATCH_SHEET_URL, |r| {
        r.to(create_sheet_url)
    }),
];

/// The `{id}` of a withdraw link route.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct LinkPath {
    /// The link's id (`wl_…`).
    id: String,
}

/// The `{batch_id}` of a batch route.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct BatchPath {
    /// The batch's id (`wb_…`).
    batch_id: String,
}

/// The filters of `GET /api/v1/withdraw-links`.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LinkFilter {
    /// Only links in this state.
    status: Option<WithdrawLinkStatus>,
    /// Only the vouchers of this batch (`wb_…`).
    batch_id: Option<String>,
}

/// Body of `POST /api/v1/withdraw-links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkBody {
    /// Minimum, msat.
    pub min_msat: u64,
    /// Maximum, msat.
    pub max_msat: u64,
    /// Uses (default 1).
    pub uses: Option<u64>,
    /// Seconds between uses (default 0).
    pub wait_seconds: Option<u64>,
    /// RFC 3339 expiry.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description (the wallet's default invoice description).
    pub description: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Idempotency key.
    pub external_id: Option<String>,
    /// Serve LUD-14 balanceCheck.
    pub balance_check: Option<bool>,
    /// LUD-19 payLink.
    pub pay_link: Option<String>,
}

impl CreateLinkBody {
    fn into_new_link(self) -> Result<NewLink, Error> {
        let expires_at = match self.expires_at {
            None => None,
            Some(s) => Some(
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        Error::Invalid(format!(
                            "expires_at {s:?} is not an RFC 3339 timestamp (e.g. 2026-12-31T23:59:59Z)"
                        ))
                    })?
                    .unix_timestamp(),
            ),
        };
        let title = self.title.unwrap_or_default();
        Ok(NewLink {
            min_msat: self.min_msat,
            max_msat: self.max_msat,
            uses: self.uses.unwrap_or(1),
            wait_seconds: self.wait_seconds.unwrap_or(0),
            expires_at,
            description: self.description.unwrap_or_else(|| title.clone()),
            title,
            webhook_url: self.webhook_url,
            external_id: self.external_id,
            balance_check: self.balance_check.unwrap_or(false),
            pay_link: self.pay_link,
        })
    }
}

/// Creates a withdraw link. With an `external_id` already used for the
/// same parameters, answers that link again with 200 (a safe retry).
#[utoipa::path(post, path = api::WITHDRAW_LINKS, operation_id = "create_withdraw_link", tag = "withdraw-links",
    request_body = CreateLinkBody,
    responses(
        (status = 201, description = "Created", body = LinkView),
        (status = 200, description = "The link this `external_id` already names", body = LinkView),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn create_link(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<CreateLinkBody>,
) -> Result<HttpResponse, ApiError> {
    let n = body.into_inner().into_new_link()?;
    let (view, created) = svc.withdraw().create_withdraw_link(n).await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Body of `POST /api/v1/withdraw-links/batch` in the document:
/// [`CreateLinkBody`]'s schema, with `count`. (The handler reads `count`
/// and parses the rest as a [`CreateLinkBody`].)
pub(super) struct CreateBatchBody;

impl utoipa::PartialSchema for CreateBatchBody {
    fn schema() -> RefOr<Schema> {
        let mut schema = CreateLinkBody::schema();
        if let RefOr::T(Schema::Object(o)) = &mut schema {
            o.description = Some(
                "Body of `POST /api/v1/withdraw-links/batch`: the fields of each voucher, and `count`."
                    .into(),
            );
            o.properties.insert(
                "count".into(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(MAX_BATCH_COUNT))
                    .description(Some("Number of vouchers"))
                    .into(),
            );
            o.required.insert(0, "count".into());
        }
        schema
    }
}

impl ToSchema for CreateBatchBody {}

/// Creates a batch of vouchers. With an `external_id` already used for the
/// same parameters, answers that batch again with 200 (a safe retry).
#[utoipa::path(post, path = api::WITHDRAW_BATCHES, operation_id = "create_withdraw_batch", tag = "withdraw-links",
    request_body = CreateBatchBody,
    responses(
        (status = 201, description = "Created", body = BatchCreated),
        (status = 200, description = "The batch this `external_id` already names", body = BatchCreated),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn create_batch(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let mut v = body.into_inner();
    let count = v
        .as_object_mut()
        .and_then(|o| o.remove("count"))
        .ok_or_else(|| ApiError::invalid("count is required"))?;
    let count = count
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| ApiError::invalid("count must be a positive whole number"))?;
    let req: CreateLinkBody = serde_json::from_value(v)
        .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    let (batch, created) = svc
        .withdraw()
        .create_withdraw_batch(count, req.into_new_link()?)
        .await?;
    // Secrets and a signed URL: no cache may keep it.
    let status = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(no_store_json(status, batch))
}

/// Lists voucher batches, newest first.
#[utoipa::path(get, path = api::WITHDRAW_BATCHES, operation_id = "list_withdraw_batches", tag = "withdraw-links",
    params(PageQuery<BatchId>),
    responses(
        (status = 200, description = "A page of batches", body = Page<BatchView>),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn list_batches(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, BatchId::from_raw)?;
    let (batches, next) = svc.withdraw().list_batches(page.limit, page.cursor).await?;
    Ok(page_json(batches, next))
}

/// One batch as a unit: its parameters and where its vouchers are now.
#[utoipa::path(get, path = api::WITHDRAW_BATCH, operation_id = "get_withdraw_batch", tag = "withdraw-links",
    params(BatchPath),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn get_batch(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().batch_summary(&batch_id).await?))
}

/// Disables every voucher of a batch.
#[utoipa::path(delete, path = api::WITHDRAW_BATCH, operation_id = "disable_withdraw_batch", tag = "withdraw-links",
    params(BatchPath),
    responses(
        (status = 200, description = "The batch after disabling", body = BatchView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn disable_batch(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().disable_batch(&batch_id).await?))
}

/// Lists withdraw links, newest first.
#[utoipa::path(get, path = api::WITHDRAW_LINKS, operation_id = "list_withdraw_links", tag = "withdraw-links",
    params(LinkFilter, PageQuery<WithdrawLinkId>),
    responses(
        (status = 200, description = "A page of links", body = Page<LinkView>),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn list_links(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, WithdrawLinkId::from_raw)?;
    let status = query_param(&req, "status", params::FILTER)?;
    let batch = query_param(&req, "batch_id", params::FILTER)?.map(BatchId::from_raw);
    let (links, next) = svc
        .withdraw()
        .list_withdraw_links_in(batch, status.as_deref(), page.limit, page.cursor)
        .await?;
    Ok(page_json(links, next))
}

/// One withdraw link, with its withdrawals.
#[utoipa::path(get, path = api::WITHDRAW_LINK, operation_id = "get_withdraw_link", tag = "withdraw-links",
    params(LinkPath),
    responses(
        (status = 200, description = "The link", body = LinkView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn get_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<WithdrawLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().get_withdraw_link(&id).await?))
}

/// Disables a withdraw link: wallets are refused from now on.
#[utoipa::path(delete, path = api::WITHDRAW_LINK, operation_id = "disable_withdraw_link", tag = "withdraw-links",
    params(LinkPath),
    responses(
        (status = 200, description = "The disabled link", body = LinkView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn disable_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<WithdrawLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().disable_withdraw_link(&id).await?))
}

/// Body of `POST /api/v1/withdraw-links/batch/{batch_id}/sheet-url`
/// (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SheetUrlBody {
    /// How long the URL stays valid (default 900 s, at most a day).
    ttl_seconds: Option<u64>,
}

/// A signed URL of a batch's printable sheet.
#[derive(Serialize, ToSchema)]
pub(super) struct SheetUrl {
    /// RFC 3339, when the URL stops working.
    #[schema(format = DateTime)]
    expires_at: String,
    /// Opens the sheet in a browser without a token.
    url: String,
}

/// Signs a new short-lived URL of a batch's printable voucher sheet.
#[utoipa::path(post, path = api::WITHDRAW_BATCH_SHEET_URL, operation_id = "create_voucher_sheet_url", tag = "withdraw-links",
    params(BatchPath),
    request_body(content = Option<SheetUrlBody>, description = "Optional; an empty body takes the default"),
    responses(
        (status = 201, description = "The URL", body = SheetUrl),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn create_sheet_url(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SheetUrlBody = if body.iter().all(u8::is_ascii_whitespace) {
        SheetUrlBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?
    };
    let ttl = body.ttl_seconds.unwrap_or(SHEET_URL_DEFAULT_TTL_SECS);
    if ttl == 0 || ttl > SHEET_URL_MAX_TTL_SECS {
        return Err(ApiError::invalid(format!(
            "ttl_seconds must be between 1 and {SHEET_URL_MAX_TTL_SECS}"
        )));
    }
    if !svc.withdraw().voucher_batch_exists(&batch_id).await? {
        return Err(Error::NotFound("batch not found".into()).into());
    }
    let (url, expires_at) = svc.withdraw().voucher_sheet_url(&batch_id, ttl);
    Ok(no_store_json(
        HttpResponse::Created(),
        SheetUrl {
            expires_at: crate::service::rfc3339(expires_at),
            url,
        },
    ))
}
