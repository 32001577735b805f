//! The state's unit tests: events and intents in, state and commands out.

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
    }
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
        heartbeat_interval_ms: 30_000,
    })));
    state
}

#[test]
fn a_kept_session_resumes_and_an_expired_one_asks_to_log_in() {
    let session = StoredSession { token: "t".into(), expires_at_ms: 1_000, user: user(1, "ada") };
    let persisted =
        Persisted { server_url: "http://x:1".into(), session: Some(session), ..Default::default() };
    let (state, commands) = AppState::restore(persisted.clone(), 500);
    assert!(state.logged_in());
    assert_eq!(commands, vec![Command::Resume { server: "http://x:1".into(), token: "t".into() }]);
    let (state, commands) = AppState::restore(persisted, 2_000);
    assert!(!state.logged_in());
    assert!(commands.is_empty());
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
    assert!(state.submit_auth().is_empty(), "invalid forms are not sent");
    assert_eq!(state.login.field_errors.len(), 3);
    state.login = LoginForm {
        email: "a@b.co".into(),
        username: "ada".into(),
        password: "longenough".into(),
        mode: AuthMode::Register,
        ..Default::default()
    };
    assert_eq!(state.submit_auth().len(), 1);
    assert!(state.login.pending);
    assert!(state.submit_auth().is_empty(), "no double submit while pending");
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
    let commands = state.send_draft(UserId(2));
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
    state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: message(10, 2, 1, "one"),
    })));
    assert_eq!(state.unread[&UserId(2)], 1);
    assert_eq!(state.notifications.len(), 1);
    let commands = state.select(UserId(2));
    assert!(commands.contains(&Command::MarkRead { peer: UserId(2) }));
    assert!(!state.unread.contains_key(&UserId(2)));
    let commands = state.apply(NetEvent::Server(ServerEvent::MessageCreated(events::MessageCreated {
        message: message(11, 2, 1, "two"),
    })));
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
        state.load_older(UserId(2)),
        vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(50)) }]
    );
    assert!(state.load_older(UserId(2)).is_empty(), "one page at a time");
    state.apply(NetEvent::History { peer: UserId(2), before: Some(MessageId(50)), page: page(0..50, false) });
    let conversation = &state.conversations[&UserId(2)];
    assert_eq!(conversation.messages.len(), 100);
    assert!(conversation.prepended && !conversation.has_more);
    let commands = state.apply(NetEvent::Server(ServerEvent::Ready(events::Ready {
        me: user(1, "ada"),
        friends: vec![],
        invites: InviteList::default(),
        unread: vec![],
        heartbeat_interval_ms: 1,
    })));
    assert!(commands.contains(&Command::LoadHistory { peer: UserId(2), before: None }));
}

#[test]
fn expired_session_returns_to_login_with_a_message() {
    let mut state = logged_in();
    let commands = state.apply(NetEvent::SessionExpired { message: "Your session has expired.".into() });
    assert_eq!(commands, vec![Command::Logout]);
    assert!(!state.logged_in());
    assert!(state.friends.is_empty());
    assert!(state.notice.unwrap().contains("expired"));
}
