//! Frame time of the main screen with 200 friends and a 5,000-message
//! conversation open: egui layout + tessellation on the CPU (what the app
//! does every frame before the GPU draws), at 1000×700. The messages are
//! what a community's chat holds: a picture (its thumbnail arrived) in every
//! tenth, reactions on every seventh, a code block in every ninth, formatted
//! text, replies quoting the message before, files.
//!
//! `cargo bench -p concord-gui --bench frame_time`. Prints one JSON object.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::time::{Duration, Instant};

use concord_common::{
    Attachment, AttachmentId, DirectMessage, Friend, MessageId, Reaction, ReplyPreview, User, UserId,
};
use concord_gui::net::FileBytes;
use concord_gui::state::{AppState, Picture};
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
    let thumbnail = thumbnail_jpeg();
    let mut pictures = Vec::new();
    for i in 0..MESSAGES {
        let mut content = match i % 5 {
            0 => format!("message {i} 👋 with an emoji"),
            1 => "a longer message that wraps over several lines in the conversation view, ".repeat(3),
            2 => format!("short **{i}**, _styled_ and `code`"),
            3 => "multi\nline\nmessage".into(),
            _ => format!("ünïcödé 世界 {i}"),
        };
        if i % 9 == 4 {
            content = format!("like this:\n```\nfn main() {{\n    println!(\"{i}\");\n}}\n```");
        }
        let (sender, recipient) = if i % 2 == 0 { (UserId(1), peer) } else { (peer, UserId(1)) };
        let mut message = DirectMessage {
            id: MessageId(i + 1),
            sender_id: sender,
            recipient_id: recipient,
            content,
            nonce: format!("n{i}"),
            created_at_ms: start_ms + i * 97_000,
            ..Default::default()
        };
        if i % 7 == 3 {
            message.reactions = vec![
                Reaction { emoji: "👍".into(), count: 2, me: true, user_ids: vec![UserId(1), peer] },
                Reaction { emoji: "🎉".into(), count: 1, me: false, user_ids: vec![peer] },
            ];
        }
        if i % 11 == 6 {
            message.reply_to = Some(MessageId(i));
            message.reply_preview = Some(ReplyPreview {
                id: MessageId(i),
                sender_id: peer,
                content: "the message before".into(),
            });
        }
        if i % 10 == 8 {
            let picture = attachment(i, true);
            pictures.push(picture.thumbnail_url.clone().unwrap());
            message.attachments = vec![picture];
        } else if i % 13 == 5 {
            message.attachments = vec![attachment(i, false)];
        }
        conversation.messages.insert(message.id, message);
    }
    for url in pictures {
        state
            .files
            .pictures
            .insert(concord_gui::state::picture_key(&url).to_owned(), Picture::Loaded(thumbnail.clone()));
    }
    state
}

/// A picture (with a thumbnail) or a file of message `i`.
fn attachment(i: i64, picture: bool) -> Attachment {
    Attachment {
        id: AttachmentId(10_000 + i),
        name: if picture { format!("photo-{i}.jpg") } else { format!("notes-{i}.pdf") },
        size: 1_200_000,
        content_type: if picture { "image/jpeg" } else { "application/pdf" }.into(),
        url: format!("/api/attachments/{}?expires=1&signature=a", 10_000 + i),
        width: picture.then_some(1600),
        height: picture.then_some(1200),
        thumbnail_url: picture
            .then(|| format!("/api/attachments/{}/thumbnail?expires=1&signature=b", 10_000 + i)),
    }
}

/// A 400 × 300 JPEG, as the server makes thumbnails.
fn thumbnail_jpeg() -> FileBytes {
    let picture = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([(x / 2) as u8, (y / 2) as u8, 120]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    FileBytes::new(jpeg.into_inner())
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
            "content": "pictures every 10th, reactions every 7th, code blocks every 9th, replies every 11th, files every 13th",
        })
    );
}
