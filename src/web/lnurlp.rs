//! LUD-06/16 wallet routes (being written).
use actix_web::web;
/// Registers the routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
