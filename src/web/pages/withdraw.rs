//! The withdraw link's page (`/w/{secret}`) and its live state (`/w/{secret}/status`).

use super::*;

#[derive(Template)]
#[template(path = "withdraw.html")]
struct WithdrawTpl {
    heading: String,
    description: String,
    amount: String,
    msat_note: Option<String>,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
    status_url: String,
    state: &'static str,
    label: String,
    detail: String,
    expires: Option<String>,
    /// Not final: the page polls its state and shows the code to scan.
    live: bool,
}

pub(super) async fn withdraw_page(
    svc: web::Data<Services>,
    secret: web::Path<String>,
) -> HttpResponse {
    let p = match svc.withdraw().withdraw_page(&secret).await {
        Ok(p) => p,
        Err(e) => return page_error(&e),
    };
    let (min_msat, max_msat) = (p.min_msat.get(), p.max_msat.get());
    let amount = amount_text(min_msat, max_msat);
    let heading = if p.title.trim().is_empty() {
        format!("Withdraw {amount}")
    } else {
        p.title.clone()
    };
    render(
        StatusCode::OK,
        &WithdrawTpl {
            description: if p.description == p.title {
                String::new()
            } else {
                p.description.clone()
            },
            heading,
            msat_note: msat_note(min_msat, max_msat),
            amount,
            qr_svg: paths::qr_withdraw(&p.secret, QrFormat::Svg),
            qr_png: paths::qr_withdraw(&p.secret, QrFormat::Png),
            status_url: paths::withdraw_status(&p.secret),
            lnurl: p.lnurl,
            state: p.status.state.as_str(),
            label: p.status.label.clone(),
            detail: p.status.detail.clone(),
            expires: p.expires_at.map(date_text),
            live: !p.status.state.is_final(),
        },
    )
}

pub(super) async fn withdraw_status(
    svc: web::Data<Services>,
    secret: web::Path<String>,
) -> HttpResponse {
    match svc.withdraw().withdraw_status(&secret).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(Error::NotFound(_)) => HttpResponse::NotFound().json(serde_json::json!({
            "error": {"code": "not_found", "message": "unknown withdraw link"}
        })),
        Err(e) => {
            crate::web::error::log_cause("page", "withdraw_status", &e);
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": {"code": "unavailable", "message": "temporary server problem"}
            }))
        }
    }
}
