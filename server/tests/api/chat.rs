//! Changing messages after they were sent, in DMs and rooms: edits, deletes,
//! replies, reactions and mentions. Who may do what (and that a refusal
//! changes nothing), idempotency, live events in order on every device, and
//! history afterwards.

use concord_common::events::{self, MessageDeleted, ReactionChanged};
use concord_common::{Conversation, MessageId, RoomId, ServerEvent, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{both_databases, Account, TestServer, Ws};

both_databases!(
    who_may_edit_and_delete_in_a_room_and_refusals_change_nothing,
    who_may_edit_and_delete_in_a_dm,
    changes_reach_every_device_in_order_and_history_follows,
    reactions_are_idempotent_and_counted_per_person,
    an_edit_retried_with_its_nonce_is_applied_once,
    replies_quote_the_original_and_outlive_it,
    mentions_are_read_from_the_text,
);

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn room_post(server: &TestServer, who: &Account, room: RoomId, content: &str, nonce: &str) -> Value {
    let (status, message) = server
        .post(&format!("/api/rooms/{room}/messages"), &who.token, json!({"content": content, "nonce": nonce}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

async fn history(server: &TestServer, path: &str, who: &Account) -> Vec<Value> {
    let (status, page) = server.get(&format!("{path}?limit=100"), &who.token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"].as_array().unwrap().clone()
}

/// `PUT`/`DELETE` of a reaction, the emoji percent-encoded as a browser would.
async fn react(
    server: &TestServer,
    method: Method,
    message_path: &str,
    emoji: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let encoded: String = emoji.bytes().map(|b| format!("%{b:02X}")).collect();
    server.call(method, &format!("{message_path}/reactions/{encoded}"), token, None).await
}

async fn who_may_edit_and_delete_in_a_room_and_refusals_change_nothing(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("matrix"), 3).await;
    let [owner, author, member] = [&people[0], &people[1], &people[2]];
    let stranger = server.register("stranger").await;
    let message = room_post(&server, author, room, "the author's words", "m-1").await;
    let path = format!("/api/rooms/{room}/messages/{}", message["id"].as_str().unwrap());
    let chat = format!("/api/rooms/{room}/messages");
    let before = history(&server, &chat, owner).await;

    let edit = json!({"content": "rewritten"});
    let refusals = [
        ("a member who is not the author", member.token.as_str(), StatusCode::FORBIDDEN, "not_author"),
        (
            "the room's owner (may delete, not edit)",
            owner.token.as_str(),
            StatusCode::FORBIDDEN,
            "not_author",
        ),
        ("someone not in the room", stranger.token.as_str(), StatusCode::NOT_FOUND, "room_not_found"),
    ];
    for (who, token, status, expected) in refusals {
        let (got, body) = server.patch(&path, token, edit.clone()).await;
        assert_eq!((got, code(&body)), (status, expected), "{who} edits: {body}");
    }
    let (status, body) = server.call(Method::PATCH, &path, None, Some(edit.clone())).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "anonymous edit");
    for (who, token, status, expected) in [
        ("a member who is not the author", member.token.as_str(), StatusCode::FORBIDDEN, "not_author"),
        ("someone not in the room", stranger.token.as_str(), StatusCode::NOT_FOUND, "room_not_found"),
    ] {
        let (got, body) = server.delete(&path, token).await;
        assert_eq!((got, code(&body)), (status, expected), "{who} deletes: {body}");
    }
    let (status, _) = server.call(Method::DELETE, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "anonymous delete");
    let (status, body) = react(&server, Method::PUT, &path, "👍", Some(&stranger.token)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "room_not_found"), "a stranger reacts");
    assert_eq!(history(&server, &chat, owner).await, before, "no refusal changed anything");

    // Bad input is typed too, and changes nothing.
    let (status, body) = server.patch(&path, &author.token, json!({"content": "  "})).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("content"))
    );
    let (status, body) = server.patch(&path, &author.token, json!({"text": "x"})).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let missing = format!("/api/rooms/{room}/messages/12345");
    let (status, body) = server.patch(&missing, &author.token, edit.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"));
    let (status, body) = server.delete(&format!("/api/rooms/{room}/messages/nope"), &author.token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert_eq!(history(&server, &chat, owner).await, before);

    // The author edits; the owner deletes someone else's message.
    let (status, edited) = server.patch(&path, &author.token, edit).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["content"].as_str(), edited["edited_at_ms"].is_i64()), (Some("rewritten"), true));
    let (status, body) = server.delete(&path, &owner.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(history(&server, &chat, member).await, Vec::<Value>::new());
    let (status, body) = server.delete(&path, &owner.token).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"), "deleted twice");
    // A message id from another conversation is not found here either.
    let (other_room, others) = server.room_of(&crate::support::unique("other"), 2).await;
    let elsewhere = room_post(&server, &others[0], other_room, "elsewhere", "e-1").await;
    let wrong = format!("/api/rooms/{room}/messages/{}", elsewhere["id"].as_str().unwrap());
    let (status, body) = server.delete(&wrong, &owner.token).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"));
    assert_eq!(history(&server, &format!("/api/rooms/{other_room}/messages"), &others[0]).await.len(), 1);
}

async fn who_may_edit_and_delete_in_a_dm(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;
    let (_, message) = server.send_dm(&ada, bob.id(), "from ada", "d-1").await;
    let id = message["id"].as_str().unwrap();
    let chat = format!("/api/dms/{}/messages", bob.id());
    let before = history(&server, &chat, &ada).await;

    let (status, body) = server
        .patch(&format!("/api/dms/{}/messages/{id}", ada.id()), &bob.token, json!({"content": "x"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "not_author"), "the friend edits: {body}");
    let (status, body) = server.delete(&format!("/api/dms/{}/messages/{id}", ada.id()), &bob.token).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "not_author"), "the friend deletes: {body}");
    // Carol is Ada's friend, not Bob's: the message is not in her conversation with Ada.
    let (status, body) = server
        .patch(&format!("/api/dms/{}/messages/{id}", ada.id()), &carol.token, json!({"content": "x"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"), "{body}");
    let (status, body) = server.delete(&format!("/api/dms/{}/messages/{id}", bob.id()), &carol.token).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "not_friends"), "a stranger to Bob: {body}");
    let (status, body) = react(
        &server,
        Method::PUT,
        &format!("/api/dms/{}/messages/{id}", ada.id()),
        "👍",
        Some(&carol.token),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"), "{body}");
    let (status, _) =
        server.call(Method::DELETE, &format!("/api/dms/{}/messages/{id}", bob.id()), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(history(&server, &chat, &ada).await, before, "no refusal changed anything");

    let (status, edited) = server
        .patch(&format!("/api/dms/{}/messages/{id}", bob.id()), &ada.token, json!({"content": "fixed"}))
        .await;
    assert_eq!((status, edited["content"].as_str()), (StatusCode::OK, Some("fixed")), "{edited}");
    let (status, _) = server.delete(&format!("/api/dms/{}/messages/{id}", bob.id()), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(history(&server, &format!("/api/dms/{}/messages", ada.id()), &bob).await, Vec::<Value>::new());
}

fn dm_of(peer: &Account) -> Conversation {
    Conversation::Dm(peer.id())
}

async fn expect_updated(ws: &mut Ws, id: MessageId, content: &str) {
    ws.expect_next("message_updated", |e| {
        matches!(e, ServerEvent::MessageUpdated(events::MessageUpdated { message })
            if message.id == id && message.content == content && message.edited_at_ms.is_some())
    })
    .await;
}

async fn expect_reaction(ws: &mut Ws, added: bool, change: &ReactionChanged) {
    ws.expect_next("the reaction", |e| match e {
        ServerEvent::ReactionAdded(c) if added => c == change,
        ServerEvent::ReactionRemoved(c) if !added => c == change,
        _ => false,
    })
    .await;
}

async fn changes_reach_every_device_in_order_and_history_follows(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut ada_laptop, _) = server.connect(&ada).await;
    let (mut ada_phone, _) = server.connect(&ada).await;
    bob_ws.expect_next("ada online", |e| matches!(e, ServerEvent::Presence(_))).await;

    let (_, sent) = server.send_dm(&ada, bob.id(), "frist", "c-1").await;
    let id: MessageId = serde_json::from_value(sent["id"].clone()).unwrap();
    let path = format!("/api/dms/{}/messages/{id}", bob.id());
    let (status, _) = server.patch(&path, &ada.token, json!({"content": "first"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        react(&server, Method::PUT, &format!("/api/dms/{}/messages/{id}", ada.id()), "🎉", Some(&bob.token))
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Each device hears the message, the edit, the reaction, in that order;
    // each reads the conversation as its own (`dms/{the other}`).
    for (ws, other) in [(&mut ada_laptop, &bob), (&mut ada_phone, &bob), (&mut bob_ws, &ada)] {
        ws.expect_next("message_created", |e| matches!(e, ServerEvent::MessageCreated(_))).await;
        expect_updated(ws, id, "first").await;
        let change = ReactionChanged {
            conversation: dm_of(other),
            message_id: id,
            emoji: "🎉".into(),
            user_id: bob.id(),
        };
        expect_reaction(ws, true, &change).await;
    }
    let page = history(&server, &format!("/api/dms/{}/messages", bob.id()), &ada).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["content"], "first");
    assert_eq!(
        page[0]["edited_at_ms"].as_i64().map(|t| t >= sent["created_at_ms"].as_i64().unwrap()),
        Some(true)
    );
    assert_eq!(
        page[0]["reactions"],
        json!([{"emoji": "🎉", "count": 1, "me": false, "user_ids": [bob.id()]}])
    );
    let bobs = history(&server, &format!("/api/dms/{}/messages", ada.id()), &bob).await;
    assert_eq!(bobs[0]["reactions"][0]["me"], true, "`me` is the reader's");

    // An edit of a message with reactions tells each reader their own `me`.
    server.patch(&path, &ada.token, json!({"content": "first!"})).await;
    for (ws, mine) in [(&mut ada_laptop, false), (&mut bob_ws, true)] {
        let event = ws.next().await;
        let ServerEvent::MessageUpdated(events::MessageUpdated { message }) = event else {
            panic!("{event:?}")
        };
        assert_eq!((message.content.as_str(), message.reactions[0].me), ("first!", mine));
    }
    ada_phone.expect_next("the second edit", |e| matches!(e, ServerEvent::MessageUpdated(_))).await;

    let (status, _) = server.delete(&path, &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (ws, other) in [(&mut ada_laptop, &bob), (&mut ada_phone, &bob), (&mut bob_ws, &ada)] {
        ws.expect_next("message_deleted", |e| {
            e == &ServerEvent::MessageDeleted(MessageDeleted { id, conversation: dm_of(other) })
        })
        .await;
        ws.assert_nothing_queued().await;
    }
    assert_eq!(history(&server, &format!("/api/dms/{}/messages", bob.id()), &ada).await, Vec::<Value>::new());

    // In a room, every member hears the same events.
    let (room, people) = server.room_of(&crate::support::unique("live"), 3).await;
    let mut sockets = Vec::new();
    for person in &people {
        sockets.push(server.connect(person).await.0);
    }
    // The owner is everyone's friend: it hears the other two come online first.
    for _ in 1..people.len() {
        sockets[0].expect_next("a member online", |e| matches!(e, ServerEvent::Presence(_))).await;
    }
    let message = room_post(&server, &people[1], room, "hello room", "r-1").await;
    let id: MessageId = serde_json::from_value(message["id"].clone()).unwrap();
    let path = format!("/api/rooms/{room}/messages/{id}");
    server.patch(&path, &people[1].token, json!({"content": "hello, room"})).await;
    react(&server, Method::PUT, &path, "👍", Some(&people[2].token)).await;
    react(&server, Method::DELETE, &path, "👍", Some(&people[2].token)).await;
    server.delete(&path, &people[0].token).await;
    let change = ReactionChanged {
        conversation: Conversation::Room(room),
        message_id: id,
        emoji: "👍".into(),
        user_id: people[2].id(),
    };
    for ws in &mut sockets {
        ws.expect_next("room_message_created", |e| matches!(e, ServerEvent::RoomMessageCreated(_))).await;
        ws.expect_next("room_message_updated", |e| {
            matches!(e, ServerEvent::RoomMessageUpdated(events::RoomMessageUpdated { message }) if message.content == "hello, room")
        })
        .await;
        expect_reaction(ws, true, &change).await;
        expect_reaction(ws, false, &change).await;
        ws.expect_next("room_message_deleted", |e| {
            e == &ServerEvent::RoomMessageDeleted(MessageDeleted {
                id,
                conversation: Conversation::Room(room),
            })
        })
        .await;
    }
}

async fn reactions_are_idempotent_and_counted_per_person(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("react"), 3).await;
    let message = room_post(&server, &people[0], room, "react to me", "x-1").await;
    let id: MessageId = serde_json::from_value(message["id"].clone()).unwrap();
    let path = format!("/api/rooms/{room}/messages/{id}");
    let (mut watcher, _) = server.connect(&people[0]).await;

    for _ in 0..2 {
        let (status, body) = react(&server, Method::PUT, &path, "👍🏽", Some(&people[1].token)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    react(&server, Method::PUT, &path, "👍🏽", Some(&people[2].token)).await;
    react(&server, Method::PUT, &path, "❤️", Some(&people[1].token)).await;
    let (status, _) = react(&server, Method::PUT, &path, "🎉", Some(&people[0].token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let added = |emoji: &str, user: UserId| ReactionChanged {
        conversation: Conversation::Room(room),
        message_id: id,
        emoji: emoji.into(),
        user_id: user,
    };
    expect_reaction(&mut watcher, true, &added("👍🏽", people[1].id())).await;
    expect_reaction(&mut watcher, true, &added("👍🏽", people[2].id())).await;
    expect_reaction(&mut watcher, true, &added("❤️", people[1].id())).await;
    expect_reaction(&mut watcher, true, &added("🎉", people[0].id())).await;
    watcher.assert_nothing_queued().await;

    let page = history(&server, &format!("/api/rooms/{room}/messages"), &people[1]).await;
    assert_eq!(
        page[0]["reactions"],
        json!([
            {"emoji": "👍🏽", "count": 2, "me": true, "user_ids": [people[1].id(), people[2].id()]},
            {"emoji": "❤️", "count": 1, "me": true, "user_ids": [people[1].id()]},
            {"emoji": "🎉", "count": 1, "me": false, "user_ids": [people[0].id()]},
        ])
    );

    // Taking back twice is one removal; taking back what is not there is quiet.
    for _ in 0..2 {
        let (status, _) = react(&server, Method::DELETE, &path, "👍🏽", Some(&people[1].token)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    react(&server, Method::DELETE, &path, "😀", Some(&people[1].token)).await;
    let removed = added("👍🏽", people[1].id());
    expect_reaction(&mut watcher, false, &removed).await;
    watcher.assert_nothing_queued().await;

    for bad in ["ok", "👍 ", "<b>", "👍👍👍👍👍👍👍👍👍"] {
        let (status, body) = react(&server, Method::PUT, &path, bad, Some(&people[1].token)).await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("emoji")),
            "{bad:?}"
        );
    }
    // Twenty different emoji at most.
    let emoji: Vec<String> = (0..20).map(|i| char::from_u32(0x1F600 + i).unwrap().to_string()).collect();
    for e in &emoji[..17] {
        let (status, body) = react(&server, Method::PUT, &path, e, Some(&people[2].token)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{e}: {body}");
    }
    let (status, body) = react(&server, Method::PUT, &path, &emoji[17], Some(&people[2].token)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        "the 21st emoji: {body}"
    );
    let (status, _) = react(&server, Method::PUT, &path, "❤️", Some(&people[2].token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "an emoji already there still takes more people");
    let page = history(&server, &format!("/api/rooms/{room}/messages"), &people[0]).await;
    assert_eq!(page[0]["reactions"].as_array().unwrap().len(), 20);
}

async fn an_edit_retried_with_its_nonce_is_applied_once(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (_, sent) = server.send_dm(&ada, bob.id(), "draft", "n-1").await;
    let id: MessageId = serde_json::from_value(sent["id"].clone()).unwrap();
    let (mut bob_ws, _) = server.connect(&bob).await;
    let path = format!("/api/dms/{}/messages/{id}", bob.id());

    let (status, first) =
        server.patch(&path, &ada.token, json!({"content": "second", "nonce": "edit-1"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, retried) =
        server.patch(&path, &ada.token, json!({"content": "second", "nonce": "edit-1"})).await;
    assert_eq!((status, &retried), (StatusCode::OK, &first), "the retry returns the message as it is");
    let (_, third) = server.patch(&path, &ada.token, json!({"content": "third", "nonce": "edit-2"})).await;
    assert_eq!(third["content"], "third");
    // Only the last edit's nonce is kept: after a newer edit, the old nonce
    // is a new edit (clients retry only their latest).
    let (_, late) = server.patch(&path, &ada.token, json!({"content": "second", "nonce": "edit-1"})).await;
    assert_eq!(late["content"], "second");

    expect_updated(&mut bob_ws, id, "second").await;
    expect_updated(&mut bob_ws, id, "third").await;
    expect_updated(&mut bob_ws, id, "second").await;
    bob_ws.assert_nothing_queued().await;
    let (status, body) = server.patch(&path, &ada.token, json!({"content": "x", "nonce": "has space"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("nonce")));
}

async fn replies_quote_the_original_and_outlive_it(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("reply"), 2).await;
    let original = room_post(&server, &people[0], room, "lunch at noon?", "o-1").await;
    let chat = format!("/api/rooms/{room}/messages");
    let (status, reply) = server
        .post(&chat, &people[1].token, json!({"content": "yes!", "nonce": "r-1", "reply_to": original["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let quoted = json!({"id": original["id"], "sender_id": people[0].id(), "content": "lunch at noon?"});
    assert_eq!((&reply["reply_to"], &reply["reply_preview"]), (&original["id"], &quoted));
    let page = history(&server, &chat, &people[0]).await;
    assert_eq!(page[0]["reply_preview"], quoted);

    // The quote follows an edit of the original, and its deletion.
    let original_path = format!("{chat}/{}", original["id"].as_str().unwrap());
    server.patch(&original_path, &people[0].token, json!({"content": "lunch at one?"})).await;
    let page = history(&server, &chat, &people[1]).await;
    assert_eq!(page[0]["reply_preview"]["content"], "lunch at one?");
    server.delete(&original_path, &people[0].token).await;
    let page = history(&server, &chat, &people[1]).await;
    assert_eq!(page.len(), 1, "the original is gone from history");
    assert_eq!((&page[0]["reply_to"], &page[0]["reply_preview"]), (&original["id"], &Value::Null));

    // Answering what is not in this conversation is refused, and stores nothing.
    let (other_room, others) = server.room_of(&crate::support::unique("elsewhere"), 1).await;
    let elsewhere = room_post(&server, &others[0], other_room, "not here", "e-1").await;
    for target in [original["id"].clone(), elsewhere["id"].clone(), json!("123")] {
        let (status, body) = server
            .post(&chat, &people[1].token, json!({"content": "re", "nonce": "r-2", "reply_to": target}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reply_to")),
            "{body}"
        );
    }
    assert_eq!(history(&server, &chat, &people[1]).await.len(), 1);

    // In DMs the same.
    let (ada, bob) = (&people[0], &people[1]);
    let (_, question) = server.send_dm(ada, bob.id(), "tea?", "q-1").await;
    let (status, answer) = server
        .post(
            &format!("/api/dms/{}/messages", ada.id()),
            &bob.token,
            json!({"content": "always", "nonce": "a-1", "reply_to": question["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["reply_preview"]["content"], "tea?");
}

async fn mentions_are_read_from_the_text(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("mention"), 3).await;
    let text =
        format!("<@{}> and <@{}>, look (and <@{}> again)", people[1].id(), people[2].id(), people[1].id());
    let message = room_post(&server, &people[0], room, &text, "m-1").await;
    assert_eq!(message["mentions"], json!([people[1].id(), people[2].id()]));
    let page = history(&server, &format!("/api/rooms/{room}/messages"), &people[2]).await;
    assert_eq!(page[0]["mentions"], message["mentions"]);
    let path = format!("/api/rooms/{room}/messages/{}", message["id"].as_str().unwrap());
    let (_, edited) = server
        .patch(&path, &people[0].token, json!({"content": format!("only <@{}>", people[2].id())}))
        .await;
    assert_eq!(edited["mentions"], json!([people[2].id()]));
}
