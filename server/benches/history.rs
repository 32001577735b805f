//! History page latency on a 1,000,000-message conversation: `GET
//! /api/dms/{id}/messages?limit=50&before=…` at random depths, end to end over
//! HTTP, on SQLite and MariaDB.
//!
//! `cargo bench -p concord-server --bench history` (`CONCORD_BENCH_MESSAGES`,
//! default 1000000; `CONCORD_BENCH_DB` = sqlite | mariadb | both).

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod support;

use std::time::{Duration, Instant};

use concord_common::MessagePage;
use concord_testkit::stats::percentiles;
use concord_testkit::Backend;
use rand::Rng;
use serde_json::json;
use sqlx::Executor;
use support::{backends, ServerProcess};

const QUERIES: usize = 2000;

#[tokio::main]
async fn main() {
    let messages: usize =
        std::env::var("CONCORD_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    for backend in backends() {
        run(backend, messages).await;
    }
}

async fn run(backend: Backend, messages: usize) {
    let server = ServerProcess::start(backend, &[]).await;
    let http = reqwest::Client::new();
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;

    // Seed straight into the database (the API would take hours): ids below
    // anything the server generates now, alternating senders, plus some
    // traffic in another conversation so the index is not one range.
    sqlx::any::install_default_drivers();
    let seed_started = Instant::now();
    let (ada_id, bob_id, carol_id) = (ada.id().0, bob.id().0, carol.id().0);
    support::seed_dms(&server.db_url, messages, |n| {
        let (sender, recipient) = if n % 10 == 9 {
            (carol_id, ada_id)
        } else if n % 2 == 0 {
            (ada_id, bob_id)
        } else {
            (bob_id, ada_id)
        };
        (sender, recipient, format!("seeded message number {n} 🌱"))
    })
    .await;
    let seed_secs = seed_started.elapsed().as_secs_f64();
    if backend == Backend::Sqlite {
        let pool = sqlx::AnyPool::connect(&server.db_url).await.unwrap();
        pool.execute("ANALYZE").await.unwrap();
        pool.close().await;
    }
    let (first_id, last_id) = (support::FIRST_SEEDED_ID, support::FIRST_SEEDED_ID + messages as i64);

    let mut rng = rand::rng();
    let page_url = |before: Option<i64>| {
        let mut url = server.url(&format!("/api/dms/{}/messages?limit=50", bob.id()));
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        url
    };
    // Warm-up, then measure newest page and random-depth pages.
    for _ in 0..50 {
        http.get(page_url(None)).bearer_auth(&ada.token).send().await.unwrap();
    }
    let mut newest = Vec::with_capacity(QUERIES);
    let mut deep = Vec::with_capacity(QUERIES);
    let mut page_sizes_ok = true;
    for i in 0..QUERIES * 2 {
        let before = (i % 2 == 1).then(|| rng.random_range(first_id + 1000..last_id));
        let t0 = Instant::now();
        let page: MessagePage =
            http.get(page_url(before)).bearer_auth(&ada.token).send().await.unwrap().json().await.unwrap();
        let took: Duration = t0.elapsed();
        page_sizes_ok &= page.messages.len() == 50;
        if before.is_some() {
            deep.push(took);
        } else {
            newest.push(took);
        }
    }
    println!(
        "{}",
        json!({
            "bench": "history",
            "database": backend.name(),
            "messages": messages,
            "seed_seconds": (seed_secs * 10.0).round() / 10.0,
            "every_page_had_50": page_sizes_ok,
            "newest_page": percentiles(&mut newest),
            "random_depth_page": percentiles(&mut deep),
        })
    );
}
