//! QR images of links: `GET /qr/w/{secret}.svg|.png` (withdraw link),
//! `/qr/p/{id}.svg|.png` (pay link), `/qr/u/{username}.svg|.png`
//! (Lightning Address).
//!
//! Web layer: asks `service` for the UPPERCASE bech32 LNURL and has
//! [`crate::qr`] draw it (error correction level, sizes and why are
//! documented there).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use super::error::page_error;
use super::html::{not_found_page, security_headers};
use crate::db::types::PayLinkId;
use crate::paths::{self, QrFormat};
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

/// Splits `name.svg` / `name.png`; `None` for any other extension.
fn split_file(file: &str) -> Option<(&str, QrFormat)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = QrFormat::from_ext(ext)?;
    (!name.is_empty()).then_some((name, format))
}

/// The image of `lnurl` in `format`, or the error page of whichever
/// failed: the lookup of the LNURL or the drawing.
fn image_response(lnurl: Result<String, Error>, format: QrFormat) -> HttpResponse {
    let drawn = lnurl.and_then(|lnurl| {
        match format {
            QrFormat::Svg => crate::qr::svg(&lnurl)
                .map(|svg| HttpResponse::Ok().content_type("image/svg+xml").body(svg)),
            QrFormat::Png => crate::qr::png(&lnurl).map(|png| {
                HttpResponse::Ok()
                    .insert_header(ContentType::png())
                    .body(png)
            }),
        }
        .map_err(|e| Error::Internal(e.to_string()))
    });
    drawn.unwrap_or_else(|e| page_error(&e))
}

async fn withdraw_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((secret, format)) = split_file(&file) else {
        return not_found_page();
    };
    // Withdraw QRs are spendable secrets: `security_headers` already makes
    // every answer `no-store` and `no-referrer`.
    image_response(svc.withdraw().withdraw_lnurl(secret).await, format)
}

async fn pay_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((id, format)) = split_file(&file) else {
        return not_found_page();
    };
    let link = svc.pay().get_pay_link(&PayLinkId::from_raw(id)).await;
    image_response(link.map(|l| l.lnurl), format)
}

async fn address_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((username, format)) = split_file(&file) else {
        return not_found_page();
    };
    let link = svc.pay().pay_link_by_username(username).await;
    let lnurl = link.map(|l| {
        let name = l.username.as_deref().unwrap_or(username);
        svc.pay().address_lnurl(name)
    });
    image_response(lnurl, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_by_extension() {
        assert_eq!(split_file("abc.svg"), Some(("abc", QrFormat::Svg)));
        assert_eq!(split_file("abc.png"), Some(("abc", QrFormat::Png)));
        assert_eq!(split_file("abc.gif"), None);
        assert_eq!(split_file("abc"), None);
        assert_eq!(split_file(".png"), None);
    }
}
