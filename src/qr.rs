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
    let code = code(data)?;
    let width = code.width();
    let modules = code.to_colors();
    let size = width + 2 * TERMINAL_QUIET_ZONE;
    let dark = |x: usize, y: usize| {
        let (Some(x), Some(y)) = (
            x.checked_sub(TERMINAL_QUIET_ZONE),
            y.checked_sub(TERMINAL_QUIET_ZONE),
        ) else {
            return false;
        };
        x < width && y < width && modules[y * width + x] == qrcode::Color::Dark
    };
    // Each character is two modules, one above the other: an upper half
    // block in the top module's colour on the bottom module's background.
    // The colours are explicit (black on bright white), never the
    // terminal's own, so a dark theme does not invert the code.
    let mut out = String::with_capacity(size * size * 6);
    for y in (0..size).step_by(2) {
        let mut pen = None;
        for x in 0..size {
            let cell = (dark(x, y), dark(x, y + 1));
            if pen != Some(cell) {
                let fg = if cell.0 { 30 } else { 97 };
                let bg = if cell.1 { 40 } else { 107 };
                out.push_str(&format!("\x1b[{fg};{bg}m"));
                pen = Some(cell);
            }
            out.push('▀');
        }
        out.push_str("\x1b[0m\n");
    }
    Ok(out)
}

/// Modules of light margin around the terminal code (the standard asks for
/// four; scanners find the code reliably with them on any background).
const TERMINAL_QUIET_ZONE: usize = 4;

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

    /// The terminal code as a screen shows it: every cell's upper and
    /// lower half, in the colours the escape codes set, or in the theme's
    /// own foreground/background where none are set.
    fn screen(text: &str, theme_fg: u8, theme_bg: u8) -> image::GrayImage {
        let mut rows: Vec<Vec<u8>> = Vec::new();
        for line in text.lines() {
            let (mut fg, mut bg) = (theme_fg, theme_bg);
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\x1b' => {
                        let mut seq = String::new();
                        for d in chars.by_ref() {
                            if d == 'm' {
                                break;
                            }
                            seq.push(d);
                        }
                        for p in seq.trim_start_matches('[').split(';') {
                            match p {
                                "0" => (fg, bg) = (theme_fg, theme_bg),
                                "30" => fg = 0,
                                "97" => fg = 255,
                                "40" => bg = 0,
                                "107" => bg = 255,
                                _ => {}
                            }
                        }
                    }
                    '▀' | '▄' | '█' | ' ' => {
                        let (upper, lower) = match c {
                            '▀' => (fg, bg),
                            '▄' => (bg, fg),
                            '█' => (fg, fg),
                            _ => (bg, bg),
                        };
                        top.push(upper);
                        bottom.push(lower);
                    }
                    _ => {}
                }
            }
            rows.push(top);
            rows.push(bottom);
        }
        let (w, h) = (rows.iter().map(Vec::len).max().unwrap_or(0), rows.len());
        const SCALE: usize = 4;
        image::GrayImage::from_fn((w * SCALE) as u32, (h * SCALE) as u32, |x, y| {
            let row = &rows[y as usize / SCALE];
            image::Luma([*row.get(x as usize / SCALE).unwrap_or(&theme_bg)])
        })
    }

    fn decode(img: image::GrayImage) -> Option<String> {
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        grids
            .first()
            .and_then(|g| g.decode().ok())
            .map(|(_, text)| text)
    }

    #[test]
    fn terminal_code_scans_on_light_and_dark_themes() {
        let lnurl = crate::lnurl::bech32::encode_upper(
            "https://lnurl.example.com/lnurlw/0123456789abcdef0123456789abcdef",
        );
        let text = terminal(&lnurl).expect("test input is valid");
        // Light theme: dark text on white; dark theme: light text on black.
        for (theme, fg, bg) in [("light", 0, 255), ("dark", 255, 0)] {
            assert_eq!(
                decode(screen(&text, fg, bg)).as_deref(),
                Some(lnurl.as_str()),
                "{theme} theme"
            );
        }
    }
}
