//! Screens. Each `*_ui` function draws part of [`AppState`] and returns the
//! [`Effect`]s the user asked for; none of them touches the network or the
//! media side.

mod attachments;
pub mod avatar;
mod call;
pub mod conversation;
mod dialogs;
mod emoji_picker;
pub mod icons;
mod login;
mod markdown;
mod message;
mod room;
mod search;
mod settings;
mod sidebar;
pub mod theme;
pub mod tokens;

#[cfg(target_arch = "wasm32")]
pub use attachments::paste_in_browser;

use egui::{Key, Modifiers};
use tokens::space;

use crate::net::Connection;
use crate::state::{AppState, Effect};

/// Draws the whole window.
pub fn app_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    theme::follow(ui.ctx(), state.persisted.theme);
    let palette = tokens::palette(ui);
    let mut effects = Vec::new();
    if !state.logged_in() {
        egui::CentralPanel::default()
            .frame(egui::Frame::central_panel(ui.style()).fill(palette.panel))
            .show(ui, |ui| effects.extend(login::login_ui(ui, state)));
        return effects;
    }
    let narrow = is_narrow(ui.ctx());
    effects.extend(shortcuts(ui, state, narrow));
    if let Some(room) =
        state.call.as_ref().filter(|c| c.full_window).and_then(|c| state.room(c.room)).cloned()
    {
        // The call fills the window; Esc (or the button) brings the rest back.
        let central = egui::Frame::central_panel(ui.style()).inner_margin(space::S);
        egui::CentralPanel::default()
            .frame(central)
            .show(ui, |ui| effects.extend(call::call_ui(ui, state, &room)));
        effects.extend(settings::settings_ui(ui.ctx(), state));
        return effects;
    }
    let bar = egui::Frame::side_top_panel(ui.style())
        .fill(palette.panel)
        .inner_margin(egui::Margin::symmetric(space::M as i8, space::S as i8));
    egui::Panel::top("status").frame(bar).show(ui, |ui| effects.extend(status_bar_ui(ui, state)));
    if narrow {
        // One column at a time: the list, or the conversation with a way back.
        let column = egui::Frame::central_panel(ui.style()).fill(palette.panel).inner_margin(space::S);
        egui::CentralPanel::default().frame(column).show(ui, |ui| {
            if state.selected_room.is_some() {
                effects.extend(room::room_ui(ui, state, Back::Shown));
            } else if state.selected.is_some() {
                effects.extend(conversation::conversation_ui(ui, state, Back::Shown));
            } else {
                effects.extend(sidebar::sidebar_ui(ui, state));
            }
        });
    } else {
        let side = egui::Frame::side_top_panel(ui.style()).fill(palette.panel).inner_margin(space::S);
        egui::Panel::left("sidebar")
            .resizable(true)
            .default_size(tokens::size::SIDEBAR_WIDTH)
            .frame(side)
            .show(ui, |ui| effects.extend(sidebar::sidebar_ui(ui, state)));
        let central = egui::Frame::central_panel(ui.style())
            .inner_margin(egui::Margin::symmetric(space::L as i8, space::M as i8));
        egui::CentralPanel::default().frame(central).show(ui, |ui| {
            if state.selected_room.is_some() {
                effects.extend(room::room_ui(ui, state, Back::Hidden));
            } else {
                effects.extend(conversation::conversation_ui(ui, state, Back::Hidden));
            }
        });
    }
    effects.extend(dialogs::add_friend_ui(ui.ctx(), state));
    effects.extend(dialogs::new_room_ui(ui.ctx(), state));
    effects.extend(dialogs::confirm_delete_message_ui(ui.ctx(), state));
    effects.extend(dialogs::switcher_ui(ui.ctx(), state));
    effects.extend(search::search_ui(ui.ctx(), state));
    effects.extend(settings::settings_ui(ui.ctx(), state));
    effects.extend(attachments::picture_viewer_ui(ui.ctx(), state));
    effects.extend(emoji_picker::emoji_picker_ui(ui.ctx(), state));
    effects.extend(attachments::deliver_incoming(ui.ctx(), state));
    effects
}

/// Whether the window is phone-sized: one column at a time.
pub fn is_narrow(ctx: &egui::Context) -> bool {
    ctx.content_rect().width() < tokens::size::NARROW_WIDTH
}

/// Whether the conversation header offers a way back to the list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// Narrow window: the conversation covers the list.
    Shown,
    /// The list is beside the conversation.
    Hidden,
}

/// Ctrl+K opens the switcher (friends and rooms), Ctrl+F message search, Ctrl+, Settings; Esc closes dialogs, the
/// picture viewer and the notice, or, on a narrow window with none open, goes back to the list.
fn shortcuts(ui: &egui::Ui, state: &mut AppState, narrow: bool) -> Vec<Effect> {
    let call_keys = Modifiers::COMMAND | Modifiers::SHIFT;
    let (ctrl_k, ctrl_comma, escape, mute, deafen, join) = ui.input_mut(|i| {
        (
            i.consume_key(Modifiers::COMMAND, Key::K),
            i.consume_key(Modifiers::COMMAND, Key::Comma),
            i.consume_key(Modifiers::NONE, Key::Escape),
            i.consume_key(call_keys, Key::M),
            i.consume_key(call_keys, Key::D),
            i.consume_key(call_keys, Key::J),
        )
    });
    let (camera, screen, leave, ctrl_f) = ui.input_mut(|i| {
        (
            i.consume_key(call_keys, Key::E),
            i.consume_key(call_keys, Key::S),
            i.consume_key(call_keys, Key::H),
            i.consume_key(Modifiers::COMMAND, Key::F),
        )
    });
    let mut effects = Vec::new();
    // Ctrl+Shift+H: hang up.
    if leave && state.call.is_some() {
        effects.extend(state.leave_call());
    }
    if camera && state.call.is_some() {
        effects.extend(state.toggle_camera());
    }
    if screen && state.call.is_some() {
        effects.extend(state.toggle_screen());
    }
    if ctrl_k {
        state.switcher = Some(String::new());
    }
    if ctrl_f {
        state.open_search();
    }
    if mute {
        effects.extend(state.toggle_mute());
    }
    if deafen {
        effects.extend(state.toggle_deafen());
    }
    // Ctrl+Shift+J: back to the call I am in, or join the open room's.
    let my_call = state.call.as_ref().map(|c| c.room);
    if join && my_call.is_some() && my_call != state.selected_room {
        effects.extend(my_call.map(|room| state.select_room(room)).unwrap_or_default());
        return effects;
    }
    if let Some(room) = state.selected_room.filter(|_| join) {
        effects.extend(state.join_call(room, crate::state::JoinMode::CameraAndMic));
    }
    if let Some(call) = state.call.as_mut().filter(|c| escape && c.full_window) {
        call.full_window = false;
        return effects;
    }
    let anything_open = state.switcher.is_some()
        || state.search.open
        || state.files.viewing.is_some()
        || state.emoji_picker.is_some()
        || state.add_friend.open
        || state.room_forms.new_room_open
        || state.settings.open
        || state.notice.is_some();
    if escape && narrow && !anything_open {
        state.close_conversation();
    }
    if escape {
        effects.extend(state.view_picture(None));
        state.close_emoji_picker();
        state.switcher = None;
        state.close_search();
        state.add_friend.open = false;
        state.room_forms.new_room_open = false;
        effects.extend(state.close_settings());
        state.notice = None;
    }
    if ctrl_comma {
        effects.extend(state.open_settings());
    }
    effects
}

/// The top bar: who is logged in, the connection banner, notices, the menu.
fn status_bar_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    let mut effects = Vec::new();
    let palette = tokens::palette(ui);
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("Concord").strong().size(tokens::text::HEADING));
        if let Some(me) = &state.me {
            ui.add_space(space::S);
            avatar::avatar_ui(ui, me.id, &me.username, tokens::size::AVATAR_SMALL, None);
            ui.label(egui::RichText::new(&me.username).color(palette.text_muted));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let menu = ui
                .menu_button(icons::LIST, |ui| {
                    if ui.button(format!("{}  Settings…", icons::GEAR)).clicked() {
                        effects.extend(state.open_settings());
                        ui.close();
                    }
                    if ui.button(format!("{}  Log out", icons::SIGN_OUT)).clicked() {
                        effects.extend(state.logout());
                        ui.close();
                    }
                })
                .response;
            named(menu, "Menu");
            if ui.button("Search").on_hover_text("Search messages (Ctrl+F)").clicked() {
                state.open_search();
            }
        });
    });
    match state.connection {
        Some(Connection::Reconnecting { attempt, retry_in_ms }) => {
            banner_ui(ui, palette.warning, &format!(
                "Reconnecting… (attempt {attempt}, next try in {:.1} s). Messages you send now are kept and delivered when the connection is back.",
                retry_in_ms as f64 / 1000.0
            ));
        }
        Some(Connection::Connecting) => banner_ui(ui, palette.text_muted, "Connecting…"),
        _ => {}
    }
    if let Some(notice) = state.notice.clone() {
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(notice).color(palette.accent));
            if ui.small_button("Dismiss").clicked() {
                state.notice = None;
            }
        });
    }
    effects
}

fn banner_ui(ui: &mut egui::Ui, color: egui::Color32, text: &str) {
    let frame = egui::Frame::new()
        .fill(color.gamma_multiply(0.25))
        .inner_margin(space::S)
        .corner_radius(tokens::radius::M);
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(text);
    });
}

/// Gives a button the accessible name `name` (what tests and screen readers
/// find it by), for buttons whose text is an icon or says more than that.
pub(crate) fn named(response: egui::Response, name: &str) -> egui::Response {
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, name));
    test_target(&response.ctx, name, response.rect.center());
    response
}

/// Where a browser test can point at `name` this frame (`test-hooks`
/// builds publish these; the canvas has no DOM to query).
pub(crate) fn test_target(ctx: &egui::Context, name: &str, at: egui::Pos2) {
    #[cfg(feature = "test-hooks")]
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<std::collections::BTreeMap<String, [f32; 2]>>(egui::Id::unique(
            "test targets",
        ))
        .insert(name.to_owned(), [at.x, at.y]);
    });
    #[cfg(not(feature = "test-hooks"))]
    let _ = (ctx, name, at);
}

/// This frame's [`test_target`]s, cleared for the next frame.
#[cfg(feature = "test-hooks")]
pub fn take_test_targets(ctx: &egui::Context) -> std::collections::BTreeMap<String, [f32; 2]> {
    ctx.data_mut(|d| {
        std::mem::take(d.get_temp_mut_or_default::<std::collections::BTreeMap<String, [f32; 2]>>(
            egui::Id::unique("test targets"),
        ))
    })
}

/// egui moves keyboard focus on the frame *after* a Tab press, so text typed
/// within the same frame — a fast typist, a password manager's auto-type —
/// would land in the field being left. Everything after the first Tab waits
/// in `deferred` for the next frame, which sees the new focus.
pub fn defer_events_after_tab(deferred: &mut Vec<egui::Event>, events: &mut Vec<egui::Event>) {
    let mut all = std::mem::take(deferred);
    all.append(events);
    let tab = all.iter().position(|e| matches!(e, egui::Event::Key { key: Key::Tab, pressed: true, .. }));
    if let Some(tab) = tab {
        *deferred = all.split_off(tab + 1);
    }
    *events = all;
}

/// Whether Enter was pressed in this single-line field this frame. egui
/// moves focus away on Enter, but the change may show only next frame, so
/// both "still focused" and "just lost focus" count.
pub(crate) fn enter_pressed(ui: &egui::Ui, field: &egui::Response) -> bool {
    (field.has_focus() || field.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab() -> egui::Event {
        egui::Event::Key {
            key: Key::Tab,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: Modifiers::NONE,
        }
    }

    #[test]
    fn text_typed_after_tab_waits_for_the_next_frame() {
        let text = |t: &str| egui::Event::Text(t.to_owned());
        let mut deferred = Vec::new();
        let mut frame = vec![text("ada@example.com"), tab(), text("correct"), tab(), text("horse")];
        defer_events_after_tab(&mut deferred, &mut frame);
        assert_eq!(frame, vec![text("ada@example.com"), tab()]);
        let mut next = vec![text(" more")];
        defer_events_after_tab(&mut deferred, &mut next);
        assert_eq!(next, vec![text("correct"), tab()], "held events come first, up to the next Tab");
        let mut last = Vec::new();
        defer_events_after_tab(&mut deferred, &mut last);
        assert_eq!(last, vec![text("horse"), text(" more")]);
        assert!(deferred.is_empty());
    }
}
