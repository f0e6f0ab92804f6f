//! `lnurld node …`: which Lightning node this database belongs to, and
//! moving it to another (`node switch`). `serve` refuses a node other than
//! the recorded one; this is the deliberate way past that refusal.

use std::io::Write;

use anyhow::bail;
use clap::Subcommand;

use lnurld::config::Config;
use lnurld::service::nodes::SwitchPlan;
use lnurld::{App, Files, NodeCheck};

use super::amount::show_msat;
use super::out::{self, out, Table};

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Make the configured node the one this database belongs to. Without
    /// --confirm it only shows what would happen. Stop every instance first.
    Switch {
        /// Carry out the switch.
        #[arg(long)]
        confirm: bool,
        /// Set withdrawals still in flight on the old node aside as
        /// `needs_review` (never paid or given back automatically) instead
        /// of refusing.
        #[arg(long)]
        abandon_in_flight: bool,
        /// The plan (or the switch done) as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: NodeCmd, config: Config) -> anyhow::Result<()> {
    let NodeCmd::Switch {
        confirm,
        abandon_in_flight,
        json,
    } = cmd;
    let app = App::build_with(config, NodeCheck::Identify, Files::MustExist).await?;
    let nodes = app.services.nodes();
    let plan = nodes.switch_plan().await?;
    if plan.unchanged() {
        if json {
            return out::json(&plan);
        }
        out!(
            "{} is already the node this database belongs to; nothing to switch",
            plan.current
        );
        return Ok(());
    }
    if !json {
        show(&plan)?;
    }
    let blocked = !plan.in_flight.is_empty() && !abandon_in_flight;
    if !confirm || blocked {
        if json {
            out::json(&plan)?;
        }
        if blocked {
            bail!(
                "{} withdrawal(s) are in flight on node {}; only that node knows how they end. \
                 Start lnurld on that node again and let them finish, or pass --abandon-in-flight \
                 to set them aside as needs_review (nothing changed)",
                plan.in_flight.len(),
                plan.recorded.as_deref().unwrap_or("?")
            );
        }
        eprintln!("Nothing changed: run again with --confirm to switch.");
        return Ok(());
    }
    let done = nodes.switch(abandon_in_flight).await?;
    if json {
        return out::json(&done);
    }
    if !done.in_flight.is_empty() {
        eprintln!(
            "{} withdrawal(s) set aside as needs_review: look each up on node {} and settle it with the wallet's owner.",
            done.in_flight.len(),
            done.recorded.as_deref().unwrap_or("?")
        );
    }
    out!("Switched. This database now belongs to node:");
    out!("{}", done.current);
    Ok(())
}

/// The plan for a person: from, to, and what is in flight on the old node.
fn show(plan: &SwitchPlan) -> anyhow::Result<()> {
    out!(
        "Recorded node:   {}",
        plan.recorded.as_deref().unwrap_or("none yet")
    );
    out!("Configured node: {} ({})", plan.current, plan.network);
    if plan.in_flight.is_empty() {
        out!("No withdrawal is in flight on the recorded node.");
        return Ok(());
    }
    out!("In flight on the recorded node:");
    let mut t = Table::new(&["WITHDRAWAL", "AMOUNT", "PAYMENT HASH", "CREATED"]);
    for w in &plan.in_flight {
        t.row(vec![
            w.id.to_string(),
            show_msat(w.amount_msat.get()),
            w.payment_hash.clone(),
            w.created_at.clone(),
        ]);
    }
    t.print("")
}
