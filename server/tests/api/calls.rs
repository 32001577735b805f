//! Rooms' calls (who is in them, with what on): join, update, leave and
//! disconnect reach every member in order; one device per user, one call per
//! connection; only members take part, each only in their own room's call.

use concord_common::events::{self, CallLeftReason, CallMedia};
use concord_common::{ClientEvent, ErrorCode, Room, RoomId, ServerEvent, ServerFrame, UserId};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{both_databases, Account, TestServer, Ws, EVENT_TIMEOUT};

both_databases!(
    joins_updates_leaves_and_disconnects_reach_every_member,
    only_members_take_part_and_only_in_their_own_rooms_call,
    one_device_per_user_and_one_call_per_connection,
    leaving_or_losing_the_room_takes_people_out_of_its_call,
);

/// A room owned by `owner` with `members` added (all the owner's friends).
async fn room_with(server: &TestServer, owner: &Account, members: &[&Account]) -> RoomId {
    let (status, body) = server.post("/api/rooms", &owner.token, json!({"label": "Call room"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let room: Room = serde_json::from_value(body).unwrap();
    for member in members {
        let (status, body) = server
            .post(&format!("/api/rooms/{}/members", room.id), &owner.token, json!({"user_id": member.id()}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    room.id
}

/// A fresh socket that has seen none of the set-up's events.
async fn quiet_socket(server: &TestServer, account: &Account) -> Ws {
    Ws::identified_lean(&server.ws_url(), &account.token).await
}

fn media(muted: bool, camera: bool, screen: bool) -> CallMedia {
    CallMedia { muted, deafened: false, camera, screen }
}

/// Joins `room`'s call as a new participant: the connection hears its own
/// arrival (as every member's device does), then gets the answer.
async fn join(ws: &mut Ws, id: &str, room: RoomId, user: UserId, with: CallMedia) -> events::CallJoined {
    ws.send_request(id, ClientEvent::CallJoin(events::CallJoin { room_id: room, media: with })).await;
    expect_joined(ws, room, user).await;
    let answer =
        ws.expect_next_within(EVENT_TIMEOUT, "call_joined", |f| f.request_id.as_deref() == Some(id)).await;
    match answer.event {
        ServerEvent::CallJoined(joined) => joined,
        other => panic!("expected call_joined, got {other:?}"),
    }
}

/// Sends a request that changes nothing (it is refused): its answer is the next frame.
async fn request(ws: &mut Ws, id: &str, event: ClientEvent) -> ServerFrame {
    ws.send_request(id, event).await;
    ws.expect_next_within(EVENT_TIMEOUT, &format!("the answer to {id}"), |f| {
        f.request_id.as_deref() == Some(id)
    })
    .await
}

async fn expect_joined(ws: &mut Ws, room: RoomId, user: UserId) {
    ws.expect_next("call_participant_joined", |e| {
        matches!(e, ServerEvent::CallParticipantJoined(j) if j.room_id == room && j.participant.user_id == user)
    })
    .await;
}

async fn expect_updated(ws: &mut Ws, room: RoomId, user: UserId, expected: CallMedia) {
    ws.expect_next("call_participant_updated", |e| {
        matches!(e, ServerEvent::CallParticipantUpdated(u)
            if u.room_id == room && u.participant.user_id == user && u.participant.media == expected)
    })
    .await;
}

async fn expect_left(ws: &mut Ws, room: RoomId, user: UserId, reason: CallLeftReason) {
    ws.expect_next("call_participant_left", |e| {
        matches!(e, ServerEvent::CallParticipantLeft(l) if l.room_id == room && l.user_id == user && l.reason == reason)
    })
    .await;
}

async fn expect_call_left(ws: &mut Ws, room: RoomId, reason: CallLeftReason) {
    ws.expect_next(
        "call_left",
        |e| matches!(e, ServerEvent::CallLeft(l) if l.room_id == room && l.reason == reason),
    )
    .await;
}

/// Who is in the room's call, as `GET /api/rooms` lists it for `account`.
async fn in_call(server: &TestServer, account: &Account, room: RoomId) -> Vec<(UserId, CallMedia)> {
    let (_, body) = server.get("/api/rooms", &account.token).await;
    let rooms: Vec<Room> = serde_json::from_value(body["rooms"].clone()).unwrap();
    let room = rooms.into_iter().find(|r| r.id == room).expect("the room is listed");
    room.in_call.into_iter().map(|p| (p.user_id, p.media)).collect()
}

async fn joins_updates_leaves_and_disconnects_reach_every_member(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &carol).await;
    let room = room_with(&server, &ada, &[&bob, &carol]).await;
    let mut ada_ws = quiet_socket(&server, &ada).await;
    let mut bob_ws = quiet_socket(&server, &bob).await;
    let mut carol_ws = quiet_socket(&server, &carol).await;
    for (ws, friends) in
        [(&mut ada_ws, vec![bob.id(), carol.id()]), (&mut bob_ws, vec![]), (&mut carol_ws, vec![])]
    {
        for friend in friends {
            ws.expect_next("presence", |e| matches!(e, ServerEvent::Presence(p) if p.user_id == friend))
                .await;
        }
    }

    // Ada joins with her camera: everyone in the room hears it, her
    // connection first hears the change, then gets its answer.
    let joined = join(&mut ada_ws, "j1", room, ada.id(), media(false, true, false)).await;
    assert_eq!(joined.participants.iter().map(|p| p.user_id).collect::<Vec<_>>(), [ada.id()]);
    for ws in [&mut bob_ws, &mut carol_ws] {
        expect_joined(ws, room, ada.id()).await;
    }
    // Carol sees who is in the call without joining it.
    assert_eq!(in_call(&server, &carol, room).await, [(ada.id(), media(false, true, false))]);

    // Bob joins muted, then unmutes and shares his screen.
    let joined = join(&mut bob_ws, "j2", room, bob.id(), media(true, false, false)).await;
    assert_eq!(joined.participants.iter().map(|p| p.user_id).collect::<Vec<_>>(), [ada.id(), bob.id()]);
    for ws in [&mut ada_ws, &mut carol_ws] {
        expect_joined(ws, room, bob.id()).await;
    }
    let sharing = media(false, false, true);
    bob_ws
        .send_request("u1", ClientEvent::CallUpdate(events::CallUpdate { room_id: room, media: sharing }))
        .await;
    expect_updated(&mut bob_ws, room, bob.id(), sharing).await;
    let answer = bob_ws
        .expect_next_within(EVENT_TIMEOUT, "call_updated", |f| f.request_id.as_deref() == Some("u1"))
        .await;
    assert!(
        matches!(answer.event, ServerEvent::CallUpdated(ref u) if u.participant.media == sharing),
        "{answer:?}"
    );
    for ws in [&mut ada_ws, &mut carol_ws] {
        expect_updated(ws, room, bob.id(), sharing).await;
    }
    assert_eq!(
        in_call(&server, &ada, room).await,
        [(ada.id(), media(false, true, false)), (bob.id(), sharing)]
    );

    // Bob leaves.
    bob_ws.send_request("l1", ClientEvent::CallLeave(events::CallLeave { room_id: room })).await;
    expect_left(&mut bob_ws, room, bob.id(), CallLeftReason::Left).await;
    let answer = bob_ws
        .expect_next_within(EVENT_TIMEOUT, "call_left", |f| f.request_id.as_deref() == Some("l1"))
        .await;
    assert!(
        matches!(answer.event, ServerEvent::CallLeft(ref l) if l.reason == CallLeftReason::Left),
        "{answer:?}"
    );
    for ws in [&mut ada_ws, &mut carol_ws] {
        expect_left(ws, room, bob.id(), CallLeftReason::Left).await;
    }

    // Ada's connection goes away: she is out of the call, and the others are told.
    drop(ada_ws);
    for ws in [&mut bob_ws, &mut carol_ws] {
        expect_left(ws, room, ada.id(), CallLeftReason::Disconnected).await;
        ws.expect_next(
            "ada offline",
            |e| matches!(e, ServerEvent::Presence(p) if p.user_id == ada.id() && !p.online),
        )
        .await;
    }
    assert_eq!(in_call(&server, &carol, room).await, []);
}

async fn only_members_take_part_and_only_in_their_own_rooms_call(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let dan = server.register("dan").await;
    server.befriend(&ada, &bob).await;
    server.befriend(&ada, &dan).await;
    let room_a = room_with(&server, &ada, &[&bob]).await;
    let room_b = room_with(&server, &ada, &[&dan]).await;
    let mut ada_ws = quiet_socket(&server, &ada).await;
    let mut bob_ws = quiet_socket(&server, &bob).await;
    let mut dan_ws = quiet_socket(&server, &dan).await;
    for friend in [bob.id(), dan.id()] {
        ada_ws
            .expect_next("presence", |e| matches!(e, ServerEvent::Presence(p) if p.user_id == friend))
            .await;
    }
    let code = |frame: &ServerFrame| match &frame.event {
        ServerEvent::Error(events::Refused { error }) => error.code,
        other => panic!("expected an error, got {other:?}"),
    };

    // Dan, not a member of room A, cannot join it or act in its call; Bob,
    // a member of A, cannot touch B; nobody is in a call they did not join.
    let nothing = CallMedia::default();
    let attempts = [
        (
            "dan",
            ClientEvent::CallJoin(events::CallJoin { room_id: room_a, media: nothing }),
            ErrorCode::RoomNotFound,
        ),
        (
            "dan",
            ClientEvent::CallUpdate(events::CallUpdate { room_id: room_a, media: nothing }),
            ErrorCode::RoomNotFound,
        ),
        (
            "bob",
            ClientEvent::CallJoin(events::CallJoin { room_id: room_b, media: nothing }),
            ErrorCode::RoomNotFound,
        ),
        (
            "bob",
            ClientEvent::CallUpdate(events::CallUpdate { room_id: room_a, media: nothing }),
            ErrorCode::NotInCall,
        ),
        ("bob", ClientEvent::CallLeave(events::CallLeave { room_id: room_a }), ErrorCode::NotInCall),
        (
            "bob",
            ClientEvent::CallView(events::CallView { room_id: room_a, tiles: vec![] }),
            ErrorCode::NotInCall,
        ),
    ];
    for (i, (who, event, expected)) in attempts.into_iter().enumerate() {
        let ws = if who == "dan" { &mut dan_ws } else { &mut bob_ws };
        let answer = request(ws, &format!("bad{i}"), event).await;
        assert_eq!(code(&answer), expected, "attempt {i} by {who}");
    }
    // Bob joins A; Dan still cannot leave or update it for him.
    join(&mut bob_ws, "j", room_a, bob.id(), CallMedia::default()).await;
    // Bob's view: too many tiles, or a tile of no size, is refused, naming
    // the field; a view is accepted (and tells nobody else).
    let tile =
        events::TileView { user_id: ada.id(), source: events::TrackSource::Camera, hidden: true, size: None };
    let too_many = events::CallView { room_id: room_a, tiles: vec![tile; events::CallView::MAX_TILES + 1] };
    let flat = events::TileView { size: Some(events::TileSize { width: 640, height: 0 }), ..tile };
    let huge = events::TileView { size: Some(events::TileSize { width: 20_000, height: 360 }), ..tile };
    for (i, tiles) in [too_many.tiles, vec![flat], vec![huge]].into_iter().enumerate() {
        let view = events::CallView { room_id: room_a, tiles };
        let answer = request(&mut bob_ws, &format!("v1{i}"), ClientEvent::CallView(view)).await;
        assert_eq!(code(&answer), ErrorCode::BadRequest, "view {i}");
        assert!(
            matches!(&answer.event, ServerEvent::Error(r) if r.error.field.as_deref() == Some("tiles")),
            "{answer:?}"
        );
    }
    let sized = events::TileView { size: Some(events::TileSize { width: 320, height: 180 }), ..tile };
    let view = events::CallView { room_id: room_a, tiles: vec![tile, sized] };
    let answer = request(&mut bob_ws, "v2", ClientEvent::CallView(view)).await;
    assert_eq!(answer.event, ServerEvent::CallViewAccepted(events::CallViewAccepted { room_id: room_a }));
    let answer =
        request(&mut dan_ws, "x", ClientEvent::CallLeave(events::CallLeave { room_id: room_a })).await;
    assert_eq!(code(&answer), ErrorCode::RoomNotFound);
    // Nothing reached the owner but Bob's one join; Dan heard nothing of room A.
    expect_joined(&mut ada_ws, room_a, bob.id()).await;
    ada_ws.assert_nothing_queued().await;
    dan_ws.assert_nothing_queued().await;
    assert_eq!(in_call(&server, &ada, room_a).await, [(bob.id(), CallMedia::default())]);
    assert_eq!(in_call(&server, &ada, room_b).await, []);
}

async fn one_device_per_user_and_one_call_per_connection(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let first = room_with(&server, &ada, &[&bob]).await;
    let second = room_with(&server, &ada, &[&bob]).await;
    let mut phone = quiet_socket(&server, &ada).await;
    let mut desktop = quiet_socket(&server, &ada).await;
    let mut bob_ws = quiet_socket(&server, &bob).await;
    for ws in [&mut phone, &mut desktop] {
        ws.expect_next("presence", |e| matches!(e, ServerEvent::Presence(p) if p.user_id == bob.id())).await;
    }

    join(&mut phone, "p", first, ada.id(), media(true, false, false)).await;
    expect_joined(&mut desktop, first, ada.id()).await;
    expect_joined(&mut bob_ws, first, ada.id()).await;

    // The desktop joins the same call: the phone is taken out, Ada stays in
    // the call once (updated, not joined twice).
    let camera = media(false, true, false);
    desktop
        .send_request("d", ClientEvent::CallJoin(events::CallJoin { room_id: first, media: camera }))
        .await;
    expect_call_left(&mut phone, first, CallLeftReason::JoinedElsewhere).await;
    expect_updated(&mut phone, first, ada.id(), camera).await;
    expect_updated(&mut bob_ws, first, ada.id(), camera).await;
    assert_eq!(in_call(&server, &bob, first).await, [(ada.id(), camera)]);
    expect_updated(&mut desktop, first, ada.id(), camera).await;
    desktop.expect_next_within(EVENT_TIMEOUT, "call_joined", |f| f.request_id.as_deref() == Some("d")).await;

    // The phone's update is refused now: it is not in the call any more.
    let answer = request(
        &mut phone,
        "u",
        ClientEvent::CallUpdate(events::CallUpdate { room_id: first, media: camera }),
    )
    .await;
    assert!(
        matches!(answer.event, ServerEvent::Error(ref r) if r.error.code == ErrorCode::NotInCall),
        "{answer:?}"
    );

    // The desktop joins the second room's call: it leaves the first.
    desktop
        .send_request("d2", ClientEvent::CallJoin(events::CallJoin { room_id: second, media: camera }))
        .await;
    expect_call_left(&mut desktop, first, CallLeftReason::JoinedAnotherCall).await;
    expect_left(&mut desktop, first, ada.id(), CallLeftReason::JoinedAnotherCall).await;
    expect_joined(&mut desktop, second, ada.id()).await;
    for ws in [&mut phone, &mut bob_ws] {
        expect_left(ws, first, ada.id(), CallLeftReason::JoinedAnotherCall).await;
        expect_joined(ws, second, ada.id()).await;
    }
    assert_eq!(in_call(&server, &bob, first).await, []);
    assert_eq!(in_call(&server, &bob, second).await, [(ada.id(), camera)]);
}

async fn leaving_or_losing_the_room_takes_people_out_of_its_call(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let room = room_with(&server, &ada, &[&bob]).await;
    let mut ada_ws = quiet_socket(&server, &ada).await;
    let mut bob_ws = quiet_socket(&server, &bob).await;
    ada_ws.expect_next("presence", |e| matches!(e, ServerEvent::Presence(p) if p.user_id == bob.id())).await;
    join(&mut ada_ws, "a", room, ada.id(), CallMedia::default()).await;
    expect_joined(&mut bob_ws, room, ada.id()).await;
    join(&mut bob_ws, "b", room, bob.id(), CallMedia::default()).await;
    expect_joined(&mut ada_ws, room, bob.id()).await;

    // The owner removes Bob: his connection is taken out of the call, then
    // loses the room; Ada hears him leave the call, then the room.
    let (status, _) = server.delete(&format!("/api/rooms/{room}/members/{}", bob.id()), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_call_left(&mut bob_ws, room, CallLeftReason::RemovedFromRoom).await;
    bob_ws
        .expect_next("room_removed", |e| matches!(e, ServerEvent::RoomRemoved(r) if r.room_id == room))
        .await;
    expect_left(&mut ada_ws, room, bob.id(), CallLeftReason::RemovedFromRoom).await;
    ada_ws
        .expect_next(
            "room_member_removed",
            |e| matches!(e, ServerEvent::RoomMemberRemoved(r) if r.user_id == bob.id()),
        )
        .await;
    assert_eq!(in_call(&server, &ada, room).await.len(), 1);

    // Deleting the room ends its call.
    let (status, _) = server.delete(&format!("/api/rooms/{room}"), &ada.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_call_left(&mut ada_ws, room, CallLeftReason::RoomDeleted).await;
    ada_ws
        .expect_next("room_removed", |e| matches!(e, ServerEvent::RoomRemoved(r) if r.room_id == room))
        .await;
    bob_ws.assert_nothing_queued().await;
    // A new room with the same people starts with an empty call.
    let again = room_with(&server, &ada, &[&bob]).await;
    assert_eq!(in_call(&server, &ada, again).await, []);
}

/// The relay's shared secret in these tests (32 bytes or more, as required).
const RELAY_SECRET: &str = "north-north-north-north-north-north";

/// With a TURN relay configured, each member joining a call gets its own
/// credential for it in `call_joined` — the TURN REST API's
/// `expiry:user_id` signed with the relay's secret, expiring after the TTL —
/// and nobody else gets one: not a non-member, not a socket that has not
/// identified (it is refused before anything else). (The relay itself
/// refusing expired and forged ones, and a call through it, are in
/// `gui/call/tests/sfu_calls.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_gets_a_short_lived_relay_credential_and_nobody_else_does() {
    use base64::Engine as _;
    use hmac::Mac as _;

    let db = crate::support::Database::create(crate::support::Backend::Sqlite).await;
    let turn = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"];
    let figment = rocket::figment::Figment::new()
        .merge(("turn_urls", turn))
        .merge(("turn_secret", RELAY_SECRET))
        .merge(("turn_credential_ttl_secs", 300));
    let server = TestServer::start_on(&db, figment).await;
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    let dan = server.register("dan").await;
    server.befriend(&ada, &bob).await;
    let room = room_with(&server, &ada, &[&bob]).await;

    let mut bob_ws = quiet_socket(&server, &bob).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let joined = join(&mut bob_ws, "j", room, bob.id(), CallMedia::default()).await;
    assert_eq!(joined.ice_servers.len(), 1, "{joined:?}");
    let relay = &joined.ice_servers[0];
    assert_eq!(relay.urls, turn);
    let (expiry, user) = relay.username.split_once(':').expect("expiry:user_id");
    assert_eq!(user, bob.id().to_string());
    let expiry: u64 = expiry.parse().expect("a Unix time");
    assert!((now + 299..=now + 302).contains(&expiry), "expires {expiry}, now {now}");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(RELAY_SECRET.as_bytes()).unwrap();
    mac.update(relay.username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(relay.credential, expected, "base64(HMAC-SHA1(secret, username))");

    // Dan is not a member: refused, and the refusal carries no credential.
    let mut dan_ws = quiet_socket(&server, &dan).await;
    let answer = request(
        &mut dan_ws,
        "x",
        ClientEvent::CallJoin(events::CallJoin { room_id: room, media: CallMedia::default() }),
    )
    .await;
    assert!(
        matches!(&answer.event, ServerEvent::Error(e) if e.error.code == ErrorCode::RoomNotFound),
        "{answer:?}"
    );
    // A socket that never identified is refused and closed at its first frame.
    let mut anonymous = crate::support::Ws::connect(&server.ws_url()).await;
    anonymous
        .send(&ClientEvent::CallJoin(events::CallJoin { room_id: room, media: CallMedia::default() }))
        .await;
    match anonymous.next_frame_within(EVENT_TIMEOUT).await {
        Ok(frame) => assert!(
            matches!(&frame.event, ServerEvent::Error(e) if e.error.code == ErrorCode::IdentifyRequired),
            "{frame:?}"
        ),
        Err(close) => assert!(close.is_some(), "closed without a code"),
    }

    // Without relays configured, `call_joined` lists none (the SFU's own candidate is the way in).
    let plain_db = crate::support::Database::create(crate::support::Backend::Sqlite).await;
    let plain = TestServer::start_on(&plain_db, rocket::figment::Figment::new()).await;
    let ada = plain.register("ada").await;
    let room = room_with(&plain, &ada, &[]).await;
    let mut ada_ws = quiet_socket(&plain, &ada).await;
    let joined = join(&mut ada_ws, "j", room, ada.id(), CallMedia::default()).await;
    assert!(joined.ice_servers.is_empty(), "{joined:?}");
    server.stop().await;
    plain.stop().await;
}

/// A relay configured half-way (addresses without the secret, a secret
/// without addresses, an address that is not TURN, a secret too short to
/// resist guessing) stops the server at start with a message that says
/// what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_configured_relay_stops_the_server_with_what_to_set() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("ROCKET_TURN_URLS", "[\"turn:127.0.0.1:3478\"]")], "turn_urls is set without turn_secret"),
        (&[("ROCKET_TURN_SECRET", RELAY_SECRET)], "turn_secret is set without turn_urls"),
        (
            &[("ROCKET_TURN_URLS", "[\"http://127.0.0.1:3478\"]"), ("ROCKET_TURN_SECRET", RELAY_SECRET)],
            "is not a TURN address",
        ),
        (
            &[("ROCKET_TURN_URLS", "[\"turn:127.0.0.1:3478\"]"), ("ROCKET_TURN_SECRET", "north")],
            "turn_secret must be at least 32 bytes",
        ),
    ];
    for (settings, expected) in cases {
        let db = crate::support::Database::create(crate::support::Backend::Sqlite).await;
        let mut env = crate::support::child_env(&db.url, &db.dir);
        env.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let Err(log) = crate::support::spawn_server(&env) else { panic!("started with {settings:?}") };
        assert!(log.iter().any(|line| line.contains(expected)), "{settings:?}: {log:#?}");
    }
}
