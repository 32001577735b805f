//! The soak: 1,000 chat clients send 100,000 DMs and room messages over
//! 30 minutes through two instances, while clients drop their websockets at
//! random, each instance is restarted (SIGTERM), and Redis and MariaDB are
//! killed and started again (twice each), and two rooms hold calls of six
//! bots. Prints the report (JSON) and exits 1 if a message was lost or
//! stored twice, a client does not know what the database holds, a call
//! went more than 5 s without a camera, or memory or descriptors grew after
//! the first minute.
//!
//! ```text
//! cargo build --release -p concord-server
//! cargo bench -p concord-call --bench soak
//! ```
//!
//! `CONCORD_SOAK_CLIENTS`, `CONCORD_SOAK_MESSAGES`, `CONCORD_SOAK_SECONDS`
//! and `CONCORD_SOAK_ROUNDS` change the plan. The short version runs in the
//! suite (`tests/soak.rs`).

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/soak.rs"]
mod soak;

use std::process::ExitCode;
use std::time::Duration;

use soak::Plan;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rlimit::increase_nofile_limit(20_000);
    let plan = Plan {
        clients: setting("CONCORD_SOAK_CLIENTS", 1_000) as usize,
        group: 10,
        messages: setting("CONCORD_SOAK_MESSAGES", 100_000) as usize,
        duration: Duration::from_secs(setting("CONCORD_SOAK_SECONDS", 1_800)),
        call_rooms: 2,
        bots_per_side: 3,
        disconnect_every: Duration::from_millis(500),
        fault_rounds: setting("CONCORD_SOAK_ROUNDS", 2) as usize,
        sample_every: Duration::from_secs(10),
    };
    let report = soak::run(plan).await;
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let mut problems = report.problems(Duration::from_secs(5));
    problems.extend(report.growth());
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("the soak broke a promise: {problems:#?}");
        ExitCode::FAILURE
    }
}
