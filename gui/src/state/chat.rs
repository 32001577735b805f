//! Changes to messages already stored, in DMs and rooms alike: edits,
//! deletes and reactions, as the server announces them. A reply keeps the
//! quoted line of what it answers current (edited, or gone when deleted).

use std::collections::BTreeMap;

use concord_common::events::{MessageDeleted, ReactionChanged};
use concord_common::{
    Conversation as Where, DirectMessage, MessageId, Reaction, ReplyPreview, RoomMessage, UserId,
};

use super::{AppState, Effect};
use crate::net::Command;
use crate::settings::NotifyLevel;

/// What the composer of a conversation is doing besides writing a new message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compose {
    /// Writing a new message.
    #[default]
    New,
    /// Writing an answer to this message.
    Replying(MessageId),
    /// Changing the text of this message of mine.
    Editing(MessageId),
}

impl Compose {
    /// The message the next one answers, if any.
    pub fn replying_to(self) -> Option<MessageId> {
        match self {
            Compose::Replying(id) => Some(id),
            _ => None,
        }
    }
}

/// Longest quoted line kept of an edited original (as the server cuts it).
const PREVIEW_CHARS: usize = 200;

/// A stored message of either kind, as these changes touch it.
pub(super) trait ChatMessage {
    fn sender(&self) -> UserId;
    fn content(&self) -> &str;
    fn reply_to(&self) -> Option<MessageId>;
    fn set_reply_preview(&mut self, preview: Option<ReplyPreview>);
    fn reactions(&self) -> &[Reaction];
    fn reactions_mut(&mut self) -> &mut Vec<Reaction>;
}

macro_rules! chat_message {
    ($type:ty) => {
        impl ChatMessage for $type {
            fn sender(&self) -> UserId {
                self.sender_id
            }
            fn content(&self) -> &str {
                &self.content
            }
            fn reply_to(&self) -> Option<MessageId> {
                self.reply_to
            }
            fn set_reply_preview(&mut self, preview: Option<ReplyPreview>) {
                self.reply_preview = preview;
            }
            fn reactions(&self) -> &[Reaction] {
                &self.reactions
            }
            fn reactions_mut(&mut self) -> &mut Vec<Reaction> {
                &mut self.reactions
            }
        }
    };
}
chat_message!(DirectMessage);
chat_message!(RoomMessage);

/// Stores `message` (edited) if it is loaded, and refreshes the quoted line of
/// the loaded replies to it.
fn replace<M: ChatMessage>(messages: &mut BTreeMap<MessageId, M>, id: MessageId, message: M) {
    let preview = ReplyPreview {
        id,
        sender_id: message.sender(),
        content: message.content().chars().take(PREVIEW_CHARS).collect(),
    };
    if let Some(stored) = messages.get_mut(&id) {
        *stored = message;
    }
    for reply in messages.values_mut().filter(|m| m.reply_to() == Some(id)) {
        reply.set_reply_preview(Some(preview.clone()));
    }
}

/// Forgets message `id`; the loaded replies to it now show it was deleted.
fn remove<M: ChatMessage>(messages: &mut BTreeMap<MessageId, M>, id: MessageId) {
    messages.remove(&id);
    for reply in messages.values_mut().filter(|m| m.reply_to() == Some(id)) {
        reply.set_reply_preview(None);
    }
}

/// Adds or takes back `user`'s `emoji` on a message's reactions.
fn react(reactions: &mut Vec<Reaction>, emoji: &str, user: UserId, me: Option<UserId>, added: bool) {
    let index = reactions.iter().position(|r| r.emoji == emoji);
    match (index, added) {
        (Some(i), true) if !reactions[i].user_ids.contains(&user) => reactions[i].user_ids.push(user),
        (None, true) => {
            reactions.push(Reaction { emoji: emoji.to_owned(), count: 0, me: false, user_ids: vec![user] })
        }
        (Some(i), false) => reactions[i].user_ids.retain(|u| *u != user),
        _ => {}
    }
    reactions.retain(|r| !r.user_ids.is_empty());
    for reaction in reactions.iter_mut() {
        reaction.count = reaction.user_ids.len() as u32;
        reaction.me = me.is_some_and(|me| reaction.user_ids.contains(&me));
    }
}

/// A conversation's messages and composer, DM or room alike, for the intents below.
struct Chat<'a> {
    draft: &'a mut String,
    compose: &'a mut Compose,
    focus: &'a mut bool,
    jump_to: &'a mut Option<MessageId>,
    loading: bool,
    /// (id, author, text, reactions) of each loaded message, oldest first.
    messages: Vec<(MessageId, UserId, &'a str, &'a [Reaction])>,
}

impl Chat<'_> {
    fn message(&self, id: MessageId) -> Option<(UserId, &str, &[Reaction])> {
        self.messages.iter().find(|m| m.0 == id).map(|m| (m.1, m.2, m.3))
    }
}

/// The parts of a DM conversation or a room chat the intents touch.
macro_rules! chat_view {
    ($c:expr) => {{
        let c = $c;
        Chat {
            draft: &mut c.draft,
            compose: &mut c.compose,
            focus: &mut c.focus_composer,
            jump_to: &mut c.jump_to,
            loading: c.loading,
            messages: c
                .messages
                .iter()
                .map(|(id, m)| (*id, m.sender(), m.content(), m.reactions()))
                .collect(),
        }
    }};
}

impl AppState {
    fn my_id(&self) -> Option<UserId> {
        self.me.as_ref().map(|u| u.id)
    }

    fn chat(&mut self, place: Where) -> Chat<'_> {
        match place {
            Where::Dm(peer) => chat_view!(self.conversations.entry(peer).or_default()),
            Where::Room(room) => chat_view!(self.room_chats.entry(room).or_default()),
        }
    }

    /// "Reply": the next message answers `id`.
    pub fn start_reply(&mut self, place: Where, id: MessageId) {
        let chat = self.chat(place);
        if matches!(chat.compose, Compose::Editing(_)) {
            chat.draft.clear();
        }
        *chat.compose = Compose::Replying(id);
        *chat.focus = true;
    }

    /// "Edit": the composer takes the text of my message `id`.
    pub fn start_edit(&mut self, place: Where, id: MessageId) {
        let me = self.my_id();
        let chat = self.chat(place);
        let Some((author, content, _)) = chat.message(id) else { return };
        if Some(author) != me {
            return;
        }
        let content = content.to_owned();
        let people = self.mentionable(place);
        let name_of = |user: UserId| {
            people.iter().find(|(id, _)| *id == user).map_or_else(|| "someone".to_owned(), |(_, n)| n.clone())
        };
        let content = concord_common::chat::with_names(&content, name_of);
        let chat = self.chat(place);
        *chat.draft = content;
        *chat.compose = Compose::Editing(id);
        *chat.focus = true;
    }

    /// ↑ in an empty composer: edit my newest loaded message. Whether it did.
    pub fn edit_last(&mut self, place: Where) -> bool {
        let me = self.my_id();
        let chat = self.chat(place);
        if !chat.draft.is_empty() || matches!(chat.compose, Compose::Editing(_)) {
            return false;
        }
        let Some(id) = chat.messages.iter().rev().find(|m| Some(m.1) == me).map(|m| m.0) else {
            return false;
        };
        self.start_edit(place, id);
        true
    }

    /// Who a mention in `place` can name: the room's members, or the two of
    /// a DM (id, username).
    pub fn mentionable(&self, place: Where) -> Vec<(UserId, String)> {
        match place {
            Where::Room(room) => self
                .room(room)
                .map(|r| r.members.iter().map(|m| (m.id, m.username.clone())).collect())
                .unwrap_or_default(),
            Where::Dm(peer) => {
                let mut people: Vec<(UserId, String)> =
                    self.me.iter().map(|u| (u.id, u.username.clone())).collect();
                people.extend(self.friend(peer).map(|f| (f.user.id, f.user.username.clone())));
                people
            }
        }
    }

    /// While the draft ends in `@` and part of a name: who it could be (at most 8).
    pub fn mention_completions(&self, place: Where, draft: &str) -> Vec<(UserId, String)> {
        let Some(at) = draft.rfind('@') else { return vec![] };
        let typed = &draft[at + 1..];
        let starts_word = draft[..at].chars().last().is_none_or(char::is_whitespace);
        if !starts_word || typed.chars().any(char::is_whitespace) {
            return vec![];
        }
        let typed = typed.to_lowercase();
        let mut people: Vec<(UserId, String)> = self
            .mentionable(place)
            .into_iter()
            .filter(|(_, name)| name.to_lowercase().starts_with(&typed) && name.to_lowercase() != typed)
            .collect();
        people.sort_by(|a, b| a.1.cmp(&b.1));
        people.truncate(8);
        people
    }

    /// Picking a completion: the `@part` being typed becomes `@name `.
    pub fn complete_mention(&mut self, place: Where, name: &str) {
        let chat = self.chat(place);
        if let Some(at) = chat.draft.rfind('@') {
            chat.draft.truncate(at);
            chat.draft.push_str(&format!("@{name} "));
        }
        *chat.focus = true;
    }

    /// Adds `text` (a picked emoji) to the end of the composer of `place`,
    /// and puts the cursor back there.
    pub(super) fn append_to_draft(&mut self, place: Where, text: &str) {
        let chat = self.chat(place);
        chat.draft.push_str(text);
        *chat.focus = true;
    }

    /// The text to send: each `@name` of someone here becomes `<@id>`
    /// (longest names first, so "@bob smith" is not read as "@bob").
    pub(super) fn mentions_to_ids(&self, place: Where, text: &str) -> String {
        let mut people = self.mentionable(place);
        people.sort_by_key(|(_, name)| std::cmp::Reverse(name.len()));
        let mut out = text.to_owned();
        for (id, name) in people {
            let written = format!("@{name}");
            let mut result = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(at) = rest.find(&written) {
                let after = &rest[at + written.len()..];
                let ends_word = after.chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_');
                result.push_str(&rest[..at]);
                if ends_word {
                    result.push_str(&concord_common::chat::mention(id));
                } else {
                    result.push_str(&written);
                }
                rest = after;
            }
            result.push_str(rest);
            out = result;
        }
        out
    }

    /// What `place` notifies me of: my choice, else every message in a DM and
    /// the mentions of me in a room.
    pub fn notify_level(&self, place: Where) -> NotifyLevel {
        self.persisted.notify.get(&place).copied().unwrap_or(match place {
            Where::Dm(_) => NotifyLevel::All,
            Where::Room(_) => NotifyLevel::Mentions,
        })
    }

    /// Chooses what `place` notifies me of (kept across restarts).
    pub fn set_notify_level(&mut self, place: Where, level: NotifyLevel) {
        self.persisted.notify.insert(place, level);
    }

    /// Whether a message from someone else in `place`, mentioning me or not,
    /// should notify me.
    pub(super) fn notifies(&self, place: Where, mentions_me: bool) -> bool {
        match self.notify_level(place) {
            NotifyLevel::All => true,
            NotifyLevel::Mentions => mentions_me,
            NotifyLevel::Nothing => false,
        }
    }

    /// Esc: stop editing (the draft goes back to empty) or replying.
    pub fn cancel_compose(&mut self, place: Where) {
        let chat = self.chat(place);
        if matches!(chat.compose, Compose::Editing(_)) {
            chat.draft.clear();
        }
        *chat.compose = Compose::New;
    }

    /// "Delete": asks first (it goes for everyone).
    pub fn ask_delete_message(&mut self, place: Where, id: MessageId) {
        self.confirm_delete_message = Some((place, id));
    }

    /// "Delete" confirmed (or Shift-clicked): mine, or any in a room I own
    /// (the server decides).
    pub fn delete_message(&mut self, place: Where, id: MessageId) -> Vec<Effect> {
        self.confirm_delete_message = None;
        let chat = self.chat(place);
        if *chat.compose == Compose::Editing(id) || *chat.compose == Compose::Replying(id) {
            if matches!(chat.compose, Compose::Editing(_)) {
                chat.draft.clear();
            }
            *chat.compose = Compose::New;
        }
        vec![Command::DeleteMessage { conversation: place, id }.into()]
    }

    /// Clicking a reply's quoted line: scroll to the original, loading older
    /// pages until it is there (the screen scrolls and clears `jump_to`).
    pub fn show_original(&mut self, place: Where, id: MessageId) -> Vec<Effect> {
        *self.chat(place).jump_to = Some(id);
        self.continue_jump(place)
    }

    /// After a page arrived: load the next older one while the message to
    /// jump to is not loaded yet; give up when there is nothing older.
    pub(super) fn continue_jump(&mut self, place: Where) -> Vec<Effect> {
        let chat = self.chat(place);
        match *chat.jump_to {
            Some(target) if chat.message(target).is_none() => {}
            _ => return vec![],
        }
        let effects = match place {
            Where::Dm(peer) => self.load_older(peer),
            Where::Room(room) => self.load_older_room_messages(room),
        };
        let chat = self.chat(place);
        if effects.is_empty() && !chat.loading {
            *chat.jump_to = None;
        }
        effects
    }

    /// Clicking a reaction (or picking an emoji): add mine, or take it back
    /// when it is already there.
    pub fn toggle_reaction(&mut self, place: Where, id: MessageId, emoji: &str) -> Vec<Effect> {
        let chat = self.chat(place);
        let Some((_, _, reactions)) = chat.message(id) else { return vec![] };
        let mine = reactions.iter().any(|r| r.emoji == emoji && r.me);
        vec![Command::React { conversation: place, id, emoji: emoji.to_owned(), add: !mine }.into()]
    }

    /// `message_updated`: a direct message was edited.
    pub(super) fn on_message_updated(&mut self, message: DirectMessage) {
        let peer =
            if Some(message.sender_id) == self.my_id() { message.recipient_id } else { message.sender_id };
        if let Some(conversation) = self.conversations.get_mut(&peer) {
            replace(&mut conversation.messages, message.id, message);
        }
    }

    /// `room_message_updated`: a message of a room's chat was edited.
    pub(super) fn on_room_message_updated(&mut self, message: RoomMessage) {
        if let Some(chat) = self.room_chats.get_mut(&message.room_id) {
            replace(&mut chat.messages, message.id, message);
        }
    }

    /// `message_deleted` / `room_message_deleted`.
    pub(super) fn on_message_deleted(&mut self, MessageDeleted { id, conversation }: MessageDeleted) {
        match conversation {
            Where::Dm(peer) => {
                if let Some(conversation) = self.conversations.get_mut(&peer) {
                    remove(&mut conversation.messages, id);
                }
            }
            Where::Room(room) => {
                if let Some(chat) = self.room_chats.get_mut(&room) {
                    remove(&mut chat.messages, id);
                }
            }
        }
    }

    /// `reaction_added` (`added`) / `reaction_removed`.
    pub(super) fn on_reaction(&mut self, change: ReactionChanged, added: bool) {
        let me = self.my_id();
        let ReactionChanged { conversation, message_id, emoji, user_id } = change;
        let reactions = match conversation {
            Where::Dm(peer) => self
                .conversations
                .get_mut(&peer)
                .and_then(|c| c.messages.get_mut(&message_id))
                .map(ChatMessage::reactions_mut),
            Where::Room(room) => self
                .room_chats
                .get_mut(&room)
                .and_then(|c| c.messages.get_mut(&message_id))
                .map(ChatMessage::reactions_mut),
        };
        if let Some(reactions) = reactions {
            react(reactions, &emoji, user_id, me, added);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_count_each_person_once_and_vanish_when_empty() {
        let (me, ada) = (Some(UserId(1)), UserId(2));
        let mut reactions = Vec::new();
        react(&mut reactions, "👍", ada, me, true);
        react(&mut reactions, "👍", ada, me, true);
        react(&mut reactions, "👍", UserId(1), me, true);
        react(&mut reactions, "🎉", ada, me, true);
        let brief: Vec<(&str, u32, bool)> =
            reactions.iter().map(|r| (r.emoji.as_str(), r.count, r.me)).collect();
        assert_eq!(brief, vec![("👍", 2, true), ("🎉", 1, false)]);
        react(&mut reactions, "🎉", ada, me, false);
        react(&mut reactions, "👍", UserId(1), me, false);
        let brief: Vec<(&str, u32, bool)> =
            reactions.iter().map(|r| (r.emoji.as_str(), r.count, r.me)).collect();
        assert_eq!(brief, vec![("👍", 1, false)]);
    }
}
