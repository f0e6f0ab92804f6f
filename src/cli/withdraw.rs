//! `lnurld withdraw …`: withdraw links on the server's own database.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use std::io::Write;

use lnurld::config::Config;
use lnurld::db::types::WithdrawLinkId;
use lnurld::service::withdraw::{LinkView, NewLink};
use lnurld::service::Services;

use super::amount::{parse_amount, show_msat, show_range};
use super::out::{self, out, Paging, Table};
use super::print_addresses;

#[derive(Subcommand)]
pub enum WithdrawCmd {
    /// Create a withdraw link.
    Create(WithdrawCreate),
    /// List links, newest first.
    List {
        /// active, spent, expired or disabled.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one link with its withdrawals.
    Show {
        /// Link id.
        id: String,
        /// Print the QR code in the terminal.
        #[arg(long)]
        qr: bool,
        /// The admin API's JSON for the link.
        #[arg(long)]
        json: bool,
    },
    /// Disable a link (its history stays).
    Disable {
        /// Link id.
        id: String,
    },
}

// The options of `withdraw create` (doc comments are the `--help` texts).
// Amounts take hyphen values so that `-5sat` is refused as an amount, not
// mistaken for a flag.
#[derive(clap::Args)]
pub struct WithdrawCreate {
    /// Fixed amount with a unit: `1000sat`, `1000000msat` or `0.00001btc`.
    #[arg(long, conflicts_with_all = ["min", "max"], allow_hyphen_values = true)]
    amount: Option<String>,
    /// Minimum amount (with a unit) for a ranged link.
    #[arg(long, requires = "max", allow_hyphen_values = true)]
    min: Option<String>,
    /// Maximum amount (with a unit) for a ranged link.
    #[arg(long, requires = "min", allow_hyphen_values = true)]
    max: Option<String>,
    /// Number of uses.
    #[arg(long, default_value_t = 1)]
    uses: u64,
    /// Seconds to wait between uses.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Expiry as RFC 3339 (2026-12-31T23:59:59Z).
    #[arg(long)]
    expires_at: Option<String>,
    /// Title.
    #[arg(long, default_value = "")]
    title: String,
    /// Description the wallet puts on its invoice.
    #[arg(long)]
    description: Option<String>,
    /// Idempotency key: the same id never makes a second link.
    #[arg(long)]
    external_id: Option<String>,
    /// Print the QR code in the terminal.
    #[arg(long)]
    qr: bool,
}

/// Runs one `withdraw` command.
pub async fn run(cmd: WithdrawCmd, config: Config) -> anyhow::Result<()> {
    let app = super::existing(config).await?;
    let svc = app.services;
    match cmd {
        WithdrawCmd::Create(args) => create(&svc, args).await,
        WithdrawCmd::List { status, paging } => list(&svc, status.as_deref(), &paging).await,
        WithdrawCmd::Show { id, qr, json } => {
            let l = svc
                .withdraw()
                .get_withdraw_link(&WithdrawLinkId::from_raw(id))
                .await?;
            if json {
                return out::json(&l);
            }
            print_link(&l, qr)?;
            out!("");
            let mut t = Table::new(&["WITHDRAWAL", "STATE", "AMOUNT", "FEE", "CREATED", "REASON"]);
            for w in l.withdrawals.unwrap_or_default() {
                t.row(vec![
                    w.id.to_string(),
                    w.state.as_str().to_owned(),
                    show_msat(w.amount_msat.get()),
                    w.fee_msat
                        .map_or_else(|| "-".to_owned(), |f| show_msat(f.get())),
                    w.created_at,
                    w.failure_reason.unwrap_or_default(),
                ]);
            }
            t.print("no withdrawals yet")
        }
        WithdrawCmd::Disable { id } => {
            let l = svc
                .withdraw()
                .disable_withdraw_link(&WithdrawLinkId::from_raw(id))
                .await?;
            out!("{} disabled", l.id);
            Ok(())
        }
    }
}

async fn list(svc: &Services, status: Option<&str>, paging: &Paging) -> anyhow::Result<()> {
    let withdraw = svc.withdraw();
    let (links, next, left) = out::fetch(paging, WithdrawLinkId::from_raw, |limit, cursor| {
        withdraw.list_withdraw_links(status, Some(limit), cursor)
    })
    .await?;
    if paging.json {
        return out::json(&serde_json::json!({"data": links, "next_cursor": next}));
    }
    let mut t = Table::new(&["ID", "STATUS", "AMOUNT", "USES LEFT", "EXPIRES", "TITLE"]);
    for l in links {
        t.row(vec![
            l.id.to_string(),
            l.status.as_str().to_owned(),
            show_range(l.min_msat.get(), l.max_msat.get()),
            format!("{} of {}", l.uses_left, l.uses),
            l.expires_at.unwrap_or_else(|| "never".to_owned()),
            l.title,
        ]);
    }
    t.print("no withdraw links")?;
    out::more(left, next)
}

fn print_link(l: &LinkView, qr: bool) -> anyhow::Result<()> {
    out!("id:       {}", l.id);
    out!(
        "amount:   {}",
        show_range(l.min_msat.get(), l.max_msat.get())
    );
    out!("uses:     {} of {} left, {}", l.uses_left, l.uses, l.status);
    if !l.title.is_empty() {
        out!("title:    {}", l.title);
    }
    print_addresses(&l.lnurl, &l.url, &l.page_url, qr)
}

async fn create(svc: &Services, args: WithdrawCreate) -> anyhow::Result<()> {
    let (min_msat, max_msat) = match (args.amount, args.min, args.max) {
        (Some(a), _, _) => {
            let a = parse_amount("--amount", &a)?;
            (a, a)
        }
        (None, Some(lo), Some(hi)) => (parse_amount("--min", &lo)?, parse_amount("--max", &hi)?),
        _ => bail!("give --amount, or --min and --max"),
    };
    if min_msat > max_msat {
        bail!(
            "--min {} is more than --max {}",
            show_msat(min_msat),
            show_msat(max_msat)
        );
    }
    if !min_msat.is_multiple_of(1000) || !max_msat.is_multiple_of(1000) {
        // Allowed by LUD-03, but a wallet that makes invoices in whole sats
        // cannot hit a fixed amount of 1.5 sat: say so before it bites.
        eprintln!(
            "note: {} is not whole sats; many wallets can only ask for whole sats",
            show_range(min_msat, max_msat)
        );
    }
    let expires_at = match args.expires_at {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| anyhow!("--expires-at {s:?} is not RFC 3339 (2026-12-31T23:59:59Z)"))?
                .unix_timestamp(),
        ),
    };
    let (view, created) = svc
        .withdraw()
        .create_withdraw_link(NewLink {
            min_msat,
            max_msat,
            uses: args.uses,
            wait_seconds: args.wait,
            expires_at,
            description: args.description.unwrap_or_else(|| args.title.clone()),
            title: args.title,
            webhook_url: None,
            external_id: args.external_id,
            balance_check: false,
            pay_link: None,
        })
        .await?;
    if !created {
        eprintln!("(a link with this external id already exists; showing it)");
    }
    print_link(&view, args.qr)
}
