//! Everything the client knows, and the one place it changes: network and
//! media events are applied by [`AppState::apply`] and
//! [`AppState::apply_media`], user intents by the `AppState` methods the
//! screens call. Both return one list of [`Effect`]s (network and media
//! commands, notifications, sounds) for the app to carry out. The state is
//! split along the product's seams: [`session`] (login, what survives a
//! restart), [`social`] (friends, invites) and [`conversations`] (history,
//! outbox, composer); this file holds the whole and dispatches events.

mod call;
mod chat;
mod conversations;
mod effect;
mod emoji;
mod rooms;
mod search;
mod session;
mod social;
#[cfg(test)]
mod tests;
mod uploads;

use std::collections::HashMap;
use std::time::Duration;

use concord_common::events;
use concord_common::{Friend, InviteList, Room, RoomId, ServerEvent, User, UserId};
use web_time::Instant;

pub use call::{
    concerns_call, ActiveCall, CallPhase, CallSound, CallsUnavailable, JoinMode, TileKey, STATS_SECONDS,
};
pub use chat::Compose;
pub use conversations::{Conversation, PendingMessage};
pub use effect::Effect;
pub use emoji::{EmojiPicker, EmojiPrefs, PickFor, RECENT_EMOJI};
use rooms::{CallChange, RoomEvent};
pub use rooms::{RoomChat, RoomForms};
pub use search::MessageSearch;
pub use session::{AuthMode, LoginForm, Persisted, StoredSession};
pub use social::{AddFriendForm, JumpTarget};
pub use uploads::{picture_key, Files, Picture, Upload, UploadState};

use crate::media::protocol::{MediaCommand, MediaEvent, MicCheckReport};
use crate::net::{Command, Connection, NetEvent};

/// Server the first-run screen suggests.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";
/// How long a typing indicator lasts without a new `typing` event.
pub const TYPING_SHOWN_FOR: Duration = Duration::from_secs(6);
/// Send `typing` at most this often.
pub const TYPING_SEND_EVERY: Duration = Duration::from_secs(3);

/// Everything the client knows.
#[derive(Debug, Default)]
pub struct AppState {
    /// What survives a restart.
    pub persisted: Persisted,
    /// The login screen.
    pub login: LoginForm,
    /// The realtime connection; `None` while logged out.
    pub connection: Option<Connection>,
    /// The account, once `ready` arrived.
    pub me: Option<User>,
    /// Friends, by name.
    pub friends: Vec<Friend>,
    /// Pending invites.
    pub invites: InviteList,
    /// Unread counts per friend.
    pub unread: HashMap<UserId, u64>,
    /// Loaded conversations.
    pub conversations: HashMap<UserId, Conversation>,
    /// The open conversation.
    pub selected: Option<UserId>,
    /// The open room (instead of a conversation).
    pub selected_room: Option<RoomId>,
    /// Rooms I am a member of, oldest first.
    pub rooms: Vec<Room>,
    /// Who is speaking in which room's call now (the server's `call_speaking`).
    pub speaking: std::collections::BTreeSet<(RoomId, UserId)>,
    /// Room chats as far as loaded, per room.
    pub room_chats: HashMap<RoomId, RoomChat>,
    /// Messages that mention me per room, since I last had it open.
    pub room_mentions: HashMap<RoomId, u64>,
    /// "Delete this message?" is being asked for this message.
    pub confirm_delete_message: Option<(concord_common::Conversation, concord_common::MessageId)>,
    /// The room dialogs and forms.
    pub room_forms: RoomForms,
    /// The "Add friend" dialog.
    pub add_friend: AddFriendForm,
    /// The Ctrl+K switcher's query, when open.
    pub switcher: Option<String>,
    /// Message search (Ctrl+F).
    pub search: MessageSearch,
    /// A one-line notice (e.g. "Invite sent"), dismissable.
    pub notice: Option<String>,
    /// Whether the window has focus (for notifications and read marks).
    pub focused: bool,
    /// Where the push-to-talk key works here, in words (Settings → Voice).
    pub push_to_talk_scope: String,
    /// The Settings window.
    pub settings: crate::settings::SettingsPanel,
    /// Uploads in the composers, and the pictures of messages.
    pub files: Files,
    /// The emoji picker, when open.
    pub emoji_picker: Option<EmojiPicker>,
    /// The call I am in.
    pub call: Option<ActiveCall>,
    /// Why this page cannot make calls (plain http from elsewhere than
    /// localhost, or a browser without WebRTC); never on the desktop. Read
    /// once at start.
    pub calls_blocked: Option<CallsUnavailable>,
    /// Where time and nonces come from (tests substitute their own).
    pub inputs: Inputs,
}

/// The state's only sources of outside facts: the clock and fresh nonces.
/// Everything else arrives as an event, so [`AppState`] stays a pure
/// function of its inputs.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    /// The current instant (typing indicators and their throttling).
    pub now: fn() -> Instant,
    /// A fresh message nonce.
    pub new_nonce: fn() -> String,
}

impl Default for Inputs {
    fn default() -> Self {
        Self { now: Instant::now, new_nonce: crate::platform::new_nonce }
    }
}

impl AppState {
    /// Opens Settings and asks for the device list.
    pub fn open_settings(&mut self) -> Vec<Effect> {
        self.settings.open = true;
        if self.settings.listing {
            return vec![];
        }
        self.settings.listing = true;
        vec![MediaCommand::ListDevices.into()]
    }

    /// Starts the call test with the chosen devices (one at a time).
    pub fn run_call_test(&mut self) -> Vec<Effect> {
        if self.settings.testing {
            return vec![];
        }
        self.settings.testing = true;
        self.settings.result = None;
        vec![MediaCommand::RunCallTest(self.persisted.media.clone()).into()]
    }

    /// "Let me hear myself": starts playing my microphone back through the
    /// voice chain, or stops it. Not in a call: the call's meter shows my
    /// level there, and the microphone is the call's.
    pub fn toggle_mic_check(&mut self) -> Vec<Effect> {
        if self.settings.mic_check {
            return self.stop_mic_check();
        }
        if self.call.is_some() {
            return vec![];
        }
        self.settings.mic_check = true;
        self.settings.mic_level = None;
        self.settings.mic_check_key_down = false;
        self.settings.mic_check_problem = None;
        vec![MediaCommand::StartMicCheck(self.persisted.media.clone()).into()]
    }

    /// Stops hearing myself (Settings closed, a call joined, the button).
    pub fn stop_mic_check(&mut self) -> Vec<Effect> {
        if !self.settings.mic_check {
            return vec![];
        }
        self.settings.mic_check = false;
        self.settings.mic_level = None;
        vec![MediaCommand::StopMicCheck.into()]
    }

    /// Closes Settings (Esc or its ×), and with it "Let me hear myself".
    pub fn close_settings(&mut self) -> Vec<Effect> {
        self.settings.open = false;
        self.stop_mic_check()
    }

    /// Applies what the media actor reports.
    pub fn apply_media(&mut self, event: MediaEvent) -> Vec<Effect> {
        match event {
            MediaEvent::MicCheck(MicCheckReport::Level(level)) if self.settings.mic_check => {
                self.settings.mic_level = Some(level);
            }
            MediaEvent::MicCheck(MicCheckReport::Level(_)) => {}
            MediaEvent::MicCheck(MicCheckReport::Ended(reason)) => {
                self.settings.mic_check = false;
                self.settings.mic_level = None;
                self.settings.mic_check_problem = Some(reason);
            }
            MediaEvent::Devices(devices) => {
                self.settings.listing = false;
                self.settings.devices = devices;
            }
            MediaEvent::CallTestFinished(result) => {
                self.settings.testing = false;
                self.settings.result = Some(result);
            }
            MediaEvent::Call { room, report } => return self.on_call_report(room, report),
        }
        vec![]
    }

    /// State restored from `persisted`; returns it with the effects that
    /// resume a kept session (or a notice if it expired).
    pub fn restore(persisted: Persisted, now_ms: i64) -> (Self, Vec<Effect>) {
        let mut state = AppState {
            persisted,
            focused: true,
            push_to_talk_scope: if cfg!(target_arch = "wasm32") {
                "In the browser, the key works while this page has focus."
            } else {
                "The key works while Concord's window is focused."
            }
            .to_owned(),
            calls_blocked: crate::platform::calls_unavailable(),
            ..Default::default()
        };
        state.login.focus_first = true;
        if let Some(origin) = crate::platform::page_origin() {
            // In a browser the page came from the server: nothing to pick.
            state.persisted.server_url = origin;
            state.login.server_chosen = true;
        } else if state.persisted.server_url.is_empty() {
            state.persisted.server_url = DEFAULT_SERVER.to_owned();
        }
        state.login.server = state.persisted.server_url.clone();
        if crate::platform::wants_register() {
            state.login.mode = AuthMode::Register;
        }
        let mut effects = Vec::new();
        match state.persisted.session.clone() {
            Some(session) if session.expires_at_ms > now_ms => {
                state.login.server_chosen = true;
                state.connection = Some(Connection::Connecting);
                effects.push(
                    Command::Resume { server: state.persisted.server_url.clone(), token: session.token }
                        .into(),
                );
            }
            Some(session) => {
                state.persisted.session = None;
                state.login.server_chosen = true;
                state.login.email = session.user.email;
                state.notice = Some("Your session has expired. Log in again.".into());
            }
            None => {}
        }
        (state, effects)
    }

    /// Applies a network event (and asks for the thumbnails of the
    /// pictures it brings, to show them as soon as they are on screen).
    pub fn apply(&mut self, event: NetEvent) -> Vec<Effect> {
        let thumbnails = uploads::thumbnails_in(&event);
        let mut effects = self.apply_event(event);
        for url in thumbnails {
            effects.extend(self.want_picture(&url).1);
        }
        effects
    }

    fn apply_event(&mut self, event: NetEvent) -> Vec<Effect> {
        match event {
            NetEvent::Authenticated { server, auth } => return self.on_authenticated(server, auth),
            NetEvent::AuthFailed { error } => self.on_auth_failed(error),
            NetEvent::Connection(connection) => self.on_connection(connection),
            NetEvent::SessionExpired { message } => return self.on_session_expired(message),
            NetEvent::Server(event) => return self.apply_server_event(event),
            NetEvent::History { peer, before, page } => {
                self.on_history(peer, before, page);
                return self.continue_jump(concord_common::Conversation::Dm(peer));
            }
            NetEvent::HistoryFailed { peer, error } => self.on_history_failed(peer, error),
            NetEvent::MessageSent { peer, nonce, message } => self.on_message_sent(peer, &nonce, message),
            NetEvent::MessageRefused { peer, nonce, error } => self.on_message_refused(peer, &nonce, error),
            NetEvent::InviteResult(result) => self.on_invite_result(result),
            NetEvent::ActionFailed { error } => {
                self.room_forms.creating = false;
                self.notice = Some(error.message);
            }
            NetEvent::RoomCreated { room } => return self.on_room_created(room),
            NetEvent::RoomHistory { room, before, page } => {
                self.on_room_history(room, before, page);
                return self.continue_jump(concord_common::Conversation::Room(room));
            }
            NetEvent::RoomHistoryFailed { room, error } => self.on_room_history_failed(room, error),
            NetEvent::RoomMessageSent { room, nonce, message } => {
                self.on_room_message_sent(room, &nonce, message)
            }
            NetEvent::RoomMessageRefused { room, nonce, error } => {
                self.on_room_message_refused(room, &nonce, error)
            }
            NetEvent::CallRequestNotSent { .. } => {}
            NetEvent::UploadProgress { key, sent, .. } => self.on_upload_progress(key, sent),
            NetEvent::Uploaded { key, attachment } => self.on_uploaded(key, attachment),
            NetEvent::UploadFailed { key, error } => self.on_upload_failed(key, error),
            NetEvent::AttachmentFetched { url, bytes } => self.on_attachment_fetched(&url, bytes),
            NetEvent::SearchResults { seq, before, page } => self.on_search_results(seq, before, page),
        }
        vec![]
    }

    fn apply_server_event(&mut self, event: ServerEvent) -> Vec<Effect> {
        let mut effects = self.on_call_frame(&event);
        match event {
            ServerEvent::Ready(events::Ready { me, friends, invites, unread, rooms, .. }) => {
                if let Some(session) = &mut self.persisted.session {
                    session.user = me.clone();
                }
                self.me = Some(me);
                self.friends = friends;
                self.sort_friends();
                self.invites = invites;
                self.unread = unread.into_iter().map(|u| (u.user_id, u.count)).collect();
                effects.extend(self.reload_open_conversations());
                effects.extend(self.set_rooms(rooms));
                if let Some(peer) = self.selected {
                    effects.extend(self.mark_read_if_visible(peer).map(Effect::from));
                }
            }
            ServerEvent::MessageCreated(events::MessageCreated { message }) => {
                effects.extend(self.on_message_created(message))
            }
            ServerEvent::MessageUpdated(events::MessageUpdated { message }) => {
                self.on_message_updated(message)
            }
            ServerEvent::RoomMessageUpdated(events::RoomMessageUpdated { message }) => {
                self.on_room_message_updated(message)
            }
            ServerEvent::MessageDeleted(deleted) | ServerEvent::RoomMessageDeleted(deleted) => {
                self.on_message_deleted(deleted)
            }
            ServerEvent::ReactionAdded(change) => self.on_reaction(change, true),
            ServerEvent::ReactionRemoved(change) => self.on_reaction(change, false),
            ServerEvent::InviteCreated(events::InviteCreated { invite }) => self.upsert_invite(invite),
            ServerEvent::InviteRemoved(events::InviteRemoved { invite_id, .. }) => {
                self.remove_invite(invite_id)
            }
            ServerEvent::FriendAdded(events::FriendAdded { friend }) => self.upsert_friend(friend),
            ServerEvent::FriendRemoved(events::FriendRemoved { user_id }) => self.remove_friend(user_id),
            ServerEvent::Presence(events::Presence { user_id, online }) => self.set_presence(user_id, online),
            ServerEvent::Typing(events::FriendTyping { user_id }) => self.on_typing(user_id),
            ServerEvent::DmRead(events::DmRead { user_id, .. }) => {
                self.unread.remove(&user_id);
            }
            ServerEvent::RoomAdded(e) => self.apply_room_event(RoomEvent::Added(e)),
            ServerEvent::RoomRenamed(e) => self.apply_room_event(RoomEvent::Renamed(e)),
            ServerEvent::RoomMemberAdded(e) => self.apply_room_event(RoomEvent::MemberAdded(e)),
            ServerEvent::RoomMemberRemoved(e) => self.apply_room_event(RoomEvent::MemberRemoved(e)),
            ServerEvent::RoomRemoved(e) => self.apply_room_event(RoomEvent::Removed(e)),
            ServerEvent::RoomMessageCreated(e) => effects.extend(self.on_room_message(e)),
            ServerEvent::CallJoined(events::CallJoined { room_id, participants, .. }) => {
                self.apply_room_event(RoomEvent::Call(CallChange::Snapshot(room_id, participants)))
            }
            ServerEvent::CallParticipantJoined(events::CallParticipantJoined { room_id, participant })
            | ServerEvent::CallParticipantUpdated(events::CallParticipantUpdated { room_id, participant })
            | ServerEvent::CallUpdated(events::CallUpdated { room_id, participant }) => {
                self.apply_room_event(RoomEvent::Call(CallChange::Upsert(room_id, participant)))
            }
            ServerEvent::CallParticipantLeft(events::CallParticipantLeft { room_id, user_id, .. }) => {
                self.apply_room_event(RoomEvent::Call(CallChange::Left(room_id, user_id)))
            }
            ServerEvent::CallSpeaking(events::CallSpeaking { room_id, user_id, speaking }) => {
                self.apply_room_event(RoomEvent::Call(CallChange::Speaking(room_id, user_id, speaking)))
            }
            // My own call's frames: `on_call_frame` above, and the media side.
            ServerEvent::CallLeft(_)
            | ServerEvent::CallPublishAnswer(_)
            | ServerEvent::CallSubscribeOffer(_)
            | ServerEvent::CallSubscribeAccepted(_)
            | ServerEvent::CallViewAccepted(_)
            | ServerEvent::CallVideoWanted(_)
            | ServerEvent::CallVideoQuality(_) => {}
            ServerEvent::Error(events::Refused { error }) => self.notice = Some(error.message),
            ServerEvent::HeartbeatAck => {}
        }
        effects
    }

    fn mark_read_if_visible(&mut self, peer: UserId) -> Option<Command> {
        self.unread.remove(&peer).filter(|n| *n > 0).map(|_| Command::MarkRead { peer })
    }

    /// The window gained or lost focus.
    pub fn set_focused(&mut self, focused: bool) -> Vec<Effect> {
        self.focused = focused;
        if let Some(room) = self.selected_room.filter(|_| focused) {
            self.room_mentions.remove(&room);
        }
        match (focused, self.selected) {
            (true, Some(peer)) => self.mark_read_if_visible(peer).into_iter().map(Effect::from).collect(),
            _ => vec![],
        }
    }
}

impl AppState {
    /// What a browser test needs to see, as JSON (the canvas has no DOM).
    #[cfg(feature = "test-hooks")]
    pub fn test_summary(&self) -> serde_json::Value {
        let name = |id: UserId| self.friend(id).map_or_else(|| id.to_string(), |f| f.user.username.clone());
        let me = self.me.as_ref().map(|u| u.id);
        let tile_name = |(user, source): (UserId, events::TrackSource)| {
            let who = if Some(user) == me { "me".to_owned() } else { name(user) };
            format!("{who}:{source:?}")
        };
        serde_json::json!({
            "screen": if self.logged_in() { "main" } else { "login" },
            "mode": format!("{:?}", self.login.mode),
            "online": self.connection == Some(Connection::Online),
            "me": self.me.as_ref().map(|u| u.username.clone()),
            "friends": self.friends.iter().map(|f| serde_json::json!({
                "name": f.user.username, "online": f.online, "unread": self.unread.get(&f.user.id).copied().unwrap_or(0),
            })).collect::<Vec<_>>(),
            "invites_in": self.invites.incoming.iter().map(|i| i.from.username.clone()).collect::<Vec<_>>(),
            "selected": self.selected.map(name),
            "messages": self.conversations.iter().map(|(peer, c)| {
                (name(*peer), c.messages.values().map(|m| m.content.clone()).collect::<Vec<_>>())
            }).collect::<std::collections::BTreeMap<_, _>>(),
            "pending": self.conversations.values().map(|c| c.pending.len()).sum::<usize>(),
            "rooms": self.rooms.iter().map(|r| serde_json::json!({
                "label": r.label, "members": r.members.iter().map(|m| m.username.clone()).collect::<Vec<_>>(),
                // Who is in the call, as the room's list and the tiles show them ("me" for mine).
                "in_call": r.in_call.iter().map(|p| serde_json::json!({
                    "name": if Some(p.user_id) == me { "me".to_owned() } else { name(p.user_id) },
                    "media": p.media,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "selected_room": self.open_room().map(|r| r.label.clone()),
            "calls_supported": self.calls_supported(),
            "calls_unavailable": self.calls_unavailable().map(|why| format!("{why:?}")),
            "call": self.call.as_ref().and_then(|c| self.room(c.room)).map(|r| r.label.clone()),
            "notice": self.notice,
            "call_phase": self.call.as_ref().map(|c| format!("{:?}", c.phase)),
            "call_problem": self.call.as_ref().and_then(|c| c.problem.clone()),
            // My microphone's level (dBFS) and whether it is sent: the Settings meter.
            "call_input": self.call.as_ref().and_then(|c| c.input_level).map(|l| {
                serde_json::json!({ "level_db": l.level_db, "sending": l.sending })
            }),
            "call_media": self.call.as_ref().map(|c| {
                let mine = self.room(c.room).and_then(|r| r.in_call.iter().find(|p| Some(p.user_id) == me));
                serde_json::json!(mine.map(|p| p.media))
            }),
            // Tiles by "name:source" ("me" for mine): which have a picture, the frames each
            // has shown (browser), and each remote track's latest second's frame rate (audio: packets).
            "call_videos": self.call.as_ref().map(|c| {
                c.videos.keys().map(|key| tile_name(*key)).collect::<Vec<_>>()
            }),
            "call_frames": self.call.as_ref().map(|c| {
                c.videos.iter().filter_map(|(key, v)| v.frames_presented().map(|n| (tile_name(*key), n)))
                    .collect::<std::collections::BTreeMap<_, _>>()
            }),
            "call_rates": self.call.as_ref().map(|c| {
                c.stats.iter().filter_map(|(key, samples)| samples.back().map(|s| (tile_name(*key), s.fps)))
                    .collect::<std::collections::BTreeMap<_, _>>()
            }),
            "room_messages": self.rooms.iter().map(|r| {
                let chat = self.room_chats.get(&r.id);
                (r.label.clone(), chat.map(|c| c.messages.values().map(|m| m.content.clone()).collect::<Vec<_>>()).unwrap_or_default())
            }).collect::<std::collections::BTreeMap<_, _>>(),
            // The composers' files ("name:sending|ready|failed"), the files of
            // loaded room messages, and how many pictures have arrived.
            "uploads": self.files.uploads.values().flatten().map(|u| format!("{}:{}", u.name, match u.state {
                UploadState::Sending => "sending",
                UploadState::Ready(_) => "ready",
                UploadState::Failed(_) => "failed",
            })).collect::<Vec<_>>(),
            // Uploads on their way: "name:sent/size" (the progress bar's figures).
            "upload_progress": self.files.uploads.values().flatten()
                .filter(|u| u.state == UploadState::Sending)
                .map(|u| format!("{}:{}/{}", u.name, u.sent, u.size)).collect::<Vec<_>>(),
            "room_attachments": self.room_chats.values().flat_map(|c| c.messages.values())
                .flat_map(|m| m.attachments.iter().map(|a| a.name.clone())).collect::<Vec<_>>(),
            "pictures_loaded": self.files.pictures.values().filter(|p| matches!(p, Picture::Loaded(_))).count(),
            // The search window's hits, as their text.
            "search": self.search.open.then(|| self.search.hits.iter().map(|h| h.content.clone()).collect::<Vec<_>>()),
            // The message a conversation is scrolling to (a search hit, a quoted reply).
            "jumping": self.open_place().is_some_and(|place| match place {
                concord_common::Conversation::Dm(peer) => self.conversations.get(&peer).is_some_and(|c| c.jump_to.is_some()),
                concord_common::Conversation::Room(room) => self.room_chats.get(&room).is_some_and(|c| c.jump_to.is_some()),
            }),
        })
    }
}
