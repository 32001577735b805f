//! Two server instances sharing one database and one Redis deliver each
//! other's events and agree on presence.

use concord_common::ServerEvent;
use reqwest::StatusCode;
use rocket::figment::Figment;
use serde_json::json;

use crate::support::{unique, Backend, Database, TestServer};

fn redis_settings(prefix: &str) -> Figment {
    let url = std::env::var("CONCORD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Figment::new().merge(("redis_url", url)).merge(("redis_prefix", prefix))
}

async fn two_instances_share_events_and_presence(backend: Backend) {
    let db = Database::create(backend).await;
    let prefix = unique("concord-test");
    let a = TestServer::start_on(&db, redis_settings(&prefix).merge(("instance_id", 1))).await;
    let b = TestServer::start_on(&db, redis_settings(&prefix).merge(("instance_id", 2))).await;
    let (_, health) = a.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(health["bus"], "redis");

    let ada = a.register("ada").await;
    let bob = b.register("bob").await;
    // Invite on A reaches Bob's socket on B.
    let (mut bob_ws, _) = b.connect(&bob).await;
    let (status, body) = a.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    assert_eq!(status, StatusCode::CREATED);
    bob_ws.expect("invite via redis", |e| matches!(e, ServerEvent::InviteCreated { .. })).await;
    let id = body["invite"]["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/api/invites/{id}/accept"), &bob.token, json!({})).await.0, StatusCode::OK);

    // Ada comes online on A: Bob on B sees it.
    let (mut ada_a, _) = a.connect(&ada).await;
    bob_ws.expect("presence via redis", |e| matches!(e, ServerEvent::Presence { online: true, .. })).await;
    // A second device on B does not flip presence; B's snapshot agrees she is online.
    let (mut ada_b, _) = b.connect(&ada).await;
    let (_, friends) = b.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], true);

    // A DM posted on A reaches Bob on B, and Ada's device on B.
    let (status, sent) = a.send_dm(&ada, bob.id(), "across instances", "x1").await;
    assert_eq!(status, StatusCode::CREATED);
    for ws in [&mut bob_ws, &mut ada_b] {
        let event = ws.expect("dm via redis", |e| matches!(e, ServerEvent::MessageCreated { .. })).await;
        let ServerEvent::MessageCreated { message } = event else { unreachable!() };
        assert_eq!(serde_json::to_value(message).unwrap(), sent);
    }
    // Bob's reply on B reaches Ada on A exactly once.
    b.send_dm(&bob, ada.id(), "got it", "x2").await;
    ada_a
        .expect(
            "reply via redis",
            |e| matches!(e, ServerEvent::MessageCreated { message } if message.content == "got it"),
        )
        .await;
    ada_a.expect_silence(std::time::Duration::from_millis(300)).await;
    bob_ws
        .expect(
            "own reply",
            |e| matches!(e, ServerEvent::MessageCreated { message } if message.content == "got it"),
        )
        .await;

    // Ada leaves A: still online (B). Leaves B: offline, seen on B.
    drop(ada_a);
    bob_ws.expect_silence(std::time::Duration::from_millis(300)).await;
    drop(ada_b);
    bob_ws.expect("offline via redis", |e| matches!(e, ServerEvent::Presence { online: false, .. })).await;
    let (_, friends) = a.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_sqlite_share_events_and_presence() {
    two_instances_share_events_and_presence(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_mariadb_share_events_and_presence() {
    if crate::support::mysql_skipped() {
        return;
    }
    two_instances_share_events_and_presence(Backend::MariaDb).await;
}
