//! A fixed set of database threads, one per pooled connection, instead of
//! tokio's blocking pool: that pool grows a thread per waiting call (up to
//! 512 per runtime, and actix runs one runtime per worker), and under load
//! every extra thread was a thread parked on the connection pool, with its
//! stack and its own malloc arena (issue 12: peak RSS). Here at most as
//! many calls run as there are connections; the rest wait in the queue.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// The queue the threads take from; they end when the last handle is
/// dropped, and the drop waits for them.
pub(super) struct Readers {
    tasks: Option<mpsc::Sender<Task>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Readers {
    /// Joins the threads: a process must not exit while they are still
    /// ending (their thread-local destructors, libpq's and OpenSSL's among
    /// them, racing the exit handlers crashed a CLI command on
    /// PostgreSQL at exit).
    fn drop(&mut self) {
        drop(self.tasks.take());
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Readers {
    pub(super) fn start(threads: u32) -> Result<Readers, std::io::Error> {
        let (tasks, queue) = mpsc::channel::<Task>();
        let queue = Arc::new(Mutex::new(queue));
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let handle = std::thread::Builder::new()
                .name(format!("lnurld-db-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take one task.
                    let next = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(task) => task(),
                        Err(_) => return,
                    }
                })?;
            handles.push(handle);
        }
        Ok(Readers {
            tasks: Some(tasks),
            threads: handles,
        })
    }

    /// Runs `f` on one of the threads; `None` if the threads are gone (or
    /// `f` panicked).
    pub(super) async fn run<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            // A panic in `f` drops `tx` (the caller hears "failed") and
            // must not end this thread.
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        self.tasks.as_ref()?.send(task).ok()?;
        rx.await.ok()
    }
}
