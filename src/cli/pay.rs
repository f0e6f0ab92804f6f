//! `lnurld pay …` and `lnurld address …`: pay links and Lightning
//! Addresses (pay links with a username) on the server's own database.

use clap::Subcommand;
use std::io::Write;

use lnurld::config::Config;
use lnurld::db::types::PayLinkId;
use lnurld::service::pay::{PayLinkSpec, PayLinkView, SuccessActionConfig};
use lnurld::service::Services;

use super::amount::{parse_amount, show_msat, show_range};
use super::out::{self, out, Paging, Table};
use super::print_addresses;

#[derive(Subcommand)]
pub enum PayCmd {
    /// Create a pay link.
    Create(PayCreate),
    /// List pay links, newest first.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one pay link with its latest invoices.
    Show {
        /// Pay link id.
        id: String,
        /// Print the QR code in the terminal.
        #[arg(long)]
        qr: bool,
        /// The admin API's JSON for the link.
        #[arg(long)]
        json: bool,
    },
    /// Disable a pay link (frees its username; invoices are kept).
    Disable {
        /// Pay link id.
        id: String,
    },
}

// The options of `pay create` (doc comments are the `--help` texts).
#[derive(clap::Args)]
pub struct PayCreate {
    /// Minimum amount with a unit.
    #[arg(long, default_value = "1sat", allow_hyphen_values = true)]
    min: String,
    /// Maximum amount with a unit.
    #[arg(long, default_value = "1000000sat", allow_hyphen_values = true)]
    max: String,
    /// Description shown by the wallet (`text/plain`).
    #[arg(long)]
    description: String,
    /// Make it a Lightning Address `<username>@<domain>`.
    #[arg(long)]
    username: Option<String>,
    /// Longest comment accepted (LUD-12; 0 = none).
    #[arg(long, default_value_t = 0)]
    comment_allowed: u32,
    /// Message shown after payment (LUD-09).
    #[arg(long)]
    success_message: Option<String>,
    /// Print the QR code in the terminal.
    #[arg(long)]
    qr: bool,
}

#[derive(Subcommand)]
pub enum AddressCmd {
    /// Publish `<username>@<domain>`.
    Add {
        /// The username (a-z, 0-9, '-', '_', '.').
        username: String,
        /// Description (default: "Pay <address>").
        #[arg(long)]
        description: Option<String>,
        /// Minimum amount with a unit.
        #[arg(long, default_value = "1sat", allow_hyphen_values = true)]
        min: String,
        /// Maximum amount with a unit.
        #[arg(long, default_value = "1000000sat", allow_hyphen_values = true)]
        max: String,
        /// Longest comment accepted.
        #[arg(long, default_value_t = 140)]
        comment_allowed: u32,
    },
    /// List addresses.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Remove an address (disables its pay link).
    Remove {
        /// The username.
        username: String,
    },
}

/// Runs one `pay` command.
pub async fn run(cmd: PayCmd, config: Config) -> anyhow::Result<()> {
    let svc = super::existing(config).await?.services;
    match cmd {
        PayCmd::Create(args) => create(&svc, args).await,
        PayCmd::List { paging } => list(&svc, false, &paging).await,
        PayCmd::Show { id, qr, json } => {
            let id = PayLinkId::from_raw(id);
            let l = svc.pay().get_pay_link(&id).await?;
            if json {
                return out::json(&l);
            }
            print_pay_link(&l, qr)?;
            out!("");
            let (invoices, _) = svc.pay().list_pay_invoices(&id, Some(20), None).await?;
            let mut t = Table::new(&["PAYMENT HASH", "STATE", "AMOUNT", "CREATED", "COMMENT"]);
            for i in invoices {
                t.row(vec![
                    i.payment_hash,
                    i.state.as_str().to_owned(),
                    show_msat(i.amount_msat.get()),
                    i.created_at,
                    i.comment.unwrap_or_default(),
                ]);
            }
            t.print("no invoices yet")
        }
        PayCmd::Disable { id } => {
            let l = svc.pay().disable_pay_link(&PayLinkId::from_raw(id)).await?;
            out!("{} disabled", l.id);
            Ok(())
        }
    }
}

/// Runs one `address` command.
pub async fn run_address(cmd: AddressCmd, config: Config) -> anyhow::Result<()> {
    let svc = super::existing(config).await?.services;
    match cmd {
        AddressCmd::Add {
            username,
            description,
            min,
            max,
            comment_allowed,
        } => {
            let description = description.unwrap_or_else(|| {
                format!(
                    "Pay {}",
                    svc.pay().lightning_address(&username.to_ascii_lowercase())
                )
            });
            let l = svc
                .pay()
                .create_pay_link(PayLinkSpec {
                    min_msat: parse_amount("--min", &min)?,
                    max_msat: parse_amount("--max", &max)?,
                    description,
                    username: Some(username),
                    comment_allowed,
                    ..PayLinkSpec::default()
                })
                .await?;
            print_pay_link(&l, false)
        }
        AddressCmd::List { paging } => list(&svc, true, &paging).await,
        AddressCmd::Remove { username } => {
            let l = svc.pay().pay_link_by_username(&username).await?;
            svc.pay().disable_pay_link(&l.id).await?;
            out!("{} removed", l.lightning_address.unwrap_or(username));
            Ok(())
        }
    }
}

async fn list(svc: &Services, addresses_only: bool, paging: &Paging) -> anyhow::Result<()> {
    let pay = svc.pay();
    let (links, next, left) = out::fetch(paging, PayLinkId::from_raw, |limit, cursor| {
        pay.list_pay_links(addresses_only, Some(limit), cursor)
    })
    .await?;
    if paging.json {
        return out::json(&serde_json::json!({"data": links, "next_cursor": next}));
    }
    let mut t = if addresses_only {
        Table::new(&["ADDRESS", "ID", "STATUS", "AMOUNT", "DESCRIPTION"])
    } else {
        Table::new(&["ID", "STATUS", "AMOUNT", "ADDRESS", "DESCRIPTION"])
    };
    for l in links {
        let (id, address) = (l.id.to_string(), l.lightning_address.unwrap_or_default());
        let (status, amount) = (
            l.status.as_str().to_owned(),
            show_range(l.min_msat.get(), l.max_msat.get()),
        );
        t.row(if addresses_only {
            vec![address, id, status, amount, l.description]
        } else {
            vec![id, status, amount, address, l.description]
        });
    }
    t.print(if addresses_only {
        "no addresses"
    } else {
        "no pay links"
    })?;
    out::more(left, next)
}

fn print_pay_link(l: &PayLinkView, qr: bool) -> anyhow::Result<()> {
    out!("id:       {}", l.id);
    out!(
        "amount:   {}, {}",
        show_range(l.min_msat.get(), l.max_msat.get()),
        l.status
    );
    if let Some(a) = &l.lightning_address {
        out!("address:  {a}");
    }
    print_addresses(&l.lnurl, &l.url, &l.page_url, qr)
}

async fn create(svc: &Services, args: PayCreate) -> anyhow::Result<()> {
    let l = svc
        .pay()
        .create_pay_link(PayLinkSpec {
            min_msat: parse_amount("--min", &args.min)?,
            max_msat: parse_amount("--max", &args.max)?,
            description: args.description,
            username: args.username,
            comment_allowed: args.comment_allowed,
            success_action: args
                .success_message
                .map(|message| SuccessActionConfig::Message { message }),
            ..PayLinkSpec::default()
        })
        .await?;
    print_pay_link(&l, args.qr)
}
