//! Every wire type survives a JSON round trip and has the documented shape.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use concord_common::events;
use concord_common::*;
use serde_json::json;

fn user(id: i64) -> User {
    User { id: UserId(id), username: format!("user{id} ✨"), email: format!("u{id}@example.com") }
}

fn roundtrip<T>(value: &T) -> serde_json::Value
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn ids_are_strings_on_the_wire_and_accept_integers() {
    let big = UserId(7_300_000_000_000_000_123);
    assert_eq!(roundtrip(&big), json!("7300000000000000123"));
    let from_int: UserId = serde_json::from_value(json!(42)).unwrap();
    assert_eq!(from_int, UserId(42));
    assert!(serde_json::from_value::<UserId>(json!("12x")).is_err());
}

#[test]
fn client_events_are_tagged_by_type() {
    let v = roundtrip(&ClientEvent::Identify(events::Identify { token: "t".into() }));
    assert_eq!(v, json!({"type": "identify", "token": "t"}));
    assert_eq!(roundtrip(&ClientEvent::Heartbeat), json!({"type": "heartbeat"}));
    assert_eq!(
        roundtrip(&ClientEvent::Typing(events::TypingTo { user_id: UserId(5) })),
        json!({"type": "typing", "user_id": "5"})
    );
    assert!(serde_json::from_value::<ClientEvent>(json!({"type": "nope"})).is_err());
}

#[test]
fn server_events_roundtrip() {
    let message = DirectMessage {
        id: MessageId(9),
        sender_id: UserId(1),
        recipient_id: UserId(2),
        content: "héllo 👋🏽 世界".into(),
        nonce: "n-1".into(),
        created_at_ms: 1_700_000_000_000,
        ..Default::default()
    };
    let friend = Friend { user: user(2), online: true, since_ms: 5 };
    let invite = Invite { id: InviteId(3), from: user(1), to: user(2), created_at_ms: 6 };
    let events = vec![
        ServerEvent::Ready(events::Ready {
            me: user(1),
            friends: vec![friend.clone()],
            invites: InviteList { incoming: vec![invite.clone()], outgoing: vec![] },
            unread: vec![UnreadCount { user_id: UserId(2), count: 3, last_read_id: None }],
            rooms: vec![],
            heartbeat_interval_ms: 30_000,
        }),
        ServerEvent::InviteCreated(events::InviteCreated { invite: invite.clone() }),
        ServerEvent::InviteRemoved(events::InviteRemoved {
            invite_id: InviteId(3),
            reason: events::InviteRemovedReason::Rejected,
        }),
        ServerEvent::FriendAdded(events::FriendAdded { friend }),
        ServerEvent::FriendRemoved(events::FriendRemoved { user_id: UserId(2) }),
        ServerEvent::Presence(events::Presence { user_id: UserId(2), online: false }),
        ServerEvent::MessageCreated(events::MessageCreated { message }),
        ServerEvent::Typing(events::FriendTyping { user_id: UserId(2) }),
        ServerEvent::DmRead(events::DmRead { user_id: UserId(2), last_read_id: MessageId(9) }),
        ServerEvent::HeartbeatAck,
        ServerEvent::Error(events::Refused { error: ErrorBody::new(ErrorCode::NotFriends, "x") }),
    ];
    for event in &events {
        let v = roundtrip(event);
        assert!(v["type"].is_string(), "{v}");
    }
    assert_eq!(roundtrip(&ServerEvent::HeartbeatAck), json!({"type": "heartbeat_ack"}));
}

#[test]
fn room_events_have_the_documented_shape() {
    let room = Room {
        id: RoomId(4),
        label: "Game night 🎲".into(),
        owner_id: UserId(1),
        members: vec![PublicUser { id: UserId(1), username: "ada".into() }],
        in_call: vec![],
        created_at_ms: 7,
    };
    let room_json = json!({"id": "4", "label": "Game night 🎲", "owner_id": "1",
        "members": [{"id": "1", "username": "ada"}], "in_call": [], "created_at_ms": 7});
    assert_eq!(
        roundtrip(&ServerEvent::RoomAdded(events::RoomAdded { room: room.clone() })),
        json!({"type": "room_added", "room": room_json})
    );
    assert_eq!(
        roundtrip(&ServerEvent::RoomRenamed(events::RoomRenamed { room_id: RoomId(4), label: "x".into() })),
        json!({"type": "room_renamed", "room_id": "4", "label": "x"})
    );
    assert_eq!(
        roundtrip(&ServerEvent::RoomMemberAdded(events::RoomMemberAdded {
            room_id: RoomId(4),
            member: PublicUser { id: UserId(2), username: "bob".into() },
        })),
        json!({"type": "room_member_added", "room_id": "4", "member": {"id": "2", "username": "bob"}})
    );
    assert_eq!(
        roundtrip(&ServerEvent::RoomMemberRemoved(events::RoomMemberRemoved {
            room_id: RoomId(4),
            user_id: UserId(2)
        })),
        json!({"type": "room_member_removed", "room_id": "4", "user_id": "2"})
    );
    assert_eq!(
        roundtrip(&ServerEvent::RoomRemoved(events::RoomRemoved {
            room_id: RoomId(4),
            reason: events::RoomRemovedReason::Left,
        })),
        json!({"type": "room_removed", "room_id": "4", "reason": "left"})
    );
    let message = RoomMessage {
        id: MessageId(9),
        room_id: RoomId(4),
        sender_id: UserId(2),
        content: "hi".into(),
        nonce: "n".into(),
        created_at_ms: 8,
        ..Default::default()
    };
    assert_eq!(
        roundtrip(&ServerEvent::RoomMessageCreated(events::RoomMessageCreated { message })),
        json!({"type": "room_message_created", "message": {"id": "9", "room_id": "4", "sender_id": "2",
            "content": "hi", "nonce": "n", "created_at_ms": 8, "edited_at_ms": null, "reply_to": null,
            "reply_preview": null, "mentions": [], "reactions": [], "attachments": []}})
    );
    // A `ready` from a server without rooms still reads, with no rooms.
    let ready = json!({"type": "ready", "me": {"id": "1", "username": "ada", "email": "a@b.co"}, "friends": [],
        "invites": {"incoming": [], "outgoing": []}, "unread": [], "heartbeat_interval_ms": 1000});
    let ServerEvent::Ready(ready) = serde_json::from_value(ready).unwrap() else { panic!("not ready") };
    assert!(ready.rooms.is_empty());
    roundtrip(&RoomLabelRequest { label: "x".into() });
    roundtrip(&AddMemberRequest { user_id: UserId(2) });
}

#[test]
fn call_frames_have_the_documented_shape() {
    let join: ClientFrame = serde_json::from_value(
        json!({"type": "call_join", "request_id": "j1", "room_id": "4", "camera": true}),
    )
    .unwrap();
    assert_eq!(join.request_id.as_deref(), Some("j1"));
    let ClientEvent::CallJoin(join) = join.event else { panic!("not call_join") };
    assert_eq!(
        join.media,
        events::CallMedia { camera: true, ..Default::default() },
        "absent switches are off"
    );
    assert_eq!(
        roundtrip(&ClientEvent::CallUpdate(events::CallUpdate {
            room_id: RoomId(4),
            media: events::CallMedia { muted: true, deafened: false, camera: true, screen: true },
        })),
        json!({"type": "call_update", "room_id": "4", "muted": true, "deafened": false, "camera": true, "screen": true})
    );
    roundtrip(&ClientEvent::CallLeave(events::CallLeave { room_id: RoomId(4) }));
    let ada = events::CallParticipant {
        user_id: UserId(1),
        media: events::CallMedia::default(),
        joined_at_ms: 5,
        speaking: true,
    };
    let ada_json = json!({"user_id": "1", "muted": false, "deafened": false, "camera": false, "screen": false, "joined_at_ms": 5, "speaking": true});
    assert_eq!(
        roundtrip(&ServerEvent::CallJoined(events::CallJoined {
            room_id: RoomId(4),
            participants: vec![ada.clone()],
            ice_servers: vec![events::IceServer {
                urls: vec!["turn:turn.example.com:3478?transport=udp".into()],
                username: "1767225600:1".into(),
                credential: "c2VjcmV0".into(),
            }],
        })),
        json!({"type": "call_joined", "room_id": "4", "participants": [ada_json],
               "ice_servers": [{"urls": ["turn:turn.example.com:3478?transport=udp"], "username": "1767225600:1", "credential": "c2VjcmV0"}]})
    );
    assert_eq!(
        roundtrip(&ServerEvent::CallParticipantLeft(events::CallParticipantLeft {
            room_id: RoomId(4),
            user_id: UserId(1),
            reason: events::CallLeftReason::JoinedElsewhere,
        })),
        json!({"type": "call_participant_left", "room_id": "4", "user_id": "1", "reason": "joined_elsewhere"})
    );
    for event in [
        ServerEvent::CallUpdated(events::CallUpdated { room_id: RoomId(4), participant: ada.clone() }),
        ServerEvent::CallLeft(events::CallLeft {
            room_id: RoomId(4),
            reason: events::CallLeftReason::RoomDeleted,
        }),
        ServerEvent::CallParticipantJoined(events::CallParticipantJoined {
            room_id: RoomId(4),
            participant: ada.clone(),
        }),
        ServerEvent::CallParticipantUpdated(events::CallParticipantUpdated {
            room_id: RoomId(4),
            participant: ada,
        }),
    ] {
        roundtrip(&event);
    }
}

#[test]
fn error_body_shape_and_unknown_codes() {
    let body = ErrorResponse {
        error: ErrorBody {
            code: ErrorCode::Validation,
            message: "Username must be 2 to 32 characters.".into(),
            field: Some("username".into()),
        },
    };
    assert_eq!(
        roundtrip(&body),
        json!({"error": {"code": "validation", "message": "Username must be 2 to 32 characters.", "field": "username"}})
    );
    let future: ErrorResponse =
        serde_json::from_value(json!({"error": {"code": "brand_new", "message": "m"}})).unwrap();
    assert_eq!(future.error.code, ErrorCode::Unknown);
}

#[test]
fn invite_outcome_is_tagged_by_result() {
    let invite = Invite { id: InviteId(1), from: user(1), to: user(2), created_at_ms: 1 };
    let v = roundtrip(&CreateInviteResponse::Invited { invite });
    assert_eq!(v["result"], "invited");
    let v = roundtrip(&CreateInviteResponse::BecameFriends {
        friend: Friend { user: user(2), online: false, since_ms: 1 },
    });
    assert_eq!(v["result"], "became_friends");
}

#[test]
fn requests_roundtrip() {
    roundtrip(&RegisterRequest { email: "a@b.co".into(), username: "ab".into(), password: "p".repeat(8) });
    roundtrip(&LoginRequest { email: "a@b.co".into(), password: "x".into() });
    roundtrip(&CreateInviteRequest { email: "a@b.co".into() });
    roundtrip(&SendMessageRequest {
        content: "hi".into(),
        nonce: "n".into(),
        reply_to: None,
        attachments: Vec::new(),
    });
    roundtrip(&SendMessageRequest {
        content: "re".into(),
        nonce: "m".into(),
        reply_to: Some(MessageId(4)),
        attachments: vec![AttachmentId(7)],
    });
    roundtrip(&Health {
        status: "ok".into(),
        version: "0".into(),
        database: "sqlite".into(),
        bus: "local".into(),
        instance_id: 3,
        connections: 12,
    });
}

#[test]
fn call_signaling_frames_have_the_documented_shape() {
    let publish: ClientFrame = serde_json::from_value(json!({
        "type": "call_publish", "request_id": "p1", "room_id": "4", "sdp": "v=0",
        "tracks": [{"track_id": "t1", "source": "screen"}]
    }))
    .unwrap();
    let ClientEvent::CallPublish(publish) = publish.event else { panic!("not call_publish") };
    assert_eq!(
        publish.tracks,
        vec![events::PublishedTrack { track_id: "t1".into(), source: events::TrackSource::Screen }]
    );
    let bare: ClientEvent =
        serde_json::from_value(json!({"type": "call_publish", "room_id": 4, "sdp": "v=0"})).unwrap();
    assert!(matches!(bare, ClientEvent::CallPublish(p) if p.tracks.is_empty()), "tracks may be left out");
    assert_eq!(
        roundtrip(&ClientEvent::CallSubscribeAnswer(events::CallSubscribeAnswer {
            room_id: RoomId(4),
            offer_id: 3,
            sdp: "v=0".into()
        })),
        json!({"type": "call_subscribe_answer", "room_id": "4", "offer_id": 3, "sdp": "v=0"})
    );
    assert_eq!(
        roundtrip(&ServerEvent::CallSubscribeOffer(events::CallSubscribeOffer {
            room_id: RoomId(4),
            offer_id: 3,
            sdp: "v=0".into(),
            tracks: vec![events::ForwardedTrack {
                track_id: "1-camera-9".into(),
                user_id: UserId(1),
                source: events::TrackSource::Camera
            }],
            ice_servers: vec![],
        })),
        json!({"type": "call_subscribe_offer", "room_id": "4", "offer_id": 3, "sdp": "v=0",
               "tracks": [{"track_id": "1-camera-9", "user_id": "1", "source": "camera"}], "ice_servers": []})
    );
    assert_eq!(
        roundtrip(&ServerEvent::CallSpeaking(events::CallSpeaking {
            room_id: RoomId(4),
            user_id: UserId(1),
            speaking: true
        })),
        json!({"type": "call_speaking", "room_id": "4", "user_id": "1", "speaking": true})
    );
    roundtrip(&ServerEvent::CallPublishAnswer(events::CallPublishAnswer {
        room_id: RoomId(4),
        sdp: "v=0".into(),
    }));
    roundtrip(&ServerEvent::CallSubscribeAccepted(events::CallSubscribeAccepted {
        room_id: RoomId(4),
        offer_id: 3,
    }));
    let view = ClientEvent::CallView(events::CallView {
        room_id: RoomId(4),
        tiles: vec![
            events::TileView {
                user_id: UserId(1),
                source: events::TrackSource::Screen,
                hidden: true,
                size: None,
            },
            events::TileView {
                user_id: UserId(2),
                source: events::TrackSource::Camera,
                hidden: false,
                size: Some(events::TileSize { width: 320, height: 180 }),
            },
        ],
    });
    assert_eq!(
        roundtrip(&view),
        json!({"type": "call_view", "room_id": "4",
               "tiles": [{"user_id": "1", "source": "screen", "hidden": true},
                         {"user_id": "2", "source": "camera", "hidden": false,
                          "size": {"width": 320, "height": 180}}]})
    );
    let shown: ClientEvent = serde_json::from_value(
        json!({"type": "call_view", "room_id": 4, "tiles": [{"user_id": 1, "source": "camera"}]}),
    )
    .unwrap();
    assert!(matches!(shown, ClientEvent::CallView(v) if !v.tiles[0].hidden), "hidden may be left out");
    roundtrip(&ServerEvent::CallViewAccepted(events::CallViewAccepted { room_id: RoomId(4) }));
    assert_eq!(
        roundtrip(&ServerEvent::CallVideoWanted(events::CallVideoWanted {
            room_id: RoomId(4),
            source: events::TrackSource::Camera,
            wanted: false,
            layers: vec![],
        })),
        json!({"type": "call_video_wanted", "room_id": "4", "source": "camera", "wanted": false})
    );
    assert_eq!(
        roundtrip(&ServerEvent::CallVideoWanted(events::CallVideoWanted {
            room_id: RoomId(4),
            source: events::TrackSource::Camera,
            wanted: true,
            layers: vec!["q".into(), "f".into()],
        })),
        json!({"type": "call_video_wanted", "room_id": "4", "source": "camera", "wanted": true,
               "layers": ["q", "f"]})
    );
}

#[test]
fn chat_changes_roundtrip_with_the_conversation_as_a_path() {
    let message = RoomMessage {
        id: MessageId(12),
        room_id: RoomId(4),
        sender_id: UserId(2),
        content: "yes <@1>".into(),
        nonce: "n".into(),
        created_at_ms: 8,
        edited_at_ms: Some(9),
        reply_to: Some(MessageId(11)),
        reply_preview: Some(ReplyPreview {
            id: MessageId(11),
            sender_id: UserId(1),
            content: "lunch?".into(),
        }),
        mentions: vec![UserId(1)],
        reactions: vec![Reaction { emoji: "👍".into(), count: 1, me: true, user_ids: vec![UserId(1)] }],
        attachments: vec![Attachment {
            id: AttachmentId(13),
            name: "cat.png".into(),
            size: 2048,
            content_type: "image/png".into(),
            url: "/api/attachments/13?expires=3600&signature=ab".into(),
            width: Some(40),
            height: Some(30),
            thumbnail_url: Some("/api/attachments/13/thumbnail?expires=3600&signature=cd".into()),
        }],
    };
    assert_eq!(
        roundtrip(&ServerEvent::RoomMessageUpdated(events::RoomMessageUpdated { message })),
        json!({"type": "room_message_updated", "message": {"id": "12", "room_id": "4", "sender_id": "2",
            "content": "yes <@1>", "nonce": "n", "created_at_ms": 8, "edited_at_ms": 9, "reply_to": "11",
            "reply_preview": {"id": "11", "sender_id": "1", "content": "lunch?"}, "mentions": ["1"],
            "reactions": [{"emoji": "👍", "count": 1, "me": true, "user_ids": ["1"]}],
            "attachments": [{"id": "13", "name": "cat.png", "size": 2048, "content_type": "image/png",
                "url": "/api/attachments/13?expires=3600&signature=ab", "width": 40, "height": 30,
                "thumbnail_url": "/api/attachments/13/thumbnail?expires=3600&signature=cd"}]}})
    );
    let deleted = events::MessageDeleted { id: MessageId(12), conversation: Conversation::Dm(UserId(2)) };
    assert_eq!(
        roundtrip(&ServerEvent::MessageDeleted(deleted)),
        json!({"type": "message_deleted", "id": "12", "conversation": "dms/2"})
    );
    let reaction = events::ReactionChanged {
        conversation: Conversation::Room(RoomId(4)),
        message_id: MessageId(12),
        emoji: "🎉".into(),
        user_id: UserId(1),
    };
    assert_eq!(
        roundtrip(&ServerEvent::ReactionAdded(reaction)),
        json!({"type": "reaction_added", "conversation": "rooms/4", "message_id": "12", "emoji": "🎉",
            "user_id": "1"})
    );
    // A message from a server before replies and reactions still reads.
    let old = json!({"id": "1", "sender_id": "1", "recipient_id": "2", "content": "hi", "nonce": "n",
        "created_at_ms": 1});
    let old: DirectMessage = serde_json::from_value(old).unwrap();
    assert_eq!((old.reply_to, old.reactions.len()), (None, 0));
}
