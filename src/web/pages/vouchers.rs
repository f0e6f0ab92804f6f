//! The printable voucher sheet (`/vouchers/{batch_id}`, admin token or signed URL).

use super::*;

/// One voucher as printed.
struct VoucherCard {
    amount: String,
    msat_note: Option<String>,
    title: String,
    expires: Option<String>,
    id: String,
    uses: u64,
    qr_data_uri: String,
}

#[derive(Template)]
#[template(path = "vouchers.html")]
struct VouchersTpl {
    batch_id: String,
    count: usize,
    left_off: usize,
    pages: Vec<Vec<VoucherCard>>,
}

/// Draws the sheet: one PNG QR per voucher, embedded as a `data:` URI so the
/// printed page needs nothing else (and a saved copy keeps its codes).
fn sheet_template(sheet: VoucherSheet) -> Result<VouchersTpl, Error> {
    let count = sheet.vouchers.len();
    let mut cards = Vec::with_capacity(count);
    for v in sheet.vouchers {
        let png = crate::qr::png(&v.lnurl).map_err(|e| Error::Internal(e.to_string()))?;
        cards.push(VoucherCard {
            amount: amount_text(v.min_msat.get(), v.max_msat.get()),
            msat_note: msat_note(v.min_msat.get(), v.max_msat.get()),
            title: v.title,
            expires: v.expires_at.map(date_text),
            id: v.id.to_string(),
            uses: v.uses,
            qr_data_uri: format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
        });
    }
    let mut pages = Vec::new();
    let mut it = cards.into_iter().peekable();
    while it.peek().is_some() {
        pages.push(it.by_ref().take(VOUCHERS_PER_PAGE).collect());
    }
    Ok(VouchersTpl {
        batch_id: sheet.batch_id.to_string(),
        count,
        left_off: sheet.left_off,
        pages,
    })
}

/// `Authorization: Bearer <admin token>` or `?t=<signed token>`; anything
/// else is refused before the batch is even looked up, and the refusal
/// shows nothing of the batch.
pub(super) async fn voucher_sheet(
    svc: web::Data<Services>,
    batch_id: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let batch_id = BatchId::from_raw(batch_id.into_inner());
    let bearer = bearer_token(&req).map(str::to_owned);
    if let Some(token) = bearer {
        match svc.tokens().authenticate(&token).await {
            Ok(_) => {}
            Err(Error::Unauthorized(_)) => return refused_unauthenticated(),
            Err(e) => return page_error(&e),
        }
    } else {
        match query_param(&req, "t", params::SHEET_TOKEN) {
            Ok(Some(t)) => {
                if svc
                    .withdraw()
                    .check_voucher_sheet_token(&batch_id, &t)
                    .is_err()
                {
                    return refused_bad_link();
                }
            }
            Ok(None) => return refused_unauthenticated(),
            // Not text at all, so not a token we signed.
            Err(_) => return refused_bad_link(),
        }
    }
    let sheet = match svc.withdraw().voucher_sheet(&batch_id).await {
        Ok(s) => s,
        Err(e) => return page_error(&e),
    };
    // Drawing hundreds of PNGs is CPU work: keep it off the async workers.
    match web::block(move || sheet_template(sheet)).await {
        Ok(Ok(tpl)) => render(StatusCode::OK, &tpl),
        Ok(Err(e)) => page_error(&e),
        Err(e) => page_error(&Error::Internal(format!("voucher sheet task: {e}"))),
    }
}
