//! QR images (being written).
use actix_web::web;
/// Registers the routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
