//! Word search on a 1,000,000-message history: `GET /api/search?q=…` (the
//! first page, 50 hits) over every conversation of the searcher's, end to
//! end over HTTP, on SQLite (FTS5) and MariaDB (our word index).
//!
//! `cargo bench -p concord-server --bench search` (`CONCORD_BENCH_MESSAGES`,
//! default 1000000; `CONCORD_BENCH_DB` = sqlite | mariadb | both).

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod support;

use std::time::{Duration, Instant};

use concord_common::SearchPage;
use concord_testkit::stats::percentiles;
use concord_testkit::Backend;
use rand::Rng;
use serde_json::json;
use sqlx::Executor;
use support::{backends, ServerProcess};

const QUERIES: usize = 500;
const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fa", "gu", "ho", "ji", "ku", "ma", "no", "pe",
    "ro", "si", "tu",
];

/// Word `i` of an 8,000-word vocabulary (three syllables).
fn word(i: usize) -> String {
    let i = i % 8000;
    format!("{}{}{}", SYLLABLES[i / 400], SYLLABLES[(i / 20) % 20], SYLLABLES[i % 20])
}

/// Message `n`'s text: four words picked by a fixed sequence, and its number.
fn text(n: usize) -> String {
    let pick = |k: usize| (n.wrapping_mul(2_654_435_761).wrapping_add(k * 40_503)) >> 7;
    format!("{} {} {} {} note {n}", word(pick(1)), word(pick(2)), word(pick(3)), word(pick(4)))
}

#[tokio::main]
async fn main() {
    let messages: usize =
        std::env::var("CONCORD_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    for backend in backends() {
        run(backend, messages).await;
    }
}

async fn run(backend: Backend, messages: usize) {
    let mut server = ServerProcess::start(backend, &[]).await;
    let http = reqwest::Client::new();
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;

    // Seed straight into the database (SQLite's FTS5 triggers index it as it
    // goes; MariaDB's word index is built when the server restarts on it,
    // below). Ada's two DMs, a tenth of the history between bob and carol
    // (which she cannot see).
    sqlx::any::install_default_drivers();
    let seed_started = Instant::now();
    let (ada_id, bob_id, carol_id) = (ada.id().0, bob.id().0, carol.id().0);
    support::seed_dms(&server.db_url, messages, |n| {
        let (sender, recipient) = match n % 10 {
            9 => (bob_id, carol_id),
            8 => (carol_id, ada_id),
            k if k % 2 == 0 => (ada_id, bob_id),
            _ => (bob_id, ada_id),
        };
        (sender, recipient, text(n))
    })
    .await;
    let seed_secs = seed_started.elapsed().as_secs_f64();
    let pool = sqlx::AnyPool::connect(&server.db_url).await.unwrap();
    let mut index_secs = None;
    if backend == Backend::Sqlite {
        pool.execute("ANALYZE").await.unwrap();
    } else {
        // As a history stored before the index: built at start-up.
        pool.execute("DROP TABLE dm_words").await.unwrap();
        let build_started = Instant::now();
        server.restart(&[]);
        index_secs = Some((build_started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    }
    pool.close().await;

    let mut rng = rand::rng();
    let mut run_queries = |kind: &str| {
        let query = match kind {
            "one_word" => word(rng.random_range(0..8000)),
            "two_words" => format!("{} {}", word(rng.random_range(0..8000)), word(rng.random_range(0..8000))),
            _ => word(rng.random_range(0..8000))[..4].to_owned(),
        };
        server.url(&format!("/api/search?q={}&limit=50", query.replace(' ', "+")))
    };
    for _ in 0..50 {
        http.get(run_queries("one_word")).bearer_auth(&ada.token).send().await.unwrap();
    }
    let mut results = serde_json::Map::new();
    for kind in ["one_word", "two_words", "prefix"] {
        let mut times: Vec<Duration> = Vec::with_capacity(QUERIES);
        let mut hits = 0usize;
        for _ in 0..QUERIES {
            let url = run_queries(kind);
            let t0 = Instant::now();
            let page: SearchPage =
                http.get(url).bearer_auth(&ada.token).send().await.unwrap().json().await.unwrap();
            times.push(t0.elapsed());
            hits += page.messages.len();
        }
        results.insert(
            kind.to_owned(),
            json!({ "latency": percentiles(&mut times), "mean_hits_on_first_page": hits as f64 / QUERIES as f64 }),
        );
    }
    println!(
        "{}",
        json!({
            "bench": "search",
            "database": backend.name(),
            "messages": messages,
            "seed_seconds": (seed_secs * 10.0).round() / 10.0,
            "index_build_seconds_at_start": index_secs,
            "first_page": results,
        })
    );
}
