//! QR drawing, shared by the web pages and QR image routes (`web`) and by the
//! terminal codes of the CLI (`cli.rs`).
//!
//! Pure: no I/O and no other lnurld layer; imports only `qrcode` and `image`.
//! Callers pass the UPPERCASE bech32 LNURL (LUD-01,
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

use image::ImageEncoder;
use qrcode::{EcLevel, QrCode};

/// Error correction level of every QR code (see the module docs).
pub const EC_LEVEL: EcLevel = EcLevel::Q;

/// Smallest side of a PNG, in pixels. The module size is a whole number of
/// pixels (so edges stay sharp), chosen so the image is at least this big:
/// about 8–9 px per module for a typical withdraw LNURL.
pub const PNG_MIN_PX: u32 = 400;

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The data does not fit in a QR code at [`EC_LEVEL`].
    #[error("cannot draw a QR code: {0}")]
    Data(qrcode::types::QrError),
    /// The PNG encoder failed.
    #[error("cannot encode a QR PNG: {0}")]
    Png(image::ImageError),
}

/// `data` as a QR code at [`EC_LEVEL`].
fn code(data: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(data.as_bytes(), EC_LEVEL).map_err(QrError::Data)
}

/// `data` as an SVG QR code (black on white, quiet zone, crisp edges).
pub fn svg(data: &str) -> Result<String, QrError> {
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
pub fn png(data: &str) -> Result<Vec<u8>, QrError> {
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
        .map_err(QrError::Png)?;
    Ok(out)
}

/// `data` as a QR code of Unicode half blocks for a terminal (two modules
/// per character cell, quiet zone included).
pub fn terminal(data: &str) -> Result<String, QrError> {
    Ok(code(data)?
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!terminal(&lnurl).expect("test input is valid").is_empty());
    }
}
