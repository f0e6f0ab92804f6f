//! QR images of links: `GET /qr/w/{secret}.svg|.png` (withdraw link),
//! `/qr/p/{id}.svg|.png` (pay link), `/qr/u/{username}.svg|.png`
//! (Lightning Address).
//!
//! Web layer: asks `service` for the LNURL and draws it. Every code holds the
//! UPPERCASE bech32 LNURL (LUD-01,
//! <https://github.com/lnurl/luds/blob/luds/01.md>): all its characters are
//! in the QR alphanumeric set, so the code is about a fifth smaller than in
//! byte mode, and wallets accept the uppercase form.
//!
//! Error correction is level Q (about 25 % of the code may be damaged):
//! these codes are printed on vouchers that get folded, creased, smudged and
//! scanned at an angle under poor light, and shown on glossy phone screens
//! with glare. A withdraw LNURL of a typical public URL stays around QR
//! version 7–8 (45–49 modules) at Q, still coarse enough to scan from a
//! phone across a table. Every image has the standard 4-module quiet zone.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use image::ImageEncoder;
use qrcode::{EcLevel, QrCode};

use super::pages::{not_found_page, page_error, security_headers};
use crate::service::{Error, Services};

/// Error correction level of every QR image (see the module docs).
pub const EC_LEVEL: EcLevel = EcLevel::Q;

/// Smallest side of a PNG, in pixels. The module size is a whole number of
/// pixels (so edges stay sharp), chosen so the image is at least this big:
/// about 8–9 px per module for a typical withdraw LNURL.
pub const PNG_MIN_PX: u32 = 400;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/qr/w/{file}")
            .wrap(security_headers())
            .route(web::get().to(withdraw_qr)),
    )
    .service(
        web::resource("/qr/p/{file}")
            .wrap(security_headers())
            .route(web::get().to(pay_qr)),
    )
    .service(
        web::resource("/qr/u/{file}")
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

fn code(data: &str) -> Result<QrCode, Error> {
    QrCode::with_error_correction_level(data.as_bytes(), EC_LEVEL)
        .map_err(|e| Error::Internal(format!("cannot draw a QR code: {e}")))
}

/// `data` as an SVG QR code (black on white, quiet zone, crisp edges).
pub fn svg(data: &str) -> Result<String, Error> {
    Ok(code(data)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// `data` as a PNG QR code (8-bit grey, quiet zone, at least
/// [`PNG_MIN_PX`] square).
pub fn png(data: &str) -> Result<Vec<u8>, Error> {
    let img = code(data)?
        .render::<image::Luma<u8>>()
        .min_dimensions(PNG_MIN_PX, PNG_MIN_PX)
        .quiet_zone(true)
        .build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| Error::Internal(format!("cannot encode a QR PNG: {e}")))?;
    Ok(out)
}

/// The image response for `lnurl` in `format`.
fn image_response(lnurl: &str, format: Format) -> Result<HttpResponse, Error> {
    Ok(match format {
        Format::Svg => HttpResponse::Ok()
            .content_type("image/svg+xml")
            .body(svg(lnurl)?),
        Format::Png => HttpResponse::Ok()
            .insert_header(ContentType::png())
            .body(png(lnurl)?),
    })
}

async fn withdraw_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((secret, format)) = split_file(&file) else {
        return not_found_page();
    };
    // Withdraw QRs are spendable secrets: `security_headers` already makes
    // every answer `no-store` and `no-referrer`.
    match svc.withdraw_lnurl(secret).await {
        Ok(lnurl) => image_response(&lnurl, format).unwrap_or_else(|e| page_error(&e)),
        Err(e) => page_error(&e),
    }
}

async fn pay_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((id, format)) = split_file(&file) else {
        return not_found_page();
    };
    match svc.get_pay_link(id).await {
        Ok(link) => image_response(&link.lnurl, format).unwrap_or_else(|e| page_error(&e)),
        Err(e) => page_error(&e),
    }
}

async fn address_qr(svc: web::Data<Services>, file: web::Path<String>) -> HttpResponse {
    let Some((username, format)) = split_file(&file) else {
        return not_found_page();
    };
    match svc.pay_link_by_username(username).await {
        Ok(link) => {
            let name = link.username.as_deref().unwrap_or(username);
            image_response(&svc.address_lnurl(name), format).unwrap_or_else(|e| page_error(&e))
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

    #[test]
    fn uppercase_lnurls_use_the_alphanumeric_mode() {
        let lnurl = crate::lnurl::bech32::encode_upper(
            "https://lnurl.example.com/lnurlw/0123456789abcdef0123456789abcdef",
        );
        let upper = code(&lnurl).expect("test input is valid");
        let lower = code(&lnurl.to_ascii_lowercase()).expect("test input is valid");
        assert!(upper.width() < lower.width(), "alphanumeric mode is denser");
        let png = png(&lnurl).expect("test input is valid");
        assert_eq!(&png[1..4], b"PNG");
        assert!(svg(&lnurl).expect("test input is valid").contains("<svg"));
    }
}
