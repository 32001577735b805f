//! The websocket: identify, ready snapshot, presence across devices, bad
//! frames, size limits, heartbeats and slow clients.

use std::time::Duration;

use concord_common::{ClientEvent, ErrorCode, ServerEvent};
use futures_util::SinkExt;
use reqwest::StatusCode;
use rocket::figment::Figment;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{both_databases, Backend, Database, TestServer, SECRET};

both_databases!(
    the_first_frame_must_identify_with_a_valid_token,
    ready_snapshot_has_friends_invites_and_presence,
    presence_follows_the_last_device,
    bad_frames_get_typed_errors_and_the_connection_stays,
    oversize_frames_are_refused,
);

fn error_code(event: &ServerEvent) -> Option<ErrorCode> {
    match event {
        ServerEvent::Error { error } => Some(error.code),
        _ => None,
    }
}

async fn the_first_frame_must_identify_with_a_valid_token(server: TestServer) {
    let ada = server.register("ada").await;
    // The older app let a client name its own identity: here only a token counts.
    let mut ws = server.ws().await;
    ws.send_text(&json!({"type": "identify", "user_id": ada.id(), "email": ada.user.email}).to_string())
        .await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::IdentifyRequired));
    assert_eq!(ws.closed().await, Some(1008));

    let mut ws = server.ws().await;
    ws.send(&ClientEvent::Heartbeat).await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::IdentifyRequired));
    assert_eq!(ws.closed().await, Some(1008));

    let mut ws = server.ws().await;
    ws.send(&ClientEvent::Identify { token: "forged".into() }).await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::Unauthorized));
    assert_eq!(ws.closed().await, Some(1008));

    let expired = concord_server::auth::token::Tokens::new(SECRET.as_bytes(), 60)
        .issue(ada.id(), concord_server::ids::now_ms() - 3_600_000)
        .unwrap()
        .0;
    let mut ws = server.ws().await;
    ws.send(&ClientEvent::Identify { token: expired }).await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::TokenExpired));

    // None of those made ada appear online.
    let bob = server.register("bob").await;
    server.befriend(&bob, &ada).await;
    let (_, friends) = server.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false);
}

async fn ready_snapshot_has_friends_invites_and_presence(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dan = server.register("dan").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&carol, &ada).await;
    server.post("/api/invites", &dan.token, json!({"email": ada.user.email})).await;
    server.post("/api/invites", &ada.token, json!({"email": "nobody-yet@example.com"})).await;
    let (_bob_ws, _) = server.connect(&bob).await;

    let (_, ready) = server.connect(&ada).await;
    let ServerEvent::Ready { me, friends, invites, unread, heartbeat_interval_ms } = ready else {
        unreachable!()
    };
    assert_eq!(me, ada.user);
    let mut presence: Vec<(String, bool)> =
        friends.iter().map(|f| (f.user.username.clone(), f.online)).collect();
    presence.sort();
    assert_eq!(presence, vec![("bob".into(), true), ("carol".into(), false)]);
    assert_eq!(invites.incoming.len(), 1);
    assert_eq!(invites.incoming[0].from.id, dan.id());
    assert!(invites.outgoing.is_empty());
    assert!(unread.is_empty());
    assert!(heartbeat_interval_ms > 0);
}

async fn presence_follows_the_last_device(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    server.befriend(&ada, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut eve_ws, _) = server.connect(&eve).await;

    let (mut laptop, _) = server.connect(&ada).await;
    bob_ws
        .expect(
            "online",
            |e| matches!(e, ServerEvent::Presence { user_id, online: true } if *user_id == ada.id()),
        )
        .await;
    let (mut phone, _) = server.connect(&ada).await;
    bob_ws.expect_silence(Duration::from_millis(200)).await;

    laptop.stream.close(None).await.unwrap();
    bob_ws.expect_silence(Duration::from_millis(300)).await;
    let (_, friends) = server.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], true, "the phone is still connected");

    phone.stream.close(None).await.unwrap();
    bob_ws
        .expect(
            "offline",
            |e| matches!(e, ServerEvent::Presence { user_id, online: false } if *user_id == ada.id()),
        )
        .await;
    let (_, friends) = server.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false);
    // Presence goes to friends only.
    eve_ws.expect_silence(Duration::from_millis(100)).await;
}

async fn bad_frames_get_typed_errors_and_the_connection_stays(server: TestServer) {
    let ada = server.register("ada").await;
    let (mut ws, _) = server.connect(&ada).await;
    for (frame, code) in [
        (Message::text("not json"), ErrorCode::InvalidJson),
        (Message::text(r#"{"type":"launch_missiles"}"#), ErrorCode::InvalidJson),
        (Message::text(r#"{"type":"typing","user_id":"abc"}"#), ErrorCode::InvalidJson),
        (Message::binary(vec![0u8, 159, 146, 150]), ErrorCode::BadRequest),
        (Message::text(r#"{"type":"identify","token":"again"}"#), ErrorCode::BadRequest),
        (Message::text(r#"{"type":"typing","user_id":"77"}"#), ErrorCode::NotFriends),
    ] {
        ws.stream.send(frame).await.unwrap();
        assert_eq!(error_code(&ws.next().await), Some(code));
    }
    ws.send(&ClientEvent::Heartbeat).await;
    assert_eq!(ws.next().await, ServerEvent::HeartbeatAck, "still connected and answering");
}

async fn oversize_frames_are_refused(server: TestServer) {
    let ada = server.register("ada").await;
    let (mut ws, _) = server.connect(&ada).await;
    let huge = json!({"type": "typing", "user_id": "1", "pad": "x".repeat(64 * 1024)}).to_string();
    let _ = ws.stream.send(Message::text(huge)).await;
    let event = ws.try_next(Duration::from_secs(5)).await;
    if let Some(event) = event {
        assert_eq!(error_code(&event), Some(ErrorCode::PayloadTooLarge));
    }
    assert_eq!(ws.closed().await.unwrap_or(1009), 1009);
    // The server is fine afterwards.
    let (_, _) = server.connect(&ada).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_after_missing_heartbeats() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new().merge(("heartbeat_interval_ms", 200))).await;
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut ada_ws, _) = server.connect(&ada).await;
    bob_ws.expect("online", |e| matches!(e, ServerEvent::Presence { online: true, .. })).await;
    // Ada's client stops reading (so it answers no pings) and sends nothing.
    bob_ws.expect("offline", |e| matches!(e, ServerEvent::Presence { online: false, .. })).await;
    // Closed with 1001, or reset if the close frame was lost with the socket.
    let code = ada_ws.closed().await;
    assert!(matches!(code, None | Some(1001)), "{code:?}");
    // A client that keeps sending heartbeats stays connected.
    let (mut steady, _) = server.connect(&bob).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        steady.send(&ClientEvent::Heartbeat).await;
    }
    steady.expect("ack", |e| *e == ServerEvent::HeartbeatAck).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_never_holds_up_the_others() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new().merge(("ws_queue_len", 4))).await;
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;

    // Bob's stalled device: a tiny receive buffer and it never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(format!("127.0.0.1:{}", server.port).parse().unwrap()).await.unwrap();
    let url = format!("ws://127.0.0.1:{}/api/ws", server.port);
    let (stream, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await.unwrap();
    let mut stalled = crate::support::Ws { stream };
    stalled.send(&ClientEvent::Identify { token: bob.token.clone() }).await;
    let (mut healthy, _) = server.connect(&bob).await;

    // 400 messages of 4000 four-byte emoji: ~6.5 MB, more than the kernel's
    // socket buffers (4 MiB send + the tiny receive buffer) can hide.
    let total = 400;
    // The healthy device reads as fast as it can, concurrently.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < total {
            healthy.expect("message", |e| matches!(e, ServerEvent::MessageCreated { .. })).await;
            received += 1;
        }
        received
    });
    let body = "🐢".repeat(4000);
    for i in 0..total {
        let (status, _) = server.send_dm(&ada, bob.id(), &body, &format!("slow{i}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(reader.await.unwrap(), total, "the healthy device got every message");
    // The stalled device was cut off: it gets fewer than all, then a close.
    let mut stalled_got = 0;
    while let Some(event) = stalled.try_next(Duration::from_secs(15)).await {
        if matches!(event, ServerEvent::MessageCreated { .. }) {
            stalled_got += 1;
        }
    }
    assert!(stalled_got < total, "stalled client got {stalled_got} of {total}");
    // Everything is still in history for when it reconnects.
    let (_, page) = server.get(&format!("/api/dms/{}/messages?limit=100", ada.id()), &bob.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 100);
    assert_eq!(page["has_more"], true);
}
