//! Conversations: loaded history, messages waiting in the outbox, the
//! composer and typing indicators, and the events that fill them.

use std::collections::BTreeMap;

use concord_common::validate;
use concord_common::{Conversation as Where, DirectMessage, ErrorBody, MessageId, MessagePage, UserId};
use web_time::Instant;

use super::chat::Compose;
use super::{AppState, Effect, TYPING_SEND_EVERY, TYPING_SHOWN_FOR};
use crate::net::Command;

/// A message typed here that the server has not stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMessage {
    /// Its idempotency key.
    pub nonce: String,
    /// Its text.
    pub content: String,
    /// How many files go with it.
    pub files: usize,
    /// Why the server refused it, if it did.
    pub refused: Option<String>,
}

/// One conversation as far as it is loaded.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Stored messages by id (= by time).
    pub messages: BTreeMap<MessageId, DirectMessage>,
    /// Messages waiting in the outbox, in the order typed.
    pub pending: Vec<PendingMessage>,
    /// The newest page has been loaded at least once.
    pub loaded: bool,
    /// Older messages exist on the server.
    pub has_more: bool,
    /// A page is being fetched.
    pub loading: bool,
    /// Why the last page failed to load.
    pub load_error: Option<String>,
    /// Show "typing…" until then.
    pub typing_until: Option<Instant>,
    /// The composer's text.
    pub draft: String,
    /// Why the draft cannot be sent.
    pub draft_error: Option<String>,
    /// When `typing` was last sent for this conversation.
    pub typing_sent_at: Option<Instant>,
    /// Set when an older page was prepended, so the screen keeps its place
    /// (its scroll position and row heights live with the screen).
    pub prepended: bool,
    /// Put the keyboard focus in the composer on the next frame.
    pub focus_composer: bool,
    /// Whether the composer answers a message or edits one of mine.
    pub compose: Compose,
    /// Scroll to this message once it is loaded (older pages load until it is).
    pub jump_to: Option<MessageId>,
}

impl Conversation {
    /// The oldest loaded message.
    pub fn oldest(&self) -> Option<MessageId> {
        self.messages.keys().next().copied()
    }
}

impl AppState {
    /// Closes the open conversation or room (back to the list on a narrow window).
    pub fn close_conversation(&mut self) {
        self.selected = None;
        self.selected_room = None;
    }

    /// Opens the conversation with `peer`.
    pub fn select(&mut self, peer: UserId) -> Vec<Effect> {
        self.selected = Some(peer);
        self.selected_room = None;
        self.switcher = None;
        let conversation = self.conversations.entry(peer).or_default();
        conversation.focus_composer = true;
        let mut effects = Vec::new();
        if !conversation.loaded && !conversation.loading {
            conversation.loading = true;
            effects.push(Command::LoadHistory { peer, before: None }.into());
        }
        effects.extend(self.mark_read_if_visible(peer).map(Effect::from));
        effects
    }

    /// Asks for the page before the oldest loaded message.
    pub fn load_older(&mut self, peer: UserId) -> Vec<Effect> {
        let Some(conversation) = self.conversations.get_mut(&peer) else { return vec![] };
        if conversation.loading || !conversation.has_more || !conversation.loaded {
            return vec![];
        }
        conversation.loading = true;
        vec![Command::LoadHistory { peer, before: conversation.oldest() }.into()]
    }

    /// Sends the composer's text and files to `peer` (queued if offline).
    pub fn send_draft(&mut self, peer: UserId) -> Vec<Effect> {
        let conversation = self.conversations.entry(peer).or_default();
        let content = conversation.draft.trim_end_matches(['\n', '\r']).to_owned();
        let editing = matches!(conversation.compose, Compose::Editing(_));
        let files = !editing && !self.uploads(Where::Dm(peer)).is_empty();
        let conversation = self.conversations.entry(peer).or_default();
        if content.trim().is_empty() && !files {
            return vec![];
        }
        // Only files: no text (blank lines are not a message's text).
        let content = if content.trim().is_empty() { String::new() } else { content };
        if let Err(error) = validate::message_body(&content, usize::from(files)) {
            conversation.draft_error = Some(error.message);
            return vec![];
        }
        let attachments = match files.then(|| self.take_attachments(Where::Dm(peer))) {
            Some(Err(wait)) => {
                self.conversations.entry(peer).or_default().draft_error = Some(wait);
                return vec![];
            }
            Some(Ok(attachments)) => attachments,
            None => Vec::new(),
        };
        let conversation = self.conversations.entry(peer).or_default();
        conversation.draft.clear();
        conversation.draft_error = None;
        conversation.typing_sent_at = None;
        let compose = std::mem::take(&mut conversation.compose);
        let content = self.mentions_to_ids(Where::Dm(peer), &content);
        let conversation = self.conversations.entry(peer).or_default();
        let nonce = (self.inputs.new_nonce)();
        match compose {
            Compose::Editing(id) => {
                vec![Command::EditMessage { conversation: Where::Dm(peer), id, content, nonce }.into()]
            }
            compose => {
                conversation.pending.push(PendingMessage {
                    nonce: nonce.clone(),
                    content: content.clone(),
                    files: attachments.len(),
                    refused: None,
                });
                let reply_to = compose.replying_to();
                vec![Command::SendMessage { peer, content, nonce, reply_to, attachments }.into()]
            }
        }
    }

    /// The composer changed: maybe tell the friend I am typing.
    pub fn draft_edited(&mut self, peer: UserId) -> Vec<Effect> {
        let now = (self.inputs.now)();
        let conversation = self.conversations.entry(peer).or_default();
        if conversation.draft.trim().is_empty()
            || conversation.typing_sent_at.is_some_and(|t| now.duration_since(t) < TYPING_SEND_EVERY)
        {
            return vec![];
        }
        conversation.typing_sent_at = Some(now);
        vec![Command::Typing { peer }.into()]
    }

    pub(super) fn on_history(&mut self, peer: UserId, before: Option<MessageId>, page: MessagePage) {
        let conversation = self.conversations.entry(peer).or_default();
        conversation.loading = false;
        conversation.load_error = None;
        if before.is_some() {
            conversation.has_more = page.has_more;
            conversation.prepended = !page.messages.is_empty();
        } else if !conversation.loaded {
            conversation.has_more = page.has_more;
        }
        conversation.loaded = true;
        for message in page.messages {
            conversation.messages.insert(message.id, message);
        }
    }

    pub(super) fn on_history_failed(&mut self, peer: UserId, error: String) {
        let conversation = self.conversations.entry(peer).or_default();
        conversation.loading = false;
        conversation.load_error = Some(error);
    }

    pub(super) fn on_message_sent(&mut self, peer: UserId, nonce: &str, message: DirectMessage) {
        let conversation = self.conversations.entry(peer).or_default();
        conversation.pending.retain(|p| p.nonce != nonce);
        conversation.messages.insert(message.id, message);
    }

    pub(super) fn on_message_refused(&mut self, peer: UserId, nonce: &str, error: ErrorBody) {
        let conversation = self.conversations.entry(peer).or_default();
        if let Some(pending) = conversation.pending.iter_mut().find(|p| p.nonce == nonce) {
            pending.refused = Some(error.message);
        }
    }

    /// A message arrived (mine from another device, or a friend's): store
    /// it; count it unread and notify unless it is on screen.
    pub(super) fn on_message_created(&mut self, message: DirectMessage) -> Vec<Effect> {
        let from_me = Some(message.sender_id) == self.me.as_ref().map(|u| u.id);
        let peer = if from_me { message.recipient_id } else { message.sender_id };
        let conversation = self.conversations.entry(peer).or_default();
        if from_me {
            conversation.pending.retain(|p| p.nonce != message.nonce);
        } else {
            conversation.typing_until = None;
        }
        let is_new = conversation.messages.insert(message.id, message.clone()).is_none();
        if from_me || !is_new {
            return vec![];
        }
        if self.selected == Some(peer) && self.focused {
            // Seen as it arrived: the server counts it unread until told.
            self.unread.remove(&peer);
            return vec![Command::MarkRead { peer }.into()];
        }
        *self.unread.entry(peer).or_insert(0) += 1;
        let mentions_me = self.me.as_ref().is_some_and(|me| message.mentions.contains(&me.id));
        if !self.notifies(Where::Dm(peer), mentions_me) {
            return vec![];
        }
        let name = self.friend(peer).map_or_else(|| "Someone".to_owned(), |f| f.user.username.clone());
        vec![Effect::Notify { title: format!("{name} on Concord"), body: preview(&message.content) }]
    }

    pub(super) fn on_typing(&mut self, user_id: UserId) {
        let until = (self.inputs.now)() + TYPING_SHOWN_FOR;
        self.conversations.entry(user_id).or_default().typing_until = Some(until);
    }

    /// Refreshes the newest page of every conversation already on screen
    /// (after a reconnect: catch up on what happened while offline).
    pub(super) fn reload_open_conversations(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (peer, conversation) in &mut self.conversations {
            if conversation.loaded || Some(*peer) == self.selected {
                conversation.loading = true;
                effects.push(Command::LoadHistory { peer: *peer, before: None }.into());
            }
        }
        effects
    }
}

/// The first 120 characters, for a notification.
fn preview(content: &str) -> String {
    let mut preview: String = content.chars().take(120).collect();
    if preview.len() < content.len() {
        preview.push('…');
    }
    preview
}
