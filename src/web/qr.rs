//! QR images of links: `GET /qr/w/{secret}.svg|.png` (withdraw link),
//! `/qr/p/{id}.svg|.png` (pay link), `/qr/u/{username}.svg|.png`
//! (Lightning Address).
//!
//! Web layer: asks `service` for the UPPERCASE bech32 LNURL and has
//! [`crate::qr`] draw it (error correction level, sizes and why are
//! documented there).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use super::html::{not_found_page, page_error, security_headers};
use crate::db::types::PayLinkId;
use crate::paths;
use crate::service::{Error, Services};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(crate::paths::QR_WITHDRAW)
            .wrap(security_headers())
            .route(web::get().to(withdraw_qr)),
    )
    .service(
        web::resource(paths::QR_PAY)
            .wrap(security_headers())
            .route(web::get().to(pay_qr)),
    )
    .service(
        web::resource(paths::QR_ADDRESS)
            .wrap(security_headers())
            .route(web::get().to(address_qr)),
    );
}

/// Image format asked for by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `image/svg+xml`.
    Svg,
    /// `image/png`.
    Png,
}

/// Splits `name.svg` / `name.png`; `None` for any other extension.
fn split_file(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "svg" => Format::Svg,
        "png" => Format::Png,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, format))
}

/// The image response for `lnurl` in `format`.
fn image_response(lnurl: &str, format: Format) -> Result<HttpResponse, Error> {
    let drawn = match format {
        Format::Svg => crate::qr::svg(lnurl)
            .map(|svg| HttpResponse::Ok().content_type("image/svg+xml").body(svg)),
        Format::Png => crate::qr::png(lnurl).map(|png| {
            HttpResponse::Ok()
                .insert_header(ContentType::png())
                .body(png)
        }),
    };
    drawn.map_err(|e| Error::Internal(e.to_string()))
}

async fn withdraw_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((secret, format)) = split_file(&file) else {
        return not_found_page();
    };
    // Withdraw QRs are spendable secrets: `security_headers` already makes
    // every answer `no-store` and `no-referrer`.
    match svc.withdraw().withdraw_lnurl(secret).await {
        Ok(lnurl) => image_response(&lnurl, format).unwrap_or_else(|e| page_error(&e)),
        Err(e) => page_error(&e),
    }
}

async fn pay_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((id, format)) = split_file(&file) else {
        return not_found_page();
    };
    match svc.pay().get_pay_link(&PayLinkId::from_raw(id)).await {
        Ok(link) => image_response(&link.lnurl, format).unwrap_or_else(|e| page_error(&e)),
        Err(e) => page_error(&e),
    }
}

async fn address_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((username, format)) = split_file(&file) else {
        return not_found_page();
    };
    match svc.pay().pay_link_by_username(username).await {
        Ok(link) => {
            let name = link.username.as_deref().unwrap_or(username);
            image_response(&svc.pay().address_lnurl(name), format)
                .unwrap_or_else(|e| page_error(&e))
        }
        Err(e) => page_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_by_extension() {
        assert_eq!(split_file("abc.svg"), Some(("abc", Format::Svg)));
        assert_eq!(split_file("abc.png"), Some(("abc", Format::Png)));
        assert_eq!(split_file("abc.gif"), None);
        assert_eq!(split_file("abc"), None);
        assert_eq!(split_file(".png"), None);
    }
}
