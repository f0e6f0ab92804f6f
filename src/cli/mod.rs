//! The command line: `serve`, `migrate`, `token create`, `withdraw …`.
//! CLI commands work on the same database as the server, through the same
//! service layer.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use lnurld::config::{Config, LogFormat, NodeKind, Overrides};
use lnurld::qr::QrError;
use lnurld::{App, Files, NodeCheck};

use out::out;

mod amount;
mod batch;
mod key;
mod node;
mod offline;
mod out;
mod pay;
mod withdraw;

/// The help heading of the flags every command takes.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "lnurld",
    version,
    about = "A self-hosted LNURL server in front of your own LND"
)]
// The global flags sit under their own heading, apart from each command's
// own options (clap otherwise mixes them in, alphabetically, everywhere).
struct Cli {
    /// Config file (default: lnurld.toml in the working directory, if present).
    #[arg(
        long,
        global = true,
        env = "LNURLD_CONFIG",
        hide_env_values = true,
        help_heading = GLOBAL
    )]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    listen: Option<std::net::SocketAddr>,
    /// Public base URL (overrides `public_url`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    public_url: Option<String>,
    /// Database URL (overrides `database_url`).
    #[arg(long, global = true, help_heading = GLOBAL)]
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
    Withdraw(withdraw::WithdrawCmd),
    /// LNURL-pay links.
    #[command(subcommand)]
    Pay(pay::PayCmd),
    /// Lightning Addresses (pay links with a username).
    #[command(subcommand)]
    Address(pay::AddressCmd),
    /// Voucher batches: create, list, show, disable, print.
    #[command(subcommand)]
    Batch(batch::BatchCmd),
    /// The Lightning node this database belongs to (switching nodes).
    #[command(subcommand)]
    Node(node::NodeCmd),
    /// The server key: rotate it.
    #[command(subcommand)]
    Key(key::KeyCmd),
    /// Offline receive: a fake phone wallet for a local demo.
    #[command(subcommand)]
    Offline(offline::OfflineCmd),
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// A name to recognise it by (unique among active tokens).
        #[arg(long)]
        name: String,
    },
    /// List tokens: name, created, last used (never the token itself).
    List {
        /// The admin API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name; it stops working at once everywhere.
    Revoke {
        /// Token id (`tok_…`) or name.
        id_or_name: String,
    },
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
    for warning in config.warnings(matches!(cli.command, Command::Serve)) {
        tracing::warn!("{warning}");
    }
    let json_logs = config.log_format == LogFormat::Json;
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lnurld: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt
        .block_on(run(cli.command, config))
        .and_then(|()| Ok(std::io::stdout().flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output left (`| head`): it has what it wanted.
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        // A JSON log has JSON lines only, its last words included.
        Err(e) if json_logs => {
            tracing::error!(error = one_line(&e), "lnurld stopped");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("lnurld: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: an error that
/// already quotes its cause (`database: database unavailable: …`) is not
/// followed by the cause again.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file or a log
    // collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
            out!("migrations applied");
            Ok(())
        }
        Command::Token(cmd) => token(cmd, config).await,
        Command::Withdraw(w) => withdraw::run(w, config).await,
        Command::Pay(p) => pay::run(p, config).await,
        Command::Address(a) => pay::run_address(a, config).await,
        Command::Batch(b) => batch::run(b, config).await,
        Command::Node(n) => node::run(n, config).await,
        Command::Key(k) => key::run(k, config).await,
        // Needs no database: it talks to a server over HTTP.
        Command::Offline(o) => offline::run(o).await,
    }
}

/// The app for a command that works on the server's database: it must
/// find that database and its key, and creates neither (only `serve` and
/// `migrate` do), so a command run in the wrong place says so instead of
/// starting an empty database with a new key.
async fn existing(config: Config) -> anyhow::Result<App> {
    Ok(App::build_with(config, NodeCheck::Skip, Files::MustExist).await?)
}

async fn token(cmd: TokenCmd, config: Config) -> anyhow::Result<()> {
    let tokens = existing(config).await?.services.tokens().clone();
    match cmd {
        TokenCmd::Create { name } => {
            let token = tokens.create(&name).await?;
            out!("{token}");
            eprintln!("Store this token now: it is shown only once (lnurld keeps only its hash).");
        }
        TokenCmd::List { json } => {
            let list = tokens.list().await?;
            if json {
                return out::json(&serde_json::json!({ "data": list }));
            }
            let mut t = out::Table::new(&["ID", "NAME", "CREATED", "LAST USED", "REVOKED"]);
            for v in list {
                t.row(vec![
                    v.id.to_string(),
                    v.name,
                    v.created_at,
                    v.last_used_at.unwrap_or_else(|| "never".to_owned()),
                    v.revoked_at.unwrap_or_else(|| "-".to_owned()),
                ]);
            }
            t.print("no tokens")?;
        }
        TokenCmd::Revoke { id_or_name } => {
            let v = tokens.revoke(&id_or_name).await?;
            out!("{} ({}) revoked", v.id, v.name);
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let dev = config.node.kind == NodeKind::Dev;
    let public = config.public_url.clone();
    let text_logs = config.log_format == LogFormat::Text;
    let app = App::build(config, NodeCheck::Required).await?;
    if dev {
        tracing::warn!("THE DEV NODE IS ACTIVE: it moves no real money. Configure [node] kind = \"lnd\" for production.");
        if text_logs {
            eprintln!("\n  WARNING: lnurld is running on its embedded dev node (regtest). No real money moves.\n");
        }
    }
    if !app.services.tokens().any_active().await? {
        let token = app.services.tokens().create("initial").await?;
        if text_logs {
            eprintln!("  Admin API token (shown once, stored only as a hash):\n\n    {token}\n");
        } else {
            tracing::warn!(%token, "admin API token (shown once, stored only as a hash)");
        }
    }
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let running = app.spawn(listener, workers)?;
    tracing::info!(addr = %running.addr, public_url = %public, "lnurld listening");
    wait_for_signal().await;
    tracing::info!(
        grace_secs = running.services.withdraw().shutdown_grace().as_secs(),
        "shutting down: HTTP first, then the payer hands what was answered OK to the node, then the other workers"
    );
    let panics = tokio::select! {
        panics = running.stop(true) => panics,
        // A second signal is an operator who will not wait: exit now, as a
        // crash would (nothing is lost, see DESIGN.md invariant 2).
        _ = wait_for_signal() => {
            tracing::warn!("second signal: exiting without waiting for the shutdown to finish");
            return Ok(());
        }
    };
    tracing::info!("stopped");
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

/// The closing lines of `show`/`create` for either kind of link: where a
/// wallet and a person find it, and its QR code when asked.
fn print_addresses(lnurl: &str, url: &str, page_url: &str, qr: bool) -> anyhow::Result<()> {
    out!("lnurl:    {lnurl}");
    out!("url:      {url}");
    out!("page:     {page_url}");
    if qr {
        match lnurld::qr::terminal(lnurl) {
            Ok(code) => out!("\n{code}"),
            Err(QrError::Data(e)) => eprintln!("cannot draw the QR code: {e}"),
            Err(e) => eprintln!("{e}"),
        }
    }
    Ok(())
}
