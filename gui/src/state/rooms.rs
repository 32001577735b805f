//! Rooms I am a member of, kept current by the room events; the open room's
//! chat (history, messages waiting in the outbox, the composer); the "New
//! room" and "Add people" forms.

use std::collections::BTreeMap;

use concord_common::events::CallParticipant;
use concord_common::events::{self, RoomRemovedReason};
use concord_common::validate;
use concord_common::{
    Conversation as Where, ErrorBody, MessageId, Room, RoomId, RoomMessage, RoomMessagePage, UserId,
};

use super::chat::Compose;
use super::{AppState, Effect, PendingMessage};
use crate::net::Command;

/// One room's chat as far as it is loaded.
#[derive(Debug, Clone, Default)]
pub struct RoomChat {
    /// Stored messages by id (= by time).
    pub messages: BTreeMap<MessageId, RoomMessage>,
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
    /// The composer's text.
    pub draft: String,
    /// Why the draft cannot be sent.
    pub draft_error: Option<String>,
    /// Put the keyboard focus in the composer on the next frame.
    pub focus_composer: bool,
    /// Whether the composer answers a message or edits one of mine.
    pub compose: Compose,
    /// Scroll to this message once it is loaded (older pages load until it is).
    pub jump_to: Option<MessageId>,
}

/// The "New room" dialog (`open`) and the open room's "Add people" and
/// rename forms.
#[derive(Debug, Clone, Default)]
pub struct RoomForms {
    /// "New room" is shown.
    pub new_room_open: bool,
    /// Its label field.
    pub new_label: String,
    /// A create request is in flight.
    pub creating: bool,
    /// Why the label cannot be used.
    pub error: Option<String>,
    /// The rename field of the open room, while renaming.
    pub rename: Option<String>,
    /// Put the cursor in the rename field on the next frame.
    pub focus_rename: bool,
    /// "Add people" is shown for the open room.
    pub add_open: bool,
    /// "Delete the room?" is being asked for the open room.
    pub confirm_delete: bool,
}

/// The room events, gathered so [`AppState::apply`] hands them over in one arm.
#[derive(Debug)]
pub(super) enum RoomEvent {
    Added(events::RoomAdded),
    Renamed(events::RoomRenamed),
    MemberAdded(events::RoomMemberAdded),
    MemberRemoved(events::RoomMemberRemoved),
    Removed(events::RoomRemoved),
    Message(events::RoomMessageCreated),
    /// Who is in a room's call: a snapshot (`call_joined`) or one change.
    Call(CallChange),
}

/// A change to who is in a room's call.
#[derive(Debug)]
pub(super) enum CallChange {
    Snapshot(RoomId, Vec<CallParticipant>),
    Upsert(RoomId, CallParticipant),
    Left(RoomId, UserId),
    /// Started (`true`) or stopped speaking.
    Speaking(RoomId, UserId, bool),
}

impl AppState {
    /// The room with this id.
    pub fn room(&self, id: RoomId) -> Option<&Room> {
        self.rooms.iter().find(|r| r.id == id)
    }

    /// Whether `user` is speaking in `room`'s call now.
    pub fn is_speaking(&self, room: RoomId, user: UserId) -> bool {
        self.speaking.contains(&(room, user))
    }

    /// Whether I own `room`.
    pub fn owns(&self, room: &Room) -> bool {
        self.me.as_ref().is_some_and(|me| me.id == room.owner_id)
    }

    /// Friends who are not in `room` yet (whom its owner can add).
    pub fn friends_outside(&self, room: &Room) -> Vec<(UserId, String)> {
        self.friends
            .iter()
            .filter(|f| !room.members.iter().any(|m| m.id == f.user.id))
            .map(|f| (f.user.id, f.user.username.clone()))
            .collect()
    }

    /// The open room.
    pub fn open_room(&self) -> Option<&Room> {
        self.selected_room.and_then(|id| self.room(id))
    }

    /// Opens a room (closing any conversation) and loads its chat.
    pub fn select_room(&mut self, room: RoomId) -> Vec<Effect> {
        self.selected = None;
        self.switcher = None;
        self.selected_room = Some(room);
        self.room_mentions.remove(&room);
        self.room_forms.rename = None;
        self.room_forms.add_open = false;
        self.room_forms.confirm_delete = false;
        let chat = self.room_chats.entry(room).or_default();
        chat.focus_composer = true;
        if chat.loaded || chat.loading {
            return vec![];
        }
        chat.loading = true;
        vec![Command::LoadRoomHistory { room, before: None }.into()]
    }

    /// A message in a room's chat: stored; unless I am looking at that room,
    /// one that mentions me counts in its badge, and it notifies me as the
    /// room's notification level says (by default: mentions only).
    pub(super) fn on_room_message(&mut self, created: events::RoomMessageCreated) -> Vec<Effect> {
        let me = self.me.as_ref().map(|u| u.id);
        let message = &created.message;
        let (room, sender, content) = (message.room_id, message.sender_id, message.content.clone());
        // The server may announce a message again (a resend after a lost
        // answer): one already here is neither news nor a mention.
        let known = self.room_chats.get(&room).is_some_and(|chat| chat.messages.contains_key(&message.id));
        let from_other = !known && me.is_some_and(|me| me != sender);
        let mentions_me = from_other && me.is_some_and(|me| message.mentions.contains(&me));
        self.apply_room_event(RoomEvent::Message(created));
        let Some(room_label) = self.room(room).map(|r| r.label.clone()) else { return vec![] };
        if !from_other || (self.selected_room == Some(room) && self.focused) {
            return vec![];
        }
        if mentions_me {
            *self.room_mentions.entry(room).or_insert(0) += 1;
        }
        if !self.notifies(Where::Room(room), mentions_me) {
            return vec![];
        }
        let name_of = |id: UserId| {
            self.room(room)
                .and_then(|r| r.members.iter().find(|m| m.id == id))
                .map_or_else(|| "someone".to_owned(), |m| m.username.clone())
        };
        let body: String = concord_common::chat::with_names(&content, name_of).chars().take(120).collect();
        let title = if mentions_me {
            format!("{} mentioned you in {room_label}", name_of(sender))
        } else {
            format!("{} in {room_label}", name_of(sender))
        };
        vec![Effect::Notify { title, body }]
    }

    /// Asks for the page before the oldest loaded message of `room`.
    pub fn load_older_room_messages(&mut self, room: RoomId) -> Vec<Effect> {
        let Some(chat) = self.room_chats.get_mut(&room) else { return vec![] };
        if chat.loading || !chat.has_more || !chat.loaded {
            return vec![];
        }
        chat.loading = true;
        vec![Command::LoadRoomHistory { room, before: chat.messages.keys().next().copied() }.into()]
    }

    /// Sends the room composer's text and files (queued if offline).
    pub fn send_room_draft(&mut self, room: RoomId) -> Vec<Effect> {
        let nonce = (self.inputs.new_nonce)();
        let chat = self.room_chats.entry(room).or_default();
        let content = chat.draft.trim_end_matches(['\n', '\r']).to_owned();
        let editing = matches!(chat.compose, Compose::Editing(_));
        let files = !editing && !self.uploads(Where::Room(room)).is_empty();
        let chat = self.room_chats.entry(room).or_default();
        if content.trim().is_empty() && !files {
            return vec![];
        }
        // Only files: no text (blank lines are not a message's text).
        let content = if content.trim().is_empty() { String::new() } else { content };
        if let Err(error) = validate::message_body(&content, usize::from(files)) {
            chat.draft_error = Some(error.message);
            return vec![];
        }
        let attachments = match files.then(|| self.take_attachments(Where::Room(room))) {
            Some(Err(wait)) => {
                self.room_chats.entry(room).or_default().draft_error = Some(wait);
                return vec![];
            }
            Some(Ok(attachments)) => attachments,
            None => Vec::new(),
        };
        let chat = self.room_chats.entry(room).or_default();
        chat.draft.clear();
        chat.draft_error = None;
        let compose = std::mem::take(&mut chat.compose);
        let content = self.mentions_to_ids(Where::Room(room), &content);
        let chat = self.room_chats.entry(room).or_default();
        match compose {
            Compose::Editing(id) => {
                vec![Command::EditMessage { conversation: Where::Room(room), id, content, nonce }.into()]
            }
            compose => {
                chat.pending.push(PendingMessage {
                    nonce: nonce.clone(),
                    content: content.clone(),
                    files: attachments.len(),
                    refused: None,
                });
                let reply_to = compose.replying_to();
                vec![Command::SendRoomMessage { room, content, nonce, reply_to, attachments }.into()]
            }
        }
    }

    /// Sends the "New room" dialog.
    pub fn submit_new_room(&mut self) -> Vec<Effect> {
        let form = &mut self.room_forms;
        if form.creating {
            return vec![];
        }
        if let Err(error) = validate::room_label(&form.new_label) {
            form.error = Some(error.message);
            return vec![];
        }
        form.creating = true;
        form.error = None;
        vec![Command::CreateRoom { label: form.new_label.trim().to_owned() }.into()]
    }

    /// Saves the open room's new name.
    pub fn submit_rename(&mut self) -> Vec<Effect> {
        let (Some(room), Some(label)) = (self.selected_room, self.room_forms.rename.take()) else {
            return vec![];
        };
        if let Err(error) = validate::room_label(&label) {
            self.notice = Some(error.message);
            return vec![];
        }
        vec![Command::RenameRoom { room, label: label.trim().to_owned() }.into()]
    }

    /// Replaces the room list (from `ready`); refreshes the open room's chat.
    pub(super) fn set_rooms(&mut self, rooms: Vec<Room>) -> Vec<Effect> {
        self.rooms = rooms;
        self.rooms.sort_by_key(|r| r.id);
        // Who speaks now comes with each room's call roster.
        self.speaking = self
            .rooms
            .iter()
            .flat_map(|r| r.in_call.iter().filter(|p| p.speaking).map(|p| (r.id, p.user_id)))
            .collect();
        let rooms = &self.rooms;
        self.room_chats.retain(|id, _| rooms.iter().any(|r| r.id == *id));
        if self.selected_room.is_some_and(|id| self.room(id).is_none()) {
            self.selected_room = None;
        }
        let mut effects = Vec::new();
        for (room, chat) in &mut self.room_chats {
            if chat.loaded && !chat.loading {
                chat.loading = true;
                effects.push(Command::LoadRoomHistory { room: *room, before: None }.into());
            }
        }
        effects
    }

    pub(super) fn apply_room_event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Added(events::RoomAdded { room }) => {
                self.rooms.retain(|r| r.id != room.id);
                self.rooms.push(room);
                self.rooms.sort_by_key(|r| r.id);
            }
            RoomEvent::Renamed(events::RoomRenamed { room_id, label }) => {
                if let Some(room) = self.rooms.iter_mut().find(|r| r.id == room_id) {
                    room.label = label;
                }
            }
            RoomEvent::MemberAdded(events::RoomMemberAdded { room_id, member }) => {
                if let Some(room) = self.rooms.iter_mut().find(|r| r.id == room_id) {
                    if !room.members.iter().any(|m| m.id == member.id) {
                        room.members.push(member);
                    }
                }
            }
            RoomEvent::MemberRemoved(events::RoomMemberRemoved { room_id, user_id }) => {
                if let Some(room) = self.rooms.iter_mut().find(|r| r.id == room_id) {
                    room.members.retain(|m| m.id != user_id);
                }
            }
            RoomEvent::Removed(events::RoomRemoved { room_id, reason }) => {
                let label = self.room(room_id).map(|r| r.label.clone());
                self.rooms.retain(|r| r.id != room_id);
                self.room_chats.remove(&room_id);
                if self.selected_room == Some(room_id) {
                    self.selected_room = None;
                }
                let what = match reason {
                    RoomRemovedReason::Deleted => "was deleted",
                    RoomRemovedReason::Removed => "no longer has you in it",
                    RoomRemovedReason::Left => return,
                };
                if let Some(label) = label {
                    self.notice = Some(format!("The room “{label}” {what}."));
                }
            }
            RoomEvent::Call(change) => self.apply_call_change(change),
            RoomEvent::Message(events::RoomMessageCreated { message }) => {
                if self.room(message.room_id).is_none() {
                    return;
                }
                let chat = self.room_chats.entry(message.room_id).or_default();
                chat.pending.retain(|p| {
                    p.nonce != message.nonce || Some(message.sender_id) != self.me.as_ref().map(|u| u.id)
                });
                chat.messages.insert(message.id, message);
            }
        }
    }

    fn apply_call_change(&mut self, change: CallChange) {
        let room_id = match &change {
            CallChange::Snapshot(room, _)
            | CallChange::Upsert(room, _)
            | CallChange::Left(room, _)
            | CallChange::Speaking(room, _, _) => *room,
        };
        let Some(room) = self.rooms.iter_mut().find(|r| r.id == room_id) else { return };
        match change {
            CallChange::Speaking(_, user, speaking) => {
                // Only someone in the call speaks in it.
                if speaking && room.in_call.iter().any(|p| p.user_id == user) {
                    self.speaking.insert((room_id, user));
                } else {
                    self.speaking.remove(&(room_id, user));
                }
            }
            CallChange::Snapshot(_, participants) => {
                // Who speaks comes with the roster (someone mid-sentence when I look).
                self.speaking.retain(|(r, _)| *r != room_id);
                self.speaking
                    .extend(participants.iter().filter(|p| p.speaking).map(|p| (room_id, p.user_id)));
                room.in_call = participants;
            }
            CallChange::Upsert(_, participant) => {
                if participant.speaking {
                    self.speaking.insert((room_id, participant.user_id));
                } else {
                    self.speaking.remove(&(room_id, participant.user_id));
                }
                match room.in_call.iter_mut().find(|p| p.user_id == participant.user_id) {
                    Some(existing) => *existing = participant,
                    None => room.in_call.push(participant),
                }
            }
            CallChange::Left(_, user) => {
                room.in_call.retain(|p| p.user_id != user);
                self.speaking.remove(&(room_id, user));
            }
        }
    }

    pub(super) fn on_room_created(&mut self, room: Room) -> Vec<Effect> {
        self.room_forms = super::RoomForms::default();
        let id = room.id;
        self.apply_room_event(RoomEvent::Added(events::RoomAdded { room }));
        self.select_room(id)
    }

    pub(super) fn on_room_history(&mut self, room: RoomId, before: Option<MessageId>, page: RoomMessagePage) {
        let chat = self.room_chats.entry(room).or_default();
        chat.loading = false;
        chat.load_error = None;
        if before.is_some() || !chat.loaded {
            chat.has_more = page.has_more;
        }
        chat.loaded = true;
        for message in page.messages {
            chat.messages.insert(message.id, message);
        }
    }

    pub(super) fn on_room_history_failed(&mut self, room: RoomId, error: String) {
        let chat = self.room_chats.entry(room).or_default();
        chat.loading = false;
        chat.load_error = Some(error);
    }

    pub(super) fn on_room_message_sent(&mut self, room: RoomId, nonce: &str, message: RoomMessage) {
        let chat = self.room_chats.entry(room).or_default();
        chat.pending.retain(|p| p.nonce != nonce);
        chat.messages.insert(message.id, message);
    }

    pub(super) fn on_room_message_refused(&mut self, room: RoomId, nonce: &str, error: ErrorBody) {
        let chat = self.room_chats.entry(room).or_default();
        if let Some(pending) = chat.pending.iter_mut().find(|p| p.nonce == nonce) {
            pending.refused = Some(error.message);
        }
    }
}
