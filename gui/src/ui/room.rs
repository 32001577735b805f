//! The open room: its name and members, the owner's actions (rename, add
//! people, remove someone, delete) or "Leave" for a member, the call bar
//! (join, or why this page cannot), and the room's chat. While I am in
//! the room's call, the call view takes the room's place, with the
//! participant list and the chat beside it.

use concord_common::{Conversation, Room, UserId};
use egui::RichText;

use super::conversation::{compose_banner, composer_ui, format_time, Composer};
use super::message;
use super::tokens::{self, size, space};
use super::{avatar, icons, Back};
use crate::net::Command;
use crate::state::{AppState, CallsUnavailable, Compose, Effect, JoinMode};

/// The room pane (nothing when no room is open).
pub fn room_ui(ui: &mut egui::Ui, state: &mut AppState, back: Back) -> Vec<Effect> {
    let Some(room) = state.open_room().cloned() else { return vec![] };
    let mut effects = Vec::new();
    effects.extend(header_ui(ui, state, &room, back));
    if state.selected_room.is_none() {
        return effects;
    }
    if state.call.as_ref().is_some_and(|c| c.room == room.id) {
        in_call_ui(ui, state, &room, back, &mut effects);
        return effects;
    }
    if state.room_forms.confirm_delete && state.owns(&room) {
        confirm_delete_ui(ui, state, &room, &mut effects);
    }
    members_ui(ui, state, &room, &mut effects);
    if state.room_forms.add_open && state.owns(&room) {
        add_people_ui(ui, state, &room, &mut effects);
    }
    effects.extend(call_bar_ui(ui, state, &room));
    ui.separator();
    effects.extend(chat_ui(ui, state, &room));
    effects
}

/// The room while I am in its call: the call view, and beside it (on a
/// wide window, unless hidden) who is in the call and the room's chat.
fn in_call_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room, back: Back, effects: &mut Vec<Effect>) {
    let show_side = state.call.as_ref().is_some_and(|c| c.show_chat) && back == Back::Hidden;
    if show_side {
        let side =
            egui::Frame::new().inner_margin(egui::Margin { left: space::M as i8, ..Default::default() });
        egui::Panel::right(("call-side", room.id.0))
            .resizable(true)
            .default_size(size::SIDEBAR_WIDTH + 40.0)
            .frame(side)
            .show(ui, |ui| {
                effects.extend(super::call::participants_ui(ui, state, room));
                ui.separator();
                effects.extend(chat_ui(ui, state, room));
            });
    }
    effects.extend(super::call::call_ui(ui, state, room));
}

/// Join the room's call (with camera and mic, mic only, or to listen), or
/// why this page cannot.
fn call_bar_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room) -> Vec<Effect> {
    let palette = tokens::palette(ui);
    let in_call = room.in_call.len();
    let who = match in_call {
        0 => "Nobody is in the call.".to_owned(),
        1 => "1 person is in the call.".to_owned(),
        n => format!("{n} people are in the call."),
    };
    match state.calls_unavailable() {
        Some(CallsUnavailable::InsecurePage) => {
            let origin = state.persisted.server_url.clone();
            ui.label(
                RichText::new(format!(
                    "{who} Calls need a secure connection: this page was opened over plain http ({origin}), \
                     so the browser will not let it use a camera or microphone. Open it with https:// \
                     (the server's admin can turn HTTPS on), or join from the Concord desktop app."
                ))
                .color(palette.warning),
            );
            return vec![];
        }
        Some(CallsUnavailable::NoWebRtc) => {
            ui.label(
                RichText::new(format!(
                    "{who} This browser cannot make calls (it has no WebRTC): open Concord in a current \
                     Chrome, Chromium, Edge, Firefox or Safari, or join from the Concord desktop app."
                ))
                .color(palette.warning),
            );
            return vec![];
        }
        None => {}
    }
    let elsewhere = state.call.is_some();
    let mut effects = Vec::new();
    ui.horizontal_wrapped(|ui| {
        let label = match (elsewhere, in_call) {
            (true, _) => format!("{}  Switch to this call", icons::PHONE),
            (false, 0) => format!("{}  Start a call", icons::PHONE),
            (false, _) => format!("{}  Join the call", icons::PHONE),
        };
        let join = egui::Button::new(RichText::new(label).color(palette.on_accent))
            .fill(palette.accent)
            .min_size(egui::vec2(0.0, size::BUTTON_HEIGHT));
        if super::named(ui.add(join), "Join the call").on_hover_text("Ctrl+Shift+J").clicked() {
            effects.extend(state.join_call(room.id, JoinMode::CameraAndMic));
        }
        let mic_only =
            ui.button(format!("{}  Mic only", icons::MICROPHONE)).on_hover_text("Join without the camera");
        if super::named(mic_only, "Join with the microphone only").clicked() {
            effects.extend(state.join_call(room.id, JoinMode::MicOnly));
        }
        let listen = ui
            .button(format!("{}  Listen only", icons::SPEAKER_HIGH))
            .on_hover_text("Hear and see, send nothing");
        if super::named(listen, "Join to listen only").clicked() {
            effects.extend(state.join_call(room.id, JoinMode::ListenOnly));
        }
        ui.label(RichText::new(who).color(palette.text_muted));
    });
    effects
}

fn header_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room, back: Back) -> Vec<Effect> {
    let mut effects = Vec::new();
    let owner = state.owns(room);
    ui.horizontal(|ui| {
        if back == Back::Shown && icons::icon_button(ui, icons::ARROW_LEFT, "Back to the list").clicked() {
            state.close_conversation();
            return;
        }
        ui.label(RichText::new(icons::USERS).size(tokens::text::HEADING));
        if let Some(mut label) = state.room_forms.rename.take() {
            let field = ui.add(egui::TextEdit::singleline(&mut label).desired_width(size::CARD_WIDTH * 0.6));
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Room name"));
            if std::mem::take(&mut state.room_forms.focus_rename) {
                field.request_focus();
            }
            let enter = super::enter_pressed(ui, &field);
            let save = ui.button("Save").clicked() || enter;
            let cancel = ui.button("Cancel").clicked();
            if !cancel {
                state.room_forms.rename = Some(label);
            }
            if save && !cancel {
                effects.extend(state.submit_rename());
            }
            return;
        }
        ui.heading(&room.label);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if owner {
                if icons::icon_button(ui, icons::TRASH, "Delete the room").clicked() {
                    state.room_forms.confirm_delete = true;
                }
                if icons::icon_button(ui, icons::USER_PLUS, "Add people").clicked() {
                    state.room_forms.add_open = !state.room_forms.add_open;
                }
                if icons::icon_button(ui, icons::PENCIL_SIMPLE, "Rename the room").clicked() {
                    state.room_forms.rename = Some(room.label.clone());
                    state.room_forms.focus_rename = true;
                }
            } else if let Some(me) = state.me.as_ref().map(|u| u.id) {
                if icons::icon_button(ui, icons::SIGN_OUT, "Leave the room").clicked() {
                    effects.push(Command::RemoveRoomMember { room: room.id, user: me }.into());
                }
            }
            super::conversation::notify_menu_ui(ui, state, Conversation::Room(room.id));
        });
    });
    effects
}

/// "Delete the room" asks first: it goes for everyone, with its chat.
fn confirm_delete_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room, effects: &mut Vec<Effect>) {
    let palette = tokens::palette(ui);
    let frame = egui::Frame::new()
        .fill(palette.error.gamma_multiply(0.15))
        .corner_radius(tokens::radius::M)
        .inner_margin(space::S);
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(format!("Delete “{}” for everyone, with its chat? This cannot be undone.", room.label));
        ui.horizontal(|ui| {
            if ui.button("Delete room").clicked() {
                state.room_forms.confirm_delete = false;
                effects.push(Command::DeleteRoom(room.id).into());
            }
            if ui.button("Cancel").clicked() {
                state.room_forms.confirm_delete = false;
            }
        });
    });
}

/// Everyone in the room, the owner marked; the owner can remove the others.
fn members_ui(ui: &mut egui::Ui, state: &AppState, room: &Room, effects: &mut Vec<Effect>) {
    let palette = tokens::palette(ui);
    let owner = state.owns(room);
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(match room.members.len() {
                1 => "1 MEMBER".to_owned(),
                n => format!("{n} MEMBERS"),
            })
            .small()
            .strong()
            .color(palette.text_muted),
        );
        for member in &room.members {
            let speaking = state.is_speaking(room.id, member.id);
            let face = avatar::avatar_ui(ui, member.id, &member.username, size::AVATAR_SMALL, None);
            if speaking {
                avatar::speaking_ring(ui, face.rect);
            }
            let name = if member.id == room.owner_id {
                format!("{} (owner)", member.username)
            } else {
                member.username.clone()
            };
            ui.label(name);
            if let Some(in_call) = room.in_call.iter().find(|p| p.user_id == member.id) {
                let (icon, what) = match (in_call.media.muted, speaking) {
                    (true, _) => (icons::MICROPHONE_SLASH, "in the call, muted"),
                    (false, true) => (icons::SPEAKER_HIGH, "in the call, speaking"),
                    (false, false) => (icons::PHONE, "in the call"),
                };
                ui.label(RichText::new(icon).color(palette.online)).on_hover_text(what);
            }
            if owner && member.id != room.owner_id {
                let remove =
                    icons::icon_button(ui, icons::X, &format!("Remove {} from the room", member.username));
                if remove.clicked() {
                    effects.push(Command::RemoveRoomMember { room: room.id, user: member.id }.into());
                }
            }
            ui.add_space(space::S);
        }
    });
}

/// The owner's friends who are not in the room yet, each with "Add".
fn add_people_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room, effects: &mut Vec<Effect>) {
    let outside = state.friends_outside(room);
    let frame = egui::Frame::new()
        .fill(tokens::palette(ui).panel)
        .corner_radius(tokens::radius::M)
        .inner_margin(space::S);
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(RichText::new("Add a friend to this room:").color(tokens::palette(ui).text_muted));
        if outside.is_empty() {
            let text = if state.friends.is_empty() {
                "Only friends can be added to a room: add a friend first."
            } else {
                "All your friends are in this room."
            };
            ui.label(RichText::new(text).color(tokens::palette(ui).text_muted));
        }
        ui.horizontal_wrapped(|ui| {
            for (id, name) in outside {
                avatar::avatar_ui(ui, id, &name, size::AVATAR_SMALL, None);
                let add = ui.button(format!("{}  {name}", icons::PLUS));
                if super::named(add, &format!("Add {name}")).clicked() {
                    effects.push(Command::AddRoomMember { room: room.id, user: id }.into());
                }
                ui.add_space(space::S);
            }
        });
        if ui.small_button("Done").clicked() {
            state.room_forms.add_open = false;
        }
    });
}

fn chat_ui(ui: &mut egui::Ui, state: &mut AppState, room: &Room) -> Vec<Effect> {
    let palette = tokens::palette(ui);
    let name_of = |id: UserId| {
        room.members
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| "Former member".to_owned(), |m| m.username.clone())
    };
    let mut effects = Vec::new();
    let me = state.me.as_ref().map(|u| u.id);
    let owner = me == Some(room.owner_id);
    let chat = state.room_chats.entry(room.id).or_default();
    // The composer, and the strip of its files when it has some.
    let files = state.files.uploads.get(&Conversation::Room(room.id)).is_some_and(|u| !u.is_empty());
    let composer_height = if files { 96.0 + size::BUTTON_HEIGHT + space::S } else { 96.0 };
    let history_height = (ui.available_height() - composer_height).max(80.0);
    let mut wants_older = false;
    let mut action = None;
    let mut jumped = false;
    egui::ScrollArea::vertical()
        .id_salt(("room-chat", room.id.0))
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .max_height(history_height)
        .show(ui, |ui| {
            ui.set_width(ui.available_width().min(size::READABLE_WIDTH));
            if chat.loading {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(RichText::new("Loading messages…").color(palette.text_muted));
                });
            } else if chat.loaded && chat.has_more {
                wants_older = ui.link("Show older messages").clicked();
            } else if chat.loaded && chat.messages.is_empty() && chat.pending.is_empty() {
                ui.label(RichText::new("No messages yet: say hello to the room.").color(palette.text_muted));
            }
            if let Some(error) = &chat.load_error {
                ui.label(RichText::new(format!("Could not load messages: {error}")).color(palette.error));
            }
            let viewer = message::Viewer {
                me,
                moderator: owner,
                name_of: &name_of,
                pictures: &state.files.pictures,
                server: &state.persisted.server_url,
            };
            let mut last_author = None;
            for message in chat.messages.values() {
                if last_author != Some(message.sender_id) {
                    ui.add_space(space::S);
                    ui.horizontal(|ui| {
                        let name = name_of(message.sender_id);
                        avatar::avatar_ui(ui, message.sender_id, &name, size::AVATAR_SMALL, None);
                        ui.label(RichText::new(name).strong());
                        ui.label(
                            RichText::new(format_time(message.created_at_ms))
                                .small()
                                .color(palette.text_muted),
                        );
                    });
                    last_author = Some(message.sender_id);
                }
                let shown = message::MessageView::from(message);
                let row = ui.scope(|ui| message::body_ui(ui, &shown, &viewer));
                action = row.inner.or(action.take());
                let rect = row.response.rect.expand2(egui::vec2(space::XS, space::XS / 2.0));
                let full = egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), rect.y_range());
                if chat.jump_to == Some(message.id) {
                    ui.scroll_to_rect(full, Some(egui::Align::Center));
                    jumped = true;
                }
                if ui.rect_contains_pointer(full) {
                    action = message::actions_ui(ui, full, &shown, &viewer).or(action.take());
                }
            }
            for pending in &chat.pending {
                let content = super::conversation::pending_text(pending);
                let text = match &pending.refused {
                    Some(why) => RichText::new(format!("{content} — not sent: {why}")).color(palette.error),
                    None => RichText::new(content).color(palette.text_muted),
                };
                ui.label(text);
            }
        });
    if jumped {
        chat.jump_to = None;
    }
    let place = Conversation::Room(room.id);
    let draft = chat.draft.clone();
    let completions = state.mention_completions(place, &draft);
    let chat = state.room_chats.entry(room.id).or_default();
    let banner = compose_banner(chat.compose, |id| {
        chat.messages.get(&id).map(|m| (name_of(m.sender_id), m.content.clone()))
    });
    let composer = Composer {
        draft: &mut chat.draft,
        error: chat.draft_error.as_deref(),
        focus: &mut chat.focus_composer,
        hint: format!("Message {}", room.label),
        banner,
        editing: matches!(chat.compose, Compose::Editing(_)),
        completions,
        uploads: state.files.uploads.get(&place).map(Vec::as_slice).unwrap_or_default(),
    };
    let input = composer_ui(ui, composer);
    effects.extend(super::attachments::composer_files(ui, state, place, &input, &room.label));
    if let Some(name) = &input.complete {
        state.complete_mention(place, name);
    }
    if let Some(action) = action {
        effects.extend(message::apply(state, place, action));
    }
    if input.edit_last {
        state.edit_last(place);
    }
    if input.cancel {
        state.cancel_compose(place);
    }
    if input.send {
        effects.extend(state.send_room_draft(room.id));
    }
    if wants_older {
        effects.extend(state.load_older_room_messages(room.id));
    }
    effects
}

/// A room row's accessible name in the sidebar, e.g. "Game night, 3
/// members" or "Game night, 3 members, 2 in the call".
pub fn row_label(room: &Room) -> String {
    match room.in_call.len() {
        0 => format!("{}, {} members", room.label, room.members.len()),
        n => format!("{}, {} members, {n} in the call", room.label, room.members.len()),
    }
}
