//! The real desktop app, driven by its accessibility labels (egui_kittest),
//! against a real Concord server on a real port.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use concord_gui::net::Connection;
use concord_gui::settings::{DeviceKind, Pick};
use concord_gui::state::Persisted;
use egui_kittest::kittest::{NodeT, Queryable};
use reqwest::Method;
use serde_json::json;
use support::{app, click, log_in, press, shows, type_into, wait_for, Server};

/// Whether every message typed has been stored (a message shows at once, as
/// pending, before the server answers: a test that then asks the server
/// waits for this first).
fn all_sent(harness: &egui_kittest::Harness<'_, concord_gui::ConcordApp>) -> bool {
    harness.state().state().conversations.values().all(|c| c.pending.is_empty())
}

#[test]
fn two_people_register_befriend_see_presence_and_chat() {
    let server = Server::start();
    // Ada registers through the UI, with a mistake first.
    let mut ada = app(Persisted::default());
    wait_for(&mut ada, "the first-run screen", |h| shows(h, "Server address"));
    log_in(&mut ada, &server.url(), "ada", true);
    assert_eq!(ada.state().state().me.as_ref().unwrap().username, "ada");
    assert!(shows(&ada, "No friends yet — add one by email with “Add friend”."));

    // Bob exists already and logs in through the UI.
    server.register("bob");
    let mut bob = app(Persisted::default());
    log_in(&mut bob, &server.url(), "bob", false);

    // Ada invites Bob by email; Bob sees it live and accepts.
    click(&mut ada, "Add friend");
    type_into(&mut ada, "Friend's email", "bob@example.com");
    click(&mut ada, "Send invite");
    wait_for(&mut ada, "the sent invite", |h| h.state().state().invites.outgoing.len() == 1);
    wait_for(&mut bob, "the invite to arrive", |h| shows(h, "Accept invite from ada"));
    click(&mut bob, "Accept invite from ada");
    wait_for(&mut bob, "ada in the friends list", |h| shows(h, "ada, online"));
    wait_for(&mut ada, "bob in the friends list", |h| shows(h, "bob, online"));

    // Bob quits: Ada's dot turns grey. Bob starts again (still logged in): green.
    let kept = bob.state().state().persisted.clone();
    assert!(kept.session.is_some(), "the session is kept for the next start");
    drop(bob);
    wait_for(&mut ada, "bob to go offline", |h| shows(h, "bob, offline"));
    let mut bob = app(kept);
    wait_for(&mut bob, "bob back without logging in", |h| {
        h.state().state().connection == Some(Connection::Online)
    });
    wait_for(&mut ada, "bob back online", |h| shows(h, "bob, online"));

    // Messages both ways, with Enter to send.
    click(&mut ada, "bob, online");
    type_into(&mut ada, "Message", "hello bob 👋");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut bob, "the unread badge", |h| shows(h, "ada, online, 1 unread"));
    click(&mut bob, "ada, online, 1 unread");
    wait_for(&mut bob, "ada's message", |h| shows(h, "hello bob 👋"));
    assert!(bob.state().state().unread.is_empty(), "opening the conversation read it");
    type_into(&mut bob, "Message", "hi ada");
    click(&mut bob, "Send");
    wait_for(&mut ada, "bob's reply", |h| shows(h, "hi ada"));
}

#[test]
fn scrolling_up_loads_two_hundred_messages_in_order() {
    let server = Server::start();
    let (ada_token, ada_id) = server.register("ada");
    let (bob_token, _) = server.register("bob");
    server.befriend(&ada_token, "bob", &bob_token);
    for i in 0..200 {
        let body = json!({"content": format!("history message {i:03}"), "nonce": format!("h{i}")});
        server.api(Method::POST, &format!("/api/dms/{ada_id}/messages"), Some(&bob_token), Some(body));
    }
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    wait_for(&mut ada, "bob with 200 unread", |h| shows(h, "bob, offline, 200 unread"));
    click(&mut ada, "bob, offline, 200 unread");
    wait_for(&mut ada, "the newest message", |h| shows(h, "history message 199"));
    // Scroll up until an older page arrives: the message that was on screen
    // stays where it was (no jump to the top of the new page).
    let anchor = "history message 150";
    let loaded = |h: &egui_kittest::Harness<'_, concord_gui::ConcordApp>| {
        h.state().state().conversations.values().next().map_or(0, |c| c.messages.len())
    };
    let before_load = loaded(&ada);
    let deadline = std::time::Instant::now() + support::PATIENCE;
    let mut anchored_at = None;
    while loaded(&ada) == before_load {
        assert!(std::time::Instant::now() < deadline, "no older page was requested near the top");
        match ada.query_by_label(anchor) {
            Some(node) => anchored_at = Some(node.rect().top()),
            None => ada.get_all_by_label_contains("history message").next().unwrap().scroll_up(),
        }
        ada.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let anchored_at = anchored_at.expect("the oldest loaded message was on screen before older ones arrived");
    for _ in 0..3 {
        ada.step();
    }
    let moved = (ada.get_by_label(anchor).rect().top() - anchored_at).abs();
    // Without anchoring it would jump by a whole page (~1,400 points). What may
    // remain is the anchor losing its own day separator and author header
    // (avatar, name, time; now shown above the older message before it).
    assert!(moved < 100.0, "the view jumped by {moved} points when older messages loaded");

    // Scroll to the top until the first message is loaded.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !shows(&ada, "This is the beginning of your conversation with bob.") {
        assert!(std::time::Instant::now() < deadline, "older pages did not load");
        if let Some(node) = ada.query_by_label("Loading messages…") {
            node.hover();
        }
        let first = ada.state().state().conversations.values().next().and_then(|c| c.oldest());
        ada.get_all_by_label_contains("history message").next().unwrap().scroll_up();
        ada.step();
        let _ = first;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let conversation = ada.state().state().conversations.values().next().unwrap();
    let contents: Vec<&str> = conversation.messages.values().map(|m| m.content.as_str()).collect();
    let expected: Vec<String> = (0..200).map(|i| format!("history message {i:03}")).collect();
    assert_eq!(contents, expected.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn a_message_typed_offline_is_delivered_once_after_the_server_returns() {
    let mut server = Server::start();
    let (ada_token, ada_id) = server.register("ada");
    let (bob_token, _) = server.register("bob");
    server.befriend(&ada_token, "bob", &bob_token);

    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    click(&mut ada, "bob, offline");

    server.stop();
    wait_for(&mut ada, "the reconnect banner", |h| {
        matches!(h.state().state().connection, Some(Connection::Reconnecting { .. }))
    });
    type_into(&mut ada, "Message", "sent while offline");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the pending message", |h| shows(h, "Sending… (kept until delivered)"));

    server.resume();
    wait_for(&mut ada, "delivery after reconnect", |h| {
        h.state().state().conversations.values().all(|c| c.pending.is_empty())
            && h.state().state().connection == Some(Connection::Online)
    });
    let page = server.api(Method::GET, &format!("/api/dms/{ada_id}/messages"), Some(&bob_token), None);
    let copies =
        page["messages"].as_array().unwrap().iter().filter(|m| m["content"] == "sent while offline").count();
    assert_eq!(copies, 1, "{page}");
}

#[test]
fn a_token_the_server_refuses_returns_to_login_with_a_message() {
    let server = Server::start();
    server.register("ada");
    // A kept session whose token this server never issued (e.g. its secret changed).
    let persisted = Persisted {
        server_url: server.url(),
        session: Some(concord_gui::state::StoredSession {
            token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.forged".into(),
            expires_at_ms: i64::MAX,
            user: concord_common::User {
                id: concord_common::UserId(1),
                username: "ada".into(),
                email: "ada@example.com".into(),
            },
        }),
        ..Default::default()
    };
    let mut ada = app(persisted);
    wait_for(&mut ada, "the login screen", |h| shows(h, "Password"));
    let state = ada.state().state();
    assert!(!state.logged_in());
    assert!(state.notice.as_deref().unwrap_or_default().contains("Log in again"), "{:?}", state.notice);
    assert_eq!(state.login.email, "ada@example.com", "the email is filled in for the next login");
}

#[test]
fn ctrl_k_jumps_to_a_friend_and_typing_shows_on_the_other_side() {
    let server = Server::start();
    let (ada_token, _) = server.friends("ada", "bob");
    let (carol_token, _) = server.register("carol");
    server.befriend(&ada_token, "carol", &carol_token);
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    wait_for(&mut ada, "both friends", |h| h.state().state().friends.len() == 2);

    ada.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    ada.step();
    ada.step();
    type_into(&mut ada, "Friend or room", "bo");
    press(&mut ada, egui::Key::Enter);
    let bob_id = ada.state().state().friends.iter().find(|f| f.user.username == "bob").unwrap().user.id;
    // Esc closes dialogs.
    click(&mut ada, "Add friend");
    assert!(shows(&ada, "Friend's email"));
    press(&mut ada, egui::Key::Escape);
    assert!(!shows(&ada, "Friend's email"), "Esc closed the Add friend dialog");
    assert_eq!(ada.state().state().selected, Some(bob_id), "Enter opened the first match");
    assert!(ada.state().state().switcher.is_none());

    // Bob, in his own app, starts typing to Ada.
    let mut bob = app(Persisted::default());
    log_in(&mut bob, &server.url(), "bob", false);
    click(&mut bob, "ada, online");
    type_into(&mut bob, "Message", "typing something");
    wait_for(&mut ada, "the typing indicator", |h| shows(h, "bob is typing…"));
}

#[test]
fn settings_list_devices_and_the_call_test_runs_the_whole_pipeline() {
    let server = Server::start();
    server.register("ada");
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);

    ada.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Comma);
    wait_for(&mut ada, "the device list", |h| h.state().state().settings.devices.len() == 4);
    let settings = &ada.state().state().settings;
    for choices in &settings.devices {
        assert!(!choices.names.is_empty() || choices.unavailable.is_some(), "{choices:?} says nothing");
    }
    let no_camera = settings.choices(DeviceKind::Camera).is_some_and(|c| c.names.is_empty());
    if no_camera {
        // The default pick on a machine without a camera says why it will not work.
        assert!(ada.query_by_label_contains("Not available: no camera found").is_some());
    }

    // Pick the synthetic sources explicitly, as a person without devices would.
    for (kind, option) in [
        ("Camera", "Test pattern"),
        ("Screen", "Test pattern"),
        ("Microphone", "Test tone"),
        ("Speaker", "Off"),
    ] {
        click(&mut ada, kind);
        click(&mut ada, option);
    }
    let media = &ada.state().state().persisted.media;
    assert_eq!(
        (&media.camera, &media.microphone, &media.speaker),
        (&Pick::Synthetic, &Pick::Synthetic, &Pick::Off)
    );

    click(&mut ada, "Run call test");
    assert!(ada.state().state().settings.testing);
    wait_for(&mut ada, "the call test result", |h| h.state().state().settings.result.is_some());
    let result = ada.state().state().settings.result.clone().unwrap().unwrap();
    assert!(result.ok, "{result:?}");
    assert!(shows(&ada, "Your computer can hold a call with these devices."));
    let microphone = result.lines.iter().find(|(what, _)| what == "Microphone").unwrap();
    assert!(microphone.1.contains("heard 440 Hz"), "{microphone:?}");

    // Esc closes Settings; the picks are kept for the next start.
    press(&mut ada, egui::Key::Escape);
    assert!(!ada.state().state().settings.open);
    assert_eq!(ada.state().state().persisted.media.camera, Pick::Synthetic);
}

/// "Let me hear myself" in Settings → Voice, outside a call: the test
/// tone's level shows through the input mode (push-to-talk: "not sending"
/// until F8 is held, "sending" while it is), and its button stops it.
#[test]
fn let_me_hear_myself_shows_my_level_through_the_input_mode_without_a_call() {
    let server = Server::start();
    server.register("ada");
    let mut ada =
        app(Persisted { media: support::push_to_talk_with_the_test_tone(), ..Persisted::default() });
    log_in(&mut ada, &server.url(), "ada", false);
    ada.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Comma);
    // The window settles once the devices are listed (its rows grow): a
    // click before that can land where the button was.
    wait_for(&mut ada, "the device list", |h| h.state().state().settings.devices.len() == 4);
    assert!(shows(&ada, "Let me hear myself"));
    let meter = |h: &egui_kittest::Harness<'_, concord_gui::ConcordApp>, part: &str| {
        h.query_all_by_label_contains("Microphone level")
            .any(|n| n.accesskit_node().label().is_some_and(|l| l.contains(part)))
    };
    assert!(!meter(&ada, "dB"), "no level before the check");

    click(&mut ada, "Let me hear myself");
    wait_for(&mut ada, "my level, not sent (the key is up)", |h| meter(h, "not sending"));
    ada.key_down(egui::Key::F8);
    wait_for(&mut ada, "the key held: sending", |h| meter(h, ", sending"));
    ada.key_up(egui::Key::F8);
    wait_for(&mut ada, "let go: not sending", |h| meter(h, "not sending"));

    click(&mut ada, "Stop hearing myself");
    wait_for(&mut ada, "the meter gone", |h| !meter(h, "dB"));
    assert!(!ada.state().state().settings.mic_check);
}

#[test]
fn a_room_is_made_shared_and_chatted_in_from_the_app() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let (carol_token, _) = server.register("carol");
    server.befriend(&ada_token, "carol", &carol_token);
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    wait_for(&mut ada, "the empty room list", |h| {
        shows(h, "No rooms yet — make one with + and add friends to it.")
    });

    // Ada makes a room through the dialog; it opens, empty.
    click(&mut ada, "New room");
    type_into(&mut ada, "Room name", "Game night");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the new room, open", |h| shows(h, "No messages yet: say hello to the room."));
    assert!(shows(&ada, "Game night, 1 members"));

    // She adds bob; bob's own client (the API here) lists the room at once.
    click(&mut ada, "Add people");
    click(&mut ada, "Add bob");
    wait_for(&mut ada, "bob in the room", |h| shows(h, "Game night, 2 members"));
    let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
    assert_eq!(rooms["rooms"][0]["label"], "Game night");
    let room_id = rooms["rooms"][0]["id"].as_str().unwrap().to_owned();
    assert!(shows(&ada, "Add carol") && !shows(&ada, "Add bob"), "only friends outside the room are offered");

    // Bob joins the room's call from another client: ada sees who is in it
    // without joining; when his connection ends, he is gone from it.
    let bob_in_call = server.join_call(&bob_token, &room_id);
    wait_for(&mut ada, "bob in the call", |h| shows(h, "Game night, 2 members, 1 in the call"));
    drop(bob_in_call);
    wait_for(&mut ada, "the call empty again", |h| shows(h, "Game night, 2 members"));

    // Chat both ways: bob's message shows live, ada's is stored.
    let body = json!({"content": "I'll bring snacks 🍿", "nonce": "b1"});
    server.api(Method::POST, &format!("/api/rooms/{room_id}/messages"), Some(&bob_token), Some(body));
    wait_for(&mut ada, "bob's message", |h| shows(h, "I'll bring snacks 🍿"));
    type_into(&mut ada, "Message", "see you at 8");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "her message stored", |h| {
        h.state()
            .state()
            .room_chats
            .values()
            .next()
            .is_some_and(|c| c.pending.is_empty() && c.messages.len() == 2)
    });
    let history = server.api(Method::GET, &format!("/api/rooms/{room_id}/messages"), Some(&bob_token), None);
    assert_eq!(history["messages"][0]["content"], "see you at 8");

    // Bob leaves (from his client): the member count drops live; ada renames
    // and deletes the room, and it is gone for everyone.
    let bob_id =
        server.api(Method::GET, "/api/users/me", Some(&bob_token), None)["id"].as_str().unwrap().to_owned();
    server.api(Method::DELETE, &format!("/api/rooms/{room_id}/members/{bob_id}"), Some(&bob_token), None);
    wait_for(&mut ada, "bob gone from the room", |h| shows(h, "Game night, 1 members"));
    click(&mut ada, "Rename the room");
    type_into(&mut ada, "Room name", " 2");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the new name", |h| shows(h, "Game night 2, 1 members"));
    click(&mut ada, "Delete the room");
    assert!(shows(&ada, "Game night 2, 1 members"), "deleting asks first");
    click(&mut ada, "Delete room");
    wait_for(&mut ada, "the room gone", |h| {
        shows(h, "No rooms yet — make one with + and add friends to it.")
    });
    assert_eq!(server.api(Method::GET, "/api/rooms", Some(&ada_token), None), json!({"rooms": []}));
}

#[test]
fn a_message_is_reacted_to_replied_to_edited_and_deleted_from_the_app() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let ada_id = server.user_id(&ada_token);
    let bob_id = server.user_id(&bob_token);
    let bobs_chat = format!("/api/dms/{ada_id}/messages");
    server.api(Method::POST, &bobs_chat, Some(&bob_token), Some(json!({"content": "lunch?", "nonce": "b1"})));
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    click(&mut ada, "bob, offline, 1 unread");
    wait_for(&mut ada, "bob's question", |h| shows(h, "lunch?"));

    // A quick reaction from the message's hover actions; the chip counts it.
    ada.get_by_label("lunch?").hover();
    ada.step();
    click(&mut ada, "React 👍");
    wait_for(&mut ada, "her reaction, counted", |h| shows(h, "Remove reaction 👍"));
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["reactions"][0]["user_ids"], json!([ada_id.to_string()]));

    // Reply: the banner quotes bob; the sent answer quotes his question.
    ada.get_by_label("lunch?").hover();
    ada.step();
    click(&mut ada, "Reply");
    assert!(shows(&ada, "Replying to bob: lunch?"));
    type_into(&mut ada, "Message", "yes, at noon");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the answer, quoting the question, stored", |h| {
        shows(h, "yes, at noon") && shows(h, "↪ @bob: lunch?") && all_sent(h)
    });
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["reply_to"], history["messages"][1]["id"]);

    // ↑ in the empty composer edits her last message; Enter saves it.
    press(&mut ada, egui::Key::ArrowUp);
    assert!(shows(&ada, "Editing your message — Enter saves, Esc cancels"));
    ada.get_by_label("Message").type_text(" or one");
    ada.step();
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the edit, marked", |h| shows(h, "yes, at noon or one") && shows(h, "(edited)"));
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["content"], "yes, at noon or one");

    // Bob deletes his question: her answer says the original is gone.
    let question = history["messages"][1]["id"].as_str().unwrap().to_owned();
    server.api(Method::DELETE, &format!("{bobs_chat}/{question}"), Some(&bob_token), None);
    wait_for(&mut ada, "the question gone", |h| {
        !shows(h, "lunch?") && shows(h, "↪ Original message was deleted")
    });

    // She deletes her answer from its hover actions.
    ada.get_by_label("yes, at noon or one").hover();
    ada.step();
    click(&mut ada, "Delete message");
    assert!(shows(&ada, "Delete this message for everyone? This cannot be undone."), "it asks first");
    click(&mut ada, "Delete");
    wait_for(&mut ada, "her answer gone", |h| !shows(h, "yes, at noon or one"));
    let history = server.api(Method::GET, &format!("/api/dms/{bob_id}/messages"), Some(&ada_token), None);
    assert_eq!(history["messages"], json!([]));

    // @-completion: the name she picks is sent as a mention of bob.
    type_into(&mut ada, "Message", "**look** @b");
    click(&mut ada, "Mention bob");
    ada.get_by_label("Message").type_text("here");
    ada.step();
    press(&mut ada, egui::Key::Enter);
    // Drawn formatted: the bold word and the rest are runs of their own.
    wait_for(&mut ada, "the mention, shown by name, stored", |h| {
        shows(h, "look") && shows(h, " @bob here") && all_sent(h)
    });
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["content"], format!("**look** <@{bob_id}> here"));
    assert_eq!(history["messages"][0]["mentions"], json!([bob_id.to_string()]));
}

/// A file dropped on the window, as the desktop integration hands it over.
#[derive(Debug)]
struct DroppedFile {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
}

impl egui::DroppedFile for DroppedFile {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.bytes.clone())
    }
}

#[test]
fn a_dropped_file_and_a_pasted_picture_are_sent_and_the_picture_shows_inline() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let ada_id = server.user_id(&ada_token);
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    click(&mut ada, "bob, offline");

    // A file dropped on the window goes into the composer and uploads.
    let notes = b"milk\neggs\n".repeat(500);
    ada.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedFile { path: "/home/ada/notes.txt".into(), bytes: notes.clone() }));
    ada.step();
    wait_for(&mut ada, "the dropped file, uploaded", |h| {
        shows(h, "Remove file notes.txt") && shows(h, "5 KB")
    });
    // A picture pasted (Ctrl+V with a screenshot on the clipboard) too.
    let screenshot = egui::ColorImage::new([64, 48], vec![egui::Color32::from_rgb(200, 80, 40); 64 * 48]);
    ada.event(egui::Event::PasteImage(std::sync::Arc::new(screenshot)));
    ada.step();
    wait_for(&mut ada, "the pasted picture, uploaded", |h| shows(h, "Remove file pasted.png"));

    type_into(&mut ada, "Message", "the list and the screen");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the message with its file and its picture, drawn", |h| {
        let state = h.state().state();
        let loaded =
            state.files.pictures.values().any(|p| matches!(p, concord_gui::state::Picture::Loaded(_)));
        shows(h, "the list and the screen")
            && shows(h, "Download notes.txt")
            && shows(h, "Picture pasted.png")
            && loaded
    });
    assert!(!shows(&ada, "Remove file notes.txt"), "the composer let go of what it sent");
    let history = server.api(Method::GET, &format!("/api/dms/{ada_id}/messages"), Some(&bob_token), None);
    let attachments = &history["messages"][0]["attachments"];
    assert_eq!(attachments[0]["name"], "notes.txt");
    assert_eq!(attachments[0]["size"], notes.len());
    assert_eq!(
        (attachments[1]["name"].as_str(), attachments[1]["width"].as_u64()),
        (Some("pasted.png"), Some(64))
    );

    // Clicked, the picture shows large; Esc closes it.
    click(&mut ada, "Picture pasted.png");
    wait_for(&mut ada, "the picture, large", |h| shows(h, "Close picture") && shows(h, "Open original"));
    press(&mut ada, egui::Key::Escape);
    assert!(!shows(&ada, "Close picture"));
}

#[test]
fn any_emoji_is_found_by_name_for_a_reaction_and_the_composer_in_the_chosen_skin_tone() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let ada_id = server.user_id(&ada_token);
    let bobs_chat = format!("/api/dms/{ada_id}/messages");
    server.api(
        Method::POST,
        &bobs_chat,
        Some(&bob_token),
        Some(json!({"content": "we launch today", "nonce": "l1"})),
    );
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);
    click(&mut ada, "bob, offline, 1 unread");
    wait_for(&mut ada, "bob's message", |h| shows(h, "we launch today"));

    // "More reactions" on the message; the rocket found by name.
    ada.get_by_label("we launch today").hover();
    ada.step();
    click(&mut ada, "More reactions");
    type_into(&mut ada, "Search emoji", "rocket");
    click(&mut ada, "🚀 rocket");
    wait_for(&mut ada, "her rocket on the message", |h| shows(h, "Remove reaction 🚀"));
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["reactions"][0]["emoji"], "🚀");

    // The composer's emoji button, a medium skin tone, Enter picks the first hit.
    click(&mut ada, "Emoji");
    assert!(shows(&ada, "🚀 rocket"), "recently used first");
    click(&mut ada, "Skin tone: medium");
    type_into(&mut ada, "Search emoji", "thumbs up");
    press(&mut ada, egui::Key::Enter);
    assert!(!shows(&ada, "Search emoji"), "picking closes the picker");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "the thumbs up sent and stored", |h| shows(h, "👍🏽") && all_sent(h));
    let history = server.api(Method::GET, &bobs_chat, Some(&bob_token), None);
    assert_eq!(history["messages"][0]["content"], "👍🏽");
    assert_eq!(ada.state().state().persisted.emoji.recent, ["👍🏽", "🚀"]);
}

#[test]
fn ctrl_f_finds_an_old_message_and_opens_it_in_context() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let ada_id = server.user_id(&ada_token);
    let room = server.room_with(&bob_token, "Kitchen", &[&ada_token]);
    let say = |conversation: &str, text: &str, nonce: String| {
        let body = json!({"content": text, "nonce": nonce});
        server.api(Method::POST, &format!("/api/{conversation}/messages"), Some(&bob_token), Some(body));
    };
    // The hit is older than the first page the room loads.
    say(&format!("rooms/{room}"), "the secret recipe uses saffron", "k0".into());
    for i in 1..=80 {
        say(&format!("rooms/{room}"), &format!("kitchen chatter {i}"), format!("k{i}"));
    }
    say(&format!("dms/{ada_id}"), "Saffron is pricey this week", "d1".into());
    let mut ada = app(Persisted::default());
    log_in(&mut ada, &server.url(), "ada", false);

    ada.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    ada.step();
    ada.step();
    type_into(&mut ada, "Words", "saffr");
    press(&mut ada, egui::Key::Enter);
    wait_for(&mut ada, "both hits", |h| {
        shows(h, "Open: Saffron is pricey this week") && shows(h, "Open: the secret recipe uses saffron")
    });
    let hits: Vec<String> = ada.state().state().search.hits.iter().map(|h| h.content.clone()).collect();
    assert_eq!(hits, ["Saffron is pricey this week", "the secret recipe uses saffron"], "newest first");

    click(&mut ada, "Open: the secret recipe uses saffron");
    wait_for(&mut ada, "the room, scrolled back to the old message", |h| {
        let state = h.state().state();
        state.selected_room == Some(room)
            && state.room_chats[&room].jump_to.is_none()
            && shows(h, "the secret recipe uses saffron")
    });
    assert!(!shows(&ada, "Words"), "the search window closed");
    assert_eq!(
        ada.state().state().room_chats[&room].messages.len(),
        81,
        "older pages were loaded to reach it"
    );
}
