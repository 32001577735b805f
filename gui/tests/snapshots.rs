//! Pictures of the main screens in the dark and the light theme, rendered by
//! wgpu on the software Vulkan driver and compared with the PNGs in
//! `tests/snapshots/` (`UPDATE_SNAPSHOTS=1 cargo test -p concord-gui --test
//! snapshots` accepts changes).

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use concord_common::{DirectMessage, Friend, InviteId, MessageId, Reaction, ReplyPreview, User, UserId};
use concord_gui::net::Connection;
use concord_gui::settings::ThemeChoice;
use concord_gui::state::{AppState, Persisted, StoredSession};
use concord_gui::ui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn user(id: i64, name: &str) -> User {
    User { id: UserId(id), username: name.into(), email: format!("{name}@example.com") }
}

fn logged_in() -> AppState {
    let me = user(1, "ada");
    let persisted = Persisted {
        server_url: "http://127.0.0.1:8000".into(),
        session: Some(StoredSession { token: "t".into(), expires_at_ms: i64::MAX, user: me.clone() }),
        ..Default::default()
    };
    let (mut state, _) = AppState::restore(persisted, 0);
    state.me = Some(me);
    state.connection = Some(Connection::Online);
    state
}

/// Both themes, with the name each picture gets.
const THEMES: [(ThemeChoice, &str); 2] = [(ThemeChoice::Dark, "dark"), (ThemeChoice::Light, "light")];

/// The size most pictures are taken at, in points.
const USUAL: egui::Vec2 = egui::vec2(900.0, 560.0);

fn screen(mut state: AppState, theme: ThemeChoice, size: egui::Vec2) -> Harness<'static, AppState> {
    state.persisted.theme = theme;
    // Timestamps are drawn in local time: fix the zone so pictures match anywhere.
    // (Edition 2021: set_var is safe; tests in this binary read no other variable.)
    std::env::set_var("TZ", "UTC");
    let mut fonts_installed = false;
    Harness::builder().with_size(size).wgpu().build_ui_state(
        move |ui, state: &mut AppState| {
            if !fonts_installed {
                ui::theme::install(ui.ctx());
                fonts_installed = true;
            }
            let _ = ui::app_ui(ui, state);
        },
        state,
    )
}

fn settle(harness: &mut Harness<'_, AppState>) {
    for _ in 0..5 {
        harness.step();
    }
}

/// Pictures `state()` in both themes as `NAME_dark.png` and `NAME_light.png`,
/// reporting every difference (not only the first).
fn in_both_themes(name: &str, state: impl Fn() -> AppState) {
    let mut results = egui_kittest::SnapshotResults::new();
    for (theme, suffix) in THEMES {
        let mut harness = screen(state(), theme, USUAL);
        settle(&mut harness);
        harness.snapshot(format!("{name}_{suffix}"));
        results.extend_harness(&mut harness);
    }
    results.unwrap();
}

#[test]
fn login_screen() {
    in_both_themes("login", || AppState::restore(Persisted::default(), 0).0);
}

#[test]
fn empty_main_screen() {
    in_both_themes("empty_state", logged_in);
}

#[test]
fn conversation_screen() {
    in_both_themes("conversation", conversation_state);
}

#[test]
fn pictures_and_files_screen() {
    in_both_themes("attachments", attachments_state);
}

#[test]
fn emoji_picker_screen() {
    in_both_themes("emoji_picker", || {
        let mut state = conversation_state();
        state.persisted.emoji.recent = vec!["🚀".into(), "👍🏽".into(), "🎉".into()];
        state.persisted.emoji.skin_tone = 3;
        state.open_emoji_picker(concord_gui::state::PickFor::Reaction(
            concord_common::Conversation::Dm(UserId(2)),
            MessageId(5),
        ));
        state
    });
}

/// The composer answering bob's message.
#[test]
fn replying_screen() {
    in_both_themes("replying", || {
        let mut state = conversation_state();
        state.start_reply(concord_common::Conversation::Dm(UserId(2)), MessageId(3));
        state.conversations.get_mut(&UserId(2)).unwrap().draft = "same here, see you friday".into();
        state
    });
}

/// ↑ in the empty composer: editing my last message.
#[test]
fn editing_screen() {
    in_both_themes("editing", || {
        let mut state = conversation_state();
        assert!(state.edit_last(concord_common::Conversation::Dm(UserId(2))), "ada has a message to edit");
        state
    });
}

/// "@b": the completion offers bob (Tab takes him).
#[test]
fn mention_completion_screen() {
    in_both_themes("mention_completion", || {
        let mut state = conversation_state();
        state.conversations.get_mut(&UserId(2)).unwrap().draft = "thanks @b".into();
        state
    });
}

#[test]
fn search_screen() {
    in_both_themes("search", || {
        use concord_common::{Conversation as Where, RoomId, SearchHit};
        let mut state = room_state();
        state.open_search();
        state.search.words = "pizza fri".into();
        let hit = |place: Where, id: i64, sender: i64, content: &str| SearchHit {
            conversation: place,
            id: MessageId(id),
            sender_id: UserId(sender),
            content: content.into(),
            created_at_ms: 1_764_000_000_000 + id * 3_600_000,
            edited_at_ms: None,
        };
        state.search.asked = Some(("pizza fri".into(), None));
        state.search.hits = vec![
            hit(Where::Room(RoomId(7)), 30, 2, "Pizza again on Friday? I can bring the board games 🎲"),
            hit(Where::Dm(UserId(2)), 20, 1, "the **pizza** place by the station is open on fridays"),
            hit(Where::Room(RoomId(7)), 10, 1, "Friday: pizza, then the new co-op game"),
        ];
        state.search.has_more = true;
        state
    });
}

#[test]
fn room_screen() {
    in_both_themes("room", room_state);
}

/// Ada owns "Game night" with bob; both are in its call, bob muted, ada
/// speaking (the ring); its chat has three messages and "Add people"
/// (carol) is open.
fn room_state() -> AppState {
    use concord_common::{PublicUser, Room, RoomId, RoomMessage};
    let mut state = conversation_state();
    state.selected = None;
    let member = |id: i64, name: &str| PublicUser { id: UserId(id), username: name.into() };
    state.rooms.push(Room {
        id: RoomId(7),
        label: "Game night 🎲".into(),
        owner_id: UserId(1),
        members: vec![member(1, "ada"), member(2, "bob")],
        in_call: vec![
            concord_common::events::CallParticipant {
                user_id: UserId(2),
                media: concord_common::events::CallMedia { muted: true, ..Default::default() },
                joined_at_ms: 0,
                speaking: false,
            },
            concord_common::events::CallParticipant {
                user_id: UserId(1),
                media: concord_common::events::CallMedia::default(),
                joined_at_ms: 1,
                speaking: false,
            },
        ],
        created_at_ms: 0,
    });
    state.speaking.insert((RoomId(7), UserId(1)));
    state.selected_room = Some(RoomId(7));
    state.room_forms.add_open = true;
    let chat = state.room_chats.entry(RoomId(7)).or_default();
    chat.loaded = true;
    for (i, (from, text)) in
        [(2, "who's in tonight?"), (2, "I can bring snacks 🍿"), (1, "me! starting at 8")].iter().enumerate()
    {
        let id = MessageId(i as i64 + 1);
        chat.messages.insert(
            id,
            RoomMessage {
                id,
                room_id: RoomId(7),
                sender_id: UserId(*from),
                content: (*text).into(),
                nonce: format!("r{i}"),
                created_at_ms: 1_767_261_600_000 + i as i64 * 60_000,
                ..Default::default()
            },
        );
    }
    state
}

fn conversation_state() -> AppState {
    let mut state = logged_in();
    state.friends = vec![
        Friend { user: user(2, "bob"), online: true, since_ms: 0 },
        Friend { user: user(3, "carol"), online: false, since_ms: 0 },
    ];
    state.unread.insert(UserId(3), 2);
    state.invites.incoming.push(concord_common::Invite {
        id: InviteId(9),
        from: user(4, "dan"),
        to: user(1, "ada"),
        created_at_ms: 0,
    });
    state.selected = Some(UserId(2));
    let conversation = state.conversations.entry(UserId(2)).or_default();
    conversation.loaded = true;
    let lines = [
        (2, "hey ada 👋"),
        (1, "hi bob! long time — how are you? 😀"),
        (2, "good! this message is long enough to wrap onto a second line in the conversation view, which is what long messages do here."),
        (1, "🎉🚀 emoji render too"),
    ];
    for (i, (from, text)) in lines.iter().enumerate() {
        let id = i as i64 + 1;
        let (sender, recipient) = if *from == 1 { (UserId(1), UserId(2)) } else { (UserId(2), UserId(1)) };
        conversation.messages.insert(
            MessageId(id),
            DirectMessage {
                id: MessageId(id),
                sender_id: sender,
                recipient_id: recipient,
                content: (*text).into(),
                nonce: format!("n{id}"),
                created_at_ms: 1_767_261_600_000 + id * 60_000,
                ..Default::default()
            },
        );
    }
    // Formatting, reactions, and an edited reply quoting the message before.
    let formatted = DirectMessage {
        id: MessageId(5),
        sender_id: UserId(2),
        recipient_id: UserId(1),
        content: "**bold**, _italic_, ~~struck~~, `code` and https://example.com".into(),
        nonce: "n5".into(),
        created_at_ms: 1_767_261_600_000 + 5 * 60_000,
        reactions: vec![
            Reaction { emoji: "👍".into(), count: 2, me: true, user_ids: vec![UserId(1), UserId(2)] },
            Reaction { emoji: "🎉".into(), count: 1, me: false, user_ids: vec![UserId(2)] },
        ],
        ..Default::default()
    };
    let reply = DirectMessage {
        id: MessageId(6),
        sender_id: UserId(1),
        recipient_id: UserId(2),
        content: "like this:\n```\nfn main() {\n    println!(\"hi\");\n}\n```".into(),
        nonce: "n6".into(),
        created_at_ms: 1_767_261_600_000 + 6 * 60_000,
        edited_at_ms: Some(1_767_261_600_000 + 7 * 60_000),
        reply_to: Some(MessageId(5)),
        reply_preview: Some(ReplyPreview {
            id: MessageId(5),
            sender_id: UserId(2),
            content: formatted.content.clone(),
        }),
        ..Default::default()
    };
    conversation.messages.insert(formatted.id, formatted);
    conversation.messages.insert(reply.id, reply);
    state
}

/// A conversation with a picture (its thumbnail fetched), a file, and two
/// uploads in the composer: one under way, one ready.
fn attachments_state() -> AppState {
    use concord_common::{Attachment, AttachmentId, Conversation};
    use concord_gui::state::{Picture, Upload, UploadState};
    let mut state = conversation_state();
    let conversation = state.conversations.get_mut(&UserId(2)).unwrap();
    conversation.messages.retain(|id, _| id.0 <= 2);
    let picture = Attachment {
        id: AttachmentId(41),
        name: "sunset.jpg".into(),
        size: 1_830_000,
        content_type: "image/jpeg".into(),
        url: "/api/attachments/41?expires=1&signature=a".into(),
        width: Some(1600),
        height: Some(1000),
        thumbnail_url: Some("/api/attachments/41/thumbnail?expires=1&signature=b".into()),
    };
    let file = Attachment {
        id: AttachmentId(42),
        name: "trip-plan.pdf".into(),
        size: 248_000,
        content_type: "application/pdf".into(),
        url: "/api/attachments/42?expires=1&signature=c".into(),
        width: None,
        height: None,
        thumbnail_url: None,
    };
    conversation.messages.insert(
        MessageId(3),
        DirectMessage {
            id: MessageId(3),
            sender_id: UserId(2),
            recipient_id: UserId(1),
            content: "the view from the top, and the plan".into(),
            nonce: "n3".into(),
            created_at_ms: 1_767_261_600_000 + 3 * 60_000,
            attachments: vec![picture, file],
            ..Default::default()
        },
    );
    // The thumbnail: an evening gradient, 400 × 250.
    let thumbnail = image::RgbImage::from_fn(400, 250, |x, y| {
        image::Rgb([(230 - y / 3) as u8, (90 + x / 4) as u8, (60 + y / 2) as u8])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    thumbnail.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    state.files.pictures.insert(
        "/api/attachments/41/thumbnail".into(),
        Picture::Loaded(concord_gui::net::FileBytes::new(jpeg.into_inner())),
    );
    state.files.uploads.insert(
        Conversation::Dm(UserId(2)),
        vec![
            Upload {
                key: 1,
                name: "notes.txt".into(),
                size: 5_000,
                sent: 5_000,
                state: UploadState::Ready(Attachment {
                    id: AttachmentId(43),
                    name: "notes.txt".into(),
                    size: 5_000,
                    content_type: "text/plain".into(),
                    url: "/api/attachments/43".into(),
                    width: None,
                    height: None,
                    thumbnail_url: None,
                }),
            },
            Upload {
                key: 2,
                name: "holiday.mp4".into(),
                size: 20_000_000,
                sent: 7_000_000,
                state: UploadState::Sending,
            },
        ],
    );
    state
}

/// The conversation on a small laptop window, a 1440p monitor, and phone
/// width (the browser at 390×844), where the list and the conversation take
/// turns: the back button returns to the list.
#[test]
fn conversation_at_every_size() {
    let mut results = egui_kittest::SnapshotResults::new();
    for (name, size) in [
        ("conversation_800x600", egui::vec2(800.0, 600.0)),
        ("conversation_2560x1440", egui::vec2(2560.0, 1440.0)),
        ("phone_conversation", egui::vec2(390.0, 844.0)),
    ] {
        let mut harness = screen(conversation_state(), ThemeChoice::Dark, size);
        settle(&mut harness);
        harness.snapshot(format!("{name}_dark"));
        results.extend_harness(&mut harness);
    }
    let mut phone = screen(conversation_state(), ThemeChoice::Light, egui::vec2(390.0, 844.0));
    settle(&mut phone);
    assert!(phone.query_by_label("Add friend").is_none(), "the list is hidden behind the conversation");
    phone.get_by_label("Back to friends").click();
    settle(&mut phone);
    assert_eq!(phone.state().selected, None);
    phone.get_by_label("Add friend");
    phone.remove_cursor();
    settle(&mut phone);
    phone.snapshot("phone_list_light");
    results.extend_harness(&mut phone);
    // A friend's row opens the conversation over the list; Esc goes back.
    phone.get_by_label_contains("bob").click();
    settle(&mut phone);
    assert_eq!(phone.state().selected, Some(UserId(2)));
    phone.key_press(egui::Key::Escape);
    settle(&mut phone);
    assert_eq!(phone.state().selected, None);
    results.unwrap();
}

/// A call in "Game night": ada (speaking, camera off: her avatar), bob's
/// camera and bob's shared screen beside it, carol muted and deafened; the
/// participant list and the chat beside the grid; the stats overlay on.
/// The pictures are stand-ins drawn here, as textures of the harness.
#[test]
fn call_screen() {
    use concord_common::events::{
        CallMedia, CallParticipant, CallVideoQuality, TileSize, TrackSource, VideoQuality,
    };
    use concord_common::{PublicUser, RoomId};
    use concord_gui::media::protocol::{TrackStats, VideoTexture};
    use concord_gui::state::{ActiveCall, CallPhase};

    let call_state = || {
        let mut state = room_state();
        state.room_forms.add_open = false;
        let room = state.rooms.iter_mut().find(|r| r.id == RoomId(7)).unwrap();
        room.members.push(PublicUser { id: UserId(3), username: "carol".into() });
        let participant = |id: i64, media: CallMedia| CallParticipant {
            user_id: UserId(id),
            media,
            joined_at_ms: id,
            speaking: false,
        };
        room.in_call = vec![
            participant(1, CallMedia::default()),
            participant(2, CallMedia { camera: true, screen: true, ..Default::default() }),
            participant(3, CallMedia { muted: true, deafened: true, ..Default::default() }),
        ];
        let mut stats = std::collections::HashMap::new();
        let samples = (0..30)
            .map(|i| TrackStats {
                user: UserId(2),
                source: TrackSource::Camera,
                kbps: 600.0 + (i as f32 * 0.7).sin() * 120.0,
                fps: 15.0 - (i % 7 == 0) as u8 as f32 * 3.0,
                loss_percent: if i == 20 { 4.0 } else { 0.0 },
                rtt_ms: Some(18.0),
                heard_dbfs: None,
            })
            .collect();
        stats.insert((UserId(2), TrackSource::Camera), samples);
        state.call = Some(ActiveCall {
            room: RoomId(7),
            want: CallMedia::default(),
            phase: CallPhase::Connected,
            videos: std::collections::HashMap::new(),
            stats,
            focused: None,
            full_window: false,
            show_stats: true,
            show_chat: true,
            problem: None,
            input_level: None,
            push_to_talk_down: false,
            view_told: Vec::new(),
            tile_sizes: std::collections::HashMap::new(),
            // The server sends Bob's screen smaller than its tile asks for: my link is short.
            network_limited: [(
                (UserId(2), TrackSource::Screen),
                CallVideoQuality {
                    room_id: RoomId(7),
                    user_id: UserId(2),
                    source: TrackSource::Screen,
                    quality: VideoQuality::Reduced,
                    size: Some(TileSize { width: 640, height: 360 }),
                    estimate_kbps: Some(480),
                },
            )]
            .into(),
            sending_limited: std::collections::HashMap::new(),
        });
        state
    };
    // A camera-like picture and a screen-like one (text lines on white).
    let picture = |screen: bool| {
        let (w, h) = (320usize, 180usize);
        let mut image = egui::ColorImage::filled([w, h], egui::Color32::WHITE);
        for y in 0..h {
            for x in 0..w {
                let color = if screen {
                    let line = (y / 12) % 2 == 0 && x > 16 && x < 16 + (y * 7 % 250) && y % 12 < 6;
                    if line {
                        egui::Color32::from_gray(60)
                    } else {
                        egui::Color32::from_gray(245)
                    }
                } else {
                    egui::Color32::from_rgb((x * 255 / w) as u8, (y * 255 / h) as u8, 160)
                };
                image.pixels[y * w + x] = color;
            }
        }
        image
    };
    let mut results = egui_kittest::SnapshotResults::new();
    for (theme, suffix) in THEMES {
        let mut harness = screen(call_state(), theme, egui::vec2(1100.0, 640.0));
        harness.step();
        let ctx = harness.ctx.clone();
        let call = harness.state_mut().call.as_mut().unwrap();
        for (source, screen) in [(TrackSource::Camera, false), (TrackSource::Screen, true)] {
            let texture =
                ctx.load_texture(format!("{source:?}"), picture(screen), egui::TextureOptions::LINEAR);
            call.videos.insert((UserId(2), source), VideoTexture::new(texture));
        }
        settle(&mut harness);
        assert!(harness.query_by_label("bob's camera, video").is_some());
        assert!(harness.query_by_label("bob's screen, video, reduced for your connection").is_some());
        assert!(harness.query_by_label("carol's camera, no video, muted, deafened").is_some());
        assert!(harness.query_by_label("ada's camera, no video, speaking").is_some());
        harness.snapshot(format!("call_{suffix}"));
        results.extend_harness(&mut harness);
    }
    // Clicking the screen tile focuses it; clicking again puts it back.
    let mut harness = screen(call_state(), ThemeChoice::Dark, egui::vec2(1100.0, 640.0));
    settle(&mut harness);
    harness.get_by_label("bob's screen, no video, reduced for your connection").click();
    settle(&mut harness);
    assert_eq!(harness.state().call.as_ref().unwrap().focused, Some((UserId(2), TrackSource::Screen)));
    harness.get_by_label("bob's screen, no video, reduced for your connection").click();
    settle(&mut harness);
    assert_eq!(harness.state().call.as_ref().unwrap().focused, None);
    results.unwrap();
}
