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
const ROWS_PER_INSERT: usize = 1000;

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
    let pool = sqlx::AnyPool::connect(&server.db_url).await.unwrap();
    let seed_started = Instant::now();
    let (low, high) = (ada.id().0.min(bob.id().0), ada.id().0.max(bob.id().0));
    let mut next_id: i64 = 1_000_000_000;
    let mut first_id = None;
    let mut done = 0;
    while done < messages {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..20 {
            if done >= messages {
                break;
            }
            let rows = ROWS_PER_INSERT.min(messages - done);
            let mut sql = String::from(
                "INSERT INTO direct_messages (id, user_low, user_high, sender_id, recipient_id, nonce, content, created_at_ms) VALUES ",
            );
            for r in 0..rows {
                let n = done + r;
                let id = next_id;
                next_id += 1;
                first_id.get_or_insert(id);
                let (sender, recipient, pair) = if n % 10 == 9 {
                    (carol.id().0, ada.id().0, (ada.id().0.min(carol.id().0), ada.id().0.max(carol.id().0)))
                } else if n % 2 == 0 {
                    (ada.id().0, bob.id().0, (low, high))
                } else {
                    (bob.id().0, ada.id().0, (low, high))
                };
                if r > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "({id},{},{},{sender},{recipient},'s{n}','seeded message number {n} 🌱',{})",
                    pair.0,
                    pair.1,
                    1_700_000_000_000i64 + n as i64
                ));
            }
            tx.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            done += rows;
        }
        tx.commit().await.unwrap();
    }
    let seed_secs = seed_started.elapsed().as_secs_f64();
    if backend == Backend::Sqlite {
        pool.execute("ANALYZE").await.unwrap();
    }
    pool.close().await;
    let (first_id, last_id) = (first_id.unwrap_or(0), next_id);

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
