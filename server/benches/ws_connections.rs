//! How many idle, authenticated websocket connections one server holds, and
//! the server's memory per connection.
//!
//! `cargo bench -p concord-server --bench ws_connections` (set
//! `CONCORD_BENCH_CONNECTIONS`, default 10000). Prints one JSON object.
//! The server and this client each need a file descriptor per connection:
//! the machine's hard limit on open files (`ulimit -Hn`) must exceed the
//! target (a deployment raises it with systemd's `LimitNOFILE=` or
//! `/etc/security/limits.conf`).

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_testkit::Backend;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::{connect, ServerProcess};
use tokio_tungstenite::tungstenite::Message;

const USERS: usize = 100;

#[tokio::main]
async fn main() {
    let target: usize =
        std::env::var("CONCORD_BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    if target as u64 + 500 > hard {
        eprintln!(
            "{target} connections need {} open files per process; this machine allows {hard} \
             (ulimit -Hn). Raise the hard limit, or ask for fewer (CONCORD_BENCH_CONNECTIONS).",
            target + 500
        );
        std::process::exit(2);
    }
    let _ = rlimit::increase_nofile_limit(hard);
    let server = ServerProcess::start(Backend::Sqlite, &[]).await;
    let mut accounts = Vec::new();
    for i in 0..USERS {
        accounts.push(server.register(&format!("conn{i}")).await);
    }
    // Warm up one connection so the baseline includes runtime start-up costs.
    let warm = connect(&server, &accounts[0].token).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_bytes();

    let open = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut holders = Vec::with_capacity(target);
    let mut pending = Vec::new();
    for i in 0..target {
        pending.push(connect(&server, &accounts[i % USERS].token));
        if pending.len() == 200 || i + 1 == target {
            for ws in futures_util::future::join_all(pending.drain(..)).await {
                let open = open.clone();
                open.fetch_add(1, Ordering::Relaxed);
                // Each client reads (answering pings) until the server closes it.
                holders.push(tokio::spawn(async move {
                    let (mut sink, mut stream) = ws.split();
                    while let Some(Ok(frame)) = stream.next().await {
                        if let Message::Ping(data) = frame {
                            let _ = sink.send(Message::Pong(data)).await;
                        }
                    }
                    open.fetch_sub(1, Ordering::Relaxed);
                }));
            }
        }
    }
    let connect_ms = started.elapsed().as_millis();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = server.rss_bytes();
    let held = open.load(Ordering::Relaxed);
    let per_connection = (rss_after.saturating_sub(rss_before)) as f64 / held.max(1) as f64;
    drop(warm);
    println!(
        "{}",
        json!({
            "bench": "ws_connections",
            "target": target,
            "held": held,
            "connect_all_ms": connect_ms,
            "server_rss_before_mb": rss_before as f64 / 1048576.0,
            "server_rss_after_mb": rss_after as f64 / 1048576.0,
            "server_bytes_per_connection": per_connection.round(),
        })
    );
    for holder in holders {
        holder.abort();
    }
}
