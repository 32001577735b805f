//! The open conversation: history with day separators and timestamps,
//! pending messages, the typing indicator, and the composer. Where the
//! history is scrolled and how tall each drawn row was ([`HistoryView`])
//! belong to this screen, kept in egui's memory per conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Local, TimeZone};
use concord_common::{DirectMessage, MessageId, UserId};
use egui::{Key, KeyboardShortcut, Modifiers, RichText};
use web_time::Instant;

use super::message::{self, MessageAction};
use super::tokens::{self, size, space};
use super::{avatar, icons, Back};
use crate::settings::NotifyLevel;
use crate::state::{AppState, Compose, Conversation, Effect, PendingMessage, Picture, Upload};

/// Messages from one sender closer together than this share one header.
const GROUP_WITHIN_MS: i64 = 5 * 60 * 1000;
/// Height assumed for a message not drawn yet, in points.
const ESTIMATED_ROW_HEIGHT: f32 = 28.0;

/// What messages show besides their text: the pictures fetched so far, and
/// the server their links are relative to.
#[derive(Clone, Copy)]
pub(super) struct Shown<'a> {
    pub pictures: &'a HashMap<String, Picture>,
    pub server: &'a str,
}

/// Who the conversation is between: ids (avatar colours) and names.
#[derive(Clone, Copy)]
struct People<'a> {
    me: Option<(UserId, &'a str)>,
    peer: (UserId, &'a str),
}

impl People<'_> {
    /// A name for `user` (a mention of someone outside the conversation: "someone").
    fn name_of(&self, user: UserId) -> String {
        match self.me {
            Some((id, name)) if id == user => name.to_owned(),
            _ if user == self.peer.0 => self.peer.1.to_owned(),
            _ => "someone".to_owned(),
        }
    }

    /// The author of `message`: id and name.
    fn author(&self, message: &DirectMessage) -> (UserId, &str) {
        match self.me {
            Some((id, name)) if id == message.sender_id => (id, name),
            _ => self.peer,
        }
    }
}
/// Start loading older messages this close to the top, in points.
const LOAD_OLDER_WITHIN: f32 = 60.0;

/// How one conversation's history was last drawn: view state, not data.
#[derive(Debug, Default)]
pub struct HistoryView {
    /// Height of the history as last drawn.
    height: f32,
    /// Scroll offset as last drawn.
    offset: f32,
    /// Scroll here on the next frame.
    scroll_to: Option<f32>,
    /// Measured height of each drawn message row, for drawing only what is visible.
    row_heights: HashMap<MessageId, f32>,
    /// The width `row_heights` were measured at.
    rows_width: f32,
}

/// The history view of the conversation with `peer`, kept in egui's memory.
fn history_view(ctx: &egui::Context, peer: UserId) -> Arc<Mutex<HistoryView>> {
    let id = egui::Id::unique(("history-view", peer.0));
    ctx.data_mut(|data| data.get_temp_mut_or_default::<Arc<Mutex<HistoryView>>>(id).clone())
}

/// How many of the conversation's rows have been drawn and measured (the
/// frame-time benchmark checks that only a screenful is).
pub fn measured_rows(ctx: &egui::Context, peer: UserId) -> usize {
    history_view(ctx, peer).lock().unwrap_or_else(PoisonError::into_inner).row_heights.len()
}

/// The conversation pane (or the empty state).
pub fn conversation_ui(ui: &mut egui::Ui, state: &mut AppState, back: Back) -> Vec<Effect> {
    let Some(peer) = state.selected else {
        empty_state_ui(ui, state);
        return vec![];
    };
    let (name, online) = match state.friend(peer) {
        Some(friend) => (friend.user.username.clone(), friend.online),
        None => ("Former friend".to_owned(), false),
    };
    let me = state.me.clone();
    let people = People { me: me.as_ref().map(|u| (u.id, u.username.as_str())), peer: (peer, &name) };
    let palette = tokens::palette(ui);
    let mut effects = Vec::new();
    let mut go_back = false;
    ui.horizontal(|ui| {
        if back == Back::Shown {
            go_back = icons::icon_button(ui, icons::ARROW_LEFT, "Back to friends").clicked();
        }
        avatar::avatar_ui(ui, peer, &name, size::AVATAR_SMALL, Some(online));
        ui.heading(&name);
        let (text, color) = if online { ("online", palette.online) } else { ("offline", palette.text_muted) };
        ui.label(RichText::new(text).color(color));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            notify_menu_ui(ui, state, concord_common::Conversation::Dm(peer));
        });
    });
    ui.separator();
    if go_back {
        state.close_conversation();
        return vec![];
    }

    let conversation = state.conversations.entry(peer).or_default();
    // The composer, and the strip of its files when it has some.
    let files =
        state.files.uploads.get(&concord_common::Conversation::Dm(peer)).is_some_and(|u| !u.is_empty());
    let composer_height = if files { 96.0 + size::BUTTON_HEIGHT + space::S } else { 96.0 };
    let history_height = (ui.available_height() - composer_height).max(80.0);
    let mut wants_older = false;
    let view = history_view(ui.ctx(), peer);
    let mut view = view.lock().unwrap_or_else(PoisonError::into_inner);
    let mut action = None;
    let shown = Shown { pictures: &state.files.pictures, server: &state.persisted.server_url };
    ui.allocate_ui(egui::vec2(ui.available_width(), history_height), |ui| {
        (wants_older, action) = history_ui(ui, conversation, &mut view, people, shown);
    });
    drop(view);
    if wants_older {
        effects.extend(state.load_older(peer));
    }
    let place = concord_common::Conversation::Dm(peer);
    if let Some(action) = action {
        effects.extend(message::apply(state, place, action));
    }
    let draft = state.conversations.get(&peer).map(|c| c.draft.clone()).unwrap_or_default();
    let completions = state.mention_completions(place, &draft);
    let conversation = state.conversations.entry(peer).or_default();
    typing_ui(ui, conversation, &name);
    let banner = compose_banner(conversation.compose, |id| {
        conversation.messages.get(&id).map(|m| (people.author(m).1.to_owned(), m.content.clone()))
    });
    let composer = Composer {
        draft: &mut conversation.draft,
        error: conversation.draft_error.as_deref(),
        focus: &mut conversation.focus_composer,
        hint: format!("Message {name}"),
        banner,
        editing: matches!(conversation.compose, Compose::Editing(_)),
        completions,
        uploads: state.files.uploads.get(&place).map(Vec::as_slice).unwrap_or_default(),
    };
    let input = composer_ui(ui, composer);
    effects.extend(super::attachments::composer_files(ui, state, place, &input, &name));
    if input.edited {
        effects.extend(state.draft_edited(peer));
    }
    if let Some(name) = &input.complete {
        state.complete_mention(place, name);
    }
    if input.edit_last {
        state.edit_last(place);
    }
    if input.cancel {
        state.cancel_compose(place);
    }
    if input.send {
        effects.extend(state.send_draft(peer));
    }
    effects
}

/// The conversation's notification level, as a menu ("Notify: Only @mentions").
pub(super) fn notify_menu_ui(ui: &mut egui::Ui, state: &mut AppState, place: concord_common::Conversation) {
    let mut level = state.notify_level(place);
    let before = level;
    let menu = egui::ComboBox::from_id_salt(("notify", place.to_string()))
        .selected_text(format!("Notify: {}", level.label()))
        .show_ui(ui, |ui| {
            for choice in NotifyLevel::ALL {
                ui.selectable_value(&mut level, choice, choice.label());
            }
        });
    menu.response.on_hover_text("What this conversation notifies you of");
    if level != before {
        state.set_notify_level(place, level);
    }
}

fn empty_state_ui(ui: &mut egui::Ui, state: &AppState) {
    ui.centered_and_justified(|ui| {
        let text = if state.friends.is_empty() {
            "No friends yet — add one by email with “Add friend” on the left."
        } else {
            "Pick a friend on the left to start talking (Ctrl+K to jump to one)."
        };
        ui.label(RichText::new(text).color(tokens::palette(ui).text_muted));
    });
}

/// Draws the history; returns whether older messages should be loaded, and
/// what was asked of a message.
fn history_ui(
    ui: &mut egui::Ui,
    conversation: &mut Conversation,
    view: &mut HistoryView,
    people: People<'_>,
    shown: Shown<'_>,
) -> (bool, Option<MessageAction>) {
    let (peer, peer_name) = people.peer;
    let palette = tokens::palette(ui);
    let mut area = egui::ScrollArea::vertical()
        .id_salt(("history", peer.0))
        .stick_to_bottom(true)
        .auto_shrink([false, false]);
    if let Some(offset) = view.scroll_to.take() {
        area = area.vertical_scroll_offset(offset);
    }
    let mut action = None;
    let output = area.show_viewport(ui, |ui, viewport| {
        ui.set_width(ui.available_width());
        if conversation.loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(RichText::new("Loading messages…").color(palette.text_muted));
            });
        } else if !conversation.has_more && conversation.loaded {
            ui.label(
                RichText::new(format!("This is the beginning of your conversation with {peer_name}."))
                    .color(palette.text_muted),
            );
        }
        if let Some(error) = &conversation.load_error {
            ui.label(RichText::new(format!("Could not load messages: {error}")).color(palette.error));
        }
        let (asked, jumped) = rows_ui(ui, viewport, conversation, view, people, shown);
        action = asked;
        if let Some(y) = jumped {
            // The message a reply answers is loaded: bring it into view.
            conversation.jump_to = None;
            view.scroll_to = Some((y - space::XL).max(0.0));
            ui.ctx().request_repaint();
        }
        pending_ui(ui, conversation);
    });
    let content_height = output.content_size.y;
    if conversation.prepended {
        // Older messages went in above: move down by what they added, so the
        // message that was on screen stays where it was.
        conversation.prepended = false;
        view.scroll_to = Some(view.offset + (content_height - view.height));
        ui.ctx().request_repaint();
    }
    // Ask for older messages only from a settled view (same height and near
    // the top two frames running): not in the frame a page arrives, before
    // "stick to bottom" has scrolled down to the newest message.
    let offset = output.state.clamped_offset().y;
    let settled = (content_height - view.height).abs() < 0.5;
    let near_top = offset < LOAD_OLDER_WITHIN && view.offset < LOAD_OLDER_WITHIN;
    let fits = content_height <= output.inner_rect.height();
    view.height = content_height;
    view.offset = offset;
    (conversation.has_more && !conversation.loading && settled && (near_top || fits), action)
}

/// Draws only the messages inside `viewport`; the rest are empty space of
/// their measured (or, until first drawn, estimated) height. This keeps a
/// frame cheap however long the history is. Returns what was asked of a
/// message, and where the message to jump to starts, once it is loaded.
fn rows_ui(
    ui: &mut egui::Ui,
    viewport: egui::Rect,
    conversation: &Conversation,
    view: &mut HistoryView,
    people: People<'_>,
    shown: Shown<'_>,
) -> (Option<MessageAction>, Option<f32>) {
    let mut action = None;
    let mut jumped = None;
    let width = ui.available_width();
    if (width - view.rows_width).abs() > 0.5 {
        view.row_heights.clear();
        view.rows_width = width;
    }
    let origin = ui.min_rect().top();
    let mut y = ui.cursor().top() - origin;
    let mut gap = 0.0;
    let mut previous: Option<&DirectMessage> = None;
    for message in conversation.messages.values() {
        if conversation.jump_to == Some(message.id) {
            jumped = Some(y);
        }
        let height = view.row_heights.get(&message.id).copied().unwrap_or(ESTIMATED_ROW_HEIGHT);
        if y + height < viewport.top() || y > viewport.bottom() {
            gap += height;
            y += height;
            previous = Some(message);
            continue;
        }
        if gap > 0.0 {
            ui.add_space(gap);
            gap = 0.0;
        }
        let top = ui.cursor().top();
        action = message_row_ui(ui, message, previous, people, shown).or(action);
        let measured = ui.cursor().top() - top;
        view.row_heights.insert(message.id, measured);
        y += measured;
        previous = Some(message);
    }
    if gap > 0.0 {
        ui.add_space(gap);
    }
    (action, jumped)
}

/// One message, with the day separator and author line when they apply.
fn message_row_ui(
    ui: &mut egui::Ui,
    message: &DirectMessage,
    previous: Option<&DirectMessage>,
    people: People<'_>,
    shown: Shown<'_>,
) -> Option<MessageAction> {
    let day = local_time(message.created_at_ms).map(|t| t.date_naive());
    if previous.and_then(|p| local_time(p.created_at_ms)).map(|t| t.date_naive()) != day {
        day_separator_ui(ui, message.created_at_ms);
    }
    let grouped = previous.is_some_and(|p| {
        p.sender_id == message.sender_id && message.created_at_ms - p.created_at_ms < GROUP_WITHIN_MS
    });
    message_ui(ui, people, shown, message, grouped)
}

/// A message waiting for the server, as its row reads ("2 files" for files alone).
pub(super) fn pending_text(pending: &PendingMessage) -> String {
    match (pending.content.is_empty(), pending.files) {
        (_, 0) => pending.content.clone(),
        (true, 1) => "1 file".to_owned(),
        (true, n) => format!("{n} files"),
        (false, 1) => format!("{} (+1 file)", pending.content),
        (false, n) => format!("{} (+{n} files)", pending.content),
    }
}

fn pending_ui(ui: &mut egui::Ui, conversation: &mut Conversation) {
    let palette = tokens::palette(ui);
    let mut discard = None;
    for pending in &conversation.pending {
        ui.horizontal(|ui| {
            ui.add_space(size::AVATAR_MESSAGE + space::S);
            ui.add(egui::Label::new(RichText::new(pending_text(pending)).color(palette.text_muted)).wrap());
        });
        match &pending.refused {
            Some(reason) => {
                ui.horizontal(|ui| {
                    ui.add_space(size::AVATAR_MESSAGE + space::S);
                    ui.label(RichText::new(format!("Not sent: {reason}")).color(palette.error).small());
                    if ui.small_button("Discard").clicked() {
                        discard = Some(pending.nonce.clone());
                    }
                });
            }
            None => {
                ui.horizontal(|ui| {
                    ui.add_space(size::AVATAR_MESSAGE + space::S);
                    ui.label(
                        RichText::new("Sending… (kept until delivered)").color(palette.text_muted).small(),
                    );
                });
            }
        }
    }
    if let Some(nonce) = discard {
        conversation.pending.retain(|p| p.nonce != nonce);
    }
}

/// One message. The first of a group shows the author's avatar, name and
/// time once; the rest line up under it. Lines wrap at a readable width;
/// the row highlights under the pointer and offers its actions.
fn message_ui(
    ui: &mut egui::Ui,
    people: People<'_>,
    shown: Shown<'_>,
    message: &DirectMessage,
    grouped: bool,
) -> Option<MessageAction> {
    let palette = tokens::palette(ui);
    let (author_id, author) = people.author(message);
    let name_of = |user: UserId| people.name_of(user);
    let viewer = message::Viewer {
        me: people.me.map(|(id, _)| id),
        moderator: false,
        name_of: &name_of,
        pictures: shown.pictures,
        server: shown.server,
    };
    let shown = message::MessageView::from(message);
    let mut action = None;
    if !grouped {
        ui.add_space(space::M);
    }
    let background = ui.painter().add(egui::Shape::Noop);
    let row = ui.horizontal_top(|ui| {
        if grouped {
            ui.add_space(size::AVATAR_MESSAGE);
        } else {
            avatar::avatar_ui(ui, author_id, author, size::AVATAR_MESSAGE, None);
        }
        ui.add_space(space::S);
        ui.vertical(|ui| {
            ui.set_max_width(size::READABLE_WIDTH.min(ui.available_width()));
            if !grouped {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(author).strong());
                    ui.label(
                        RichText::new(format_time(message.created_at_ms)).small().color(palette.text_muted),
                    );
                });
            }
            action = message::body_ui(ui, &shown, &viewer);
        });
    });
    let rect = row.response.rect.expand2(egui::vec2(space::XS, space::XS / 2.0));
    let full = egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), rect.y_range());
    if ui.rect_contains_pointer(full) {
        ui.painter().set(
            background,
            egui::Shape::rect_filled(full, tokens::radius::S, palette.hover.gamma_multiply(0.5)),
        );
        action = message::actions_ui(ui, full, &shown, &viewer).or(action);
    }
    action
}

fn day_separator_ui(ui: &mut egui::Ui, at_ms: i64) {
    ui.add_space(space::L);
    ui.horizontal(|ui| {
        let text = local_time(at_ms).map(|t| t.format("%A, %-d %B %Y").to_string()).unwrap_or_default();
        ui.label(RichText::new(text).small().strong().color(tokens::palette(ui).text_muted));
        ui.separator();
    });
}

fn typing_ui(ui: &mut egui::Ui, conversation: &Conversation, name: &str) {
    match conversation.typing_until {
        Some(until) if until > Instant::now() => {
            ui.label(
                RichText::new(format!("{name} is typing…")).italics().color(tokens::palette(ui).text_muted),
            );
            ui.ctx().request_repaint_after(until - Instant::now());
        }
        _ => {
            ui.label(" ");
        }
    }
}

/// What the user typed into a composer this frame.
pub(super) struct Composer<'a> {
    /// The text being written.
    pub draft: &'a mut String,
    /// Why the draft cannot be sent.
    pub error: Option<&'a str>,
    /// Put the cursor here on this frame (taken).
    pub focus: &'a mut bool,
    /// The hint in the empty field ("Message bob").
    pub hint: String,
    /// "Replying to …" or "Editing your message", above the field.
    pub banner: Option<String>,
    /// Editing a sent message: the button saves.
    pub editing: bool,
    /// Who the `@name` being typed could be: offered above the field.
    pub completions: Vec<(UserId, String)>,
    /// Files attached to the next message.
    pub uploads: &'a [Upload],
}

/// What a composer was asked this frame.
#[derive(Debug, Default)]
pub(super) struct ComposerInput {
    /// Enter or the Send button.
    pub send: bool,
    /// The text changed.
    pub edited: bool,
    /// ↑ in the empty field: edit my last message.
    pub edit_last: bool,
    /// Esc, or the banner's ✕: stop replying or editing.
    pub cancel: bool,
    /// A completion picked (click, or Tab for the first): this name.
    pub complete: Option<String>,
    /// The Attach button.
    pub attach: bool,
    /// The emoji button.
    pub emoji: bool,
    /// An upload's ×: this one.
    pub remove_upload: Option<u64>,
}

/// A composer: the reply/edit banner, a multi-line field (Enter sends,
/// Shift+Enter breaks the line, ↑ when empty edits my last message, Esc
/// cancels a reply or an edit) and a Send button.
pub(super) fn composer_ui(ui: &mut egui::Ui, composer: Composer<'_>) -> ComposerInput {
    let palette = tokens::palette(ui);
    let mut input = ComposerInput::default();
    if let Some(banner) = &composer.banner {
        ui.horizontal(|ui| {
            ui.label(RichText::new(banner).small().color(palette.text_muted));
            let close = ui.small_button(super::icons::X).on_hover_text("Cancel (Esc)");
            if super::named(close, "Cancel reply or edit").clicked() {
                input.cancel = true;
            }
        });
    }
    if let Some(error) = composer.error {
        ui.label(RichText::new(error).color(palette.error).small());
    }
    if !composer.completions.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Mention (Tab):").small().color(palette.text_muted));
            for (_, name) in &composer.completions {
                if super::named(ui.small_button(format!("@{name}")), &format!("Mention {name}")).clicked() {
                    input.complete = Some(name.clone());
                }
            }
        });
    }
    if !composer.uploads.is_empty() {
        input.remove_upload = super::attachments::uploads_ui(ui, composer.uploads);
    }
    let in_mode = composer.banner.is_some();
    ui.horizontal(|ui| {
        let attach =
            ui.button(icons::PLUS).on_hover_text("Attach files (or drop them here, or paste a picture)");
        input.attach = super::named(attach, "Attach files").clicked();
        let emoji = ui.button("🙂").on_hover_text("Emoji");
        input.emoji = super::named(emoji, "Emoji").clicked();
        let empty = composer.draft.is_empty();
        // A fixed id: the banner or an error line appearing above must not
        // make it another widget (that would lose the keyboard focus).
        let editor_id = ui.make_persistent_id("composer");
        let completing = !composer.completions.is_empty();
        // Tab picks the first completion (taken before the field sees it, and
        // kept from moving the focus); Esc cancels a reply or an edit.
        if completing
            && ui.memory(|m| m.has_focus(editor_id))
            && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Tab))
        {
            input.complete = composer.completions.first().map(|c| c.1.clone());
        }
        let keys = egui::EventFilter {
            tab: completing,
            horizontal_arrows: true,
            vertical_arrows: true,
            escape: in_mode,
        };
        let editor = egui::TextEdit::multiline(composer.draft)
            .id(editor_id)
            .event_filter(keys)
            .hint_text(composer.hint)
            .desired_rows(2)
            .desired_width(ui.available_width() - size::SEND_WIDTH - space::S)
            .margin(egui::Margin::same(space::S as i8))
            .return_key(Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter)));
        let response = ui.add(editor);
        // Opening a conversation (or starting a reply or an edit) puts the
        // cursor in its composer, after the text.
        if std::mem::take(composer.focus) {
            response.request_focus();
            if let Some(mut field) = egui::TextEdit::load_state(ui.ctx(), response.id) {
                let end = egui::text::CCursor::new(composer.draft.chars().count());
                field.cursor.set_char_range(Some(egui::text::CCursorRange::one(end)));
                field.store(ui.ctx(), response.id);
            }
        }
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Message"));
        super::test_target(ui.ctx(), "Message", response.rect.center());
        input.edited = response.changed();
        if response.has_focus() {
            ui.input(|i| {
                input.send |= i.key_pressed(Key::Enter) && !i.modifiers.shift;
                input.edit_last = empty && i.key_pressed(Key::ArrowUp) && i.modifiers.is_none();
                input.cancel |= in_mode && i.key_pressed(Key::Escape);
            });
        }
        let label = if composer.editing {
            format!("{} Save", super::icons::CHECK)
        } else {
            format!("{} Send", super::icons::PAPER_PLANE_RIGHT)
        };
        let send_button = super::theme::primary_button(&label, palette);
        let send_button = ui.add_sized(egui::vec2(size::SEND_WIDTH, size::BUTTON_HEIGHT), send_button);
        if super::named(send_button, "Send").clicked() {
            input.send = true;
        }
        if input.send {
            response.request_focus();
        }
    });
    input
}

/// The banner a composer shows for `compose`, naming people with `name_of`
/// and quoting with `quote` (the answered message's text, if loaded).
pub(super) fn compose_banner(
    compose: Compose,
    author_of: impl Fn(MessageId) -> Option<(String, String)>,
) -> Option<String> {
    match compose {
        Compose::New => None,
        Compose::Editing(_) => Some("Editing your message — Enter saves, Esc cancels".to_owned()),
        Compose::Replying(id) => Some(match author_of(id) {
            Some((name, text)) => {
                let line: String = super::markdown::plain_line(&text).chars().take(80).collect();
                format!("Replying to {name}: {line}")
            }
            None => "Replying".to_owned(),
        }),
    }
}

fn local_time(at_ms: i64) -> Option<DateTime<Local>> {
    Local.timestamp_millis_opt(at_ms).single()
}

pub(super) fn format_time(at_ms: i64) -> String {
    local_time(at_ms).map(|t| t.format("%H:%M").to_string()).unwrap_or_default()
}

/// "6 Dec 2026, 14:05".
pub(super) fn format_day_and_time(at_ms: i64) -> String {
    local_time(at_ms).map(|t| t.format("%-d %b %Y, %H:%M").to_string()).unwrap_or_default()
}
