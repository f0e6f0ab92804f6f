//! What the CLI prints: human tables with a header, or the admin API's JSON
//! with `--json`. Every write returns its error, so a reader that goes away
//! (`lnurld withdraw list | head -1`) ends the command quietly instead of
//! panicking the way `println!` would.

use std::future::Future;
use std::io::Write;

use serde::Serialize;

/// Writes one line to stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}
pub(crate) use out;

/// True when `e` is stdout's reader having gone away: not a failure of
/// the command.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `value` as pretty JSON, the same document the admin API answers.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    out!("{text}");
    Ok(())
}

/// A table: a header row and left-aligned columns two spaces apart; the
/// last column is not padded, so free text (titles) may be long.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as the header has).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the header and the rows, or `empty` when there are none.
    pub fn print(&self, empty: &str) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            out!("{empty}");
            return Ok(());
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            out!("{}", line.trim_end());
        }
        Ok(())
    }
}

/// Where a listing starts and how much of it to show.
#[derive(clap::Args)]
pub struct Paging {
    /// Page size (1–500).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Start after this id: the cursor a cut list printed.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every item, page after page.
    #[arg(long)]
    pub all: bool,
    /// The admin API's JSON (`{"data": [...], "next_cursor": ...}`).
    #[arg(long)]
    pub json: bool,
}

/// The largest page the service gives: what `--all` and the count of what
/// is left fetch at a time.
const BIG_PAGE: u32 = 500;

/// One page (or every page with `--all`) of a keyset listing, and what is
/// left after it: `(items, next_cursor, items left)`.
pub async fn fetch<T, C, F, Fut>(
    paging: &Paging,
    from: impl Fn(String) -> C,
    page: F,
) -> anyhow::Result<(Vec<T>, Option<C>, usize)>
where
    F: Fn(u32, Option<C>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<C>), lnurld::service::Error>>,
    C: Clone,
{
    let (mut items, mut next) = if paging.all {
        (Vec::new(), paging.cursor.clone().map(&from))
    } else {
        let (items, next) = page(paging.limit, paging.cursor.clone().map(&from)).await?;
        (items, next)
    };
    if paging.all {
        loop {
            let (more, after) = page(BIG_PAGE, next.clone()).await?;
            items.extend(more);
            next = after;
            if next.is_none() {
                break;
            }
        }
        return Ok((items, None, 0));
    }
    // Counting what is left walks the rest of the keyset: fine for a
    // command a person runs, and the only way to say how much was cut.
    let mut left = 0;
    let mut at = next.clone();
    while let Some(c) = at {
        let (more, after) = page(BIG_PAGE, Some(c)).await?;
        left += more.len();
        at = after;
    }
    Ok((items, next, left))
}

/// The line under a cut list.
pub fn more(left: usize, next: Option<impl std::fmt::Display>) -> anyhow::Result<()> {
    if let (true, Some(next)) = (left > 0, next) {
        out!("{left} more — use --cursor {next} or --all");
    }
    Ok(())
}
