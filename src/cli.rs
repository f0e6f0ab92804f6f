//! The command line: `serve`, `migrate`, `token create`, `withdraw …`.
//! CLI commands work on the same database as the server, through the same
//! service layer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use lnurld::config::{Config, LogFormat, NodeKind, Overrides};
use lnurld::db::types::{Msat, PayLinkId, WithdrawLinkId};
use lnurld::qr::QrError;
use lnurld::service::pay::{PayLinkSpec, PayLinkView, SuccessActionConfig};
use lnurld::service::withdraw::{LinkView, NewLink};
use lnurld::service::Services;
use lnurld::{App, NodeCheck};

#[derive(Parser)]
#[command(
    name = "lnurld",
    version,
    about = "A self-hosted LNURL server in front of your own LND"
)]
struct Cli {
    /// Config file (default: lnurld.toml in the working directory, if present).
    #[arg(long, global = true, env = "LNURLD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`).
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Public base URL (overrides `public_url`).
    #[arg(long, global = true)]
    public_url: Option<String>,
    /// Database URL (overrides `database_url`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (and its background workers).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// LNURL-withdraw links.
    #[command(subcommand)]
    Withdraw(WithdrawCmd),
    /// LNURL-pay links.
    #[command(subcommand)]
    Pay(PayCmd),
    /// Lightning Addresses (pay links with a username).
    #[command(subcommand)]
    Address(AddressCmd),
}

#[derive(Subcommand)]
enum PayCmd {
    /// Create a pay link.
    Create(PayCreate),
    /// List pay links, newest first.
    List {
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one pay link with its latest invoices.
    Show {
        /// Pay link id.
        id: String,
        /// Print the QR code in the terminal.
        #[arg(long)]
        qr: bool,
    },
    /// Disable a pay link (frees its username; invoices are kept).
    Disable {
        /// Pay link id.
        id: String,
    },
}

// The options of `pay create` (doc comments are the `--help` texts).
#[derive(clap::Args)]
struct PayCreate {
    /// Minimum amount with a unit (default 1sat).
    #[arg(long, default_value = "1sat")]
    min: String,
    /// Maximum amount with a unit (default 1000000sat).
    #[arg(long, default_value = "1000000sat")]
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
enum AddressCmd {
    /// Publish `<username>@<domain>`.
    Add {
        /// The username (a-z, 0-9, '-', '_', '.').
        username: String,
        /// Description (default: "Pay <address>").
        #[arg(long)]
        description: Option<String>,
        /// Minimum amount with a unit.
        #[arg(long, default_value = "1sat")]
        min: String,
        /// Maximum amount with a unit.
        #[arg(long, default_value = "1000000sat")]
        max: String,
        /// Longest comment accepted.
        #[arg(long, default_value_t = 140)]
        comment_allowed: u32,
    },
    /// List addresses.
    List,
    /// Remove an address (disables its pay link).
    Remove {
        /// The username.
        username: String,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum WithdrawCmd {
    /// Create a withdraw link.
    Create(WithdrawCreate),
    /// List links, newest first.
    List {
        /// active, spent, expired or disabled.
        #[arg(long)]
        status: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one link with its withdrawals.
    Show {
        /// Link id.
        id: String,
        /// Print the QR code in the terminal.
        #[arg(long)]
        qr: bool,
    },
    /// Disable a link (its history stays).
    Disable {
        /// Link id.
        id: String,
    },
}

// The options of `withdraw create` (doc comments are the `--help` texts).
#[derive(clap::Args)]
struct WithdrawCreate {
    /// Fixed amount, with a unit: `1000sat` or `1000000msat`.
    #[arg(long, conflicts_with_all = ["min", "max"])]
    amount: Option<String>,
    /// Minimum amount (with a unit) for a ranged link.
    #[arg(long, requires = "max")]
    min: Option<String>,
    /// Maximum amount (with a unit) for a ranged link.
    #[arg(long, requires = "min")]
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

/// Entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen,
        public_url: cli.public_url.clone(),
        database_url: cli.database_url.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lnurld: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lnurld: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lnurld: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cmd: Command, config: Config) -> anyhow::Result<()> {
    match cmd {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            App::build(config, NodeCheck::Skip).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token(TokenCmd::Create { name }) => {
            let app = App::build(config, NodeCheck::Skip).await?;
            let token = app.services.tokens().create(&name).await?;
            println!("{token}");
            eprintln!("Store this token now: it is shown only once (lnurld keeps only its hash).");
            Ok(())
        }
        Command::Withdraw(w) => withdraw(w, config).await,
        Command::Pay(p) => pay(p, config).await,
        Command::Address(a) => address(a, config).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let dev = config.node.kind == NodeKind::Dev;
    let public = config.public_url.clone();
    let app = App::build(config, NodeCheck::Required).await?;
    if dev {
        tracing::warn!("THE DEV NODE IS ACTIVE: it moves no real money. Configure [node] kind = \"lnd\" for production.");
        eprintln!("\n  WARNING: lnurld is running on its embedded dev node (regtest). No real money moves.\n");
    }
    if !app.services.tokens().any_active().await? {
        let token = app.services.tokens().create("initial").await?;
        eprintln!("  Admin API token (shown once, stored only as a hash):\n\n    {token}\n");
    }
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let running = app.spawn(listener, workers)?;
    tracing::info!(addr = %running.addr, public_url = %public, "lnurld listening");
    wait_for_signal().await;
    tracing::info!("shutting down");
    let panics = running.stop(true).await;
    if !panics.is_empty() {
        // A worker died while serving (each panic was logged when seen): a
        // supervisor should notice, so the exit status says so.
        bail!(
            "{} background task(s) panicked: {}",
            panics.len(),
            panics.join("; ")
        );
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Parses `1000sat`, `1000000msat`, `0.5btc`-free amounts into msat.
fn parse_amount(s: &str) -> anyhow::Result<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("msat") {
        (n, 1u64)
    } else if let Some(n) = s.strip_suffix("sats") {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix("sat") {
        (n, 1000)
    } else {
        bail!("amount {s:?} needs a unit: e.g. 1000sat or 1000000msat");
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("amount {s:?} is not a whole number"))?;
    n.checked_mul(mult)
        .ok_or_else(|| anyhow!("amount {s:?} is too large"))
}

fn print_link(l: &LinkView, qr: bool) {
    println!("id:       {}", l.id);
    println!(
        "amount:   {}..{} msat, {} of {} uses left, {}",
        l.min_msat.get(),
        l.max_msat.get(),
        l.uses_left,
        l.uses,
        l.status
    );
    print_addresses(&l.lnurl, &l.url, &l.page_url, qr);
}

async fn withdraw(cmd: WithdrawCmd, config: Config) -> anyhow::Result<()> {
    let app = App::build(config, NodeCheck::Skip).await?;
    let svc = app.services;
    match cmd {
        WithdrawCmd::Create(args) => create_withdraw_link(&svc, args).await?,
        WithdrawCmd::List { status, limit } => {
            let (links, _) = svc
                .withdraw()
                .list_withdraw_links(status.as_deref(), Some(limit), None)
                .await?;
            for l in links {
                println!(
                    "{}  {:>9}  {}..{} msat  {}/{} uses left  {}",
                    l.id,
                    // `as_str`: Display would not pad.
                    l.status.as_str(),
                    l.min_msat.get(),
                    l.max_msat.get(),
                    l.uses_left,
                    l.uses,
                    l.title
                );
            }
        }
        WithdrawCmd::Show { id, qr } => {
            let l = svc
                .withdraw()
                .get_withdraw_link(&WithdrawLinkId::from_raw(id))
                .await?;
            print_link(&l, qr);
            for w in l.withdrawals.unwrap_or_default() {
                println!(
                    "  {} {:?} {} msat fee {:?} {}",
                    w.id,
                    w.state,
                    w.amount_msat.get(),
                    w.fee_msat.map(Msat::get),
                    w.failure_reason.unwrap_or_default()
                );
            }
        }
        WithdrawCmd::Disable { id } => {
            let l = svc
                .withdraw()
                .disable_withdraw_link(&WithdrawLinkId::from_raw(id))
                .await?;
            println!("{} disabled", l.id);
        }
    }
    Ok(())
}

async fn create_withdraw_link(svc: &Services, args: WithdrawCreate) -> anyhow::Result<()> {
    let (min_msat, max_msat) = match (args.amount, args.min, args.max) {
        (Some(a), _, _) => {
            let a = parse_amount(&a)?;
            (a, a)
        }
        (None, Some(lo), Some(hi)) => (parse_amount(&lo)?, parse_amount(&hi)?),
        _ => bail!("give --amount, or --min and --max"),
    };
    let expires_at = match args.expires_at {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| anyhow!("--expires-at {s:?} is not RFC 3339"))?
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
    print_link(&view, args.qr);
    Ok(())
}

/// The closing lines of `show`/`create` for either kind of link: where a
/// wallet and a person find it, and its QR code when asked.
fn print_addresses(lnurl: &str, url: &str, page_url: &str, qr: bool) {
    println!("lnurl:    {lnurl}");
    println!("url:      {url}");
    println!("page:     {page_url}");
    if qr {
        print_qr(lnurl);
    }
}

fn print_qr(data: &str) {
    match lnurld::qr::terminal(data) {
        Ok(code) => println!("\n{code}"),
        Err(QrError::Data(e)) => eprintln!("cannot draw the QR code: {e}"),
        Err(e) => eprintln!("{e}"),
    }
}

fn print_pay_link(l: &PayLinkView, qr: bool) {
    println!("id:       {}", l.id);
    println!(
        "amount:   {}..{} msat, {}",
        l.min_msat.get(),
        l.max_msat.get(),
        l.status
    );
    if let Some(a) = &l.lightning_address {
        println!("address:  {a}");
    }
    print_addresses(&l.lnurl, &l.url, &l.page_url, qr);
}

async fn pay(cmd: PayCmd, config: Config) -> anyhow::Result<()> {
    let svc = App::build(config, NodeCheck::Skip).await?.services;
    match cmd {
        PayCmd::Create(args) => create_pay_link(&svc, args).await?,
        PayCmd::List { limit } => {
            let (links, _) = svc.pay().list_pay_links(false, Some(limit), None).await?;
            for l in links {
                println!(
                    "{}  {:>8}  {}..{} msat  {}  {}",
                    l.id,
                    // `as_str`: padding applies to a str, not to Display.
                    l.status.as_str(),
                    l.min_msat.get(),
                    l.max_msat.get(),
                    l.lightning_address.unwrap_or_default(),
                    l.description
                );
            }
        }
        PayCmd::Show { id, qr } => {
            let id = PayLinkId::from_raw(id);
            let l = svc.pay().get_pay_link(&id).await?;
            print_pay_link(&l, qr);
            let (invoices, _) = svc.pay().list_pay_invoices(&id, Some(20), None).await?;
            for i in invoices {
                println!(
                    "  {} {:>8} {} msat {}",
                    i.payment_hash,
                    i.state.as_str(),
                    i.amount_msat.get(),
                    i.comment.unwrap_or_default()
                );
            }
        }
        PayCmd::Disable { id } => {
            let l = svc.pay().disable_pay_link(&PayLinkId::from_raw(id)).await?;
            println!("{} disabled", l.id);
        }
    }
    Ok(())
}

async fn create_pay_link(svc: &Services, args: PayCreate) -> anyhow::Result<()> {
    let l = svc
        .pay()
        .create_pay_link(PayLinkSpec {
            min_msat: parse_amount(&args.min)?,
            max_msat: parse_amount(&args.max)?,
            description: args.description,
            username: args.username,
            comment_allowed: args.comment_allowed,
            success_action: args
                .success_message
                .map(|message| SuccessActionConfig::Message { message }),
            ..PayLinkSpec::default()
        })
        .await?;
    print_pay_link(&l, args.qr);
    Ok(())
}

async fn address(cmd: AddressCmd, config: Config) -> anyhow::Result<()> {
    let svc = App::build(config, NodeCheck::Skip).await?.services;
    match cmd {
        AddressCmd::Add {
            username,
            description,
            min,
            max,
            comment_allowed,
        } => {
            let l = svc
                .pay()
                .create_pay_link(PayLinkSpec {
                    min_msat: parse_amount(&min)?,
                    max_msat: parse_amount(&max)?,
                    description: description.unwrap_or_else(|| {
                        format!(
                            "Pay {}",
                            svc.pay().lightning_address(&username.to_ascii_lowercase())
                        )
                    }),
                    username: Some(username),
                    comment_allowed,
                    ..PayLinkSpec::default()
                })
                .await?;
            print_pay_link(&l, false);
        }
        AddressCmd::List => {
            let (links, _) = svc.pay().list_pay_links(true, Some(500), None).await?;
            for l in links {
                if let Some(a) = l.lightning_address {
                    println!("{a}  {}  {}", l.id, l.description);
                }
            }
        }
        AddressCmd::Remove { username } => {
            let l = svc.pay().pay_link_by_username(&username).await?;
            svc.pay().disable_pay_link(&l.id).await?;
            println!("{} removed", l.lightning_address.unwrap_or(username));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts_need_units() {
        assert_eq!(parse_amount("1000sat").unwrap(), 1_000_000);
        assert_eq!(parse_amount("1500msat").unwrap(), 1_500);
        assert!(parse_amount("1000").is_err());
        assert!(parse_amount("1.5sat").is_err());
    }
}
