//! Group commit for SQLite: one writer thread runs every write transaction
//! of this process. It takes the transactions waiting at that moment, runs
//! them in one `BEGIN IMMEDIATE` transaction, each in its own SAVEPOINT (so
//! one that fails rolls back alone), and commits once: one fsync for the
//! whole batch instead of one each. Nobody hears a result before the
//! commit that makes it durable; if the commit fails, every transaction of
//! the batch is told so, and none of them happened.
//!
//! Why: with `synchronous = FULL` every commit is an fsync, and writers from
//! the connection pool queued on SQLite's one write lock under
//! `busy_timeout`, each paying its own fsync (issue 12). Batching needs no
//! waiting: while one batch commits, the next one gathers.
//!
//! Other processes on the same file (a CLI command, a second instance)
//! still queue on the lock as before; `BEGIN IMMEDIATE` waits for them
//! under `busy_timeout`.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::Arc;

use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::{DbConn, DbError, DbUrl};

/// Transactions at most in one batch: a bound on how long the write lock
/// is held, and on how much one failed commit takes with it.
const MAX_BATCH: usize = 256;

/// Runs one transaction on the writer's connection and returns how to
/// answer its caller once the batch's fate is known, and whether the
/// batch's transaction is still whole (see [`in_savepoint`]).
type Job = Box<dyn FnOnce(Result<&mut DbConn, &str>) -> (Answer, bool) + Send>;

/// Answers a caller: `Ok` when the batch committed, else why it did not.
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// The handle the pool keeps; the thread ends when the last clone of the
/// pool is dropped.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    /// Waits for the thread to close its connection (see `Readers`' drop).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Writer {
    pub(super) fn start(url: DbUrl, commits: Arc<AtomicU64>) -> Result<Writer, DbError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("lnurld-db-writer".into())
            .spawn(move || writer_loop(&url, &commits, &queue))
            .map_err(|e| DbError::Unavailable(format!("cannot start the database writer: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `f` in its own savepoint of the next batch and returns its
    /// result once that batch has committed. `f`'s `Err` rolls back `f`'s
    /// work alone.
    pub(super) async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<diesel::result::Error> + From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let (outcome, whole) = match conn {
                Ok(c) => in_savepoint(c, f),
                Err(why) => (Err(E::from(DbError::Unavailable(why.to_owned()))), true),
            };
            let answer: Answer = Box::new(move |committed| {
                let answer = match committed {
                    Ok(()) => outcome,
                    // The batch is gone; so is this transaction's work,
                    // whatever its own outcome was.
                    Err(why) => Err(E::from(DbError::Unavailable(why.to_owned()))),
                };
                let _ = tx.send(answer);
            });
            (answer, whole)
        });
        if self.jobs.as_ref().is_none_or(|j| j.send(job).is_err()) {
            return Err(E::from(DbError::Unavailable(
                "the database writer has stopped".into(),
            )));
        }
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(E::from(DbError::Unavailable("database task failed".into()))),
        }
    }
}

/// Runs `f` in a SAVEPOINT of the batch's transaction. Returns its result
/// and whether the batch is still whole: the savepoint was released or
/// rolled back and the batch's transaction is open at depth 1. When it is
/// not (a failed `ROLLBACK TO`, a `RELEASE` that failed, or SQLite having
/// rolled back the whole transaction itself after a full disk or an I/O
/// error), nothing more may run on this connection: a later job would run
/// outside the batch, or the batch's COMMIT would keep a failed job's
/// partial writes.
fn in_savepoint<T, E, F>(c: &mut DbConn, f: F) -> (Result<T, E>, bool)
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    if let Err(e) = <DbConn as TransactionManager<DbConn>>::begin_transaction(c) {
        return (Err(E::from(e)), false);
    }
    let (outcome, closed) = match f(c) {
        Ok(v) => match <DbConn as TransactionManager<DbConn>>::commit_transaction(c) {
            Ok(()) => (Ok(v), true),
            Err(e) => (Err(E::from(e)), false),
        },
        Err(e) => {
            let closed = <DbConn as TransactionManager<DbConn>>::rollback_transaction(c).is_ok();
            (Err(e), closed)
        }
    };
    (outcome, closed && at_batch_depth(c))
}

/// Whether the connection is inside the batch's transaction and no deeper.
fn at_batch_depth(c: &mut DbConn) -> bool {
    super::transaction_depth(c) == Some(1)
}

fn writer_loop(url: &DbUrl, commits: &Arc<AtomicU64>, queue: &mpsc::Receiver<Job>) {
    let mut conn: Option<DbConn> = None;
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv() {
                Ok(job) => waiting.push_back(job),
                // Every pool handle is gone.
                Err(_) => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        let c = match conn.take() {
            Some(c) => c,
            None => match super::Manager::open(url, commits) {
                Ok(c) => c,
                Err(e) => {
                    let why = match e {
                        DbError::Unavailable(why) => why,
                        e => e.to_string(),
                    };
                    for job in waiting.drain(..) {
                        job(Err(&why)).0(Err(&why));
                    }
                    continue;
                }
            },
        };
        // A panic outside a job (diesel's commit path, a connection's
        // drop) must not end the writer: every later write would fail.
        // The callers of that batch hear "database task failed".
        conn = catch_unwind(AssertUnwindSafe(|| run_batch(c, &mut waiting))).unwrap_or(None);
    }
}

/// Runs up to [`MAX_BATCH`] waiting jobs in one transaction and answers
/// them. Returns the connection if it may be used again. Jobs not run
/// (after a panic) stay in `waiting` for the next batch.
fn run_batch(mut conn: DbConn, waiting: &mut VecDeque<Job>) -> Option<DbConn> {
    if let Err(e) = begin(&mut conn) {
        let why = format!("cannot begin the batch's transaction: {e}");
        for job in waiting.drain(..) {
            job(Err(&why)).0(Err(&why));
        }
        return None;
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(waiting.len());
    while let Some(job) = waiting.pop_front() {
        if answers.len() == MAX_BATCH {
            waiting.push_front(job);
            break;
        }
        match catch_unwind(AssertUnwindSafe(|| job(Ok(&mut conn)))) {
            Ok((answer, true)) => answers.push(answer),
            Ok((answer, false)) => {
                // Whatever the batch held is rolled back with the
                // connection, or was already; the jobs after this one run
                // in the next batch.
                answers.push(answer);
                let why = "a transaction of the same batch could not be rolled back alone";
                fail_all(answers, why);
                return None;
            }
            Err(_) => {
                // The panicking caller hears "database task failed" (its
                // answer was never made); dropping the connection rolls
                // back the batch, so the ones before it are told so.
                // Those after it run in the next batch.
                let why = "a transaction of the same batch panicked";
                fail_all(answers, why);
                return None;
            }
        }
    }
    if !at_batch_depth(&mut conn) {
        let why = "the batch's transaction was lost";
        fail_all(answers, why);
        return None;
    }
    match commit(&mut conn) {
        Ok(()) => {
            for answer in answers {
                answer(Ok(()));
            }
            Some(conn)
        }
        Err(e) => {
            fail_all(answers, &format!("the batch's commit failed: {e}"));
            // Diesel rolled back (or marked the connection broken): either
            // way a fresh connection is the safe next step.
            None
        }
    }
}

/// Tells every caller of a batch that did not commit why.
fn fail_all(answers: Vec<Answer>, why: &str) {
    for answer in answers {
        answer(Err(why));
    }
}

fn begin(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

fn commit(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
        DbConn::Pg(c) => AnsiTransactionManager::commit_transaction(c),
    }
}
