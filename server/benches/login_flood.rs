//! The server's memory and answers under a login flood: waves of 200
//! simultaneous logins. Argon2id takes 19 MiB per hash; the server runs one
//! per core, queues a few, and answers the rest 503 `server_busy` with
//! `Retry-After`, so its memory stays flat however many arrive.
//!
//! `cargo bench -p concord-server --bench login_flood` (`CONCORD_BENCH_WAVES`,
//! default 10; `CONCORD_BENCH_FLOOD`, logins per wave, default 200). Prints
//! one JSON object.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_testkit::server::PASSWORD;
use concord_testkit::stats::percentiles;
use concord_testkit::Backend;
use serde_json::json;
use support::ServerProcess;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let waves = env_or("CONCORD_BENCH_WAVES", 10);
    let flood = env_or("CONCORD_BENCH_FLOOD", 200);
    let server = Arc::new(
        ServerProcess::start(Backend::Sqlite, &[("ROCKET_LOGIN_FAILURES_PER_ADDRESS", "1000000")]).await,
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(flood as usize).build().unwrap();
    let ada = server.register("ada").await;
    // One login first, so the idle figure includes a hash's worth of warm-up.
    let warm = http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": ada.user.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(warm.status().is_success());
    let rss_idle = server.rss_bytes();

    let peak = Arc::new(AtomicU64::new(rss_idle));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (server, peak, sampling) = (server.clone(), peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(server.rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let (mut ok, mut busy, mut other) = (0u64, 0u64, 0u64);
    let mut ok_latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..waves {
        let attempts: Vec<_> = (0..flood)
            .map(|_| {
                let (http, url, email) =
                    (http.clone(), server.url("/api/auth/login"), ada.user.email.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let response =
                        http.post(url).json(&json!({"email": email, "password": PASSWORD})).send().await;
                    (response.map(|r| r.status().as_u16()).unwrap_or(0), t0.elapsed())
                })
            })
            .collect();
        for attempt in attempts {
            match attempt.await.unwrap() {
                (200, took) => {
                    ok += 1;
                    ok_latencies.push(took);
                }
                (503, _) => busy += 1,
                _ => other += 1,
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let mib = |bytes: u64| (bytes as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0;
    println!(
        "{}",
        json!({
            "bench": "login_flood",
            "waves": waves,
            "logins_per_wave": flood,
            "ok": ok,
            "busy_503": busy,
            "other": other,
            "ok_per_s": (ok as f64 / elapsed).round(),
            "ok_latency": percentiles(&mut ok_latencies),
            "rss_idle_mib": mib(rss_idle),
            "rss_peak_mib": mib(peak.load(Ordering::Relaxed)),
        })
    );
}
