//! Pay link and Lightning Address pages (`/p/{id}`, `/u/{username}`), their amount form for wallets without LNURL, and the invoice page it leads to.

use super::*;

/// The amount form of a pay or address page, as shown (again, with the
/// person's input and what was wrong, after a refused attempt).
struct AmountForm {
    /// Where it is sent (`POST`).
    action: String,
    /// The amount field's value, in sats.
    amount: String,
    /// The comment field's value.
    comment: String,
    /// LUD-12 limit of the link; 0 hides the comment field.
    comment_allowed: u32,
    /// Why the last attempt was refused.
    error: Option<String>,
    /// A fixed amount: the field is filled in and read-only.
    fixed: bool,
}

impl AmountForm {
    fn new(action: String, l: &PayLinkView) -> AmountForm {
        let fixed = l.min_msat == l.max_msat;
        AmountForm {
            action,
            amount: if fixed {
                plain_sats(l.min_msat.get())
            } else {
                String::new()
            },
            comment: String::new(),
            comment_allowed: l.comment_allowed,
            error: None,
            fixed,
        }
    }
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayTpl {
    heading: String,
    description: String,
    long_description: Option<String>,
    amount: String,
    msat_note: Option<String>,
    lightning_address: Option<String>,
    comment_allowed: u32,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
    /// `None` once the link is disabled: nothing to scan, open or pay.
    form: Option<AmountForm>,
}

/// `Any amount from 1 to 1,000 sats` for ranges, the amount for fixed ones.
fn pay_amount_text(l: &PayLinkView) -> String {
    let (min, max) = (l.min_msat.get(), l.max_msat.get());
    if min == max {
        amount_text(min, max)
    } else {
        format!("Any amount from {} to {} sats", sats(min), sats(max))
    }
}

/// `1000` or `100.5`: sats as typed into a form (no separators).
pub(super) fn plain_sats(msat: u64) -> String {
    let whole = msat / 1000;
    match msat % 1000 {
        0 => whole.to_string(),
        frac => format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0')),
    }
}

/// An amount typed in sats (`1000`, `100.5`, up to 3 decimals) as msat.
pub(super) fn parse_sats(text: &str) -> Option<u64> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

fn pay_tpl(l: PayLinkView, form: Option<AmountForm>) -> PayTpl {
    PayTpl {
        heading: match &l.lightning_address {
            Some(a) => format!("Pay {a}"),
            None => "Pay with Lightning".to_owned(),
        },
        amount: pay_amount_text(&l),
        msat_note: msat_note(l.min_msat.get(), l.max_msat.get()),
        qr_svg: paths::qr_pay(l.id.as_str(), QrFormat::Svg),
        qr_png: paths::qr_pay(l.id.as_str(), QrFormat::Png),
        description: l.description,
        long_description: l.long_description,
        lightning_address: l.lightning_address,
        comment_allowed: l.comment_allowed,
        lnurl: l.lnurl,
        form,
    }
}

/// A page with an amount form may send it to us (see [`FORM_CSP`]).
fn with_form_csp(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(FORM_CSP),
    );
    res
}

pub(super) async fn pay_page(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    let l = match svc
        .pay()
        .get_pay_link(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    // A disabled link (wallets are told "unknown pay link") says so, and
    // offers nothing to scan, open or pay.
    let form = (l.status == PayLinkStatus::Active)
        .then(|| AmountForm::new(paths::pay_invoice(l.id.as_str()), &l));
    with_form_csp(render(StatusCode::OK, &pay_tpl(l, form)))
}

#[derive(Template)]
#[template(path = "address.html")]
struct AddressTpl {
    address: String,
    description: String,
    amount: String,
    lnurl: String,
    qr_svg: String,
    qr_png: String,
    form: AmountForm,
}

fn address_tpl(svc: &Services, name: &str, l: PayLinkView, form: AmountForm) -> AddressTpl {
    AddressTpl {
        address: svc.pay().lightning_address(name),
        amount: pay_amount_text(&l),
        description: l.description,
        lnurl: svc.pay().address_lnurl(name),
        qr_svg: paths::qr_address(name, QrFormat::Svg),
        qr_png: paths::qr_address(name, QrFormat::Png),
        form,
    }
}

pub(super) async fn address_page(
    svc: web::Data<Services>,
    username: web::Path<String>,
) -> HttpResponse {
    let l = match svc.pay().pay_link_by_username(&username).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let Some(name) = l.username.clone() else {
        return not_found_page();
    };
    let form = AmountForm::new(paths::address_invoice(&name), &l);
    with_form_csp(render(StatusCode::OK, &address_tpl(&svc, &name, l, form)))
}

/// Makes the invoice a form asks for, through the very call the LNURL-pay
/// callback makes (so every rule of a wallet's request holds here too), and
/// sends the person to its page; a refusal re-shows the form with the
/// reason (`Err` holds its status and the form).
async fn invoice_from_form(
    svc: &Services,
    l: &PayLinkView,
    mut form: AmountForm,
    body: &[u8],
) -> Result<HttpResponse, (StatusCode, AmountForm)> {
    let refuse = |form: &mut AmountForm, status: StatusCode, why: String| {
        form.error = Some(why);
        status
    };
    // Field by field, so that the fields read so far are shown again.
    let read = |name: &str, rule| {
        std::str::from_utf8(body)
            .map_err(|_| Error::Invalid("The form was not sent as text.".into()))
            .and_then(|b| params::form_param(b, name, rule))
    };
    let amount = match read("amount", params::AMOUNT) {
        Ok(a) => a,
        Err(e) => {
            let (status, why) = form_error(&e);
            return Err((refuse(&mut form, status, why), form));
        }
    };
    form.amount = amount.clone().unwrap_or_default();
    let comment = match read("comment", params::COMMENT) {
        Ok(c) => c,
        Err(e) => {
            let (status, why) = form_error(&e);
            return Err((refuse(&mut form, status, why), form));
        }
    };
    form.comment = comment.clone().unwrap_or_default();
    let (min, max) = (l.min_msat.get(), l.max_msat.get());
    let range = if min == max {
        format!("The amount is {} sats.", plain_sats(min))
    } else {
        format!("Enter an amount from {} to {} sats.", sats(min), sats(max))
    };
    let Some(amount_msat) = amount.as_deref().and_then(parse_sats) else {
        let why = match amount.as_deref().map(str::trim) {
            None | Some("") => format!("Enter the amount in sats. {range}"),
            Some(_) => {
                format!("Enter the amount as a number of sats, such as 1000 or 100.5. {range}")
            }
        };
        return Err((refuse(&mut form, StatusCode::BAD_REQUEST, why), form));
    };
    // Said in sats here; the service checks the same bounds again in msat.
    if amount_msat < min || amount_msat > max {
        let why = format!("{} sats is not possible. {range}", plain_sats(amount_msat));
        return Err((refuse(&mut form, StatusCode::BAD_REQUEST, why), form));
    }
    let answer = svc
        .pay()
        .pay_callback(
            &l.id,
            Some(amount_msat.to_string().as_str()),
            comment.as_deref(),
            None,
            None,
        )
        .await;
    match answer {
        Ok(r) => {
            // The verify URL ends with the payment hash (LUD-21).
            let hash = r
                .verify
                .as_deref()
                .and_then(|v| v.rsplit('/').next())
                .unwrap_or_default();
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    paths::pay_invoice_page(l.id.as_str(), hash),
                ))
                .finish())
        }
        Err(e) => {
            let (status, why) = form_error(&e);
            Err((refuse(&mut form, status, why), form))
        }
    }
}

pub(super) async fn pay_form(
    svc: web::Data<Services>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let l = match svc
        .pay()
        .get_pay_link(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(l) if l.status == PayLinkStatus::Active => l,
        // The page of a disabled link says so (and has no form).
        Ok(l) => return with_form_csp(render(StatusCode::NOT_FOUND, &pay_tpl(l, None))),
        Err(e) => return page_error(&e),
    };
    let form = AmountForm::new(paths::pay_invoice(l.id.as_str()), &l);
    match invoice_from_form(&svc, &l, form, &body).await {
        Ok(res) => res,
        Err((status, form)) => with_form_csp(render(status, &pay_tpl(l, Some(form)))),
    }
}

pub(super) async fn address_form(
    svc: web::Data<Services>,
    username: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let l = match svc.pay().pay_link_by_username(&username).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let Some(name) = l.username.clone() else {
        return not_found_page();
    };
    let form = AmountForm::new(paths::address_invoice(&name), &l);
    match invoice_from_form(&svc, &l, form, &body).await {
        Ok(res) => res,
        Err((status, form)) => with_form_csp(render(status, &address_tpl(&svc, &name, l, form))),
    }
}

/// `GET` of a form's target (a bookmark, a reload of a refused form): back
/// to the page with the form.
pub(super) async fn form_get(req: HttpRequest) -> HttpResponse {
    let to = req.path().trim_end_matches("/invoice").to_owned();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoiceTpl {
    heading: String,
    description: String,
    amount: String,
    msat_note: Option<String>,
    state: &'static str,
    label: &'static str,
    detail: String,
    bolt11: String,
    qr_data_uri: String,
    expires: String,
    expires_at: i64,
    verify_url: String,
    self_url: String,
    back_url: String,
    /// Open: the page polls LUD-21 verify and shows what to pay.
    live: bool,
}

/// What [`invoice_page`] reads from the BOLT11 itself.
struct InvoiceFacts {
    amount_msat: u64,
    expires_at: i64,
    description_hash: [u8; 32],
}

fn invoice_facts(bolt11: &str) -> Option<InvoiceFacts> {
    use bitcoin::hashes::Hash;
    use std::str::FromStr;
    let inv = lightning_invoice::Bolt11Invoice::from_str(bolt11).ok()?;
    let lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) = inv.description() else {
        return None;
    };
    Some(InvoiceFacts {
        amount_msat: inv.amount_milli_satoshis()?,
        expires_at: inv
            .expires_at()
            .and_then(|d| i64::try_from(d.as_secs()).ok())?,
        description_hash: h.0.to_byte_array(),
    })
}

/// The invoice an amount form made, and whether it is paid. Its state comes
/// from LUD-21 verify (which asks the node while the invoice is open), so a
/// reload is the "check payment" of a page without JavaScript.
pub(super) async fn invoice_page(
    svc: web::Data<Services>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, hash) = path.into_inner();
    let l = match svc.pay().get_pay_link(&PayLinkId::from_raw(id)).await {
        Ok(l) => l,
        Err(e) => return page_error(&e),
    };
    let v = match svc.pay().verify_invoice(&hash).await {
        Ok(v) => v,
        Err(e) => return page_error(&e),
    };
    // Only an invoice for this link's metadata is shown under its name
    // (a form's invoice hashes the bare metadata: no payer data).
    let facts = match invoice_facts(&v.pr) {
        Some(f) if f.description_hash == crate::lnurl::description_hash(&l.metadata, None) => f,
        _ => return not_found_page(),
    };
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires = date_text(facts.expires_at);
    let (state, label, detail) = if v.settled {
        ("paid", "Paid", "The payment arrived. Thank you!".to_owned())
    } else if l.status != PayLinkStatus::Active {
        (
            "disabled",
            "Disabled",
            "This pay link has been disabled; do not pay this invoice.".to_owned(),
        )
    } else if t >= facts.expires_at {
        (
            "expired",
            "Expired",
            format!("This invoice expired at {expires} unpaid. Make a new one to pay."),
        )
    } else {
        (
            "open",
            "Waiting for payment",
            "Pay this invoice with any Lightning wallet; this page says “Paid” once it arrives."
                .to_owned(),
        )
    };
    let live = state == "open";
    let qr_data_uri = if live {
        let data = v.pr.to_ascii_uppercase();
        // Drawing a PNG is CPU work: keep it off the async workers.
        match web::block(move || crate::qr::png(&data)).await {
            Ok(Ok(png)) => format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
            Ok(Err(e)) => return page_error(&Error::Internal(e.to_string())),
            Err(e) => return page_error(&Error::Internal(format!("invoice QR task: {e}"))),
        }
    } else {
        String::new()
    };
    let back_url = match &l.username {
        Some(u) if l.status == PayLinkStatus::Active => paths::address_page(u),
        _ => paths::pay_page(l.id.as_str()),
    };
    render(
        StatusCode::OK,
        &InvoiceTpl {
            heading: match &l.lightning_address {
                Some(a) => format!("Pay {a}"),
                None => "Pay with Lightning".to_owned(),
            },
            description: l.description,
            amount: amount_text(facts.amount_msat, facts.amount_msat),
            msat_note: msat_note(facts.amount_msat, facts.amount_msat),
            state,
            label,
            detail,
            bolt11: if live { v.pr } else { String::new() },
            qr_data_uri,
            expires,
            expires_at: facts.expires_at,
            verify_url: paths::lnurlp_verify(&hash.to_ascii_lowercase()),
            self_url: paths::pay_invoice_page(l.id.as_str(), &hash),
            back_url,
            live,
        },
    )
}
