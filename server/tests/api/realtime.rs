//! The websocket: identify, ready snapshot, presence across devices, bad
//! frames, size limits, heartbeats and slow clients.

use std::time::Duration;

use concord_common::events;
use concord_common::{ClientEvent, ErrorCode, ServerEvent};
use futures_util::SinkExt;
use reqwest::StatusCode;
use rocket::figment::Figment;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{both_databases, Backend, Database, TestServer, EVENT_TIMEOUT, SECRET};

both_databases!(
    the_first_frame_must_identify_with_a_valid_token,
    ready_snapshot_has_friends_invites_and_presence,
    presence_follows_the_last_device,
    bad_frames_get_typed_errors_and_the_connection_stays,
    oversize_frames_are_refused,
    answers_echo_the_request_id_in_order,
);

fn error_code(event: &ServerEvent) -> Option<ErrorCode> {
    match event {
        ServerEvent::Error(events::Refused { error }) => Some(error.code),
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
    ws.send(&ClientEvent::Identify(events::Identify { token: "forged".into() })).await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::Unauthorized));
    assert_eq!(ws.closed().await, Some(1008));

    let expired = concord_server::auth::token::Tokens::new(SECRET.as_bytes(), 60)
        .issue(ada.id(), concord_server::ids::now_ms() - 3_600_000)
        .unwrap()
        .0;
    let mut ws = server.ws().await;
    ws.send(&ClientEvent::Identify(events::Identify { token: expired })).await;
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
    let ServerEvent::Ready(events::Ready { me, friends, invites, unread, heartbeat_interval_ms, .. }) = ready
    else {
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
        .expect_next(
            "online",
            |e| matches!(e, ServerEvent::Presence(events::Presence { user_id, online: true }) if *user_id == ada.id()),
        )
        .await;
    let (mut phone, _) = server.connect(&ada).await;
    bob_ws.assert_nothing_queued().await;

    laptop.stream.close(None).await.unwrap();
    // Once the server counts the laptop gone, anything its close caused is queued.
    server.wait_for_connections(3).await;
    bob_ws.assert_nothing_queued().await;
    let (_, friends) = server.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], true, "the phone is still connected");

    phone.stream.close(None).await.unwrap();
    bob_ws
        .expect_next(
            "offline",
            |e| matches!(e, ServerEvent::Presence(events::Presence { user_id, online: false }) if *user_id == ada.id()),
        )
        .await;
    let (_, friends) = server.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false);
    // Presence goes to friends only.
    eve_ws.assert_nothing_queued().await;
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
    // A signaling-sized frame (a browser's SDP offer with three tracks is
    // 6-12 KB) is read and answered; this one names a stranger.
    let offer_sized = json!({"type": "typing", "user_id": "1", "pad": "x".repeat(40 * 1024)}).to_string();
    ws.send_text(&offer_sized).await;
    assert_eq!(error_code(&ws.next().await), Some(ErrorCode::NotFriends));
    // Past the limit (64 KiB by default): refused, and the socket closes.
    let huge = json!({"type": "typing", "user_id": "1", "pad": "x".repeat(64 * 1024)}).to_string();
    let _ = ws.stream.send(Message::text(huge)).await;
    // The server is fine afterwards.
    let (_, _) = server.connect(&ada).await;
}

/// With a small limit the whole oversize frame is read before the server
/// answers, so the close arrives intact: a typed error, then 1009.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_gets_a_typed_error_then_close_1009() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new().merge(("ws_max_message_bytes", 1024))).await;
    let ada = server.register("ada").await;
    let (mut ws, _) = server.connect(&ada).await;
    let huge = json!({"type": "typing", "user_id": "1", "pad": "x".repeat(1500)}).to_string();
    ws.stream.send(Message::text(huge)).await.unwrap();
    let error =
        ws.expect_next("payload_too_large", |e| error_code(e) == Some(ErrorCode::PayloadTooLarge)).await;
    let ServerEvent::Error(events::Refused { error }) = error else { unreachable!() };
    assert!(error.message.contains("1024 bytes"), "{}", error.message);
    assert_eq!(ws.next_frame_within(EVENT_TIMEOUT).await.unwrap_err(), Some(1009));
}

/// Every answer carries the `request_id` of its frame, and answers keep
/// their place behind events already queued for the connection.
async fn answers_echo_the_request_id_in_order(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut ws, _) = server.connect(&ada).await;
    ws.send_request("hb-1", ClientEvent::Heartbeat).await;
    let ack = ws.expect_next_within(EVENT_TIMEOUT, "ack", |f| f.event == ServerEvent::HeartbeatAck).await;
    assert_eq!(ack.request_id.as_deref(), Some("hb-1"));
    ws.send_request(
        "typing-stranger",
        ClientEvent::Typing(events::TypingTo { user_id: concord_common::UserId(1) }),
    )
    .await;
    let error = ws
        .expect_next_within(EVENT_TIMEOUT, "not_friends", |f| {
            error_code(&f.event) == Some(ErrorCode::NotFriends)
        })
        .await;
    assert_eq!(error.request_id.as_deref(), Some("typing-stranger"));
    ws.send_text(r#"{"type":"nonsense","request_id":"bad-1"}"#).await;
    let error = ws
        .expect_next_within(EVENT_TIMEOUT, "invalid_json", |f| {
            error_code(&f.event) == Some(ErrorCode::InvalidJson)
        })
        .await;
    assert_eq!(error.request_id.as_deref(), Some("bad-1"));
    ws.send_text(&json!({"type": "heartbeat", "request_id": "r".repeat(65)}).to_string()).await;
    let error = ws
        .expect_next_within(EVENT_TIMEOUT, "bad_request", |f| {
            error_code(&f.event) == Some(ErrorCode::BadRequest)
        })
        .await;
    assert_eq!(error.request_id, None);
    // Events nobody asked for carry no request_id.
    server.send_dm(&bob, ada.id(), "hello", "n1").await;
    let event = ws
        .expect_next_within(EVENT_TIMEOUT, "the DM", |f| {
            matches!(f.event, ServerEvent::MessageCreated(events::MessageCreated { .. }))
        })
        .await;
    assert_eq!(event.request_id, None);
    // A burst of events, then a heartbeat: its answer comes after all of them.
    for i in 0..20 {
        server.send_dm(&bob, ada.id(), &format!("burst {i}"), &format!("b{i}")).await;
    }
    ws.send_request("after-burst", ClientEvent::Heartbeat).await;
    for i in 0..20 {
        let text = format!("burst {i}");
        ws.expect_next(
            &text,
            |e| matches!(e, ServerEvent::MessageCreated(events::MessageCreated { message }) if message.content == text),
        )
        .await;
    }
    let ack = ws
        .expect_next_within(EVENT_TIMEOUT, "ack after the burst", |f| f.event == ServerEvent::HeartbeatAck)
        .await;
    assert_eq!(ack.request_id.as_deref(), Some("after-burst"));
}

/// A frame whose handler waits on the database does not stop the
/// connection: heartbeats are answered and events delivered meanwhile, and
/// the slow answer arrives when the database lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_slow_frame_does_not_hold_up_the_connection() {
    use sqlx::{Connection, Executor};
    let db = Database::create(Backend::MariaDb).await;
    let server = TestServer::start_on(&db, Figment::new()).await;
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut ws, _) = server.connect(&ada).await;

    // Another session holds the friendships table: the typing check waits.
    let mut locker = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    locker.execute("LOCK TABLES friendships WRITE").await.unwrap();
    ws.send_request(
        "slow-typing",
        ClientEvent::Typing(events::TypingTo { user_id: concord_common::UserId(1) }),
    )
    .await;
    ws.send_request("hb", ClientEvent::Heartbeat).await;
    let ack = ws
        .expect_next_within(EVENT_TIMEOUT, "the heartbeat's answer first", |f| {
            f.event == ServerEvent::HeartbeatAck
        })
        .await;
    assert_eq!(ack.request_id.as_deref(), Some("hb"));
    locker.execute("UNLOCK TABLES").await.unwrap();
    let error = ws
        .expect_next_within(EVENT_TIMEOUT, "the slow answer", |f| {
            error_code(&f.event) == Some(ErrorCode::NotFriends)
        })
        .await;
    assert_eq!(error.request_id.as_deref(), Some("slow-typing"));
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
    bob_ws
        .expect_next("online", |e| matches!(e, ServerEvent::Presence(events::Presence { online: true, .. })))
        .await;
    // Ada's client stops reading (so it answers no pings) and sends nothing.
    bob_ws
        .expect_next("offline", |e| {
            matches!(e, ServerEvent::Presence(events::Presence { online: false, .. }))
        })
        .await;
    // Closed with 1001, or reset if the close frame was lost with the socket.
    let code = ada_ws.closed().await;
    assert!(matches!(code, None | Some(1001)), "{code:?}");
    // A client that keeps sending heartbeats stays connected well past the
    // 400 ms a silent one gets: every heartbeat is answered, in order, and
    // the socket is still open at the end.
    let (mut steady, _) = server.connect(&bob).await;
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        steady.send_request(&format!("beat-{i}"), ClientEvent::Heartbeat).await;
        let ack =
            steady.expect_next_within(EVENT_TIMEOUT, "ack", |f| f.event == ServerEvent::HeartbeatAck).await;
        assert_eq!(ack.request_id, Some(format!("beat-{i}")));
    }
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
    stalled.send(&ClientEvent::Identify(events::Identify { token: bob.token.clone() })).await;
    let (mut healthy, _) = server.connect(&bob).await;

    // 400 messages of 4000 four-byte emoji: ~6.5 MB, more than the kernel's
    // socket buffers (4 MiB send + the tiny receive buffer) can hide.
    let total = 400;
    // The healthy device reads as fast as it can, concurrently.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < total {
            healthy
                .expect_next("message", |e| {
                    matches!(e, ServerEvent::MessageCreated(events::MessageCreated { .. }))
                })
                .await;
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
        if matches!(event, ServerEvent::MessageCreated(events::MessageCreated { .. })) {
            stalled_got += 1;
        }
    }
    assert!(stalled_got < total, "stalled client got {stalled_got} of {total}");
    // Everything is still in history for when it reconnects.
    let (_, page) = server.get(&format!("/api/dms/{}/messages?limit=100", ada.id()), &bob.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 100);
    assert_eq!(page["has_more"], true);
}
