//! The call view (desktop and browser): a responsive grid of tiles — each participant's
//! camera (or their avatar, ringed while they speak) and each shared
//! screen as a tile of its own — one of which can be focused large; the
//! controls bar; the participant list; the stats overlay with live plots.
//! Pictures are kept current off the UI's work (decoder threads on the
//! desktop, the browser's own video elements on the web): drawing one
//! copies nothing.

use concord_common::events::{CallParticipant, TrackSource, VideoQuality};
use concord_common::{Room, UserId};
use egui::{Align2, Color32, FontId, Rect, RichText, Sense, Stroke};
use egui_plot::{Line, Plot, PlotPoints};

use super::tokens::{self, size, space};
use super::{avatar, icons};
use crate::media::protocol::VideoTexture;
use crate::settings::PersonVolume;
use crate::state::{ActiveCall, AppState, CallPhase, Effect, TileKey};

/// Height of the controls bar.
const CONTROLS_HEIGHT: f32 = 44.0;
/// Tiles are laid out for this shape (16:9).
const TILE_ASPECT: f32 = 16.0 / 9.0;
/// The strip under a focused tile.
const STRIP_HEIGHT: f32 = 110.0;
/// The stats overlay's plot height.
const PLOT_HEIGHT: f32 = 46.0;

/// One tile to draw.
struct Tile {
    key: TileKey,
    name: String,
    participant: CallParticipant,
    /// The picture, when the track is on and a frame has arrived.
    texture: Option<VideoTexture>,
    speaking: bool,
    me: bool,
    /// The server sends it reduced or paused for my network.
    network: Option<VideoQuality>,
}

impl Tile {
    /// What tests and screen readers find the tile by, e.g.
    /// "bob's camera, video, muted, speaking".
    fn label(&self) -> String {
        let what = if self.key.1 == TrackSource::Screen { "screen" } else { "camera" };
        let mut label = format!("{}'s {what}", self.name);
        label.push_str(if self.texture.is_some() { ", video" } else { ", no video" });
        if self.key.1 == TrackSource::Camera {
            if self.participant.media.muted {
                label.push_str(", muted");
            }
            if self.participant.media.deafened {
                label.push_str(", deafened");
            }
            if self.speaking {
                label.push_str(", speaking");
            }
        }
        match (self.network, self.me) {
            (Some(VideoQuality::Reduced), false) => label.push_str(", reduced for your connection"),
            (Some(VideoQuality::Paused), false) => label.push_str(", paused for your connection"),
            (Some(VideoQuality::Reduced), true) => label.push_str(", sent reduced for your connection"),
            (Some(VideoQuality::Paused), true) => label.push_str(", not sent for your connection"),
            (Some(VideoQuality::Full) | None, _) => {}
        }
        label
    }
}

/// The tiles of `room`'s call: a camera tile per participant (me first),
/// then a tile per shared screen.
fn tiles(state: &AppState, room: &Room, call: &ActiveCall) -> Vec<Tile> {
    let me = state.me.as_ref().map(|u| u.id);
    let name_of = |id: UserId| {
        room.members.iter().find(|m| m.id == id).map_or_else(|| "Someone".to_owned(), |m| m.username.clone())
    };
    let mut participants: Vec<&CallParticipant> = room.in_call.iter().collect();
    participants.sort_by_key(|p| (Some(p.user_id) != me, p.joined_at_ms));
    let mut tiles = Vec::new();
    for source in [TrackSource::Camera, TrackSource::Screen] {
        for participant in &participants {
            let on = match source {
                TrackSource::Screen => participant.media.screen,
                _ => participant.media.camera,
            };
            if source == TrackSource::Screen && !on {
                continue;
            }
            let key = (participant.user_id, source);
            // Of my own videos, how my uplink lets them go out; of the others', how my link lets them in.
            let network = if Some(participant.user_id) == me {
                call.sending_limited.get(&source).copied().filter(|_| on)
            } else {
                call.network_limited.get(&key).map(|q| q.quality)
            };
            // A video paused for my network shows its avatar, not its last picture.
            let paused_for_me = network == Some(VideoQuality::Paused) && Some(participant.user_id) != me;
            let texture = call.videos.get(&key).filter(|_| on && !paused_for_me).cloned();
            tiles.push(Tile {
                key,
                name: name_of(participant.user_id),
                participant: (*participant).clone(),
                texture,
                speaking: state.is_speaking(room.id, participant.user_id),
                me: Some(participant.user_id) == me,
                network,
            });
        }
    }
    tiles
}

/// The whole call view for `room` (the call in progress is in it).
pub fn call_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room) -> Vec<Effect> {
    let Some(call) = &state.call else { return vec![] };
    let tiles = tiles(state, room, call);
    let (focused, show_stats) = (call.focused, call.show_stats);
    let stats = call.stats.clone();
    let estimate_kbps = call.network_limited.values().filter_map(|q| q.estimate_kbps).max();
    status_ui(ui, call);
    // The grid takes what is left above the controls bar, laid out by hand
    // (tiles are painted, not stacked).
    let area = ui.available_rect_before_wrap();
    let controls_top = (area.max.y - CONTROLS_HEIGHT).max(area.min.y + 120.0);
    let grid_rect = Rect::from_min_max(area.min, egui::pos2(area.max.x, controls_top - space::S));
    let controls_rect = Rect::from_min_max(egui::pos2(area.min.x, controls_top), area.max);
    ui.allocate_rect(area, Sense::hover());
    let mut clicked = None;
    let mut drawn = Vec::new();
    let mut effects = Vec::new();
    let layout =
        layout_tiles(grid_rect, tiles.len(), focused.and_then(|f| tiles.iter().position(|t| t.key == f)));
    for (tile, rect) in tiles.iter().zip(layout) {
        // A camera tile without video shows the microphone's figures.
        let history = stats.get(&tile.key).filter(|_| tile.texture.is_some()).or_else(|| {
            stats.get(&(tile.key.0, TrackSource::Microphone)).filter(|_| tile.key.1 == TrackSource::Camera)
        });
        let overlay = show_stats.then_some(history).flatten().map(|history| (history, estimate_kbps));
        let response = tile_ui(ui, tile, rect, overlay);
        if response.clicked() {
            clicked = Some(tile.key);
        }
        if !tile.me {
            // The picture as fitted into the tile (the tile itself until one arrives).
            let shown = tile.texture.as_ref().map_or(rect.size(), |texture| {
                let picture = texture.size();
                picture * (rect.width() / picture.x).min(rect.height() / picture.y)
            });
            let pixels = shown * ui.ctx().pixels_per_point();
            drawn.push((tile.key, (pixels.x, pixels.y)));
        }
        if !tile.me {
            response.context_menu(|ui| effects.extend(volume_menu_ui(ui, state, tile.key.0, &tile.name)));
        }
    }
    if tiles.is_empty() {
        ui.painter().text(
            grid_rect.center(),
            Align2::CENTER_CENTER,
            "Joining…",
            FontId::proportional(tokens::text::HEADING),
            tokens::palette(ui).text_muted,
        );
    }
    // The server sends each simulcast video in the layer its tile needs.
    for (key, size) in drawn {
        state.set_tile_size(key, size);
    }
    if let Some(key) = clicked {
        state.focus_tile(key);
    }
    let controls =
        ui.scope_builder(egui::UiBuilder::new().max_rect(controls_rect), |ui| controls_ui(ui, state));
    effects.extend(controls.inner);
    effects
}

/// Connecting, reconnecting, or what went wrong, above the grid.
fn status_ui(ui: &mut egui::Ui, call: &ActiveCall) {
    let palette = tokens::palette(ui);
    let (text, color) = match call.phase {
        CallPhase::Joining => ("Connecting to the call…".to_owned(), palette.text_muted),
        CallPhase::Rejoining => ("Connection lost: joining the call again…".to_owned(), palette.warning),
        CallPhase::Connected => match &call.problem {
            Some(problem) => (problem.clone(), palette.warning),
            None => return,
        },
    };
    ui.label(RichText::new(text).color(color));
}

/// Where each tile goes: the grid's rows and columns chosen so tiles come
/// out largest, or the focused tile large above a strip of the others.
fn layout_tiles(area: Rect, count: usize, focused: Option<usize>) -> Vec<Rect> {
    if count == 0 {
        return Vec::new();
    }
    if let Some(focused) = focused.filter(|_| count > 1) {
        let strip_height = STRIP_HEIGHT.min(area.height() * 0.3);
        let main = Rect::from_min_max(area.min, egui::pos2(area.max.x, area.max.y - strip_height - space::S));
        let strip = Rect::from_min_max(egui::pos2(area.min.x, main.max.y + space::S), area.max);
        let mut others = grid(strip, count - 1, 1).into_iter();
        return (0..count)
            .map(|i| if i == focused { main } else { others.next().unwrap_or(strip) })
            .collect();
    }
    let best = (1..=count)
        .max_by(|a, b| tile_width(area, count, *a).total_cmp(&tile_width(area, count, *b)))
        .unwrap_or(1);
    grid(area, count, count.div_ceil(best))
}

/// The width of a 16:9 tile in `area` with `columns` columns.
fn tile_width(area: Rect, count: usize, columns: usize) -> f32 {
    let rows = count.div_ceil(columns) as f32;
    let width = (area.width() - space::S * (columns as f32 - 1.0)) / columns as f32;
    let height = (area.height() - space::S * (rows - 1.0)) / rows;
    width.min(height * TILE_ASPECT)
}

/// `count` tiles in `rows` rows, centred in `area`.
fn grid(area: Rect, count: usize, rows: usize) -> Vec<Rect> {
    let rows = rows.max(1);
    let columns = count.div_ceil(rows).max(1);
    let width = tile_width(area, count, columns).max(1.0);
    let height = width / TILE_ASPECT;
    let total = egui::vec2(
        width * columns as f32 + space::S * (columns as f32 - 1.0),
        height * rows as f32 + space::S * (rows as f32 - 1.0),
    );
    let origin = area.center() - total / 2.0;
    (0..count)
        .map(|i| {
            let (row, column) = (i / columns, i % columns);
            // The last row is centred when it is not full.
            let in_row = if row == rows - 1 { count - row * columns } else { columns };
            let shift = (columns - in_row) as f32 * (width + space::S) / 2.0;
            let min = origin
                + egui::vec2(shift + column as f32 * (width + space::S), row as f32 * (height + space::S));
            Rect::from_min_size(min, egui::vec2(width, height))
        })
        .collect()
}

/// One tile: the picture fitted in (or the avatar), the name with mute and
/// deafen icons, a green frame while speaking, the stats when asked.
fn tile_ui(
    ui: &mut egui::Ui,
    tile: &Tile,
    rect: Rect,
    stats: Option<(&std::collections::VecDeque<crate::media::protocol::TrackStats>, Option<u32>)>,
) -> egui::Response {
    let palette = tokens::palette(ui);
    let id = ui.scope_id().with(("tile", tile.key.0 .0, tile.key.1 == TrackSource::Screen));
    let response = ui.interact(rect, id, Sense::click());
    let label = tile.label();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, tokens::radius::M, palette.surface);
    match &tile.texture {
        Some(texture) => {
            let picture = texture.size();
            let scale = (rect.width() / picture.x).min(rect.height() / picture.y);
            let fitted = Rect::from_center_size(rect.center(), picture * scale);
            texture.paint(&painter, fitted);
        }
        // My own screen without a picture of it (the browser shows none: a
        // page that draws itself mirrors itself): say what is going on.
        None if tile.me && tile.key.1 == TrackSource::Screen => {
            let (icon, words) =
                (FontId::proportional(tokens::text::TITLE), FontId::proportional(tokens::text::BODY));
            let above = rect.center() - egui::vec2(0.0, tokens::text::TITLE / 2.0 + space::XS);
            painter.text(above, Align2::CENTER_CENTER, icons::MONITOR, icon, palette.text_muted);
            let below = rect.center() + egui::vec2(0.0, tokens::text::BODY / 2.0 + space::XS);
            let text = "You are sharing your screen";
            painter.text(below, Align2::CENTER_CENTER, text, words, palette.text_muted);
        }
        None => {
            let side = (rect.height() * 0.4).min(rect.width() * 0.4);
            let face = Rect::from_center_size(rect.center(), egui::vec2(side, side));
            avatar::paint(ui, face, tile.key.0, &tile.name, None);
            if tile.speaking {
                avatar::speaking_ring(ui, face);
            }
        }
    }
    if tile.speaking && tile.key.1 == TrackSource::Camera {
        painter.rect_stroke(
            rect,
            tokens::radius::M,
            Stroke::new(3.0, palette.online),
            egui::StrokeKind::Inside,
        );
    } else if response.hovered() {
        painter.rect_stroke(
            rect,
            tokens::radius::M,
            Stroke::new(1.0, palette.border),
            egui::StrokeKind::Inside,
        );
    }
    let mut name = if tile.me { format!("{} (you)", tile.name) } else { tile.name.clone() };
    if tile.key.1 == TrackSource::Screen {
        name = format!("{} {name}'s screen", icons::MONITOR);
    } else {
        if tile.participant.media.muted {
            name = format!("{} {name}", icons::MICROPHONE_SLASH);
        }
        if tile.participant.media.deafened {
            name = format!("{} {name}", icons::SPEAKER_SLASH);
        }
    }
    let font = FontId::proportional(tokens::text::SMALL);
    let galley = painter.layout_no_wrap(name, font, Color32::WHITE);
    let pill = Rect::from_min_size(
        rect.left_bottom() + egui::vec2(space::S, -space::S - galley.size().y - space::XS * 2.0),
        galley.size() + egui::vec2(space::S * 2.0, space::XS * 2.0),
    );
    painter.rect_filled(pill, tokens::radius::S, Color32::from_black_alpha(160));
    painter.galley(pill.min + egui::vec2(space::S, space::XS), galley, Color32::WHITE);
    if let Some(quality) = tile.network.filter(|q| *q != VideoQuality::Full) {
        // Amber on the dark pill in either theme (as the name is white on it).
        network_note_ui(
            &painter,
            rect,
            pill,
            network_words(quality, tile.me),
            Color32::from_rgb(0xf0, 0xb2, 0x32),
        );
    }
    if let Some((history, estimate_kbps)) = stats {
        stats_overlay_ui(ui, rect, tile, history, estimate_kbps);
    }
    response
}

/// What the note on a tile says: the server sends this video smaller than
/// the tile asks for, or not at all, because my connection is too slow —
/// or, on my own tile, my uplink lets it out only so.
fn network_words(quality: VideoQuality, mine: bool) -> &'static str {
    match (quality, mine) {
        (VideoQuality::Paused, false) => "Video paused: slow connection",
        (_, false) => "Lower quality: slow connection",
        (VideoQuality::Paused, true) => "Not sending video: slow connection",
        (_, true) => "Sending lower quality: slow connection",
    }
}

/// A note just above the name at the tile's bottom left (see [`network_words`]).
fn network_note_ui(painter: &egui::Painter, rect: Rect, name_pill: Rect, words: &str, colour: Color32) {
    let galley = painter.layout_no_wrap(words.to_owned(), FontId::proportional(tokens::text::SMALL), colour);
    let size = galley.size() + egui::vec2(space::S * 2.0, space::XS * 2.0);
    let note =
        Rect::from_min_size(egui::pos2(rect.left() + space::S, name_pill.top() - space::XS - size.y), size);
    painter.rect_filled(note, tokens::radius::S, Color32::from_black_alpha(180));
    painter.galley(note.min + egui::vec2(space::S, space::XS), galley, colour);
}

/// Live plots over the top of a tile: bitrate and frame rate over the last
/// minute, and the latest loss and round-trip time in words.
fn stats_overlay_ui(
    ui: &mut egui::Ui,
    rect: Rect,
    tile: &Tile,
    history: &std::collections::VecDeque<crate::media::protocol::TrackStats>,
    estimate_kbps: Option<u32>,
) {
    let Some(latest) = history.back() else { return };
    // A second line: the layer received (its picture's size), and my
    // link's estimate when the server said it.
    let mut layer = Vec::new();
    if let Some(texture) = &tile.texture {
        let size = texture.size();
        layer.push(format!("{:.0}×{:.0}", size.x, size.y));
    }
    if let Some(kbps) = estimate_kbps {
        layer.push(format!("link {kbps} kbps"));
    }
    let text_height = if layer.is_empty() { 18.0 } else { 32.0 };
    let area = Rect::from_min_size(
        rect.min + egui::vec2(space::XS, space::XS),
        egui::vec2((rect.width() - space::XS * 2.0).min(260.0), PLOT_HEIGHT + text_height + 4.0),
    );
    let painter = ui.painter_at(rect);
    painter.rect_filled(area, tokens::radius::S, Color32::from_black_alpha(170));
    let rtt = latest.rtt_ms.map_or_else(|| "– ms".to_owned(), |ms| format!("{ms:.0} ms"));
    let unit = if latest.source == TrackSource::Microphone { "pkt/s" } else { "fps" };
    let line = format!(
        "{:.0} kbps · {:.0} {unit} · {:.1}% lost · {rtt} rtt",
        latest.kbps, latest.fps, latest.loss_percent
    );
    let font = FontId::proportional(tokens::text::SMALL);
    painter.text(area.min + egui::vec2(space::XS, 2.0), Align2::LEFT_TOP, line, font.clone(), Color32::WHITE);
    if !layer.is_empty() {
        let at = area.min + egui::vec2(space::XS, 16.0);
        painter.text(at, Align2::LEFT_TOP, layer.join(" · "), font, Color32::WHITE);
    }
    let plot_rect = Rect::from_min_max(area.min + egui::vec2(0.0, text_height), area.max);
    // All three on one 0..1 scale: the plot shows the shape, the text the numbers.
    let max_kbps = history.iter().map(|s| s.kbps).fold(1.0f32, f32::max);
    let max_fps = history.iter().map(|s| s.fps).fold(1.0f32, f32::max);
    let series = |value: &dyn Fn(&crate::media::protocol::TrackStats) -> f32| -> PlotPoints<'static> {
        history.iter().enumerate().map(|(i, s)| [i as f64, f64::from(value(s))]).collect()
    };
    let kbps = series(&|s| s.kbps / max_kbps);
    let fps = series(&|s| s.fps / max_fps);
    let loss = series(&|s| (s.loss_percent / 100.0).min(1.0));
    let id = ("stats", tile.key.0 .0, tile.key.1 == TrackSource::Screen);
    ui.scope_builder(egui::UiBuilder::new().max_rect(plot_rect), |ui| {
        Plot::new(id)
            .height(plot_rect.height())
            .width(plot_rect.width())
            .show_axes(false)
            .show_grid(false)
            .show_background(false)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .show_x(false)
            .show_y(false)
            .include_y(0.0)
            .include_y(1.05)
            .include_x(0.0)
            .include_x(crate::state::STATS_SECONDS as f64)
            .show(ui, |plot| {
                plot.line(Line::new("kbps", kbps).color(Color32::from_rgb(0x58, 0xa6, 0xff)));
                plot.line(Line::new("fps", fps).color(Color32::from_rgb(0x3b, 0xd1, 0x6f)));
                plot.line(Line::new("loss", loss).color(Color32::from_rgb(0xf2, 0x3f, 0x43)));
            });
    });
}

/// Mute, camera, screen, deafen; stats, chat, full window, settings; leave.
fn controls_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    let Some(call) = &state.call else { return vec![] };
    let want = call.want;
    let (show_stats, show_chat, full_window) = (call.show_stats, call.show_chat, call.full_window);
    let palette = tokens::palette(ui);
    let mut effects = Vec::new();
    ui.horizontal_centered(|ui| {
        let toggle = |ui: &mut egui::Ui, on: bool, icon: &str, name: &str| {
            let text = RichText::new(icon).size(tokens::text::HEADING);
            let button = egui::Button::new(text)
                .selected(on)
                .min_size(egui::vec2(size::BUTTON_HEIGHT * 1.2, size::BUTTON_HEIGHT));
            super::named(ui.add(button).on_hover_text(name), name).clicked()
        };
        let muted = want.muted || want.deafened;
        let (icon, name) = if muted {
            (icons::MICROPHONE_SLASH, "Unmute (Ctrl+Shift+M)")
        } else {
            (icons::MICROPHONE, "Mute (Ctrl+Shift+M)")
        };
        if toggle(ui, muted, icon, name) {
            effects.extend(state.toggle_mute());
        }
        let (icon, name) = if want.camera {
            (icons::VIDEO_CAMERA, "Turn camera off (Ctrl+Shift+E)")
        } else {
            (icons::VIDEO_CAMERA_SLASH, "Turn camera on (Ctrl+Shift+E)")
        };
        if toggle(ui, !want.camera, icon, name) {
            effects.extend(state.toggle_camera());
        }
        let name = if want.screen {
            "Stop sharing your screen (Ctrl+Shift+S)"
        } else {
            "Share your screen (Ctrl+Shift+S)"
        };
        if toggle(ui, want.screen, icons::MONITOR, name) {
            effects.extend(state.toggle_screen());
        }
        let (icon, name) = if want.deafened {
            (icons::SPEAKER_SLASH, "Undeafen (Ctrl+Shift+D)")
        } else {
            (icons::SPEAKER_HIGH, "Deafen (Ctrl+Shift+D)")
        };
        if toggle(ui, want.deafened, icon, name) {
            effects.extend(state.toggle_deafen());
        }
        ui.add_space(space::S);
        let Some(call) = &mut state.call else { return };
        let name = if show_stats { "Hide stats" } else { "Show stats" };
        if super::named(ui.selectable_label(show_stats, "Stats"), name).clicked() {
            call.show_stats = !call.show_stats;
        }
        let name = if show_chat { "Hide the chat" } else { "Show the chat" };
        if super::named(ui.selectable_label(show_chat, icons::CHAT_TEXT), name).on_hover_text(name).clicked()
        {
            call.show_chat = !call.show_chat;
        }
        let name = if full_window { "Exit full window (Esc)" } else { "Full window" };
        if super::named(ui.selectable_label(full_window, "⛶"), name).on_hover_text(name).clicked() {
            call.full_window = !call.full_window;
        }
        if icons::icon_button(ui, icons::GEAR, "Call settings").clicked() {
            effects.extend(state.open_settings());
        }
        ui.add_space(space::S);
        let leave = egui::Button::new(
            RichText::new(format!("{}  Leave", icons::PHONE_DISCONNECT)).color(Color32::WHITE),
        )
        .fill(palette.error)
        .min_size(egui::vec2(0.0, size::BUTTON_HEIGHT));
        if super::named(ui.add(leave), "Leave the call").on_hover_text("Ctrl+Shift+H").clicked() {
            effects.extend(state.leave_call());
        }
    });
    effects
}

/// Who is in the call, with what switched on (beside the chat).
pub fn participants_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room) -> Vec<Effect> {
    let palette = tokens::palette(ui);
    ui.label(
        RichText::new(format!("IN THE CALL — {}", room.in_call.len()))
            .small()
            .strong()
            .color(palette.text_muted),
    );
    let me = state.me.as_ref().map(|u| u.id);
    let mut effects = Vec::new();
    for participant in &room.in_call {
        let name = room
            .members
            .iter()
            .find(|m| m.id == participant.user_id)
            .map_or_else(|| "Someone".to_owned(), |m| m.username.clone());
        let row = ui.horizontal(|ui| {
            let face = avatar::avatar_ui(ui, participant.user_id, &name, size::AVATAR_SMALL, None);
            if state.is_speaking(room.id, participant.user_id) {
                avatar::speaking_ring(ui, face.rect);
            }
            ui.label(&name);
            let media = participant.media;
            let mut icons_on = String::new();
            if state.persisted.media.volume(participant.user_id).muted {
                icons_on.push_str(icons::SPEAKER_SLASH);
            }
            if media.muted {
                icons_on.push_str(icons::MICROPHONE_SLASH);
            }
            if media.deafened {
                icons_on.push_str(icons::SPEAKER_SLASH);
            }
            if media.camera {
                icons_on.push_str(icons::VIDEO_CAMERA);
            }
            if media.screen {
                icons_on.push_str(icons::MONITOR);
            }
            ui.label(RichText::new(icons_on).color(palette.text_muted));
        });
        if Some(participant.user_id) != me {
            let row = ui.interact(row.response.rect, row.response.id.with("volume"), Sense::click());
            row.on_hover_text("Right-click: volume, mute for me")
                .context_menu(|ui| effects.extend(volume_menu_ui(ui, state, participant.user_id, &name)));
        }
    }
    effects
}

/// My volume for one person (0–200 %) and "Mute for me": from their row in
/// the participant list and their tile's menu (right-click), remembered.
pub fn volume_menu_ui(ui: &mut egui::Ui, state: &mut AppState, user: UserId, name: &str) -> Vec<Effect> {
    let mut volume = state.persisted.media.volume(user);
    let before = volume;
    ui.label(RichText::new(name).strong());
    let slider =
        egui::Slider::new(&mut volume.percent, 0..=PersonVolume::MAX_PERCENT).suffix(" %").text("Volume");
    ui.add_enabled(!volume.muted, slider);
    ui.checkbox(&mut volume.muted, "Mute for me");
    if volume == before {
        return vec![];
    }
    state.set_person_volume(user, volume)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> Rect {
        Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(1600.0, 900.0))
    }

    #[test]
    fn tiles_fill_the_grid_without_overlapping() {
        for count in 1..=25 {
            let rects = layout_tiles(area(), count, None);
            assert_eq!(rects.len(), count);
            for (i, a) in rects.iter().enumerate() {
                assert!(area().expand(0.5).contains_rect(*a), "{count}: tile {i} {a:?} leaves the grid");
                for b in &rects[i + 1..] {
                    assert!(!a.shrink(0.5).intersects(b.shrink(0.5)), "{count}: {a:?} overlaps {b:?}");
                }
            }
        }
        // Four people on a wide window: two rows of two, not one row of four.
        let four = layout_tiles(area(), 4, None);
        assert!((four[0].width() - four[1].width()).abs() < 0.5 && four[2].min.y > four[0].max.y);
    }

    #[test]
    fn a_focused_tile_is_large_and_the_others_share_a_strip() {
        let rects = layout_tiles(area(), 5, Some(2));
        let large = rects[2];
        assert!(large.height() > area().height() * 0.6, "{large:?}");
        for (i, r) in rects.iter().enumerate().filter(|(i, _)| *i != 2) {
            assert!(r.min.y >= large.max.y, "tile {i} {r:?} is in the strip");
            assert!(r.height() < large.height() / 3.0);
        }
    }
}
