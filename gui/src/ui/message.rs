//! What a message shows besides its author line, in DMs and rooms alike:
//! the quoted line of the message it answers, its text formatted
//! ([`super::markdown`]) with `<@id>` shown as @name (highlighted when it names me), "(edited)", its
//! pictures and files ([`super::attachments`]), its reactions (click to
//! add or take back mine, hover for who), and the actions the pointer finds
//! on it (react, reply, edit, delete, copy). Returns what was asked for; the
//! screen hands it to the state.

use concord_common::chat::with_names;
use std::collections::HashMap;

use concord_common::{Attachment, Conversation, MessageId, Reaction, ReplyPreview, UserId};
use egui::RichText;

use super::tokens::{self, space};
use super::{attachments, markdown};
use crate::state::{AppState, Effect, PickFor, Picture};

/// Emoji offered on every message, one click away.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/// A message of either kind, as this widget draws it.
pub struct MessageView<'a> {
    pub id: MessageId,
    pub sender: UserId,
    pub content: &'a str,
    pub edited: bool,
    pub reply_to: Option<MessageId>,
    pub reply_preview: Option<&'a ReplyPreview>,
    pub mentions: &'a [UserId],
    pub reactions: &'a [Reaction],
    pub attachments: &'a [Attachment],
}

macro_rules! message_view {
    ($type:ty) => {
        impl<'a> From<&'a $type> for MessageView<'a> {
            fn from(m: &'a $type) -> Self {
                MessageView {
                    id: m.id,
                    sender: m.sender_id,
                    content: &m.content,
                    edited: m.edited_at_ms.is_some(),
                    reply_to: m.reply_to,
                    reply_preview: m.reply_preview.as_ref(),
                    mentions: &m.mentions,
                    reactions: &m.reactions,
                    attachments: &m.attachments,
                }
            }
        }
    };
}
message_view!(concord_common::DirectMessage);
message_view!(concord_common::RoomMessage);

/// What the person asked of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageAction {
    /// Add my reaction, or take it back when it is there.
    React(MessageId, String),
    /// Answer it.
    Reply(MessageId),
    /// Change its text (mine only).
    Edit(MessageId),
    /// Delete it (mine, or any in a room I own): after asking, or at once
    /// with Shift held (`true`).
    Delete(MessageId, bool),
    /// Show the message this one answers.
    ShowOriginal(MessageId),
    /// Show this picture large.
    ViewPicture(Attachment),
    /// Open the emoji picker to react with any emoji.
    PickReaction(MessageId),
}

/// Who may do what to messages here, how to name people, and the pictures
/// fetched so far.
pub struct Viewer<'a> {
    pub me: Option<UserId>,
    /// I may delete others' messages (a room I own).
    pub moderator: bool,
    pub name_of: &'a dyn Fn(UserId) -> String,
    pub pictures: &'a HashMap<String, Picture>,
    /// The server's address (attachment links are relative to it).
    pub server: &'a str,
}

/// The quoted line, the text, "(edited)" and the reactions of `message`.
pub fn body_ui(ui: &mut egui::Ui, message: &MessageView<'_>, viewer: &Viewer<'_>) -> Option<MessageAction> {
    super::test_target(ui.ctx(), message.content, ui.cursor().min + egui::vec2(space::L, space::S));
    let palette = tokens::palette(ui);
    let mut action = None;
    if let Some(original) = message.reply_to {
        let quote = match message.reply_preview {
            Some(preview) => {
                let line = markdown::plain_line(&with_names(&preview.content, viewer.name_of));
                format!("↪ @{}: {line}", (viewer.name_of)(preview.sender_id))
            }
            None => "↪ Original message was deleted".to_owned(),
        };
        let response = ui.add(
            egui::Label::new(RichText::new(&quote).small().color(palette.text_muted))
                .truncate()
                .sense(egui::Sense::click()),
        );
        if message.reply_preview.is_some() {
            let response = super::named(response.on_hover_text("Show the original"), &quote);
            if response.clicked() {
                action = Some(MessageAction::ShowOriginal(original));
            }
        }
    }
    if !message.content.is_empty() {
        body_text_ui(ui, message, viewer);
    }
    if !message.attachments.is_empty() {
        if let Some(picture) =
            attachments::attachments_ui(ui, message.attachments, viewer.pictures, viewer.server)
        {
            action = Some(MessageAction::ViewPicture(picture));
        }
    }
    if !message.reactions.is_empty() {
        ui.horizontal_wrapped(|ui| {
            for reaction in message.reactions {
                let label = format!("{} {}", reaction.emoji, reaction.count);
                let chip = egui::Button::new(RichText::new(label)).selected(reaction.me).small();
                let who: Vec<String> = reaction.user_ids.iter().map(|u| (viewer.name_of)(*u)).collect();
                let response =
                    ui.add(chip).on_hover_text(format!("{} reacted with {}", who.join(", "), reaction.emoji));
                let verb = if reaction.me { "Remove reaction" } else { "React" };
                if super::named(response, &format!("{verb} {}", reaction.emoji)).clicked() {
                    action = Some(MessageAction::React(message.id, reaction.emoji.clone()));
                }
            }
        });
    }
    action
}

/// The text of `message`, formatted, with "(edited)".
fn body_text_ui(ui: &mut egui::Ui, message: &MessageView<'_>, viewer: &Viewer<'_>) {
    let palette = tokens::palette(ui);
    let text = with_names(message.content, viewer.name_of);
    let mentions_me = viewer.me.is_some_and(|me| message.mentions.contains(&me));
    let highlight = mentions_me.then(|| palette.accent.gamma_multiply(0.18));
    let blocks = markdown::parse(&text);
    if markdown::is_plain(&blocks) {
        let mut body = RichText::new(text);
        if let Some(background) = highlight {
            body = body.background_color(background);
        }
        if message.edited {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = space::XS;
                ui.add(egui::Label::new(body).wrap());
                ui.label(RichText::new("(edited)").small().color(palette.text_muted));
            });
        } else {
            ui.add(egui::Label::new(body).wrap());
        }
    } else {
        markdown::show(ui, &blocks, highlight);
        if message.edited {
            ui.label(RichText::new("(edited)").small().color(palette.text_muted));
        }
    }
}

/// The actions on a message under the pointer, over the top right of its `row`.
pub fn actions_ui(
    ui: &mut egui::Ui,
    row: egui::Rect,
    message: &MessageView<'_>,
    viewer: &Viewer<'_>,
) -> Option<MessageAction> {
    let palette = tokens::palette(ui);
    let mine = viewer.me == Some(message.sender);
    let strip = egui::Rect::from_min_max(
        egui::pos2(row.left(), row.top()),
        egui::pos2(row.right() - space::XS, row.top() + tokens::text::BODY + space::M),
    );
    let mut child = ui.new_child(
        egui::UiBuilder::new().max_rect(strip).layout(egui::Layout::right_to_left(egui::Align::Min)),
    );
    let mut action = None;
    egui::Frame::new()
        .fill(palette.surface)
        .stroke(egui::Stroke::new(1.0, palette.border))
        .corner_radius(tokens::radius::S)
        .inner_margin(egui::Margin::symmetric(space::XS as i8, 1))
        .show(&mut child, |ui| {
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = space::XS;
                let button = |ui: &mut egui::Ui, text: &str, name: &str, hint: &str| {
                    super::named(ui.small_button(text).on_hover_text(hint), name).clicked()
                };
                for emoji in QUICK_REACTIONS {
                    if button(ui, emoji, &format!("React {emoji}"), &format!("React with {emoji}")) {
                        action = Some(MessageAction::React(message.id, emoji.to_owned()));
                    }
                }
                if button(ui, "😀+", "More reactions", "React with any emoji") {
                    action = Some(MessageAction::PickReaction(message.id));
                }
                if button(ui, "Reply", "Reply", "Answer this message") {
                    action = Some(MessageAction::Reply(message.id));
                }
                if mine
                    && button(
                        ui,
                        super::icons::PENCIL_SIMPLE,
                        "Edit message",
                        "Edit (↑ in an empty composer)",
                    )
                {
                    action = Some(MessageAction::Edit(message.id));
                }
                if (mine || viewer.moderator)
                    && button(
                        ui,
                        super::icons::TRASH,
                        "Delete message",
                        "Delete (Shift-click: without asking)",
                    )
                {
                    let at_once = ui.input(|i| i.modifiers.shift);
                    action = Some(MessageAction::Delete(message.id, at_once));
                }
                if button(ui, super::icons::COPY, "Copy message", "Copy the text") {
                    ui.ctx().copy_text(message.content.to_owned());
                }
            });
        });
    action
}

/// Hands `action` on a message of `place` to the state.
pub fn apply(state: &mut AppState, place: Conversation, action: MessageAction) -> Vec<Effect> {
    match action {
        MessageAction::React(id, emoji) => state.toggle_reaction(place, id, &emoji),
        MessageAction::Reply(id) => {
            state.start_reply(place, id);
            vec![]
        }
        MessageAction::Edit(id) => {
            state.start_edit(place, id);
            vec![]
        }
        MessageAction::Delete(id, true) => state.delete_message(place, id),
        MessageAction::Delete(id, false) => {
            state.ask_delete_message(place, id);
            vec![]
        }
        MessageAction::ShowOriginal(id) => state.show_original(place, id),
        MessageAction::ViewPicture(picture) => state.view_picture(Some(picture)),
        MessageAction::PickReaction(id) => {
            state.open_emoji_picker(PickFor::Reaction(place, id));
            vec![]
        }
    }
}
