//! Direct messages: storage before acknowledgement, live delivery, nonce
//! de-duplication, paged history, unread counts, typing, and authorisation.

use concord_common::events;
use concord_common::{ClientEvent, ErrorCode, ServerEvent};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{both_databases, TestServer};

both_databases!(
    message_is_stored_and_delivered_to_every_device_of_both,
    resending_a_nonce_returns_the_original,
    history_pages_newest_first_without_gaps_or_repeats,
    dms_only_between_friends,
    unread_counts_and_mark_read,
    typing_reaches_the_friend_only,
    message_to_an_offline_friend_waits_in_history,
    message_validation_and_unicode,
);

async fn message_is_stored_and_delivered_to_every_device_of_both(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut ada_laptop, _) = server.connect(&ada).await;
    let (mut ada_phone, _) = server.connect(&ada).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    // Bob coming online is the first thing Ada's devices hear.
    for ws in [&mut ada_laptop, &mut ada_phone] {
        ws.expect_next("bob online", |e| {
            matches!(e, ServerEvent::Presence(events::Presence { online: true, .. }))
        })
        .await;
    }

    let (status, sent) = server.send_dm(&ada, bob.id(), "hello bob 👋", "nonce-1").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["sender_id"], json!(ada.id()));
    assert_eq!(sent["recipient_id"], json!(bob.id()));
    for ws in [&mut ada_laptop, &mut ada_phone, &mut bob_ws] {
        let event = ws
            .expect_next("message_created", |e| {
                matches!(e, ServerEvent::MessageCreated(events::MessageCreated { .. }))
            })
            .await;
        let ServerEvent::MessageCreated(events::MessageCreated { message }) = event else { unreachable!() };
        assert_eq!(serde_json::to_value(&message).unwrap(), sent);
    }
    // Bob answers; both see it.
    let (status, reply) = server.send_dm(&bob, ada.id(), "hi ada", "nonce-1").await;
    assert_eq!(status, StatusCode::CREATED, "the same nonce from another sender is independent");
    ada_laptop
        .expect_next(
            "reply",
            |e| matches!(e, ServerEvent::MessageCreated(events::MessageCreated { message }) if message.content == "hi ada"),
        )
        .await;

    let (_, page) = server.get(&format!("/api/dms/{}/messages", bob.id()), &ada.token).await;
    assert_eq!(page["messages"], json!([reply, sent]), "newest first");
    assert_eq!(page["has_more"], false);
    let (_, page_for_bob) = server.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
    assert_eq!(page_for_bob, page, "one conversation, seen the same from both sides");
}

async fn resending_a_nonce_returns_the_original(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;
    let (mut bob_ws, _) = server.connect(&bob).await;

    let (status, first) = server.send_dm(&ada, bob.id(), "only once", "resend-me").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = server.send_dm(&ada, bob.id(), "only once", "resend-me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    // Announced again (the first announcement may have been lost with the
    // first answer): the same message, which clients already have.
    for what in ["the original", "the original again"] {
        bob_ws
            .expect_next(what, |e| {
                matches!(e, ServerEvent::MessageCreated(events::MessageCreated { message })
                    if serde_json::to_value(message).unwrap() == first)
            })
            .await;
    }
    bob_ws.assert_nothing_queued().await;

    let (status, error) = server.send_dm(&ada, carol.id(), "only once", "resend-me").await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("nonce_conflict")));

    // Ten concurrent resends of one nonce store one message.
    let sends = (0..10).map(|_| server.send_dm(&ada, bob.id(), "burst", "burst-nonce"));
    let results = futures_util::future::join_all(sends).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| body["id"].as_str().unwrap_or_else(|| panic!("{status}: {body}")).to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    let (_, page) = server.get(&format!("/api/dms/{}/messages", bob.id()), &ada.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
}

async fn history_pages_newest_first_without_gaps_or_repeats(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    for i in 0..230 {
        let (from, to) = if i % 3 == 0 { (&bob, ada.id()) } else { (&ada, bob.id()) };
        let (status, _) = server.send_dm(from, to, &format!("message {i}"), &format!("n{i}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &before {
            Some(id) => format!("/api/dms/{}/messages?limit=100&before={id}", bob.id()),
            None => format!("/api/dms/{}/messages?limit=100", bob.id()),
        };
        let (status, page) = server.get(&path, &ada.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let messages = page["messages"].as_array().unwrap().clone();
        pages += 1;
        before = messages.last().map(|m| m["id"].as_str().unwrap().to_owned());
        seen.extend(messages);
        if page["has_more"] == false {
            break;
        }
        assert!(pages < 10, "paging did not end");
    }
    assert_eq!(pages, 3);
    let contents: Vec<String> = seen.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = (0..230).rev().map(|i| format!("message {i}")).collect();
    assert_eq!(contents, expected, "newest first, every message exactly once");

    // Default page size is 50; bad parameters are typed errors.
    let (_, page) = server.get(&format!("/api/dms/{}/messages", bob.id()), &ada.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 50);
    for query in ["limit=0", "limit=101", "limit=ten"] {
        let (status, error) =
            server.get(&format!("/api/dms/{}/messages?{query}", bob.id()), &ada.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(error["error"]["field"], "limit");
    }
    let (status, error) = server.get(&format!("/api/dms/{}/messages?before=xyz", bob.id()), &ada.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "before");
}

async fn dms_only_between_friends(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    server.befriend(&ada, &bob).await;
    server.send_dm(&ada, bob.id(), "private", "p1").await;
    let (mut bob_ws, _) = server.connect(&bob).await;

    // Eve is nobody's friend: she can neither read nor write either side.
    for target in [ada.id(), bob.id()] {
        for (status, error) in [
            server.get(&format!("/api/dms/{target}/messages"), &eve.token).await,
            server.send_dm(&eve, target, "let me in", "e1").await,
            server.post(&format!("/api/dms/{target}/read"), &eve.token, json!({})).await,
        ] {
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(error["error"]["code"], "not_friends");
        }
    }
    // Unknown users, yourself, and junk ids are refused without a crash.
    assert_eq!(
        server.send_dm(&ada, concord_common::UserId(424242), "hi", "u1").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(server.send_dm(&ada, ada.id(), "me", "u2").await.0, StatusCode::FORBIDDEN);
    let (status, _) =
        server.post("/api/dms/xyz/messages", &ada.token, json!({"content": "x", "nonce": "u3"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Bob heard nothing from the refused sends, and history holds only the real message.
    bob_ws.assert_nothing_queued().await;
    let (_, page) = server.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

async fn unread_counts_and_mark_read(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    for i in 0..3 {
        server.send_dm(&bob, ada.id(), &format!("ping {i}"), &format!("u{i}")).await;
    }
    // Ada's own message does not count as unread for her.
    server.send_dm(&ada, bob.id(), "pong", "a0").await;
    let (mut ada_ws, ready) = server.connect(&ada).await;
    let ServerEvent::Ready(events::Ready { unread, .. }) = ready else { unreachable!() };
    assert_eq!(unread.len(), 1);
    assert_eq!((unread[0].user_id, unread[0].count), (bob.id(), 3));
    let (mut ada_other, _) = server.connect(&ada).await;

    let (status, body) = server.post(&format!("/api/dms/{}/read", bob.id()), &ada.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 0);
    for ws in [&mut ada_ws, &mut ada_other] {
        ws.expect_next(
            "dm_read",
            |e| matches!(e, ServerEvent::DmRead(events::DmRead { user_id, .. }) if *user_id == bob.id()),
        )
        .await;
    }
    let (_, ready) = server.connect(&ada).await;
    let ServerEvent::Ready(events::Ready { unread, .. }) = ready else { unreachable!() };
    assert!(unread.is_empty(), "{unread:?}");

    server.send_dm(&bob, ada.id(), "one more", "u9").await;
    let (_, ready) = server.connect(&ada).await;
    let ServerEvent::Ready(events::Ready { unread, .. }) = ready else { unreachable!() };
    assert_eq!(unread[0].count, 1);
    // Bob's side: ada's one message is unread for him.
    let (_, ready) = server.connect(&bob).await;
    let ServerEvent::Ready(events::Ready { unread, .. }) = ready else { unreachable!() };
    assert_eq!((unread[0].user_id, unread[0].count), (ada.id(), 1));
}

async fn typing_reaches_the_friend_only(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    server.befriend(&ada, &bob).await;
    let (mut ada_ws, _) = server.connect(&ada).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut eve_ws, _) = server.connect(&eve).await;

    ada_ws.send(&ClientEvent::Typing(events::TypingTo { user_id: bob.id() })).await;
    bob_ws
        .expect_next(
            "typing",
            |e| matches!(e, ServerEvent::Typing(events::FriendTyping { user_id }) if *user_id == ada.id()),
        )
        .await;

    eve_ws.send(&ClientEvent::Typing(events::TypingTo { user_id: bob.id() })).await;
    let reply = eve_ws.next().await;
    assert!(
        matches!(reply, ServerEvent::Error(events::Refused { ref error }) if error.code == ErrorCode::NotFriends),
        "{reply:?}"
    );
    bob_ws.assert_nothing_queued().await;
}

async fn message_to_an_offline_friend_waits_in_history(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (status, sent) = server.send_dm(&ada, bob.id(), "are you there?", "o1").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, ready) = server.connect(&bob).await;
    let ServerEvent::Ready(events::Ready { unread, friends, .. }) = ready else { unreachable!() };
    assert_eq!(unread[0].count, 1);
    assert_eq!(friends[0].user.id, ada.id());
    let (_, page) = server.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
    assert_eq!(page["messages"][0], sent);
}

async fn message_validation_and_unicode(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    for (content, nonce, field) in [
        ("", "v1", "content"),
        ("   \n\t", "v2", "content"),
        (&*"x".repeat(4001), "v3", "content"),
        ("fine", "", "nonce"),
        ("fine", "has space", "nonce"),
    ] {
        let (status, error) = server.send_dm(&ada, bob.id(), content, nonce).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"]["field"], field);
    }
    let texts = [
        "héllo 👋🏽 世界 🇺🇦 — 👩‍👩‍👧‍👦".to_owned(),
        "line one\nline two\n\n  indented".to_owned(),
        "😀".repeat(4000),
    ];
    for (i, text) in texts.iter().enumerate() {
        let (status, _) = server.send_dm(&ada, bob.id(), text, &format!("ok{i}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, page) = server.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
    let stored: Vec<&str> =
        page["messages"].as_array().unwrap().iter().rev().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(stored, texts.iter().map(String::as_str).collect::<Vec<_>>(), "4-byte UTF-8 survives storage");
}
