//! The expiry phase (issue 10): a flood of unpaid invoices, planted
//! straight into the database, and the running server's sweeper timed
//! until every one is marked expired.

use std::time::{Duration, Instant};

use lnurld::db::models::PayInvoice;
use lnurld::db::types::{Msat, PayInvoiceState, PayLinkId};
use lnurld::db::{Db, DbUrl};

/// Plants `n` open invoices that expired a moment ago (as a flood of unpaid
/// callbacks leaves them) and times the running server's expiry sweeper
/// until every one is marked expired, each with its `invoice.expired` event.
pub async fn expiry_flood(database_url: &str, link: &str, n: u64) -> Duration {
    let link = PayLinkId::from_raw(link);
    let link = &link;
    use diesel::prelude::*;
    use lnurld::db::schema::pay_invoices::dsl as i;
    let db = Db::connect(&DbUrl::parse(database_url).expect("db url"), 2).expect("db");
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rows: Vec<PayInvoice> = (0..n)
        .map(|k| {
            let mut hash = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut hash);
            PayInvoice {
                payment_hash: hex::encode(hash),
                pay_link_id: link.clone(),
                bolt11: "lnbcrt-planted".into(),
                amount_msat: Msat::new(1_000).expect("fits"),
                comment: None,
                payer_data: None,
                state: PayInvoiceState::Open,
                preimage: None,
                amount_paid_msat: None,
                settle_index: None,
                expires_at: t - 1 - (k % 100) as i64,
                created_at: t - 3_600,
                settled_at: None,
                node_pubkey: None,
                zap_request: None,
                zap_receipt: None,
            }
        })
        .collect();
    for chunk in rows.chunks(5_000) {
        let chunk = chunk.to_vec();
        db.transaction(move |c| {
            for r in &chunk {
                r.insert(c)?;
            }
            Ok(())
        })
        .await
        .expect("plant expired invoices");
    }
    let started = Instant::now();
    loop {
        let left = db
            .run(move |c| {
                Ok(i::pay_invoices
                    .filter(i::state.eq(PayInvoiceState::Open))
                    .filter(i::expires_at.le(t))
                    .filter(i::expired_at.is_null())
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}
