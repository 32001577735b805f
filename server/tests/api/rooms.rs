//! Rooms: every route, every error, authorisation across three users and a
//! stranger, and the live events on every member's devices.

use concord_common::events::{self, RoomRemovedReason};
use concord_common::{Room, RoomId, ServerEvent, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{both_databases, Account, TestServer, Ws};

both_databases!(
    room_changes_reach_every_member_live,
    room_errors_are_typed,
    only_members_see_a_room_and_only_its_owner_changes_it,
    chat_history_pages_and_resends_are_deduplicated,
    one_person_owns_at_most_a_hundred_rooms,
);

async fn create_room(server: &TestServer, owner: &Account, label: &str) -> Room {
    let (status, body) = server.post("/api/rooms", &owner.token, json!({"label": label})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn add_member(server: &TestServer, owner: &Account, room: RoomId, user: UserId) -> (StatusCode, Value) {
    server.post(&format!("/api/rooms/{room}/members"), &owner.token, json!({"user_id": user})).await
}

fn names(room: &Room) -> Vec<&str> {
    room.members.iter().map(|m| m.username.as_str()).collect()
}

async fn expect_room_added(ws: &mut Ws, id: RoomId) -> Room {
    let event =
        ws.expect_next("room_added", |e| matches!(e, ServerEvent::RoomAdded(a) if a.room.id == id)).await;
    let ServerEvent::RoomAdded(events::RoomAdded { room }) = event else { unreachable!() };
    room
}

async fn expect_member_added(ws: &mut Ws, room: RoomId, user: UserId) {
    ws.expect_next(
        "room_member_added",
        |e| matches!(e, ServerEvent::RoomMemberAdded(a) if a.room_id == room && a.member.id == user),
    )
    .await;
}

async fn expect_member_removed(ws: &mut Ws, room: RoomId, user: UserId) {
    ws.expect_next(
        "room_member_removed",
        |e| matches!(e, ServerEvent::RoomMemberRemoved(r) if r.room_id == room && r.user_id == user),
    )
    .await;
}

async fn expect_room_removed(ws: &mut Ws, room: RoomId, reason: RoomRemovedReason) {
    ws.expect_next(
        "room_removed",
        |e| matches!(e, ServerEvent::RoomRemoved(r) if r.room_id == room && r.reason == reason),
    )
    .await;
}

async fn room_changes_reach_every_member_live(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;
    let (mut ada_ws, _) = server.connect(&ada).await;
    let (mut ada_phone, _) = server.connect(&ada).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut carol_ws, _) = server.connect(&carol).await;
    for ws in [&mut ada_ws, &mut ada_phone] {
        for friend in [bob.id(), carol.id()] {
            ws.expect_next(
                "presence",
                |e| matches!(e, ServerEvent::Presence(p) if p.user_id == friend && p.online),
            )
            .await;
        }
    }

    // Created: only the owner's devices hear of it.
    let room = create_room(&server, &ada, "  Game night 🎲 ").await;
    assert_eq!((room.label.as_str(), room.owner_id), ("Game night 🎲", ada.id()));
    assert_eq!(names(&room), ["ada"]);
    for ws in [&mut ada_ws, &mut ada_phone] {
        assert_eq!(expect_room_added(ws, room.id).await, room);
    }
    bob_ws.assert_nothing_queued().await;

    // Members added: the newcomer gets the room, the others the newcomer.
    let (status, body) = add_member(&server, &ada, room.id, bob.id()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bobs_room = expect_room_added(&mut bob_ws, room.id).await;
    assert_eq!(names(&bobs_room), ["ada", "bob"]);
    assert_eq!(serde_json::to_value(&bobs_room).unwrap(), body);
    assert!(body["members"][0].get("email").is_none(), "members see names, not emails: {body}");
    for ws in [&mut ada_ws, &mut ada_phone] {
        expect_member_added(ws, room.id, bob.id()).await;
    }
    let (status, _) = add_member(&server, &ada, room.id, carol.id()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&expect_room_added(&mut carol_ws, room.id).await), ["ada", "bob", "carol"]);
    for ws in [&mut ada_ws, &mut ada_phone, &mut bob_ws] {
        expect_member_added(ws, room.id, carol.id()).await;
    }

    // Every member lists it, and a device connecting now finds it in `ready`.
    let (_, listed) = server.get("/api/rooms", &carol.token).await;
    let listed: Vec<Room> = serde_json::from_value(listed["rooms"].clone()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(names(&listed[0]), ["ada", "bob", "carol"]);
    let (_, ready) = server.connect(&bob).await;
    let ServerEvent::Ready(events::Ready { rooms, .. }) = ready else { unreachable!() };
    assert_eq!(rooms, listed);

    // Renamed: everyone.
    let (status, renamed) =
        server.patch(&format!("/api/rooms/{}", room.id), &ada.token, json!({"label": "Board games"})).await;
    assert_eq!((status, renamed["label"].as_str()), (StatusCode::OK, Some("Board games")));
    for ws in [&mut ada_ws, &mut ada_phone, &mut bob_ws, &mut carol_ws] {
        ws.expect_next(
            "room_renamed",
            |e| matches!(e, ServerEvent::RoomRenamed(r) if r.room_id == room.id && r.label == "Board games"),
        )
        .await;
    }

    // A chat message: everyone, stored for later.
    let (status, sent) = server
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            &bob.token,
            json!({"content": "hi all 👋", "nonce": "b1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    for ws in [&mut ada_ws, &mut ada_phone, &mut bob_ws, &mut carol_ws] {
        let event =
            ws.expect_next("room_message_created", |e| matches!(e, ServerEvent::RoomMessageCreated(_))).await;
        let ServerEvent::RoomMessageCreated(events::RoomMessageCreated { message }) = event else {
            unreachable!()
        };
        assert_eq!(
            (message.room_id, message.sender_id, message.content.as_str()),
            (room.id, bob.id(), "hi all 👋")
        );
    }
    let (_, history) = server.get(&format!("/api/rooms/{}/messages", room.id), &carol.token).await;
    assert_eq!(history["messages"][0]["content"], "hi all 👋");
    assert_eq!(history["has_more"], false);

    // Bob leaves; the owner removes carol.
    let (status, _) =
        server.delete(&format!("/api/rooms/{}/members/{}", room.id, bob.id()), &bob.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_room_removed(&mut bob_ws, room.id, RoomRemovedReason::Left).await;
    for ws in [&mut ada_ws, &mut ada_phone, &mut carol_ws] {
        expect_member_removed(ws, room.id, bob.id()).await;
    }
    let (status, _) =
        server.delete(&format!("/api/rooms/{}/members/{}", room.id, carol.id()), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_room_removed(&mut carol_ws, room.id, RoomRemovedReason::Removed).await;
    for ws in [&mut ada_ws, &mut ada_phone] {
        expect_member_removed(ws, room.id, carol.id()).await;
    }
    let (_, bobs) = server.get("/api/rooms", &bob.token).await;
    assert_eq!(bobs, json!({"rooms": []}));

    // Deleted: the remaining members hear it; former members hear nothing.
    let (status, _) = server.delete(&format!("/api/rooms/{}", room.id), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for ws in [&mut ada_ws, &mut ada_phone] {
        expect_room_removed(ws, room.id, RoomRemovedReason::Deleted).await;
    }
    for ws in [&mut bob_ws, &mut carol_ws] {
        ws.assert_nothing_queued().await;
    }
    let (status, body) = server.get(&format!("/api/rooms/{}/messages", room.id), &ada.token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("room_not_found")));
    assert_eq!(server.get("/api/rooms", &ada.token).await.1, json!({"rooms": []}));
}

fn code(body: &Value) -> (&str, Option<&str>) {
    (body["error"]["code"].as_str().unwrap_or("<none>"), body["error"]["field"].as_str())
}

async fn room_errors_are_typed(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let stranger = server.register("stranger").await;
    server.befriend(&ada, &bob).await;
    let room = create_room(&server, &ada, "Room").await;
    let path = format!("/api/rooms/{}", room.id);

    for label in ["", "   ", &"x".repeat(65), "tab\there"] {
        let (status, body) = server.post("/api/rooms", &ada.token, json!({"label": label})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, ("validation", Some("label"))),
            "{label:?}"
        );
        let (status, body) = server.patch(&path, &ada.token, json!({"label": label})).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, ("validation", Some("label"))));
    }
    let (status, body) = server.post("/api/rooms", &ada.token, json!({"name": "wrong field"})).await;
    assert_eq!((status, code(&body).0), (StatusCode::BAD_REQUEST, "invalid_json"));
    let (status, body) = server.call(Method::POST, "/api/rooms", None, Some(json!({"label": "x"}))).await;
    assert_eq!((status, code(&body).0), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, body) = server.get("/api/rooms/abc/messages", &ada.token).await;
    assert_eq!((status, code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, body) = server.delete("/api/rooms/12345", &ada.token).await;
    assert_eq!((status, code(&body).0), (StatusCode::NOT_FOUND, "room_not_found"));

    // Members: only the owner's friends, once each; the owner cannot leave.
    let (status, body) = add_member(&server, &ada, room.id, stranger.id()).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, ("not_friends", Some("user_id"))));
    let (status, body) = add_member(&server, &ada, room.id, ada.id()).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, ("already_member", Some("user_id"))));
    assert_eq!(add_member(&server, &ada, room.id, bob.id()).await.0, StatusCode::OK);
    let (status, body) = add_member(&server, &ada, room.id, bob.id()).await;
    assert_eq!((status, code(&body).0), (StatusCode::CONFLICT, "already_member"));
    let (status, body) = server.delete(&format!("{path}/members/{}", ada.id()), &ada.token).await;
    assert_eq!((status, code(&body).0), (StatusCode::BAD_REQUEST, "owner_cannot_leave"));
    let (status, body) = server.delete(&format!("{path}/members/{}", stranger.id()), &ada.token).await;
    assert_eq!((status, code(&body).0), (StatusCode::NOT_FOUND, "not_a_member"));
    let (status, body) = server.post(&format!("{path}/members"), &ada.token, json!({"user_id": "x"})).await;
    assert_eq!((status, code(&body).0), (StatusCode::BAD_REQUEST, "invalid_json"));

    // Chat input.
    let messages = format!("{path}/messages");
    let (status, body) = server.post(&messages, &bob.token, json!({"content": " ", "nonce": "n"})).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, ("validation", Some("content"))));
    let (status, body) =
        server.post(&messages, &bob.token, json!({"content": "hi", "nonce": "has space"})).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, ("validation", Some("nonce"))));
    for query in ["limit=0", "limit=101", "limit=x", "before=x"] {
        let (status, body) = server.get(&format!("{messages}?{query}"), &bob.token).await;
        assert_eq!((status, code(&body).0), (StatusCode::UNPROCESSABLE_ENTITY, "validation"), "{query}");
    }

    // None of it changed the room.
    let (_, listed) = server.get("/api/rooms", &ada.token).await;
    let listed: Vec<Room> = serde_json::from_value(listed["rooms"].clone()).unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.label.as_str(), names(r))).collect::<Vec<_>>(),
        [("Room", vec!["ada", "bob"])]
    );
    assert_eq!(server.get(&messages, &ada.token).await.1["messages"], json!([]));
}

async fn only_members_see_a_room_and_only_its_owner_changes_it(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let eve = server.register("eve").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&bob, &carol).await;
    server.befriend(&ada, &eve).await;
    let room = create_room(&server, &ada, "Ada's room").await;
    assert_eq!(add_member(&server, &ada, room.id, bob.id()).await.0, StatusCode::OK);
    let (mut eve_ws, _) = server.connect(&eve).await;
    let path = format!("/api/rooms/{}", room.id);

    // Eve (a friend of the owner, not a member) and carol (a friend of a
    // member) are strangers to the room: it does not exist for them.
    for outsider in [&eve, &carol] {
        let attempts = [
            server.get(&format!("{path}/messages"), &outsider.token).await,
            server
                .post(&format!("{path}/messages"), &outsider.token, json!({"content": "hi", "nonce": "x"}))
                .await,
            server.patch(&path, &outsider.token, json!({"label": "mine"})).await,
            server.delete(&path, &outsider.token).await,
            server.post(&format!("{path}/members"), &outsider.token, json!({"user_id": outsider.id()})).await,
            server.delete(&format!("{path}/members/{}", bob.id()), &outsider.token).await,
            server.delete(&format!("{path}/members/{}", outsider.id()), &outsider.token).await,
        ];
        for (status, body) in attempts {
            assert_eq!(
                (status, code(&body).0),
                (StatusCode::NOT_FOUND, "room_not_found"),
                "{}",
                outsider.user.username
            );
        }
        assert_eq!(server.get("/api/rooms", &outsider.token).await.1, json!({"rooms": []}));
    }

    // Bob, a member, reads and writes the chat but changes nothing else.
    let attempts = [
        server.patch(&path, &bob.token, json!({"label": "bob's now"})).await,
        server.delete(&path, &bob.token).await,
        server.post(&format!("{path}/members"), &bob.token, json!({"user_id": carol.id()})).await,
        server.delete(&format!("{path}/members/{}", ada.id()), &bob.token).await,
    ];
    for (status, body) in attempts {
        assert_eq!((status, code(&body).0), (StatusCode::FORBIDDEN, "not_room_owner"));
    }
    let (status, _) = server
        .post(&format!("{path}/messages"), &bob.token, json!({"content": "members only", "nonce": "b"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Nothing changed, and the outsider heard nothing.
    let (_, listed) = server.get("/api/rooms", &bob.token).await;
    let listed: Vec<Room> = serde_json::from_value(listed["rooms"].clone()).unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.label.as_str(), names(r))).collect::<Vec<_>>(),
        [("Ada's room", vec!["ada", "bob"])]
    );
    let (_, history) = server.get(&format!("{path}/messages"), &ada.token).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 1);
    eve_ws.assert_nothing_queued().await;
}

async fn chat_history_pages_and_resends_are_deduplicated(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let room = create_room(&server, &ada, "Chat").await;
    add_member(&server, &ada, room.id, bob.id()).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let messages = format!("/api/rooms/{}/messages", room.id);
    for i in 0..5 {
        let (status, _) = server
            .post(&messages, &ada.token, json!({"content": format!("m{i}"), "nonce": format!("n{i}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        bob_ws.expect_next("the message", |e| matches!(e, ServerEvent::RoomMessageCreated(_))).await;
    }

    // A resend (same nonce) returns the original: 200, nothing new stored;
    // the original is announced again (its first announcement may have been
    // lost with the first answer), which clients already have.
    let (status, again) =
        server.post(&messages, &ada.token, json!({"content": "m4 again", "nonce": "n4"})).await;
    assert_eq!((status, again["content"].as_str()), (StatusCode::OK, Some("m4")));
    bob_ws
        .expect_next("the original again", |e| {
            matches!(e, ServerEvent::RoomMessageCreated(created)
                if serde_json::to_value(&created.message).unwrap() == again)
        })
        .await;
    bob_ws.assert_nothing_queued().await;
    // The same nonce from someone else is their own message.
    let (status, _) = server.post(&messages, &bob.token, json!({"content": "mine", "nonce": "n4"})).await;
    assert_eq!(status, StatusCode::CREATED);

    let contents = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, first) = server.get(&format!("{messages}?limit=2"), &bob.token).await;
    assert_eq!(
        (contents(&first), first["has_more"].as_bool()),
        (vec!["mine".into(), "m4".into()], Some(true))
    );
    let oldest = first["messages"][1]["id"].as_str().unwrap();
    let (_, rest) = server.get(&format!("{messages}?before={oldest}&limit=10"), &bob.token).await;
    assert_eq!(
        (contents(&rest), rest["has_more"].as_bool()),
        (vec!["m3".into(), "m2".into(), "m1".into(), "m0".into()], Some(false))
    );
}

async fn one_person_owns_at_most_a_hundred_rooms(server: TestServer) {
    let ada = server.register("ada").await;
    for i in 0..concord_common::validate::ROOMS_OWNED_MAX {
        create_room(&server, &ada, &format!("room {i}")).await;
    }
    let (status, body) = server.post("/api/rooms", &ada.token, json!({"label": "one more"})).await;
    assert_eq!((status, code(&body).0), (StatusCode::CONFLICT, "room_limit"));
    let (_, listed) = server.get("/api/rooms", &ada.token).await;
    assert_eq!(listed["rooms"].as_array().unwrap().len(), concord_common::validate::ROOMS_OWNED_MAX);
}
