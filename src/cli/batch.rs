//! `lnurld batch …`: voucher batches on the server's own database, as
//! units: create (idempotent by `--external-id`), list, show, disable, and
//! `sheet`, which prints a signed URL of the printable sheet (the browser
//! prints it; the URL opens without a token until it expires).

use anyhow::{anyhow, bail};
use clap::Subcommand;
use std::io::Write;

use lnurld::config::Config;
use lnurld::db::types::BatchId;
use lnurld::service::withdraw::vouchers::{BatchView, SHEET_URL_DEFAULT_TTL_SECS};
use lnurld::service::withdraw::NewLink;
use lnurld::service::{rfc3339, Services};

use super::amount::{parse_amount, show_msat, show_range};
use super::out::{self, out, Paging, Table};

#[derive(Subcommand)]
pub enum BatchCmd {
    /// Create a batch of single-purpose withdraw links (vouchers).
    Create(BatchCreate),
    /// List batches, newest first, with their vouchers' states.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a batch: counts by state, amounts, what was withdrawn.
    Show {
        /// Batch id (`wb_…`).
        id: String,
        /// Also list the vouchers.
        #[arg(long)]
        links: bool,
        /// The admin API's JSON for the batch.
        #[arg(long)]
        json: bool,
    },
    /// Disable every voucher of a batch not yet spent, at once.
    Disable {
        /// Batch id (`wb_…`).
        id: String,
        /// The admin API's JSON for the batch afterwards.
        #[arg(long)]
        json: bool,
    },
    /// Print a signed URL of the batch's printable sheet; it opens in a
    /// browser without a token until it expires.
    Sheet {
        /// Batch id (`wb_…`).
        id: String,
        /// Seconds the URL stays valid (at most a day).
        #[arg(long, default_value_t = SHEET_URL_DEFAULT_TTL_SECS)]
        ttl: u64,
        /// `{"url": …, "expires_at": …}` as the admin API answers.
        #[arg(long)]
        json: bool,
    },
}

// The options of `batch create` (doc comments are the `--help` texts).
#[derive(clap::Args)]
pub struct BatchCreate {
    /// Number of vouchers (1–1000).
    #[arg(long)]
    count: u32,
    /// Fixed amount with a unit: `1000sat`, `1000000msat` or `0.00001btc`.
    #[arg(long, conflicts_with_all = ["min", "max"], allow_hyphen_values = true)]
    amount: Option<String>,
    /// Minimum amount (with a unit) for ranged vouchers.
    #[arg(long, requires = "max", allow_hyphen_values = true)]
    min: Option<String>,
    /// Maximum amount (with a unit) for ranged vouchers.
    #[arg(long, requires = "min", allow_hyphen_values = true)]
    max: Option<String>,
    /// Uses of each voucher.
    #[arg(long, default_value_t = 1)]
    uses: u64,
    /// Seconds to wait between uses.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Expiry as RFC 3339 (2026-12-31T23:59:59Z).
    #[arg(long)]
    expires_at: Option<String>,
    /// Title printed on each voucher.
    #[arg(long, default_value = "")]
    title: String,
    /// Description the wallet puts on its invoice.
    #[arg(long)]
    description: Option<String>,
    /// Idempotency key: the same id and options answer the same batch.
    #[arg(long)]
    external_id: Option<String>,
    /// The admin API's JSON (the vouchers with their secrets).
    #[arg(long)]
    json: bool,
}

/// Runs one `batch` command.
pub async fn run(cmd: BatchCmd, config: Config) -> anyhow::Result<()> {
    let svc = super::existing(config).await?.services;
    match cmd {
        BatchCmd::Create(args) => create(&svc, args).await,
        BatchCmd::List { paging } => list(&svc, &paging).await,
        BatchCmd::Show { id, links, json } => {
            let id = BatchId::from_raw(id);
            let b = svc.withdraw().batch_summary(&id).await?;
            if json {
                return out::json(&b);
            }
            print_batch(&b)?;
            if links {
                out!("");
                let links = svc.withdraw().withdraw_batch(&id).await?;
                let mut t = Table::new(&["ID", "STATUS", "USES LEFT", "LNURL"]);
                for l in links {
                    t.row(vec![
                        l.id.to_string(),
                        l.status.as_str().to_owned(),
                        format!("{} of {}", l.uses_left, l.uses),
                        l.lnurl,
                    ]);
                }
                t.print("no vouchers")?;
            }
            Ok(())
        }
        BatchCmd::Disable { id, json } => {
            let b = svc.withdraw().disable_batch(&BatchId::from_raw(id)).await?;
            if json {
                return out::json(&b);
            }
            out!(
                "{} disabled: {} voucher(s) disabled, {} spent kept",
                b.batch_id,
                b.disabled,
                b.spent
            );
            Ok(())
        }
        BatchCmd::Sheet { id, ttl, json } => {
            if ttl == 0 || ttl > lnurld::service::withdraw::vouchers::SHEET_URL_MAX_TTL_SECS {
                bail!("--ttl {ttl}: must be between 1 and 86400 seconds");
            }
            let id = BatchId::from_raw(id);
            if !svc.withdraw().voucher_batch_exists(&id).await? {
                bail!("{id}: batch not found");
            }
            let (url, expires_at) = svc.withdraw().voucher_sheet_url(&id, ttl);
            if json {
                return out::json(
                    &serde_json::json!({"url": url, "expires_at": rfc3339(expires_at)}),
                );
            }
            out!("{url}");
            eprintln!(
                "Open it in a browser before {} and print at 100 %; it holds spendable vouchers.",
                rfc3339(expires_at)
            );
            Ok(())
        }
    }
}

fn print_batch(b: &BatchView) -> anyhow::Result<()> {
    out!("id:        {}", b.batch_id);
    if let Some(x) = &b.external_id {
        out!("external:  {x}");
    }
    if !b.title.is_empty() {
        out!("title:     {}", b.title);
    }
    out!(
        "vouchers:  {} × {}, {} use(s) each",
        b.count,
        show_range(b.min_msat.get(), b.max_msat.get()),
        b.uses
    );
    out!(
        "states:    {} active, {} spent, {} expired, {} disabled",
        b.active,
        b.spent,
        b.expired,
        b.disabled
    );
    out!(
        "withdrawn: {} of {} (pending {}, fees {})",
        show_msat(b.withdrawn_msat),
        show_msat(b.total_msat),
        show_msat(b.pending_msat),
        show_msat(b.fees_msat)
    );
    out!("expires:   {}", b.expires_at.as_deref().unwrap_or("never"));
    out!("created:   {}", b.created_at);
    Ok(())
}

async fn list(svc: &Services, paging: &Paging) -> anyhow::Result<()> {
    let withdraw = svc.withdraw();
    let (batches, next, left) = out::fetch(paging, BatchId::from_raw, |limit, cursor| {
        withdraw.list_batches(Some(limit), cursor)
    })
    .await?;
    if paging.json {
        return out::json(&serde_json::json!({"data": batches, "next_cursor": next}));
    }
    let mut t = Table::new(&[
        "ID", "CREATED", "COUNT", "ACTIVE", "SPENT", "AMOUNT", "EXPIRES", "TITLE",
    ]);
    for b in batches {
        t.row(vec![
            b.batch_id.to_string(),
            b.created_at,
            b.count.to_string(),
            b.active.to_string(),
            b.spent.to_string(),
            show_range(b.min_msat.get(), b.max_msat.get()),
            b.expires_at.unwrap_or_else(|| "never".to_owned()),
            b.title,
        ]);
    }
    t.print("no batches")?;
    out::more(left, next)
}

async fn create(svc: &Services, args: BatchCreate) -> anyhow::Result<()> {
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
    let expires_at = match args.expires_at {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| anyhow!("--expires-at {s:?} is not RFC 3339 (2026-12-31T23:59:59Z)"))?
                .unix_timestamp(),
        ),
    };
    let (batch, created) = svc
        .withdraw()
        .create_withdraw_batch(
            args.count,
            NewLink {
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
            },
        )
        .await?;
    if !created {
        eprintln!("(a batch with this external id and these options exists; showing it)");
    }
    if args.json {
        return out::json(&batch);
    }
    let summary = svc.withdraw().batch_summary(&batch.batch_id).await?;
    print_batch(&summary)?;
    out!(
        "sheet:     {} (until {})",
        batch.vouchers_url,
        batch.vouchers_url_expires_at
    );
    Ok(())
}
