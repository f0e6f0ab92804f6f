//! An idle server sleeps: with nothing to do, every worker waits for its
//! wake-up or its poll, so the process uses almost no CPU. A worker whose
//! wait returned at once (the payer's wake after a claim, say) would still
//! pay every withdrawal, and sooner; only the CPU it burns shows it.
//! Through the real `lnurld serve`, whose CPU time `/proc` counts apart
//! from the test runner's.

use std::time::{Duration, Instant};

use crate::both_dbs;
use crate::support::db::TestDb;
use crate::support::serve::Served;

both_dbs!(an_idle_server_uses_almost_no_cpu);

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (in parentheses, may hold spaces):
    // utime and stime are the 12th and 13th, in clock ticks.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // Linux reports these in USER_HZ, 100 a second on every architecture.
    Duration::from_millis(ticks * 10)
}

async fn an_idle_server_uses_almost_no_cpu(db: TestDb) {
    let served = Served::start(&db, &[("RUST_LOG", "warn")], "022").await;
    let pid = served.pid();
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    // The measurement is a window of wall time, so this sleep is the test
    // itself, not a wait for a condition: three of the payer's polls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu, wall) = (cpu_time(pid) - cpu0, t0.elapsed());
    served.stop();
    // Idle, lnurld uses a few ms a second; a worker in a loop uses a core.
    assert!(
        cpu < wall / 4,
        "idle lnurld used {cpu:?} of CPU in {wall:?}: a worker does not wait"
    );
}
