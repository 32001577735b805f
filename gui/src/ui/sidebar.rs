//! The left column: "Add friend", pending invites, and friends with their
//! avatar, presence and unread count, under titled sections with counts.

use egui::{RichText, Role, Sense, WidgetInfo};

use super::tokens::{self, size, space};
use super::{avatar, icons};
use crate::net::Command;
use crate::state::{AppState, Effect};

/// The sidebar.
pub fn sidebar_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    let mut effects = Vec::new();
    let palette = tokens::palette(ui);
    ui.add_space(space::XS);
    let add = ui.add_sized(
        egui::vec2(ui.available_width(), size::BUTTON_HEIGHT),
        super::theme::primary_button(&format!("{}  Add friend", icons::USER_PLUS), palette),
    );
    let add = super::named(add.on_hover_text("Invite someone by email"), "Add friend");
    if add.clicked() {
        state.add_friend.open = true;
    }
    ui.add_space(space::S);
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        invites_ui(ui, state, &mut effects);
        rooms_ui(ui, state, &mut effects);
        let online = state.friends.iter().filter(|f| f.online).count();
        section_title(ui, &format!("FRIENDS — {online} ONLINE OF {}", state.friends.len()));
        if state.friends.is_empty() {
            ui.label(
                RichText::new("No friends yet — add one by email with “Add friend”.")
                    .color(palette.text_muted),
            );
        }
        let mut clicked = None;
        for friend in &state.friends {
            let unread = state.unread.get(&friend.user.id).copied().unwrap_or(0);
            let selected = state.selected == Some(friend.user.id);
            let row = FriendRow { id: friend.user.id, name: &friend.user.username, online: friend.online };
            if friend_row_ui(ui, &row, unread, selected).clicked() {
                clicked = Some(friend.user.id);
            }
        }
        if let Some(peer) = clicked {
            effects.extend(state.select(peer));
        }
    });
    effects
}

/// My rooms, with "New room".
fn rooms_ui(ui: &mut egui::Ui, state: &mut AppState, effects: &mut Vec<Effect>) {
    ui.add_space(space::S);
    ui.horizontal(|ui| {
        section_label(ui, &format!("ROOMS — {}", state.rooms.len()));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if icons::icon_button(ui, icons::PLUS, "New room").clicked() {
                state.room_forms.new_room_open = true;
            }
        });
    });
    if state.rooms.is_empty() {
        ui.label(
            RichText::new("No rooms yet — make one with + and add friends to it.")
                .color(tokens::palette(ui).text_muted),
        );
    }
    let mut clicked = None;
    for room in &state.rooms {
        let mentions = state.room_mentions.get(&room.id).copied().unwrap_or(0);
        if room_row_ui(ui, room, mentions, state.selected_room == Some(room.id)).clicked() {
            clicked = Some(room.id);
        }
    }
    if let Some(room) = clicked {
        effects.extend(state.select_room(room));
    }
}

/// A clickable sidebar row, highlighted when selected or hovered.
fn row(ui: &mut egui::Ui, selected: bool) -> (egui::Rect, egui::Response) {
    let palette = tokens::palette(ui);
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), size::ROW_HEIGHT), Sense::click());
    if selected {
        ui.painter().rect_filled(rect, tokens::radius::S, palette.accent.gamma_multiply(0.3));
    } else if response.hovered() {
        ui.painter().rect_filled(rect, tokens::radius::S, palette.hover);
    }
    (rect, response)
}

/// One room: its icon, name, member count (or who is in its call) and a
/// badge counting the messages that mention me since I last looked.
fn room_row_ui(
    ui: &mut egui::Ui,
    room: &concord_common::Room,
    mentions: u64,
    selected: bool,
) -> egui::Response {
    let palette = tokens::palette(ui);
    let (rect, response) = row(ui, selected);
    let body = egui::TextStyle::Body.resolve(ui.style());
    let left = rect.left() + space::S;
    ui.painter().text(
        egui::pos2(left + size::AVATAR_SMALL / 2.0, rect.center().y),
        egui::Align2::CENTER_CENTER,
        icons::USERS,
        body.clone(),
        palette.text_muted,
    );
    ui.painter().text(
        egui::pos2(left + size::AVATAR_SMALL + space::S, rect.center().y),
        egui::Align2::LEFT_CENTER,
        &room.label,
        body.clone(),
        palette.text,
    );
    // Who is in the call shows without joining it: a phone and a count, in green.
    let (count, color) = match room.in_call.len() {
        0 => (room.members.len().to_string(), palette.text_muted),
        n => (format!("{} {n}", icons::PHONE), palette.online),
    };
    ui.painter().text(
        egui::pos2(rect.right() - space::S, rect.center().y),
        egui::Align2::RIGHT_CENTER,
        count,
        egui::TextStyle::Small.resolve(ui.style()),
        color,
    );
    if mentions > 0 {
        let text = if mentions > 99 { "@99+".to_owned() } else { format!("@{mentions}") };
        let center = egui::pos2(rect.right() - space::XL - space::XL, rect.center().y);
        badge(ui, center, size::BADGE_RADIUS * 1.6, text);
    }
    let mut label = super::room::row_label(room);
    if mentions > 0 {
        label.push_str(&format!(", {mentions} {}", if mentions == 1 { "mention" } else { "mentions" }));
    }
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected, &label));
    response
}

/// A count in a pill (a circle when `half_width` is the badge radius) at `center`.
fn badge(ui: &mut egui::Ui, center: egui::Pos2, half_width: f32, text: String) {
    let palette = tokens::palette(ui);
    let pill = egui::Rect::from_center_size(center, egui::vec2(half_width * 2.0, size::BADGE_RADIUS * 2.0));
    ui.painter().rect_filled(pill, size::BADGE_RADIUS, palette.badge);
    let font = egui::FontId::proportional(tokens::text::SMALL - 1.0);
    ui.painter().text(center, egui::Align2::CENTER_CENTER, text, font, palette.on_badge);
}

fn section_title(ui: &mut egui::Ui, title: &str) {
    ui.add_space(space::S);
    section_label(ui, title);
    ui.add_space(space::XS);
}

/// A section's title text: small, strong, muted.
fn section_label(ui: &mut egui::Ui, title: &str) {
    ui.label(RichText::new(title).small().strong().color(tokens::palette(ui).text_muted));
}

/// Who a friend row shows.
struct FriendRow<'a> {
    id: concord_common::UserId,
    name: &'a str,
    online: bool,
}

/// One friend: avatar with presence dot, name, unread badge. Its accessible
/// name says all three, e.g. "bob, online, 2 unread".
fn friend_row_ui(ui: &mut egui::Ui, friend: &FriendRow<'_>, unread: u64, selected: bool) -> egui::Response {
    let palette = tokens::palette(ui);
    let (rect, response) = row(ui, selected);
    let avatar = egui::Rect::from_center_size(
        egui::pos2(rect.left() + space::S + size::AVATAR_SMALL / 2.0, rect.center().y),
        egui::vec2(size::AVATAR_SMALL, size::AVATAR_SMALL),
    );
    avatar::paint(ui, avatar, friend.id, friend.name, Some(friend.online));
    let font = egui::TextStyle::Body.resolve(ui.style());
    let color = if unread > 0 || selected { palette.text } else { palette.text_muted };
    ui.painter().text(
        egui::pos2(avatar.right() + space::S, rect.center().y),
        egui::Align2::LEFT_CENTER,
        friend.name,
        font,
        color,
    );
    if unread > 0 {
        let text = if unread > 99 { "99+".to_owned() } else { unread.to_string() };
        badge(ui, egui::pos2(rect.right() - space::L, rect.center().y), size::BADGE_RADIUS, text);
    }
    let mut label = format!("{}, {}", friend.name, if friend.online { "online" } else { "offline" });
    if unread > 0 {
        label.push_str(&format!(", {unread} unread"));
    }
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected, &label));
    response
}

fn invites_ui(ui: &mut egui::Ui, state: &AppState, effects: &mut Vec<Effect>) {
    let palette = tokens::palette(ui);
    if !state.invites.incoming.is_empty() {
        section_title(ui, &format!("INVITES FOR YOU — {}", state.invites.incoming.len()));
        for invite in &state.invites.incoming {
            ui.horizontal(|ui| {
                avatar::avatar_ui(ui, invite.from.id, &invite.from.username, size::AVATAR_SMALL, None);
                ui.label(&invite.from.username).on_hover_text(&invite.from.email);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    // Added first so it comes first in Tab order (drawn rightmost).
                    let accept = format!("Accept invite from {}", invite.from.username);
                    if icons::icon_button(ui, icons::CHECK, &accept).clicked() {
                        effects.push(Command::AcceptInvite(invite.id).into());
                    }
                    let reject = format!("Reject invite from {}", invite.from.username);
                    if icons::icon_button(ui, icons::X, &reject).clicked() {
                        effects.push(Command::RejectInvite(invite.id).into());
                    }
                });
            });
        }
    }
    if !state.invites.outgoing.is_empty() {
        section_title(ui, &format!("SENT INVITES — {}", state.invites.outgoing.len()));
        for invite in &state.invites.outgoing {
            ui.horizontal(|ui| {
                avatar::avatar_ui(ui, invite.to.id, &invite.to.username, size::AVATAR_SMALL, None);
                ui.label(RichText::new(&invite.to.username).color(palette.text_muted))
                    .on_hover_text(&invite.to.email);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let name = format!("Cancel invite to {}", invite.to.username);
                    if super::named(ui.small_button("Cancel").on_hover_text(&name), &name).clicked() {
                        effects.push(Command::CancelInvite(invite.id).into());
                    }
                });
            });
        }
    }
}
