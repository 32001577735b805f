//! CPU used by the desktop app while idle: logged in, connected, window
//! open under Xvfb, nobody typing. Reads the process's user+system CPU time
//! from /proc over `CONCORD_BENCH_SECONDS` (default 10).
//!
//! `cargo bench -p concord-gui --bench idle_cpu` (needs Xvfb and xdotool, as
//! the window test does). Prints one JSON object.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use support::x11::{launch_and_log_in, start_xvfb, wait_until};
use support::Server;

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is the
    // 12th and stime the 13th of those.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}

fn main() {
    let seconds: u64 = std::env::var("CONCORD_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let server = Server::start();
    let (_, watcher_token) = server.friends("ada", "watcher");
    let (_xvfb, display) = start_xvfb();
    let binary = env!("CARGO_BIN_EXE_concord").to_owned();
    let app = launch_and_log_in(&binary, &display, &server.url(), "ada@example.com", "correct horse", None);
    wait_until("ada online", Duration::from_secs(30), || {
        server.api(Method::GET, "/api/friends", Some(&watcher_token), None)[0]["online"] == true
    });
    std::thread::sleep(Duration::from_secs(2));
    let pid = app.process.0.id();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(seconds));
    let (elapsed, used) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid) - c0);
    let cpu_seconds = used as f64 / clock_ticks_per_second();
    println!(
        "{}",
        serde_json::json!({
            "bench": "idle_cpu",
            "binary": binary,
            "seconds": (elapsed * 10.0).round() / 10.0,
            "cpu_seconds": cpu_seconds,
            "cpu_percent_of_one_core": (cpu_seconds / elapsed * 1000.0).round() / 10.0,
        })
    );
}
