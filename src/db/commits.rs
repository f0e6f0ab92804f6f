//! Counts the commits a pool makes: each outermost transaction committed
//! after a write, and each write statement run outside a transaction
//! (which commits on its own). On SQLite with `synchronous = FULL` every one of
//! them is an fsync, so the count per request is what the write paths
//! cost; a test holds it fixed (issue 12), so an extra commit fails a test
//! rather than only a benchmark.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// The instrumentation of one pooled connection, adding to its pool's count.
pub(super) struct CommitCount {
    /// Transaction depth (0: outside one).
    depth: u32,
    /// Whether the open transaction has run a write: one that has not
    /// commits nothing to disk on either backend, so it is not counted.
    wrote: bool,
    commits: Arc<AtomicU64>,
}

impl CommitCount {
    pub(super) fn new(commits: Arc<AtomicU64>) -> Self {
        CommitCount {
            depth: 0,
            wrote: false,
            commits,
        }
    }

    fn count(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

impl Instrumentation for CommitCount {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::BeginTransaction { depth, .. } => {
                if depth.get() == 1 {
                    self.wrote = false;
                }
                self.depth = depth.get();
            }
            InstrumentationEvent::CommitTransaction { depth, .. } => {
                if depth.get() == 1 && self.wrote {
                    self.count();
                }
                self.depth = depth.get() - 1;
            }
            InstrumentationEvent::RollbackTransaction { depth, .. } => self.depth = depth.get() - 1,
            InstrumentationEvent::StartQuery { query, .. } => {
                if self.depth == 0 {
                    if writes(&first_word(query)) {
                        self.count();
                    }
                } else if !self.wrote {
                    self.wrote = writes(&first_word(query));
                }
            }
            _ => {}
        }
    }
}

/// Whether a statement starting with `word` may change rows. Reads and
/// session or transaction control are the only statements that do not; any
/// other is counted, so a new kind of write is never missed.
fn writes(word: &str) -> bool {
    !matches!(
        word,
        "SELECT"
            | "PRAGMA"
            | "BEGIN"
            | "COMMIT"
            | "ROLLBACK"
            | "SAVEPOINT"
            | "RELEASE"
            | "SET"
            | "SHOW"
    )
}

/// The statement's first word, upper case, formatting no more of it than
/// that (this runs for every statement outside a transaction).
fn first_word(query: &dyn std::fmt::Display) -> String {
    struct Head(String);
    impl std::fmt::Write for Head {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if c.is_ascii_alphabetic() {
                    self.0.push(c.to_ascii_uppercase());
                } else if !self.0.is_empty() || !c.is_whitespace() {
                    // The word has ended (or the text starts oddly): stop
                    // formatting the rest of the query.
                    return Err(std::fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut head = Head(String::with_capacity(8));
    let _ = write!(head, "{query}");
    head.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_control_are_not_counted() {
        for (sql, counted) in [
            ("SELECT 1", false),
            ("  select * from x", false),
            ("PRAGMA synchronous", false),
            ("BEGIN IMMEDIATE", false),
            ("COMMIT", false),
            ("SAVEPOINT diesel_savepoint_1", false),
            ("INSERT INTO t VALUES (1)", true),
            ("update t set a = 1", true),
            ("DELETE FROM t", true),
            ("WITH x AS (SELECT 1) UPDATE t SET a = 1", true),
            ("CREATE TABLE t (a INT)", true),
        ] {
            assert_eq!(writes(&first_word(&sql)), counted, "{sql}");
        }
    }
}
