//! DM latency under sustained load: from just before `POST
//! /api/dms/{id}/messages` to the recipient's websocket, at a fixed total
//! rate spread over sender → receiver pairs (100 messages/s per pair, like
//! many people chatting at once; each sender one client on its own
//! keep-alive connection, one request after the other), and a check that
//! every message arrived once and is stored.
//!
//! `cargo bench -p concord-server --bench dm_latency` (`CONCORD_BENCH_RATES`
//! messages/s, comma-separated, default `2000,2500,5000`;
//! `CONCORD_BENCH_SECONDS`, default 10; `CONCORD_BENCH_DB` = sqlite |
//! mariadb | both). Prints one JSON object per database and rate.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use concord_common::events;
use concord_common::{MessagePage, ServerEvent};
use concord_testkit::stats::percentiles;
use concord_testkit::Backend;
use futures_util::StreamExt;
use serde_json::json;
use support::{backends, connect, ServerProcess};
use tokio_tungstenite::tungstenite::Message;

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let rates: Vec<u64> = std::env::var("CONCORD_BENCH_RATES")
        .unwrap_or_else(|_| "2000,2500,5000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds = env_or("CONCORD_BENCH_SECONDS", 10);
    for backend in backends() {
        for &rate in &rates {
            run(backend, rate, seconds).await;
        }
    }
}

/// Messages per second one sender → receiver pair carries.
const PER_PAIR_RATE: u64 = 100;

async fn run(backend: Backend, rate: u64, seconds: u64) {
    let server = ServerProcess::start(backend, &[]).await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let pairs = rate.div_ceil(PER_PAIR_RATE).max(1) as usize;
    let mut senders = Vec::with_capacity(pairs);
    let mut receivers = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let sender = server.register(&format!("sender{i}")).await;
        let receiver = server.register(&format!("receiver{i}")).await;
        server.befriend(&sender, &receiver).await;
        senders.push(sender);
        receivers.push(receiver);
    }

    let clock = Instant::now();
    let total = rate * seconds;
    // Each receiver's socket records when each message arrives (content = send time in µs).
    let mut receiver_tasks = Vec::with_capacity(pairs);
    for (i, receiver) in receivers.iter().enumerate() {
        let expected = total / pairs as u64 + u64::from((i as u64) < total % pairs as u64);
        let mut ws = connect(&server, &receiver.token).await;
        receiver_tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(expected as usize);
            let mut seen = HashSet::new();
            let mut duplicates = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 30);
            while (seen.len() as u64) < expected {
                let text = match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    _ => break,
                };
                if let Ok(ServerEvent::MessageCreated(events::MessageCreated { message })) =
                    serde_json::from_str(&text)
                {
                    let sent_us: u64 = message.content.parse().unwrap_or(0);
                    latencies.push(clock.elapsed().saturating_sub(Duration::from_micros(sent_us)));
                    if !seen.insert(message.id) {
                        duplicates += 1;
                    }
                }
            }
            (latencies, seen.len(), duplicates)
        }));
    }

    // The outside client's shape: each sender is one client on its own
    // keep-alive connection, sending on a 10 ms schedule, each request after
    // the answer to the one before (as the Python clients of issue #26 and a
    // person's app do); the stamp is the moment the request is sent.
    let interval = Duration::from_micros(1_000_000 / PER_PAIR_RATE);
    let started = Instant::now();
    let mut sender_tasks = Vec::with_capacity(pairs);
    for (pair, (sender, receiver)) in senders.iter().zip(&receivers).enumerate() {
        let count = total / pairs as u64 + u64::from((pair as u64) < total % pairs as u64);
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
        let (url, token) =
            (server.url(&format!("/api/dms/{}/messages", receiver.id())), sender.token.clone());
        // Spread the senders over the interval, as independent people are.
        let offset = interval * pair as u32 / pairs as u32;
        sender_tasks.push(tokio::spawn(async move {
            let mut schedule = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            schedule.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut round_trips, mut failures) = (Vec::with_capacity(count as usize), 0u64);
            for i in 0..count {
                schedule.tick().await;
                let t0 = clock.elapsed();
                let body = json!({"content": t0.as_micros().to_string(), "nonce": format!("b{pair}-{i}")});
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => round_trips.push(clock.elapsed() - t0),
                    _ => failures += 1,
                }
            }
            (round_trips, failures)
        }));
    }
    let (mut posts, mut failures) = (Vec::with_capacity(total as usize), 0u64);
    for task in sender_tasks {
        let (round_trips, failed) = task.await.unwrap();
        posts.extend(round_trips);
        failures += failed;
    }
    let send_secs = started.elapsed().as_secs_f64();
    let (mut latencies, mut received, mut duplicates) = (Vec::new(), 0, 0);
    for task in receiver_tasks {
        let (l, r, d) = task.await.unwrap();
        latencies.extend(l);
        received += r;
        duplicates += d;
    }

    // Count what the server stored, paging through every conversation.
    let mut stored = 0usize;
    for (sender, receiver) in senders.iter().zip(&receivers) {
        let mut before: Option<String> = None;
        loop {
            let mut url = server.url(&format!("/api/dms/{}/messages?limit=100", receiver.id()));
            if let Some(b) = &before {
                url.push_str(&format!("&before={b}"));
            }
            let page: MessagePage =
                http.get(url).bearer_auth(&sender.token).send().await.unwrap().json().await.unwrap();
            stored += page.messages.len();
            before = page.messages.last().map(|m| m.id.to_string());
            if !page.has_more {
                break;
            }
        }
    }
    println!(
        "{}",
        json!({
            "bench": "dm_latency",
            "database": backend.name(),
            "target_rate_per_s": rate,
            "pairs": pairs,
            "achieved_rate_per_s": (total as f64 / send_secs).round(),
            "sent": total,
            "post_failures": failures,
            "received_on_socket": received,
            "duplicates_on_socket": duplicates,
            "stored": stored,
            "post_to_socket": percentiles(&mut latencies),
            "post_round_trip": percentiles(&mut posts),
        })
    );
}
