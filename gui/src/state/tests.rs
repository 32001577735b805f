//! The state's unit tests: events and intents in, state and effects out.

use super::*;
use concord_common::events;
use concord_common::{AuthResponse, DirectMessage, ErrorBody, ErrorCode, MessageId, MessagePage};

fn user(id: i64, name: &str) -> User {
    User { id: UserId(id), username: name.into(), email: format!("{name}@example.com") }
}

fn message(id: i64, from: i64, to: i64, text: &str) -> DirectMessage {
    DirectMessage {
        id: MessageId(id),
        sender_id: UserId(from),
        recipient_id: UserId(to),
        content: text.into(),
        nonce: format!("n{id}"),
        created_at_ms: id,
        ..Default::default()
    }
}

/// The network commands among `effects`, in order.
fn nets(effects: &[Effect]) -> Vec<Command> {
    effects.iter().filter_map(|e| if let Effect::Net(c) = e { Some(c.clone()) } else { None }).collect()
}

/// The media requests among `effects`, in order.
fn medias(effects: &[Effect]) -> Vec<MediaCommand> {
    effects.iter().filter_map(|e| if let Effect::Media(m) = e { Some(m.clone()) } else { None }).collect()
}

/// The call sounds among `effects`, in order.
fn sounds(effects: &[Effect]) -> Vec<CallSound> {
    effects.iter().filter_map(|e| if let Effect::Sound(s) = e { Some(*s) } else { None }).collect()
}

/// The notifications (title, body) among `effects`, in order.
fn notifies(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify { title, body } => Some((title.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

fn logged_in() -> AppState {
    let (mut state, _) = AppState::restore(Persisted::default(), 0);
    state.apply(NetEvent::Authenticated {
        server: DEFAULT_SERVER.into(),
        auth: AuthResponse { token: "t".into(), expires_at_ms: i64::MAX, user: user(1, "ada") },
    });
    state.apply(NetEvent::Server(ServerEvent::Ready(events::Ready {
        me: user(1, "ada"),
        friends: vec![Friend { user: user(2, "bob"), online: false, since_ms: 0 }],
        invites: InviteList::default(),
        unread: vec![],
        rooms: vec![],
        heartbeat_interval_ms: 30_000,
    })));
    state
}

#[test]
fn a_kept_session_resumes_and_an_expired_one_asks_to_log_in() {
    let session = StoredSession { token: "t".into(), expires_at_ms: 1_000, user: user(1, "ada") };
    let persisted =
        Persisted { server_url: "http://x:1".into(), session: Some(session), ..Default::default() };
    let (state, effects) = AppState::restore(persisted.clone(), 500);
    assert!(state.logged_in());
    assert_eq!(nets(&effects), vec![Command::Resume { server: "http://x:1".into(), token: "t".into() }]);
    let (state, effects) = AppState::restore(persisted, 2_000);
    assert!(!state.logged_in());
    assert!(nets(&effects).is_empty());
    assert!(state.notice.unwrap().contains("expired"));
    assert_eq!(state.login.email, "ada@example.com");
}

#[test]
fn server_field_errors_land_beside_their_field() {
    let (mut state, _) = AppState::restore(Persisted::default(), 0);
    state.login.mode = AuthMode::Register;
    state.login.email = "bad".into();
    state.login.username = "x".into();
    state.login.password = "short".into();
    assert!(nets(&state.submit_auth()).is_empty(), "invalid forms are not sent");
    assert_eq!(state.login.field_errors.len(), 3);
    state.login = LoginForm {
        email: "a@b.co".into(),
        username: "ada".into(),
        password: "longenough".into(),
        mode: AuthMode::Register,
        ..Default::default()
    };
    assert_eq!(nets(&state.submit_auth()).len(), 1);
    assert!(state.login.pending);
    assert!(nets(&state.submit_auth()).is_empty(), "no double submit while pending");
    let mut error = ErrorBody::new(ErrorCode::EmailTaken, "An account with this email already exists.");
    error.field = Some("email".into());
    state.apply(NetEvent::AuthFailed { error });
    assert!(!state.login.pending);
    assert_eq!(state.login.field_errors["email"], "An account with this email already exists.");
}

#[test]
fn sent_messages_stay_pending_until_stored_and_appear_once() {
    let mut state = logged_in();
    state.select(UserId(2));
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "hello\n".into();
    let commands = nets(&state.send_draft(UserId(2)));
    let Command::SendMessage { nonce, content, .. } = &commands[0] else { panic!("{commands:?}") };
    assert_eq!(content, "hello");
    assert_eq!(state.conversations[&UserId(2)].pending.len(), 1);
    let mut stored = message(10, 1, 2, "hello");
    stored.nonce = nonce.clone();
    // The websocket echo may arrive before the POST answer: either clears the pending copy.
    state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: stored.clone(),
    })));
    state.apply(NetEvent::MessageSent { peer: UserId(2), nonce: nonce.clone(), message: stored });
    let conversation = &state.conversations[&UserId(2)];
    assert!(conversation.pending.is_empty());
    assert_eq!(conversation.messages.len(), 1);
}

#[test]
fn incoming_messages_count_as_unread_unless_open_and_focused() {
    let mut state = logged_in();
    let effects = state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: message(10, 2, 1, "one"),
    })));
    assert_eq!(state.unread[&UserId(2)], 1);
    assert_eq!(notifies(&effects).len(), 1);
    let commands = nets(&state.select(UserId(2)));
    assert!(commands.contains(&Command::MarkRead { peer: UserId(2) }));
    assert!(!state.unread.contains_key(&UserId(2)));
    let commands =
        nets(&state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
            message: message(11, 2, 1, "two"),
        }))));
    assert_eq!(commands, vec![Command::MarkRead { peer: UserId(2) }]);
    state.set_focused(false);
    state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: message(12, 2, 1, "three"),
    })));
    assert_eq!(state.unread[&UserId(2)], 1);
}

#[test]
fn older_pages_prepend_and_reconnect_refreshes_open_conversations() {
    let mut state = logged_in();
    state.select(UserId(2));
    let page = |ids: std::ops::Range<i64>, has_more| MessagePage {
        messages: ids.rev().map(|i| message(i, 2, 1, "m")).collect(),
        has_more,
    };
    state.apply(NetEvent::History { peer: UserId(2), before: None, page: page(50..100, true) });
    assert_eq!(
        nets(&state.load_older(UserId(2))),
        vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(50)) }]
    );
    assert!(nets(&state.load_older(UserId(2))).is_empty(), "one page at a time");
    state.apply(NetEvent::History { peer: UserId(2), before: Some(MessageId(50)), page: page(0..50, false) });
    let conversation = &state.conversations[&UserId(2)];
    assert_eq!(conversation.messages.len(), 100);
    assert!(conversation.prepended && !conversation.has_more);
    let commands = nets(&state.apply(NetEvent::Server(ServerEvent::Ready(events::Ready {
        me: user(1, "ada"),
        friends: vec![],
        invites: InviteList::default(),
        unread: vec![],
        rooms: vec![],
        heartbeat_interval_ms: 1,
    }))));
    assert!(commands.contains(&Command::LoadHistory { peer: UserId(2), before: None }));
}

#[test]
fn expired_session_returns_to_login_with_a_message() {
    let mut state = logged_in();
    let effects = state.apply(NetEvent::SessionExpired { message: "Your session has expired.".into() });
    assert_eq!(nets(&effects), vec![Command::Logout]);
    assert!(!state.logged_in());
    assert!(state.friends.is_empty());
    assert!(state.notice.unwrap().contains("expired"));
}

#[test]
fn room_events_keep_the_room_list_current() {
    use concord_common::{PublicUser, Room, RoomId, RoomMessage};
    let mut state = logged_in();
    let member = |id: i64, name: &str| PublicUser { id: UserId(id), username: name.into() };
    let room = |id: i64, label: &str| Room {
        id: RoomId(id),
        label: label.into(),
        owner_id: UserId(2),
        members: vec![member(2, "bob"), member(1, "ada")],
        in_call: vec![],
        created_at_ms: 0,
    };
    let server = |e| NetEvent::Server(e);
    state.apply(server(ServerEvent::RoomAdded(events::RoomAdded { room: room(7, "Later") })));
    state.apply(server(ServerEvent::RoomAdded(events::RoomAdded { room: room(5, "Game night") })));
    let labels = |s: &AppState| s.rooms.iter().map(|r| r.label.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&state), ["Game night", "Later"], "oldest (lowest id) first");

    state.apply(server(ServerEvent::RoomRenamed(events::RoomRenamed {
        room_id: RoomId(5),
        label: "Board games".into(),
    })));
    state.apply(server(ServerEvent::RoomMemberAdded(events::RoomMemberAdded {
        room_id: RoomId(5),
        member: member(3, "carol"),
    })));
    state.apply(server(ServerEvent::RoomMemberRemoved(events::RoomMemberRemoved {
        room_id: RoomId(5),
        user_id: UserId(2),
    })));
    let game = state.room(RoomId(5)).unwrap();
    assert_eq!(game.label, "Board games");
    assert_eq!(game.members.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), ["ada", "carol"]);

    let chat = RoomMessage {
        id: MessageId(1),
        room_id: RoomId(5),
        sender_id: UserId(3),
        content: "hi".into(),
        nonce: "n".into(),
        created_at_ms: 1,
        ..Default::default()
    };
    state
        .apply(server(ServerEvent::RoomMessageCreated(events::RoomMessageCreated { message: chat.clone() })));
    assert_eq!(state.room_chats[&RoomId(5)].messages.values().collect::<Vec<_>>(), [&chat]);

    // Deleted by its owner: gone, with its chat, and the user is told.
    state.apply(server(ServerEvent::RoomRemoved(events::RoomRemoved {
        room_id: RoomId(5),
        reason: events::RoomRemovedReason::Deleted,
    })));
    assert_eq!(labels(&state), ["Later"]);
    assert!(!state.room_chats.contains_key(&RoomId(5)));
    assert_eq!(state.notice.as_deref(), Some("The room “Board games” was deleted."));
    // Left on another device: gone without a notice.
    state.notice = None;
    state.apply(server(ServerEvent::RoomRemoved(events::RoomRemoved {
        room_id: RoomId(7),
        reason: events::RoomRemovedReason::Left,
    })));
    assert!(state.rooms.is_empty() && state.notice.is_none());
}

#[test]
fn a_new_room_opens_and_its_chat_sends_through_the_outbox() {
    use concord_common::{PublicUser, Room, RoomId, RoomMessage, RoomMessagePage};
    let mut state = logged_in();
    state.room_forms.new_room_open = true;
    state.room_forms.new_label = "   ".into();
    assert!(nets(&state.submit_new_room()).is_empty());
    assert_eq!(state.room_forms.error.as_deref(), Some("Give the room a name."));
    state.room_forms.new_label = " Game night ".into();
    assert_eq!(nets(&state.submit_new_room()), vec![Command::CreateRoom { label: "Game night".into() }]);
    assert!(nets(&state.submit_new_room()).is_empty(), "one request at a time");

    let room = Room {
        id: RoomId(5),
        label: "Game night".into(),
        owner_id: UserId(1),
        members: vec![PublicUser { id: UserId(1), username: "ada".into() }],
        in_call: vec![],
        created_at_ms: 0,
    };
    let commands = nets(&state.apply(NetEvent::RoomCreated { room: room.clone() }));
    assert_eq!(commands, vec![Command::LoadRoomHistory { room: RoomId(5), before: None }]);
    assert_eq!((state.selected_room, state.selected), (Some(RoomId(5)), None));
    assert!(!state.room_forms.new_room_open && state.owns(&room));
    assert_eq!(state.friends_outside(&room), vec![(UserId(2), "bob".to_owned())]);

    state.apply(NetEvent::RoomHistory {
        room: RoomId(5),
        before: None,
        page: RoomMessagePage { messages: vec![], has_more: false },
    });
    state.room_chats.get_mut(&RoomId(5)).unwrap().draft = "hello room\n".into();
    let commands = nets(&state.send_room_draft(RoomId(5)));
    let Command::SendRoomMessage { room, content, nonce, .. } = &commands[0] else { panic!("{commands:?}") };
    assert_eq!((*room, content.as_str()), (RoomId(5), "hello room"));
    assert_eq!(state.room_chats[&RoomId(5)].pending.len(), 1);
    let stored = RoomMessage {
        id: MessageId(9),
        room_id: RoomId(5),
        sender_id: UserId(1),
        content: "hello room".into(),
        nonce: nonce.clone(),
        created_at_ms: 1,
        ..Default::default()
    };
    state.apply(NetEvent::RoomMessageSent { room: RoomId(5), nonce: nonce.clone(), message: stored.clone() });
    let chat = &state.room_chats[&RoomId(5)];
    assert!(chat.pending.is_empty());
    assert_eq!(chat.messages.values().collect::<Vec<_>>(), [&stored]);

    // Opening a friend's conversation closes the room.
    state.select(UserId(2));
    assert_eq!((state.selected_room, state.selected), (None, Some(UserId(2))));
}

#[test]
fn ctrl_k_finds_friends_first_then_rooms() {
    use concord_common::{Room, RoomId};
    let mut state = logged_in();
    state.apply(NetEvent::Server(ServerEvent::RoomAdded(events::RoomAdded {
        room: Room {
            id: RoomId(5),
            label: "Bobsleigh team".into(),
            owner_id: UserId(2),
            members: vec![],
            in_call: vec![],
            created_at_ms: 0,
        },
    })));
    let found = state.jump_targets(" BOB ");
    assert_eq!(
        found,
        vec![
            JumpTarget::Friend(UserId(2), "bob".into()),
            JumpTarget::Room(RoomId(5), "Bobsleigh team".into())
        ]
    );
    state.switcher = Some("bobs".into());
    assert_eq!(
        nets(&state.jump_to(&found[1])),
        vec![Command::LoadRoomHistory { room: RoomId(5), before: None }]
    );
    assert_eq!((state.selected_room, state.switcher.as_ref()), (Some(RoomId(5)), None));
    assert!(state.room_chats[&RoomId(5)].focus_composer, "the cursor goes to the room's composer");
}

#[test]
fn who_is_in_a_rooms_call_follows_the_call_events() {
    use concord_common::events::{CallLeftReason, CallMedia, CallParticipant};
    use concord_common::{Room, RoomId};
    let mut state = logged_in();
    let room = RoomId(5);
    state.apply(NetEvent::Server(ServerEvent::RoomAdded(events::RoomAdded {
        room: Room {
            id: room,
            label: "Call".into(),
            owner_id: UserId(2),
            members: vec![],
            in_call: vec![],
            created_at_ms: 0,
        },
    })));
    let bob = |muted| CallParticipant {
        user_id: UserId(2),
        media: CallMedia { muted, ..Default::default() },
        joined_at_ms: 1,
        speaking: false,
    };
    let server = |e| NetEvent::Server(e);
    state.apply(server(ServerEvent::CallParticipantJoined(events::CallParticipantJoined {
        room_id: room,
        participant: bob(false),
    })));
    state.apply(server(ServerEvent::CallParticipantUpdated(events::CallParticipantUpdated {
        room_id: room,
        participant: bob(true),
    })));
    assert_eq!(state.room(room).unwrap().in_call, vec![bob(true)], "updated in place, not twice");
    state.apply(server(ServerEvent::CallParticipantLeft(events::CallParticipantLeft {
        room_id: room,
        user_id: UserId(2),
        reason: CallLeftReason::Disconnected,
    })));
    assert!(state.room(room).unwrap().in_call.is_empty());
    // Speaking: only someone in the call, until they stop or leave.
    let speaking = |on| {
        server(ServerEvent::CallSpeaking(events::CallSpeaking {
            room_id: room,
            user_id: UserId(2),
            speaking: on,
        }))
    };
    state.apply(speaking(true));
    assert!(!state.is_speaking(room, UserId(2)), "not in the call: not speaking in it");
    state.apply(server(ServerEvent::CallParticipantJoined(events::CallParticipantJoined {
        room_id: room,
        participant: bob(false),
    })));
    state.apply(speaking(true));
    assert!(state.is_speaking(room, UserId(2)));
    state.apply(speaking(false));
    assert!(!state.is_speaking(room, UserId(2)));
    state.apply(speaking(true));
    state.apply(server(ServerEvent::CallParticipantLeft(events::CallParticipantLeft {
        room_id: room,
        user_id: UserId(2),
        reason: CallLeftReason::Left,
    })));
    assert!(!state.is_speaking(room, UserId(2)), "leaving ends speaking");
    assert!(state.room(room).unwrap().in_call.is_empty());
    // Joining while someone talks: the roster says who speaks now (no
    // call_speaking comes until they pause), and an update keeps it current.
    state.apply(server(ServerEvent::CallJoined(events::CallJoined {
        room_id: room,
        participants: vec![CallParticipant { speaking: true, ..bob(false) }],
        ice_servers: vec![],
    })));
    assert!(state.is_speaking(room, UserId(2)), "the roster says bob speaks");
    state.apply(server(ServerEvent::CallParticipantUpdated(events::CallParticipantUpdated {
        room_id: room,
        participant: bob(true),
    })));
    assert!(!state.is_speaking(room, UserId(2)), "the update says bob no longer speaks");
    state.apply(server(ServerEvent::CallParticipantLeft(events::CallParticipantLeft {
        room_id: room,
        user_id: UserId(2),
        reason: CallLeftReason::Left,
    })));
    // Events for a room not (or no longer) in the list change nothing.
    state.apply(server(ServerEvent::CallParticipantJoined(events::CallParticipantJoined {
        room_id: RoomId(6),
        participant: bob(false),
    })));
    assert_eq!(state.rooms.len(), 1);
}

fn in_a_room() -> AppState {
    use concord_common::{PublicUser, Room, RoomId};
    let mut state = logged_in();
    let member = |id: i64, name: &str| PublicUser { id: UserId(id), username: name.into() };
    let room = Room {
        id: RoomId(5),
        label: "Game night".into(),
        owner_id: UserId(1),
        members: vec![member(1, "ada"), member(2, "bob")],
        in_call: vec![],
        created_at_ms: 0,
    };
    state.apply(NetEvent::Server(ServerEvent::RoomAdded(events::RoomAdded { room })));
    state
}

#[test]
fn joining_asks_the_media_side_with_the_picked_devices_and_the_switches_follow_the_buttons() {
    use crate::media::protocol::{CallReport, CallStart, MediaCommand, MediaEvent};
    use crate::settings::Pick;
    use concord_common::events::CallMedia;
    use concord_common::RoomId;
    let mut state = in_a_room();
    state.persisted.media.camera = Pick::Synthetic;
    let effects = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    assert!(nets(&effects).is_empty(), "signaling is the media side's");
    let want = CallMedia { camera: true, ..Default::default() };
    assert_eq!(
        medias(&effects),
        vec![MediaCommand::JoinCall(CallStart {
            room: RoomId(5),
            me: UserId(1),
            server: DEFAULT_SERVER.into(),
            want,
            devices: state.persisted.media.clone(),
        })]
    );
    assert_eq!(state.call.as_ref().unwrap().phase, CallPhase::Joining);
    let effects = state.apply_media(MediaEvent::Call { room: RoomId(5), report: CallReport::Connected });
    assert_eq!(state.call.as_ref().unwrap().phase, CallPhase::Connected);
    assert_eq!(sounds(&effects), [CallSound::Joined]);

    // Mute, deafen (mute is kept underneath), undeafen: mute is back as it was.
    let mut effects = state.toggle_mute();
    effects.extend(state.toggle_deafen());
    effects.extend(state.toggle_deafen());
    let sent = medias(&effects);
    let muted = CallMedia { muted: true, ..want };
    let deafened = CallMedia { deafened: true, ..muted };
    assert_eq!(
        sent,
        [
            MediaCommand::SetCallMedia(muted),
            MediaCommand::SetCallMedia(deafened),
            MediaCommand::SetCallMedia(muted)
        ]
    );
    // Unmuting while deafened undeafens too.
    state.toggle_deafen();
    state.toggle_mute();
    assert_eq!(state.call.as_ref().unwrap().want, want);

    // A camera that would not open switches itself off; the problem is shown.
    state.apply_media(MediaEvent::Call {
        room: RoomId(5),
        report: CallReport::Media(CallMedia { camera: false, ..want }),
    });
    state.apply_media(MediaEvent::Call {
        room: RoomId(5),
        report: CallReport::Problem("The camera could not be opened: busy".into()),
    });
    let call = state.call.as_ref().unwrap();
    assert!(!call.want.camera);
    assert_eq!(call.problem.as_deref(), Some("The camera could not be opened: busy"));
}

#[test]
fn the_call_ends_when_the_server_takes_me_out_and_a_lost_connection_rejoins() {
    use crate::media::protocol::{CallReport, MediaCommand, MediaEvent};
    use concord_common::events::{CallLeft, CallLeftReason, CallMedia, CallParticipant};
    use concord_common::RoomId;
    let mut state = in_a_room();
    let _ = state.join_call(RoomId(5), JoinMode::ListenOnly);
    assert!(state.call.as_ref().unwrap().want.muted, "listen-only sends nothing");
    let bob =
        CallParticipant { user_id: UserId(2), media: CallMedia::default(), joined_at_ms: 1, speaking: false };
    let mut effects =
        state.apply(NetEvent::Server(ServerEvent::CallParticipantJoined(events::CallParticipantJoined {
            room_id: RoomId(5),
            participant: bob,
        })));
    effects.extend(state.apply(NetEvent::Server(ServerEvent::CallLeft(CallLeft {
        room_id: RoomId(5),
        reason: CallLeftReason::Disconnected,
    }))));
    assert_eq!(state.call.as_ref().unwrap().phase, CallPhase::Rejoining);
    effects.extend(state.apply_media(MediaEvent::Call { room: RoomId(5), report: CallReport::Connected }));
    assert_eq!(state.call.as_ref().unwrap().phase, CallPhase::Connected);
    effects.extend(state.apply(NetEvent::Server(ServerEvent::CallParticipantLeft(
        events::CallParticipantLeft { room_id: RoomId(5), user_id: UserId(2), reason: CallLeftReason::Left },
    ))));
    assert_eq!(sounds(&effects), [CallSound::Joined, CallSound::Left]);

    effects.extend(state.apply(NetEvent::Server(ServerEvent::CallLeft(CallLeft {
        room_id: RoomId(5),
        reason: CallLeftReason::JoinedElsewhere,
    }))));
    assert!(state.call.is_none());
    assert_eq!(medias(&effects), [MediaCommand::LeaveCall]);
    assert!(state.notice.as_deref().unwrap().contains("another device"), "{:?}", state.notice);
    // A late report of the old call changes nothing.
    state.apply_media(MediaEvent::Call { room: RoomId(5), report: CallReport::Ended { reason: None } });
    assert!(state.call.is_none());
}

#[test]
fn a_page_the_browser_keeps_devices_from_offers_no_call_and_says_why() {
    use concord_common::RoomId;
    let mut state = in_a_room();
    assert_eq!(state.calls_unavailable(), None, "the desktop can call");
    state.calls_blocked = Some(super::CallsUnavailable::InsecurePage);
    assert_eq!(state.calls_unavailable(), Some(super::CallsUnavailable::InsecurePage));
    assert!(!state.calls_supported());
    assert!(state.join_call(RoomId(5), JoinMode::CameraAndMic).is_empty());
    assert!(state.call.is_none(), "no call started");
    // Logging out keeps what the page is.
    let _ = state.logout();
    assert_eq!(state.calls_blocked, Some(super::CallsUnavailable::InsecurePage));
}

#[test]
fn my_volume_for_a_person_is_remembered_sent_to_the_call_and_kept_in_range() {
    use crate::media::protocol::MediaCommand;
    use crate::settings::PersonVolume;
    use concord_common::RoomId;
    let mut state = in_a_room();
    let bob = UserId(2);
    // Outside a call: remembered, nothing sent.
    let effects = state.set_person_volume(bob, PersonVolume { percent: 50, muted: false });
    assert_eq!(state.persisted.media.volume(bob).percent, 50);
    assert!(medias(&effects).is_empty());
    let _ = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    let mut effects = state.set_person_volume(bob, PersonVolume { percent: 500, muted: false });
    effects.extend(state.set_person_volume(bob, PersonVolume { percent: 200, muted: true }));
    assert_eq!(
        medias(&effects),
        [MediaCommand::SetVolume { user: bob, gain: 2.0 }, MediaCommand::SetVolume { user: bob, gain: 0.0 }]
    );
    // Back to normal: nothing left to remember for him.
    let _ = state.set_person_volume(bob, PersonVolume::default());
    assert!(state.persisted.media.volumes.is_empty());
    let saved = serde_json::to_string(&state.persisted).unwrap();
    let _ = state.set_person_volume(bob, PersonVolume { percent: 30, muted: false });
    let restored: Persisted =
        serde_json::from_str(&serde_json::to_string(&state.persisted).unwrap()).unwrap();
    assert_eq!(restored.media.volume(bob).percent, 30, "across restarts (from {saved})");
}

#[test]
fn the_push_to_talk_key_reaches_the_call_only_in_push_to_talk_mode_and_only_on_a_change() {
    use crate::media::protocol::MediaCommand;
    use crate::settings::InputModeChoice;
    use concord_common::RoomId;
    let mut state = in_a_room();
    let _ = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    assert!(medias(&state.set_push_to_talk(true)).is_empty(), "voice activity: the key means nothing");
    state.persisted.media.voice.input_mode = InputModeChoice::PushToTalk;
    let mut effects = Vec::new();
    for down in [true, true, false, false, true] {
        effects.extend(state.set_push_to_talk(down));
    }
    assert_eq!(
        medias(&effects),
        [MediaCommand::PushToTalk(true), MediaCommand::PushToTalk(false), MediaCommand::PushToTalk(true)]
    );
}

#[test]
fn logging_out_in_a_call_asks_the_media_side_to_leave() {
    use crate::media::protocol::MediaCommand;
    use concord_common::RoomId;
    let mut state = in_a_room();
    let _ = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    let effects = state.logout();
    assert!(state.call.is_none());
    assert_eq!(medias(&effects), [MediaCommand::LeaveCall]);
    assert_eq!(nets(&effects), [Command::Logout]);
    assert!(sounds(&effects).is_empty(), "the leave sound goes with the session");
}

#[test]
fn hearing_myself_starts_and_stops_follows_the_settings_and_gives_way_to_a_call() {
    use crate::media::protocol::{InputLevel, MediaCommand, MicCheckReport};
    use crate::settings::{InputModeChoice, NoiseChoice};
    use concord_common::RoomId;
    let mut state = in_a_room();
    let _ = state.open_settings();
    let effects = state.toggle_mic_check();
    assert_eq!(medias(&effects), [MediaCommand::StartMicCheck(state.persisted.media.clone())]);
    let level = InputLevel { level_db: -20.0, threshold_db: -45.0, sending: true };
    let _ = state.apply_media(MediaEvent::MicCheck(MicCheckReport::Level(level)));
    assert_eq!(state.settings.mic_level, Some(level));

    // A switch changed while it runs: heard again with the new one.
    state.persisted.media.voice.noise = NoiseChoice::Strong;
    let effects = state.devices_changed();
    assert_eq!(medias(&effects), [MediaCommand::StartMicCheck(state.persisted.media.clone())]);
    // Push-to-talk reaches it as it would a call.
    state.persisted.media.voice.input_mode = InputModeChoice::PushToTalk;
    let _ = state.devices_changed();
    assert_eq!(medias(&state.set_push_to_talk(true)), [MediaCommand::PushToTalk(true)]);

    // Joining a call stops it first; in the call it cannot start.
    let effects = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    let requests = medias(&effects);
    assert_eq!(requests[0], MediaCommand::StopMicCheck);
    assert!(matches!(requests[1], MediaCommand::JoinCall(_)), "{requests:?}");
    assert!(!state.settings.mic_check && state.settings.mic_level.is_none());
    assert!(state.toggle_mic_check().is_empty());
    let _ = state.leave_call();

    // Closing Settings stops it; a microphone that fails says why.
    let _ = state.toggle_mic_check();
    assert_eq!(medias(&state.close_settings()), [MediaCommand::StopMicCheck]);
    let _ = state.open_settings();
    let _ = state.toggle_mic_check();
    let _ = state.apply_media(MediaEvent::MicCheck(MicCheckReport::Ended("unplugged".into())));
    assert!(!state.settings.mic_check);
    assert_eq!(state.settings.mic_check_problem.as_deref(), Some("unplugged"));
    assert!(state.close_settings().is_empty(), "nothing left to stop");
}

#[test]
fn the_calls_videos_are_hidden_while_another_conversation_is_open_or_the_window_is_minimized() {
    use crate::media::protocol::MediaCommand;
    use concord_common::events::{CallMedia, CallParticipant, TileView, TrackSource};
    use concord_common::RoomId;
    let mut state = in_a_room();
    let participant = |id| CallParticipant {
        user_id: UserId(id),
        media: CallMedia::default(),
        joined_at_ms: 0,
        speaking: false,
    };
    state.rooms[0].in_call = vec![participant(1), participant(2)];
    let _ = state.select_room(RoomId(5));
    let _ = state.join_call(RoomId(5), JoinMode::CameraAndMic);
    assert!(
        medias(&state.follow_call_view(false)).is_empty(),
        "open: every video is shown, as a call starts"
    );
    let bob_hidden = vec![
        TileView { user_id: UserId(2), source: TrackSource::Camera, hidden: true, size: None },
        TileView { user_id: UserId(2), source: TrackSource::Screen, hidden: true, size: None },
    ];
    let _ = state.select(UserId(2));
    assert_eq!(medias(&state.follow_call_view(false)), [MediaCommand::SetCallView(bob_hidden.clone())]);
    assert!(medias(&state.follow_call_view(false)).is_empty(), "told once");
    let _ = state.select_room(RoomId(5));
    assert_eq!(medias(&state.follow_call_view(false)), [MediaCommand::SetCallView(Vec::new())]);
    assert_eq!(medias(&state.follow_call_view(true)), [MediaCommand::SetCallView(bob_hidden)]);
    assert_eq!(medias(&state.follow_call_view(false)), [MediaCommand::SetCallView(Vec::new())]);
    // Drawn: each tile's size goes with it, in steps (a few pixels change nothing).
    state.set_tile_size((UserId(2), TrackSource::Camera), (330.0, 190.0));
    state.set_tile_size((UserId(1), TrackSource::Camera), (10.0, 10.0));
    let sized = |width, height| TileView {
        user_id: UserId(2),
        source: TrackSource::Camera,
        hidden: false,
        size: Some(events::TileSize { width, height }),
    };
    assert_eq!(
        medias(&state.follow_call_view(false)),
        [MediaCommand::SetCallView(vec![sized(320, 180)])],
        "not mine"
    );
    state.set_tile_size((UserId(2), TrackSource::Camera), (310.0, 175.0));
    assert!(medias(&state.follow_call_view(false)).is_empty(), "the same step");
    state.set_tile_size((UserId(2), TrackSource::Camera), (1283.0, 722.0));
    assert_eq!(medias(&state.follow_call_view(false)), [MediaCommand::SetCallView(vec![sized(1280, 720)])]);
    state.set_tile_size((UserId(2), TrackSource::Camera), (2.0, 0.0));
    assert_eq!(
        medias(&state.follow_call_view(false)),
        [MediaCommand::SetCallView(vec![sized(64, 36)])],
        "one step at least"
    );
}

#[test]
fn a_video_the_server_reduces_or_pauses_for_my_connection_is_marked_until_it_is_full_again() {
    use concord_common::events::{CallVideoQuality, TileSize, TrackSource, VideoQuality};
    use concord_common::RoomId;
    let mut state = in_a_room();
    let _ = state.join_call(RoomId(5), JoinMode::ListenOnly);
    let told = |quality, size| {
        NetEvent::Server(ServerEvent::CallVideoQuality(CallVideoQuality {
            room_id: RoomId(5),
            user_id: UserId(2),
            source: TrackSource::Camera,
            quality,
            size,
            estimate_kbps: Some(300),
        }))
    };
    let marked = |state: &AppState| {
        state.call.as_ref().unwrap().network_limited.get(&(UserId(2), TrackSource::Camera)).map(|q| q.quality)
    };
    state.apply(told(VideoQuality::Reduced, Some(TileSize { width: 320, height: 180 })));
    assert_eq!(marked(&state), Some(VideoQuality::Reduced));
    state.apply(told(VideoQuality::Paused, None));
    assert_eq!(marked(&state), Some(VideoQuality::Paused));
    state.apply(told(VideoQuality::Full, Some(TileSize { width: 1280, height: 720 })));
    assert_eq!(marked(&state), None, "in full again: nothing to say");
    // Another room's call says nothing of mine; someone who left takes theirs along.
    let mut other = told(VideoQuality::Paused, None);
    if let NetEvent::Server(ServerEvent::CallVideoQuality(q)) = &mut other {
        q.room_id = RoomId(6);
    }
    state.apply(other);
    assert_eq!(marked(&state), None);
    state.apply(told(VideoQuality::Paused, None));
    state.apply(NetEvent::Server(ServerEvent::CallParticipantLeft(events::CallParticipantLeft {
        room_id: RoomId(5),
        user_id: UserId(2),
        reason: concord_common::events::CallLeftReason::Left,
    })));
    assert_eq!(marked(&state), None);
}

#[test]
fn my_own_video_sent_reduced_or_not_at_all_for_my_uplink_is_marked_until_it_goes_whole_again() {
    use crate::media::protocol::{CallReport, MediaEvent};
    use events::{TrackSource, VideoQuality};
    let mut state = in_a_room();
    let _ = state.join_call(RoomId(5), JoinMode::ListenOnly);
    let report = |room: i64, quality| MediaEvent::Call {
        room: RoomId(room),
        report: CallReport::Uplink { source: TrackSource::Camera, quality },
    };
    let marked =
        |state: &AppState| state.call.as_ref().unwrap().sending_limited.get(&TrackSource::Camera).copied();
    state.apply_media(report(5, VideoQuality::Reduced));
    assert_eq!(marked(&state), Some(VideoQuality::Reduced));
    state.apply_media(report(5, VideoQuality::Paused));
    assert_eq!(marked(&state), Some(VideoQuality::Paused));
    state.apply_media(report(5, VideoQuality::Full));
    assert_eq!(marked(&state), None, "whole again: nothing to say");
    // Another room's call says nothing of mine.
    state.apply_media(report(6, VideoQuality::Paused));
    assert_eq!(marked(&state), None);
}

#[test]
fn replying_editing_and_reacting_become_the_right_commands() {
    let mut state = logged_in();
    state.select(UserId(2));
    let place = concord_common::Conversation::Dm(UserId(2));
    let page = MessagePage {
        messages: vec![message(11, 1, 2, "mine"), message(10, 2, 1, "lunch?")],
        has_more: false,
    };
    state.apply(NetEvent::History { peer: UserId(2), before: None, page });

    // Reply: the next message answers 10; Esc would have cancelled it.
    state.start_reply(place, MessageId(10));
    state.cancel_compose(place);
    assert_eq!(state.conversations[&UserId(2)].compose, Compose::New);
    state.start_reply(place, MessageId(10));
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "yes!".into();
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::SendMessage { reply_to, content, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!((reply_to, content.as_str()), (&Some(MessageId(10)), "yes!"));
    assert_eq!(state.conversations[&UserId(2)].compose, Compose::New, "one reply, then new messages");

    // ↑ in an empty composer edits my newest message (not bob's); Enter saves it.
    assert!(state.edit_last(place));
    assert_eq!(state.conversations[&UserId(2)].draft, "mine");
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "mine, fixed".into();
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::EditMessage { conversation, id, content, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!((conversation, id, content.as_str()), (&place, &MessageId(11), "mine, fixed"));
    assert!(state.conversations[&UserId(2)].pending.len() == 1, "an edit is not a new pending message");
    state.start_edit(place, MessageId(10));
    assert_eq!(state.conversations[&UserId(2)].compose, Compose::New, "bob's message is not mine to edit");
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "typed".into();
    assert!(!state.edit_last(place), "↑ edits only from an empty composer");

    // A reaction toggles: add, and once the server says it is mine, take back.
    let add = nets(&state.toggle_reaction(place, MessageId(10), "👍"));
    assert_eq!(
        add,
        vec![Command::React { conversation: place, id: MessageId(10), emoji: "👍".into(), add: true }]
    );
    let change = events::ReactionChanged {
        conversation: place,
        message_id: MessageId(10),
        emoji: "👍".into(),
        user_id: UserId(1),
    };
    state.apply(NetEvent::Server(ServerEvent::ReactionAdded(change)));
    let reactions = &state.conversations[&UserId(2)].messages[&MessageId(10)].reactions;
    assert_eq!((reactions[0].count, reactions[0].me), (1, true));
    let remove = nets(&state.toggle_reaction(place, MessageId(10), "👍"));
    assert_eq!(
        remove,
        vec![Command::React { conversation: place, id: MessageId(10), emoji: "👍".into(), add: false }]
    );
    state.ask_delete_message(place, MessageId(11));
    assert_eq!(state.confirm_delete_message, Some((place, MessageId(11))), "asked first");
    assert_eq!(
        nets(&state.delete_message(place, MessageId(11))),
        vec![Command::DeleteMessage { conversation: place, id: MessageId(11) }]
    );
    assert_eq!(state.confirm_delete_message, None);
}

#[test]
fn edits_and_deletes_update_messages_and_the_replies_quoting_them() {
    let mut state = logged_in();
    state.select(UserId(2));
    let original = message(10, 2, 1, "lunch?");
    let reply = DirectMessage {
        reply_to: Some(MessageId(10)),
        reply_preview: Some(concord_common::ReplyPreview {
            id: MessageId(10),
            sender_id: UserId(2),
            content: "lunch?".into(),
        }),
        ..message(11, 1, 2, "yes")
    };
    state.apply(NetEvent::History {
        peer: UserId(2),
        before: None,
        page: MessagePage { messages: vec![reply, original.clone()], has_more: false },
    });
    let edited = DirectMessage { content: "lunch at one?".into(), edited_at_ms: Some(20), ..original };
    state.apply(NetEvent::Server(ServerEvent::MessageUpdated(events::MessageUpdated { message: edited })));
    let messages = &state.conversations[&UserId(2)].messages;
    assert_eq!(
        (messages[&MessageId(10)].content.as_str(), messages[&MessageId(10)].edited_at_ms),
        ("lunch at one?", Some(20))
    );
    assert_eq!(messages[&MessageId(11)].reply_preview.as_ref().unwrap().content, "lunch at one?");
    let deleted = events::MessageDeleted {
        id: MessageId(10),
        conversation: concord_common::Conversation::Dm(UserId(2)),
    };
    state.apply(NetEvent::Server(ServerEvent::MessageDeleted(deleted)));
    let messages = &state.conversations[&UserId(2)].messages;
    assert!(!messages.contains_key(&MessageId(10)));
    assert_eq!(
        (messages[&MessageId(11)].reply_to, &messages[&MessageId(11)].reply_preview),
        (Some(MessageId(10)), &None)
    );
}

#[test]
fn showing_an_unloaded_original_pages_back_until_it_is_there() {
    let mut state = logged_in();
    state.select(UserId(2));
    let place = concord_common::Conversation::Dm(UserId(2));
    let page = |ids: std::ops::Range<i64>, has_more| MessagePage {
        messages: ids.rev().map(|i| message(i, 2, 1, "m")).collect(),
        has_more,
    };
    state.apply(NetEvent::History { peer: UserId(2), before: None, page: page(200..250, true) });
    let first = nets(&state.show_original(place, MessageId(120)));
    assert_eq!(first, vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(200)) }]);
    let next = nets(&state.apply(NetEvent::History {
        peer: UserId(2),
        before: Some(MessageId(200)),
        page: page(150..200, true),
    }));
    assert_eq!(
        next,
        vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(150)) }],
        "not there yet: one more page"
    );
    let done = nets(&state.apply(NetEvent::History {
        peer: UserId(2),
        before: Some(MessageId(150)),
        page: page(100..150, true),
    }));
    assert!(done.is_empty(), "loaded: the screen scrolls to it");
    assert_eq!(state.conversations[&UserId(2)].jump_to, Some(MessageId(120)));
    // An original that no page holds (deleted): paging stops at the beginning.
    state.conversations.get_mut(&UserId(2)).unwrap().has_more = false;
    assert!(nets(&state.show_original(place, MessageId(5))).is_empty());
    assert_eq!(state.conversations[&UserId(2)].jump_to, None);
}

#[test]
fn a_room_message_that_mentions_me_counts_and_notifies_unless_the_room_is_open() {
    use concord_common::{PublicUser, Room, RoomId, RoomMessage};
    let mut state = logged_in();
    state.set_focused(true);
    let member = |id: i64, name: &str| PublicUser { id: UserId(id), username: name.into() };
    let room = Room {
        id: RoomId(5),
        label: "Game night".into(),
        owner_id: UserId(2),
        members: vec![member(2, "bob"), member(1, "ada")],
        in_call: vec![],
        created_at_ms: 0,
    };
    state.apply(NetEvent::Server(ServerEvent::RoomAdded(events::RoomAdded { room })));
    let said = |id: i64, from: i64, text: &str| {
        let message = RoomMessage {
            id: MessageId(id),
            room_id: RoomId(5),
            sender_id: UserId(from),
            content: text.into(),
            nonce: format!("n{id}"),
            created_at_ms: id,
            mentions: concord_common::chat::mentions(text),
            ..Default::default()
        };
        NetEvent::Server(ServerEvent::RoomMessageCreated(events::RoomMessageCreated { message }))
    };
    assert!(notifies(&state.apply(said(1, 2, "no mention here"))).is_empty());
    let effects = state.apply(said(2, 2, "<@1> your turn"));
    assert_eq!(
        notifies(&effects),
        vec![("bob mentioned you in Game night".to_owned(), "@ada your turn".to_owned())]
    );
    assert!(notifies(&state.apply(said(3, 1, "<@1> talking to myself"))).is_empty(), "my own message");
    state.apply(said(4, 2, "<@1> again"));
    assert_eq!(state.room_mentions[&RoomId(5)], 2);
    // The server announces a message again after a resend: not news.
    assert!(notifies(&state.apply(said(4, 2, "<@1> again"))).is_empty(), "a message already here");
    assert_eq!(state.room_mentions[&RoomId(5)], 2);
    // Opening the room clears the badge; while it is open and focused, a mention does not notify.
    state.select_room(RoomId(5));
    assert!(!state.room_mentions.contains_key(&RoomId(5)));
    assert!(notifies(&state.apply(said(5, 2, "<@1> here?"))).is_empty());
    assert!(!state.room_mentions.contains_key(&RoomId(5)));
    // With the window in the background it does, until the window is back.
    state.set_focused(false);
    assert_eq!(notifies(&state.apply(said(6, 2, "<@1> wake up"))).len(), 1);
    state.set_focused(true);
    assert!(!state.room_mentions.contains_key(&RoomId(5)));
    // "All messages" notifies of every message; "Nothing" of none, yet counts mentions.
    state.close_conversation();
    let room = concord_common::Conversation::Room(RoomId(5));
    state.set_notify_level(room, crate::settings::NotifyLevel::All);
    assert_eq!(
        notifies(&state.apply(said(7, 2, "dinner?"))),
        vec![("bob in Game night".to_owned(), "dinner?".to_owned())]
    );
    state.set_notify_level(room, crate::settings::NotifyLevel::Nothing);
    assert!(notifies(&state.apply(said(8, 2, "<@1> dinner?"))).is_empty());
    assert_eq!(state.room_mentions[&RoomId(5)], 1);
}

#[test]
fn at_names_complete_from_the_conversation_and_are_sent_as_ids() {
    let mut state = logged_in();
    state.select(UserId(2));
    let place = concord_common::Conversation::Dm(UserId(2));
    assert_eq!(state.mention_completions(place, "hi @b"), vec![(UserId(2), "bob".to_owned())]);
    assert_eq!(
        state.mention_completions(place, "hi @"),
        vec![(UserId(1), "ada".to_owned()), (UserId(2), "bob".to_owned())]
    );
    assert!(state.mention_completions(place, "mail me@b").is_empty(), "an @ inside a word is not a mention");
    assert!(state.mention_completions(place, "hi @bob").is_empty(), "already complete");
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "hi @B".into();
    state.complete_mention(place, "bob");
    assert_eq!(state.conversations[&UserId(2)].draft, "hi @bob ");
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "@bob, @bobby and bob@example.com @bob".into();
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::SendMessage { content, .. }] = commands.as_slice() else { panic!("{commands:?}") };
    assert_eq!(content, "<@2>, @bobby and bob@example.com <@2>");
    // Editing shows names again, and saves ids.
    let mine = DirectMessage { mentions: vec![UserId(2)], ..message(9, 1, 2, "ask <@2>") };
    state.apply(NetEvent::History {
        peer: UserId(2),
        before: None,
        page: MessagePage { messages: vec![mine], has_more: false },
    });
    state.start_edit(place, MessageId(9));
    assert_eq!(state.conversations[&UserId(2)].draft, "ask @bob");
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::EditMessage { content, .. }] = commands.as_slice() else { panic!("{commands:?}") };
    assert_eq!(content, "ask <@2>");
}

#[test]
fn each_conversation_notifies_at_its_chosen_level() {
    use crate::settings::NotifyLevel;
    let mut state = logged_in();
    let dm = concord_common::Conversation::Dm(UserId(2));
    assert_eq!(state.notify_level(dm), NotifyLevel::All, "a DM's default");
    let incoming = |id: i64, text: &str| {
        let message =
            DirectMessage { mentions: concord_common::chat::mentions(text), ..message(id, 2, 1, text) };
        NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated { message }))
    };
    assert_eq!(notifies(&state.apply(incoming(1, "hi"))).len(), 1);
    state.set_notify_level(dm, NotifyLevel::Mentions);
    assert!(notifies(&state.apply(incoming(2, "hi again"))).is_empty());
    assert_eq!(notifies(&state.apply(incoming(3, "<@1> look"))).len(), 1);
    state.set_notify_level(dm, NotifyLevel::Nothing);
    assert!(notifies(&state.apply(incoming(4, "<@1> look"))).is_empty());
    assert_eq!(state.unread[&UserId(2)], 4, "unread counts whatever the level");
    // Kept across restarts, keyed by the conversation's path.
    let saved = serde_json::to_value(&state.persisted).unwrap();
    assert_eq!(saved["notify"], serde_json::json!({"dms/2": "Nothing"}));
    let restored: Persisted = serde_json::from_value(saved).unwrap();
    assert_eq!(restored.notify.get(&dm), Some(&NotifyLevel::Nothing));
}

fn attachment(id: i64, name: &str, picture: bool) -> concord_common::Attachment {
    concord_common::Attachment {
        id: concord_common::AttachmentId(id),
        name: name.into(),
        size: 10,
        content_type: if picture { "image/png" } else { "text/plain" }.into(),
        url: format!("/api/attachments/{id}?expires=1&signature=a"),
        width: picture.then_some(40),
        height: picture.then_some(30),
        thumbnail_url: picture.then(|| format!("/api/attachments/{id}/thumbnail?expires=1&signature=b")),
    }
}

#[test]
fn files_upload_before_the_message_that_carries_them_is_sent() {
    let mut state = logged_in();
    state.select(UserId(2));
    let place = concord_common::Conversation::Dm(UserId(2));
    let commands = nets(&state.attach_file(place, "cat.png".into(), vec![1, 2, 3]));
    let [Command::Upload { key, name, content_type, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!((name.as_str(), content_type.as_str()), ("cat.png", "image/png"));
    let key = *key;
    state.apply(NetEvent::UploadProgress { key, sent: 2, total: 3 });
    assert_eq!(state.uploads(place)[0].sent, 2);

    // Sending while it uploads: the message waits, nothing is lost.
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "look".into();
    assert!(nets(&state.send_draft(UserId(2))).is_empty());
    assert_eq!(
        state.conversations[&UserId(2)].draft_error.as_deref(),
        Some("Wait for the files to finish uploading.")
    );
    assert_eq!(state.conversations[&UserId(2)].draft, "look");

    state.apply(NetEvent::Uploaded { key, attachment: attachment(7, "cat.png", true) });
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::SendMessage { content, attachments, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!((content.as_str(), attachments.as_slice()), ("look", &[concord_common::AttachmentId(7)][..]));
    assert!(state.uploads(place).is_empty(), "sent with the message");
    assert_eq!(state.conversations[&UserId(2)].pending[0].files, 1);

    // A file alone is a message; a failed one must be removed first.
    state.attach_file(place, "a.txt".into(), vec![1]);
    let failed = state.uploads(place)[0].key;
    state.apply(NetEvent::UploadFailed {
        key: failed,
        error: ErrorBody::new(ErrorCode::FileTooLarge, "Files can be at most 26.2 MB."),
    });
    assert!(nets(&state.send_draft(UserId(2))).is_empty());
    assert!(state.conversations[&UserId(2)].draft_error.as_deref().unwrap().contains("remove it"));
    assert!(nets(&state.remove_upload(place, failed)).is_empty(), "nothing to cancel");
    let commands = nets(&state.attach_file(place, "b.txt".into(), vec![2]));
    let [Command::Upload { key, .. }] = commands.as_slice() else { panic!() };
    assert_eq!(nets(&state.remove_upload(place, *key)), vec![Command::CancelUpload { key: *key }]);
    state.attach_file(place, "c.txt".into(), vec![3]);
    let key = state.uploads(place)[0].key;
    state.apply(NetEvent::Uploaded { key, attachment: attachment(8, "c.txt", false) });
    let commands = nets(&state.send_draft(UserId(2)));
    let [Command::SendMessage { content, attachments, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!((content.as_str(), attachments.len()), ("", 1));
}

#[test]
fn a_message_s_pictures_are_fetched_once_as_it_arrives() {
    let mut state = logged_in();
    let mut with_picture = message(20, 2, 1, "");
    with_picture.attachments = vec![attachment(9, "dog.jpg", true), attachment(10, "notes.txt", false)];
    let effects = state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: with_picture.clone(),
    })));
    let thumbnail = with_picture.attachments[0].thumbnail_url.clone().unwrap();
    assert_eq!(
        nets(&effects),
        vec![Command::FetchAttachment { url: thumbnail.clone() }],
        "the thumbnail only"
    );
    // The same picture again (a history page, links signed anew): not fetched twice.
    let page = MessagePage { messages: vec![with_picture], has_more: false };
    let effects = state.apply(NetEvent::History { peer: UserId(2), before: None, page });
    assert!(!nets(&effects).iter().any(|c| matches!(c, Command::FetchAttachment { .. })));
    state.apply(NetEvent::AttachmentFetched {
        url: thumbnail.clone(),
        bytes: Ok(crate::net::FileBytes::new(vec![1])),
    });
    assert!(matches!(state.files.pictures[picture_key(&thumbnail)], Picture::Loaded(_)));
}

#[test]
fn a_picked_emoji_reacts_or_goes_into_the_composer_and_is_remembered() {
    let mut state = logged_in();
    state.select(UserId(2));
    let page = MessagePage { messages: vec![message(30, 2, 1, "launch day")], has_more: false };
    state.apply(NetEvent::History { peer: UserId(2), before: None, page });
    let place = concord_common::Conversation::Dm(UserId(2));
    state.open_emoji_picker(PickFor::Reaction(place, MessageId(30)));
    state.emoji_picker.as_mut().unwrap().query = "rock".into();
    let commands = nets(&state.pick_emoji("🚀"));
    assert_eq!(
        commands,
        vec![Command::React { conversation: place, id: MessageId(30), emoji: "🚀".into(), add: true }]
    );
    assert!(state.emoji_picker.is_none(), "picking closes it");
    // Into the composer, after what is typed; the newest pick first among the recent ones.
    state.conversations.get_mut(&UserId(2)).unwrap().draft = "nice ".into();
    state.open_emoji_picker(PickFor::Composer(place));
    assert!(nets(&state.pick_emoji("👍🏽")).is_empty());
    assert_eq!(state.conversations[&UserId(2)].draft, "nice 👍🏽");
    assert!(state.conversations[&UserId(2)].focus_composer);
    assert_eq!(state.persisted.emoji.recent, ["👍🏽", "🚀"]);
    // At most RECENT_EMOJI, a pick again moves to the front.
    for n in 0..30u32 {
        state.open_emoji_picker(PickFor::Composer(place));
        state.pick_emoji(&char::from_u32(0x1F600 + n).unwrap().to_string());
    }
    state.open_emoji_picker(PickFor::Composer(place));
    state.pick_emoji("😅");
    assert_eq!(state.persisted.emoji.recent.len(), RECENT_EMOJI);
    assert_eq!(state.persisted.emoji.recent[0], "😅");
    assert_eq!(state.persisted.emoji.recent.iter().filter(|e| *e == "😅").count(), 1);
    state.set_skin_tone(9);
    assert_eq!(state.persisted.emoji.skin_tone, 5, "one of the six tones");
    // Closed without a pick: nothing happens.
    state.open_emoji_picker(PickFor::Reaction(place, MessageId(30)));
    state.close_emoji_picker();
    assert!(nets(&state.pick_emoji("🎉")).is_empty());
}

#[test]
fn a_search_asks_once_pages_on_drops_stale_answers_and_opens_a_hit_in_context() {
    use concord_common::{Conversation as Where, SearchHit, SearchPage};
    let hit = |id: i64| SearchHit {
        conversation: Where::Dm(UserId(2)),
        id: MessageId(id),
        sender_id: UserId(2),
        content: format!("lunch {id}"),
        created_at_ms: id,
        edited_at_ms: None,
    };
    let page = |ids: std::ops::Range<i64>, has_more| MessagePage {
        messages: ids.rev().map(|i| message(i, 2, 1, "m")).collect(),
        has_more,
    };
    let mut state = logged_in();
    state.open_search();
    state.search.words = " ?! ".into();
    assert!(nets(&state.submit_search()).is_empty());
    assert_eq!(state.search.error.as_deref(), Some("Type a word to search for."));

    // Everywhere, even with a conversation open, unless "only in" is ticked.
    state.select(UserId(2));
    state.search.words = " lunch ".into();
    let first = nets(&state.submit_search());
    assert_eq!(first, vec![Command::Search { seq: 1, words: "lunch".into(), within: None, before: None }]);
    state.search.here_only = true;
    let second = nets(&state.submit_search());
    assert_eq!(
        second,
        vec![Command::Search {
            seq: 2,
            words: "lunch".into(),
            within: Some(Where::Dm(UserId(2))),
            before: None
        }]
    );
    // The first search's late answer is not shown under the second.
    state.apply(NetEvent::SearchResults {
        seq: 1,
        before: None,
        page: Ok(SearchPage { messages: vec![hit(900)], has_more: false }),
    });
    assert!(state.search.hits.is_empty() && state.search.loading);
    state.apply(NetEvent::SearchResults {
        seq: 2,
        before: None,
        page: Ok(SearchPage { messages: vec![hit(300), hit(200)], has_more: true }),
    });
    assert_eq!(
        nets(&state.more_search_results()),
        vec![Command::Search {
            seq: 2,
            words: "lunch".into(),
            within: Some(Where::Dm(UserId(2))),
            before: Some(MessageId(200))
        }]
    );
    assert!(nets(&state.more_search_results()).is_empty(), "one page at a time");
    state.apply(NetEvent::SearchResults {
        seq: 2,
        before: Some(MessageId(200)),
        page: Ok(SearchPage { messages: vec![hit(120)], has_more: false }),
    });
    assert_eq!(state.search.hits.iter().map(|h| h.id.0).collect::<Vec<_>>(), [300, 200, 120]);

    // A hit older than what is loaded: the conversation pages back to it.
    state.apply(NetEvent::History { peer: UserId(2), before: None, page: page(200..250, true) });
    let opened = nets(&state.open_search_hit(Where::Dm(UserId(2)), MessageId(120)));
    assert_eq!(opened, vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(200)) }]);
    assert!(!state.search.open, "the window closes");
    assert_eq!(
        (state.selected, state.conversations[&UserId(2)].jump_to),
        (Some(UserId(2)), Some(MessageId(120)))
    );

    // A refusal is said in the window.
    state.search.words = "lunch".into();
    state.submit_search();
    state.apply(NetEvent::SearchResults {
        seq: 3,
        before: None,
        page: Err(ErrorBody {
            code: ErrorCode::Validation,
            message: "A search can be at most 200 characters.".into(),
            field: Some("q".into()),
        }),
    });
    assert_eq!(state.search.error.as_deref(), Some("A search can be at most 200 characters."));
}
