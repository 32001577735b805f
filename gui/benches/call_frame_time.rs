//! The call view's frame time while pictures keep arriving: 9 people in a
//! call at 1280×720, each with a 640×360 camera texture that its own
//! "decoder" thread rewrites 15 times a second (I420 → RGBA → the texture,
//! as `call_bridge` does), stats overlay on. Measures the UI thread's frame
//! (egui layout + tessellation on the CPU) and, on the decoder side, the
//! conversion and texture upload per picture.
//!
//! `cargo bench -p concord-gui --bench call_frame_time`. Prints one JSON object.

#![allow(clippy::unwrap_used)] // a benchmark that cannot run should stop loudly

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_common::events::{CallMedia, CallParticipant, TrackSource};
use concord_common::{PublicUser, Room, RoomId, UserId};
use concord_gui::media::protocol::{TrackStats, VideoTexture};
use concord_gui::state::{ActiveCall, AppState, CallPhase};
use concord_gui::ui;
use concord_media::convert::{i420_to_rgba, to_i420};
use concord_media::source::{PatternSource, VideoSource};

const PEOPLE: i64 = 9;
const FRAMES: usize = 300;
const FPS: u64 = 15;

fn scene() -> AppState {
    let mut state = common::logged_in_as_ada();
    let members: Vec<PublicUser> =
        (1..=PEOPLE).map(|i| PublicUser { id: UserId(i), username: format!("person {i}") }).collect();
    let in_call = (1..=PEOPLE)
        .map(|i| CallParticipant {
            user_id: UserId(i),
            media: CallMedia { camera: i != 1, muted: i % 3 == 0, ..Default::default() },
            joined_at_ms: i,
            speaking: false,
        })
        .collect();
    state.rooms.push(Room {
        id: RoomId(7),
        label: "Big call".into(),
        owner_id: UserId(1),
        members,
        in_call,
        created_at_ms: 0,
    });
    state.selected_room = Some(RoomId(7));
    let stats = (2..=PEOPLE)
        .map(|i| {
            let history = (0..60)
                .map(|s| TrackStats {
                    user: UserId(i),
                    source: TrackSource::Camera,
                    kbps: 500.0 + s as f32,
                    fps: 15.0,
                    loss_percent: 0.0,
                    rtt_ms: Some(1.0),
                    heard_dbfs: None,
                })
                .collect();
            ((UserId(i), TrackSource::Camera), history)
        })
        .collect();
    state.call = Some(ActiveCall {
        room: RoomId(7),
        want: CallMedia::default(),
        phase: CallPhase::Connected,
        videos: Default::default(),
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
        network_limited: std::collections::HashMap::new(),
        sending_limited: std::collections::HashMap::new(),
    });
    state
}

fn main() {
    let ctx = egui::Context::default();
    ui::theme::install(&ctx);
    let mut state = scene();
    let (width, height) = (640, 360);
    let stop = Arc::new(AtomicBool::new(false));
    let (uploads, upload_micros) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut decoders = Vec::new();
    for i in 2..=PEOPLE {
        let image = egui::ColorImage::filled([width, height], egui::Color32::BLACK);
        let mut texture = ctx.load_texture(format!("bench-{i}"), image, egui::TextureOptions::LINEAR);
        if let Some(call) = &mut state.call {
            call.videos.insert((UserId(i), TrackSource::Camera), VideoTexture::new(texture.clone()));
        }
        let (stop, uploads, upload_micros) =
            (Arc::clone(&stop), Arc::clone(&uploads), Arc::clone(&upload_micros));
        decoders.push(
            std::thread::Builder::new()
                .name(format!("bench-decode-{i}"))
                .spawn(move || {
                    let mut source = PatternSource::new(width as u32, height as u32, FPS as u32);
                    let mut rgba = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let raw = source.capture().unwrap();
                        let frame = to_i420(raw.format, raw.width, raw.height, &raw.data).unwrap();
                        let started = Instant::now();
                        i420_to_rgba(&frame, &mut rgba);
                        let image = egui::ColorImage::from_rgba_unmultiplied([width, height], &rgba);
                        texture.set(image, egui::TextureOptions::LINEAR);
                        upload_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                        uploads.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1000 / FPS));
                    }
                })
                .unwrap(),
        );
    }
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 720.0))),
        ..Default::default()
    };
    let mut texture_updates = 0usize;
    let mut frame = |state: &mut AppState| {
        let started = Instant::now();
        let output = ctx.run_ui(input(), |ui| {
            let _ = ui::app_ui(ui, state);
        });
        texture_updates += output.textures_delta.set.len();
        let meshes = ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(meshes);
        started.elapsed()
    };
    for _ in 0..30 {
        frame(&mut state);
    }
    let began = Instant::now();
    let mut times: Vec<Duration> = (0..FRAMES)
        .map(|_| {
            let took = frame(&mut state);
            // About 60 frames a second, as a display would ask.
            std::thread::sleep(Duration::from_millis(16).saturating_sub(took));
            took
        })
        .collect();
    let seconds = began.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for decoder in decoders {
        decoder.join().unwrap();
    }
    times.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let uploads = uploads.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "bench": "call_frame_time",
            "people": PEOPLE,
            "videos": PEOPLE - 1,
            "picture": format!("{width}x{height}"),
            "frames": FRAMES,
            "p50_ms": ms(times[FRAMES / 2]),
            "p95_ms": ms(times[FRAMES * 95 / 100]),
            "max_ms": ms(times[FRAMES - 1]),
            "texture_updates_per_s": (texture_updates as f64 / seconds).round(),
            "decoder_side_upload_us": upload_micros.load(Ordering::Relaxed) / uploads.max(1),
        })
    );
}
