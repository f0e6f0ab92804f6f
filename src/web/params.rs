//! Query-string parsing shared by every route group (web layer).

use actix_web::HttpRequest;

/// First value of a query parameter. Parsed by hand so that unknown extra
/// parameters (LUD-03 allows wallets to add them) and odd encodings never
/// turn into an extractor error page.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
