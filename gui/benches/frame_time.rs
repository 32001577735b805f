//! Frame time of the main screen with 200 friends and a 5,000-message
//! conversation open: egui layout + tessellation on the CPU (what the app
//! does every frame before the GPU draws), at 1000×700.
//!
//! `cargo bench -p concord-gui --bench frame_time`. Prints one JSON object.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::time::{Duration, Instant};

use concord_common::{DirectMessage, Friend, MessageId, User, UserId};
use concord_gui::state::AppState;
use concord_gui::ui;

const FRIENDS: i64 = 200;
const MESSAGES: i64 = 5000;
const FRAMES: usize = 300;

fn scene() -> AppState {
    let mut state = common::logged_in_as_ada();
    state.friends = (0..FRIENDS)
        .map(|i| Friend {
            user: User {
                id: UserId(100 + i),
                username: format!("friend {i:03}"),
                email: format!("f{i}@example.com"),
            },
            online: i % 3 == 0,
            since_ms: 0,
        })
        .collect();
    for i in (0..FRIENDS).step_by(7) {
        state.unread.insert(UserId(100 + i), (i % 20) as u64 + 1);
    }
    let peer = UserId(100);
    state.selected = Some(peer);
    let conversation = state.conversations.entry(peer).or_default();
    conversation.loaded = true;
    conversation.has_more = true;
    let start_ms = 1_767_225_600_000i64;
    for i in 0..MESSAGES {
        let content = match i % 5 {
            0 => format!("message {i} 👋 with an emoji"),
            1 => "a longer message that wraps over several lines in the conversation view, ".repeat(3),
            2 => format!("short {i}"),
            3 => "multi\nline\nmessage".into(),
            _ => format!("ünïcödé 世界 {i}"),
        };
        let (sender, recipient) = if i % 2 == 0 { (UserId(1), peer) } else { (peer, UserId(1)) };
        conversation.messages.insert(
            MessageId(i + 1),
            DirectMessage {
                id: MessageId(i + 1),
                sender_id: sender,
                recipient_id: recipient,
                content,
                nonce: format!("n{i}"),
                created_at_ms: start_ms + i * 97_000,
                ..Default::default()
            },
        );
    }
    state
}

fn main() {
    let ctx = egui::Context::default();
    ui::theme::install(&ctx);
    let mut state = scene();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1000.0, 700.0))),
        ..Default::default()
    };
    let frame = |state: &mut AppState| {
        let started = Instant::now();
        let output = ctx.run_ui(input(), |ui| {
            let _ = ui::app_ui(ui, state);
        });
        let meshes = ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(meshes);
        started.elapsed()
    };
    for _ in 0..30 {
        frame(&mut state);
    }
    let mut times: Vec<Duration> = (0..FRAMES).map(|_| frame(&mut state)).collect();
    // The frames drew the open conversation (its newest rows were measured) and
    // only a screenful of it.
    let measured = ui::conversation::measured_rows(&ctx, UserId(100));
    assert!(measured > 5 && measured < 200, "{measured} rows drawn");
    times.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "bench": "frame_time",
            "friends": FRIENDS,
            "messages": MESSAGES,
            "frames": FRAMES,
            "p50_ms": ms(times[FRAMES / 2]),
            "p95_ms": ms(times[FRAMES * 95 / 100]),
            "max_ms": ms(times[FRAMES - 1]),
            "message_rows_measured": measured,
        })
    );
}
