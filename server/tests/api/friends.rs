//! Invites and friendships, their live events, and authorisation across three users.

use concord_common::events;
use concord_common::ServerEvent;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{both_databases, TestServer};

both_databases!(
    invite_accept_flow_updates_both_users_live,
    reject_cancel_and_reinvite,
    invite_errors_are_typed,
    crossing_invites_become_a_friendship,
    remove_friend_and_invite_again,
    nobody_acts_on_or_sees_anothers_invites,
);

async fn invite_accept_flow_updates_both_users_live(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let (mut ada_ws, _) = server.connect(&ada).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut bob_phone, _) = server.connect(&bob).await;

    let (status, body) =
        server.post("/api/invites", &ada.token, json!({"email": bob.user.email.to_uppercase()})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["result"], "invited");
    let invite_id = body["invite"]["id"].as_str().unwrap().to_owned();

    for ws in [&mut ada_ws, &mut bob_ws, &mut bob_phone] {
        let event = ws
            .expect_next("invite_created", |e| {
                matches!(e, ServerEvent::InviteCreated(events::InviteCreated { .. }))
            })
            .await;
        let ServerEvent::InviteCreated(events::InviteCreated { invite }) = event else { unreachable!() };
        assert_eq!((invite.from.id, invite.to.id), (ada.id(), bob.id()));
    }

    let (_, ada_invites) = server.get("/api/invites", &ada.token).await;
    assert_eq!(ada_invites["outgoing"][0]["id"], invite_id);
    assert_eq!(ada_invites["incoming"], json!([]));
    let (_, bob_invites) = server.get("/api/invites", &bob.token).await;
    assert_eq!(bob_invites["incoming"][0]["id"], invite_id);
    assert_eq!(bob_invites["incoming"][0]["from"]["username"], "ada");

    let (status, friend) =
        server.post(&format!("/api/invites/{invite_id}/accept"), &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{friend}");
    assert_eq!(friend["user"]["id"], json!(ada.id()));
    assert_eq!(friend["online"], true, "ada has a websocket open");

    for ws in [&mut ada_ws, &mut bob_ws, &mut bob_phone] {
        ws.expect_next("invite_removed", |e| {
            matches!(
                e,
                ServerEvent::InviteRemoved(events::InviteRemoved {
                    reason: events::InviteRemovedReason::Accepted,
                    ..
                })
            )
        })
        .await;
        ws.expect_next("friend_added", |e| matches!(e, ServerEvent::FriendAdded(events::FriendAdded { .. })))
            .await;
    }

    let (_, ada_friends) = server.get("/api/friends", &ada.token).await;
    assert_eq!(ada_friends.as_array().unwrap().len(), 1);
    assert_eq!(ada_friends[0]["user"]["id"], json!(bob.id()));
    assert_eq!(ada_friends[0]["online"], true);
    let (_, bob_invites) = server.get("/api/invites", &bob.token).await;
    assert_eq!(bob_invites, json!({"incoming": [], "outgoing": []}));

    // Accepting again: the invite is gone.
    let (status, body) =
        server.post(&format!("/api/invites/{invite_id}/accept"), &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "invite_not_found");
}

async fn reject_cancel_and_reinvite(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let (mut ada_ws, _) = server.connect(&ada).await;

    let (_, body) = server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    let first = body["invite"]["id"].as_str().unwrap().to_owned();
    ada_ws
        .expect_next("her invite", |e| matches!(e, ServerEvent::InviteCreated(events::InviteCreated { .. })))
        .await;
    let (status, _) = server.post(&format!("/api/invites/{first}/reject"), &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ada_ws
        .expect_next("rejected", |e| {
            matches!(
                e,
                ServerEvent::InviteRemoved(events::InviteRemoved {
                    reason: events::InviteRemovedReason::Rejected,
                    ..
                })
            )
        })
        .await;
    let (_, ada_friends) = server.get("/api/friends", &ada.token).await;
    assert_eq!(ada_friends, json!([]));

    // Re-inviting after a reject works, and the sender can cancel it.
    let (status, body) = server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    assert_eq!(status, StatusCode::CREATED);
    let second = body["invite"]["id"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    // Only the sender may cancel; only the receiver may reject.
    assert_eq!(server.delete(&format!("/api/invites/{second}"), &bob.token).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        server.post(&format!("/api/invites/{second}/reject"), &ada.token, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.delete(&format!("/api/invites/{second}"), &ada.token).await.0, StatusCode::NO_CONTENT);
    ada_ws
        .expect_next("the second invite", |e| {
            matches!(e, ServerEvent::InviteCreated(events::InviteCreated { .. }))
        })
        .await;
    ada_ws
        .expect_next("cancelled", |e| {
            matches!(
                e,
                ServerEvent::InviteRemoved(events::InviteRemoved {
                    reason: events::InviteRemovedReason::Cancelled,
                    ..
                })
            )
        })
        .await;
    let (_, bob_invites) = server.get("/api/invites", &bob.token).await;
    assert_eq!(bob_invites["incoming"], json!([]));
}

async fn invite_errors_are_typed(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let cases = [
        (json!({"email": ada.user.email}), StatusCode::BAD_REQUEST, "cannot_invite_self"),
        (json!({"email": "nobody@example.com"}), StatusCode::NOT_FOUND, "user_not_found"),
        (json!({"email": "nonsense"}), StatusCode::UNPROCESSABLE_ENTITY, "validation"),
    ];
    for (body, status, code) in cases {
        let (got, error) = server.post("/api/invites", &ada.token, body).await;
        assert_eq!((got, error["error"]["code"].as_str().unwrap()), (status, code));
    }
    assert_eq!(
        server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await.0,
        StatusCode::CREATED
    );
    let (status, error) = server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("invite_exists")));
    let (_, invites) = server.get("/api/invites", &ada.token).await;
    assert_eq!(invites["outgoing"].as_array().unwrap().len(), 1, "inviting twice stored one invite");

    let carol = server.register("carol").await;
    server.befriend(&ada, &carol).await;
    let (status, error) = server.post("/api/invites", &carol.token, json!({"email": ada.user.email})).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_friends")));

    for bad in ["/api/invites/12345/accept", "/api/invites/not-a-number/accept"] {
        let (status, error) = server.post(bad, &bob.token, json!({})).await;
        assert!(status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST, "{bad}: {status}");
        assert!(error["error"]["code"].is_string());
    }
}

async fn crossing_invites_become_a_friendship(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let (mut ada_ws, _) = server.connect(&ada).await;
    assert_eq!(
        server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await.0,
        StatusCode::CREATED
    );
    let (status, body) = server.post("/api/invites", &bob.token, json!({"email": ada.user.email})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "became_friends");
    assert_eq!(body["friend"]["user"]["id"], json!(ada.id()));
    // Ada's devices hear the whole story, in order: her invite, its
    // acceptance by Bob's invite-back, the new friend.
    ada_ws
        .expect_next("her invite", |e| matches!(e, ServerEvent::InviteCreated(events::InviteCreated { .. })))
        .await;
    ada_ws
        .expect_next("accepted", |e| {
            matches!(
                e,
                ServerEvent::InviteRemoved(events::InviteRemoved {
                    reason: events::InviteRemovedReason::Accepted,
                    ..
                })
            )
        })
        .await;
    ada_ws
        .expect_next(
            "friend_added",
            |e| matches!(e, ServerEvent::FriendAdded(events::FriendAdded { friend }) if friend.user.id == bob.id()),
        )
        .await;
    for account in [&ada, &bob] {
        let (_, invites) = server.get("/api/invites", &account.token).await;
        assert_eq!(invites, json!({"incoming": [], "outgoing": []}));
        let (_, friends) = server.get("/api/friends", &account.token).await;
        assert_eq!(friends.as_array().unwrap().len(), 1);
    }
}

async fn remove_friend_and_invite_again(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (status, _) = server.delete(&format!("/api/friends/{}", bob.id()), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    bob_ws
        .expect_next(
            "friend_removed",
            |e| matches!(e, ServerEvent::FriendRemoved(events::FriendRemoved { user_id }) if *user_id == ada.id()),
        )
        .await;
    for account in [&ada, &bob] {
        assert_eq!(server.get("/api/friends", &account.token).await.1, json!([]));
    }
    let (status, error) = server.delete(&format!("/api/friends/{}", bob.id()), &ada.token).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_friends")));
    // DMs stop with the friendship.
    let (status, _) = server.send_dm(&ada, bob.id(), "still there?", "n1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.befriend(&bob, &ada).await;
    assert_eq!(server.get("/api/friends", &ada.token).await.1.as_array().unwrap().len(), 1);
}

async fn nobody_acts_on_or_sees_anothers_invites(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let (mut eve_ws, _) = server.connect(&eve).await;
    let (_, body) = server.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    let id = body["invite"]["id"].as_str().unwrap().to_owned();

    // Eve sees nothing of it and cannot accept, reject or cancel it.
    assert_eq!(server.get("/api/invites", &eve.token).await.1, json!({"incoming": [], "outgoing": []}));
    for (path, method) in [("accept", "post"), ("reject", "post"), ("", "delete")] {
        let (status, error) = if method == "post" {
            server.post(&format!("/api/invites/{id}/{path}"), &eve.token, json!({})).await
        } else {
            server.delete(&format!("/api/invites/{id}"), &eve.token).await
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["error"]["code"], "invite_not_found");
    }
    // The sender cannot accept their own invite either.
    assert_eq!(
        server.post(&format!("/api/invites/{id}/accept"), &ada.token, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    // Eve's friends list is hers alone, and no event about it reached her.
    assert_eq!(server.get("/api/friends", &eve.token).await.1, json!([]));
    eve_ws.assert_nothing_queued().await;
    // The invite survived the attempts.
    assert_eq!(server.get("/api/invites", &bob.token).await.1["incoming"][0]["id"], id);
}
