//! The offline receive demo, as the README gives it: `lnurld serve` with
//! offline receive and loopback webhooks on, then `lnurld offline demo
//! --pay`, the real binary both times. The fake phone registers, answers
//! the pushes with its own invoice, the payer pays it and LUD-21 verify
//! reports it settled with the phone's preimage. Everything on 127.0.0.1.

use lnurld::db::models::offline::{OfflineInvoice, RegistrationStats};

use crate::both_dbs;
use crate::support::db::TestDb;
use crate::support::serve::{lnurld_on, Served};

both_dbs!(the_two_command_demo_pays_a_fake_phone);

/// The README's first command's environment.
const DEMO_ENV: [(&str, &str); 4] = [
    ("LNURLD_OFFLINE__ENABLED", "true"),
    ("LNURLD_OFFLINE__WEBHOOK_HOSTS", "127.0.0.1"),
    ("LNURLD_OFFLINE__ALLOW_INSECURE_WEBHOOKS", "true"),
    ("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
];

async fn demo(db: &TestDb, args: Vec<String>) -> std::process::Output {
    let mut cmd = lnurld_on(db);
    cmd.args(["offline", "demo"]).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run lnurld offline demo"))
        .await
        .expect("join")
}

async fn the_two_command_demo_pays_a_fake_phone(db: TestDb) {
    let served = Served::start(&db, &DEMO_ENV, "077").await;
    let out = demo(
        &db,
        vec![
            "--server".into(),
            served.base.clone(),
            "--username".into(),
            "alice".into(),
            "--pay".into(),
            "1000".into(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", served.log());
    assert!(stdout.contains("registered: alice@127.0.0.1"), "{stdout}");
    assert!(stdout.contains("payer: paid 1000 sats"), "{stdout}");
    assert!(stdout.contains("payer: verify: settled"), "{stdout}");
    let hash = stdout
        .split("payment hash ")
        .nth(1)
        .and_then(|s| s.get(..64))
        .expect("payment hash in the output")
        .to_owned();

    // The server's side: one registration, three pushes answered, and the
    // payment proved to it (the preimage it checked is kept).
    let pool = db.pool().await;
    let h = hash.clone();
    let (regs, invoice) = pool
        .run(move |c| {
            Ok((
                RegistrationStats::list(c, 10, None)?,
                OfflineInvoice::find(c, &h)?,
            ))
        })
        .await
        .expect("query");
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0].username.as_deref(), Some("alice"));
    assert_eq!(
        (regs[0].pushes_sent, regs[0].replies_accepted),
        (3, 3),
        "{regs:?}"
    );
    let invoice = invoice.expect("the relayed invoice is kept");
    let preimage = hex::decode(invoice.preimage.expect("proved")).expect("hex");
    use bitcoin::hashes::{sha256, Hash};
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        hash
    );

    // The demo talks to loopback only: another server is refused before
    // any request is made.
    let out = demo(
        &db,
        vec![
            "--server".into(),
            "http://10.11.12.13:8080".into(),
            "--username".into(),
            "bob".into(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("127.0.0.0/8"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    served.stop();
}
