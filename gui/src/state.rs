//! Everything the client knows, and the one place it changes: network events
//! are applied by [`AppState::apply`], user intents by the `AppState` methods
//! the screens call. Both return the [`Command`]s to send.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use concord_common::validate;
use concord_common::{
    CreateInviteResponse, DirectMessage, Friend, InviteList, MessageId, ServerEvent, User, UserId,
};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::media::{MediaCommand, MediaEvent};
use crate::net::{Command, Connection, NetEvent};

/// Server the first-run screen suggests.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";
/// How long a typing indicator lasts without a new `typing` event.
pub const TYPING_SHOWN_FOR: Duration = Duration::from_secs(6);
/// Send `typing` at most this often.
pub const TYPING_SEND_EVERY: Duration = Duration::from_secs(3);

/// What survives a restart (kept in eframe's storage / the browser's local storage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    /// The server last used.
    pub server_url: String,
    /// The logged-in session, if any.
    pub session: Option<StoredSession>,
    /// Chosen call devices.
    #[serde(default)]
    pub media: crate::settings::MediaSettings,
}

/// A login kept across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Bearer token.
    pub token: String,
    /// When it stops working (Unix ms).
    pub expires_at_ms: i64,
    /// Who is logged in.
    pub user: User,
}

/// Login or register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Existing account.
    #[default]
    Login,
    /// New account.
    Register,
}

/// The first-run / login screen's fields.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    /// Whether the server address has been confirmed.
    pub server_chosen: bool,
    /// The server address being edited.
    pub server: String,
    /// Login or register.
    pub mode: AuthMode,
    /// Email field.
    pub email: String,
    /// Username field (register only).
    pub username: String,
    /// Password field.
    pub password: String,
    /// A request is in flight.
    pub pending: bool,
    /// An error not tied to one field.
    pub error: Option<String>,
    /// Errors shown beside a field, by field name (`email`, `username`, `password`).
    pub field_errors: BTreeMap<String, String>,
    /// Put the keyboard focus in the screen's first field on the next frame.
    pub focus_first: bool,
}

/// A message typed here that the server has not stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMessage {
    /// Its idempotency key.
    pub nonce: String,
    /// Its text.
    pub content: String,
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
    /// Set when an older page was prepended, so the view can keep its place.
    pub prepended: bool,
    /// Height of the history as last drawn (view state, not data).
    pub view_height: f32,
    /// Scroll offset as last drawn.
    pub view_offset: f32,
    /// Scroll here on the next frame.
    pub scroll_to: Option<f32>,
    /// Put the keyboard focus in the composer on the next frame.
    pub focus_composer: bool,
    /// Measured height of each drawn message row, for drawing only what is visible.
    pub row_heights: HashMap<MessageId, f32>,
    /// The width `row_heights` were measured at.
    pub rows_width: f32,
}

impl Conversation {
    /// The oldest loaded message.
    pub fn oldest(&self) -> Option<MessageId> {
        self.messages.keys().next().copied()
    }
}

/// The "Add friend" dialog.
#[derive(Debug, Clone, Default)]
pub struct AddFriendForm {
    /// Shown?
    pub open: bool,
    /// Email field.
    pub email: String,
    /// A request is in flight.
    pub pending: bool,
    /// Why it failed.
    pub error: Option<String>,
}

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
    /// The "Add friend" dialog.
    pub add_friend: AddFriendForm,
    /// The Ctrl+K switcher's query, when open.
    pub switcher: Option<String>,
    /// A one-line notice (e.g. "Invite sent"), dismissable.
    pub notice: Option<String>,
    /// Whether the window has focus (for notifications and read marks).
    pub focused: bool,
    /// Desktop notifications to show (title, body); drained by the app.
    pub notifications: Vec<(String, String)>,
    /// The Settings window.
    pub settings: crate::settings::SettingsPanel,
    /// Requests for the media actor; drained by the app.
    pub media_requests: Vec<MediaCommand>,
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
    pub fn open_settings(&mut self) -> Vec<Command> {
        self.settings.open = true;
        if self.settings.listing {
            return vec![];
        }
        self.settings.listing = true;
        self.media_requests.push(MediaCommand::ListDevices);
        vec![]
    }

    /// Starts the call test with the chosen devices (one at a time).
    pub fn run_call_test(&mut self) -> Vec<Command> {
        if self.settings.testing {
            return vec![];
        }
        self.settings.testing = true;
        self.settings.result = None;
        self.media_requests.push(MediaCommand::RunCallTest(self.persisted.media.clone()));
        vec![]
    }

    /// Applies what the media actor reports.
    pub fn apply_media(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Devices(devices) => {
                self.settings.listing = false;
                self.settings.devices = devices;
            }
            MediaEvent::CallTestFinished(result) => {
                self.settings.testing = false;
                self.settings.result = Some(result);
            }
        }
    }

    /// State restored from `persisted`; returns it with the commands that
    /// resume a kept session (or a notice if it expired).
    pub fn restore(persisted: Persisted, now_ms: i64) -> (Self, Vec<Command>) {
        let mut state = AppState { persisted, focused: true, ..Default::default() };
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
        let mut commands = Vec::new();
        match state.persisted.session.clone() {
            Some(session) if session.expires_at_ms > now_ms => {
                state.login.server_chosen = true;
                state.connection = Some(Connection::Connecting);
                commands.push(Command::Resume {
                    server: state.persisted.server_url.clone(),
                    token: session.token,
                });
            }
            Some(session) => {
                state.persisted.session = None;
                state.login.server_chosen = true;
                state.login.email = session.user.email;
                state.notice = Some("Your session has expired. Log in again.".into());
            }
            None => {}
        }
        (state, commands)
    }

    /// Whether someone is logged in.
    pub fn logged_in(&self) -> bool {
        self.persisted.session.is_some()
    }

    /// The friend with this id.
    pub fn friend(&self, id: UserId) -> Option<&Friend> {
        self.friends.iter().find(|f| f.user.id == id)
    }

    /// Applies a network event.
    pub fn apply(&mut self, event: NetEvent) -> Vec<Command> {
        match event {
            NetEvent::Authenticated { server, auth } => {
                self.login.pending = false;
                self.login.password.clear();
                self.login.error = None;
                self.login.field_errors.clear();
                self.notice = None;
                self.persisted.server_url = server.clone();
                self.persisted.session = Some(StoredSession {
                    token: auth.token.clone(),
                    expires_at_ms: auth.expires_at_ms,
                    user: auth.user.clone(),
                });
                self.me = Some(auth.user);
                self.connection = Some(Connection::Connecting);
                vec![Command::Resume { server, token: auth.token }]
            }
            NetEvent::AuthFailed { error } => {
                self.login.pending = false;
                match error.field {
                    Some(field) => {
                        self.login.field_errors.insert(field, error.message);
                    }
                    None => self.login.error = Some(error.message),
                }
                vec![]
            }
            NetEvent::Connection(connection) => {
                if self.logged_in() {
                    self.connection = Some(connection);
                }
                vec![]
            }
            NetEvent::SessionExpired { message } => {
                let email = self.persisted.session.as_ref().map(|s| s.user.email.clone());
                self.clear_session();
                self.login.email = email.unwrap_or_default();
                self.notice = Some(format!("{message} Log in again to continue."));
                vec![Command::Logout]
            }
            NetEvent::Server(event) => self.apply_server_event(event),
            NetEvent::History { peer, before, page } => {
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
                vec![]
            }
            NetEvent::HistoryFailed { peer, error } => {
                let conversation = self.conversations.entry(peer).or_default();
                conversation.loading = false;
                conversation.load_error = Some(error);
                vec![]
            }
            NetEvent::MessageSent { peer, nonce, message } => {
                let conversation = self.conversations.entry(peer).or_default();
                conversation.pending.retain(|p| p.nonce != nonce);
                conversation.messages.insert(message.id, message);
                vec![]
            }
            NetEvent::MessageRefused { peer, nonce, error } => {
                let conversation = self.conversations.entry(peer).or_default();
                if let Some(pending) = conversation.pending.iter_mut().find(|p| p.nonce == nonce) {
                    pending.refused = Some(error.message);
                }
                vec![]
            }
            NetEvent::InviteResult(result) => {
                self.add_friend.pending = false;
                match result {
                    Ok(CreateInviteResponse::Invited { invite }) => {
                        self.notice = Some(format!("Invite sent to {}.", invite.to.username));
                        self.upsert_invite(invite);
                        self.add_friend = AddFriendForm::default();
                    }
                    Ok(CreateInviteResponse::BecameFriends { friend }) => {
                        self.notice = Some(format!("You and {} are friends now.", friend.user.username));
                        self.upsert_friend(friend);
                        self.add_friend = AddFriendForm::default();
                    }
                    Err(error) => self.add_friend.error = Some(error.message),
                }
                vec![]
            }
            NetEvent::ActionFailed { error } => {
                self.notice = Some(error.message);
                vec![]
            }
        }
    }

    fn apply_server_event(&mut self, event: ServerEvent) -> Vec<Command> {
        let me = self.me.as_ref().map(|u| u.id);
        match event {
            ServerEvent::Ready { me, friends, invites, unread, .. } => {
                if let Some(session) = &mut self.persisted.session {
                    session.user = me.clone();
                }
                self.me = Some(me);
                self.friends = friends;
                self.sort_friends();
                self.invites = invites;
                self.unread = unread.into_iter().map(|u| (u.user_id, u.count)).collect();
                // Catch up on what happened while offline: refresh the newest
                // page of every conversation already on screen.
                let mut commands = Vec::new();
                for (peer, conversation) in &mut self.conversations {
                    if conversation.loaded || Some(*peer) == self.selected {
                        conversation.loading = true;
                        commands.push(Command::LoadHistory { peer: *peer, before: None });
                    }
                }
                if let Some(peer) = self.selected {
                    commands.extend(self.mark_read_if_visible(peer));
                }
                commands
            }
            ServerEvent::InviteCreated { invite } => {
                self.upsert_invite(invite);
                vec![]
            }
            ServerEvent::InviteRemoved { invite_id, .. } => {
                self.invites.incoming.retain(|i| i.id != invite_id);
                self.invites.outgoing.retain(|i| i.id != invite_id);
                vec![]
            }
            ServerEvent::FriendAdded { friend } => {
                self.upsert_friend(friend);
                vec![]
            }
            ServerEvent::FriendRemoved { user_id } => {
                self.friends.retain(|f| f.user.id != user_id);
                self.unread.remove(&user_id);
                if self.selected == Some(user_id) {
                    self.selected = None;
                }
                vec![]
            }
            ServerEvent::Presence { user_id, online } => {
                if let Some(friend) = self.friends.iter_mut().find(|f| f.user.id == user_id) {
                    friend.online = online;
                }
                vec![]
            }
            ServerEvent::MessageCreated { message } => {
                let from_me = Some(message.sender_id) == me;
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
                    return vec![Command::MarkRead { peer }];
                }
                *self.unread.entry(peer).or_insert(0) += 1;
                let name =
                    self.friend(peer).map_or_else(|| "Someone".to_owned(), |f| f.user.username.clone());
                self.notifications.push((format!("{name} on Concord"), preview(&message.content)));
                vec![]
            }
            ServerEvent::Typing { user_id } => {
                self.conversations.entry(user_id).or_default().typing_until =
                    Some((self.inputs.now)() + TYPING_SHOWN_FOR);
                vec![]
            }
            ServerEvent::DmRead { user_id, .. } => {
                self.unread.remove(&user_id);
                vec![]
            }
            ServerEvent::Error { error } => {
                self.notice = Some(error.message);
                vec![]
            }
            ServerEvent::HeartbeatAck => vec![],
        }
    }

    fn mark_read_if_visible(&mut self, peer: UserId) -> Option<Command> {
        self.unread.remove(&peer).filter(|n| *n > 0).map(|_| Command::MarkRead { peer })
    }

    fn upsert_invite(&mut self, invite: concord_common::Invite) {
        let list = if Some(invite.to.id) == self.me.as_ref().map(|u| u.id) {
            &mut self.invites.incoming
        } else {
            &mut self.invites.outgoing
        };
        if !list.iter().any(|i| i.id == invite.id) {
            list.push(invite);
        }
    }

    fn upsert_friend(&mut self, friend: Friend) {
        self.friends.retain(|f| f.user.id != friend.user.id);
        self.friends.push(friend);
        self.sort_friends();
    }

    fn sort_friends(&mut self) {
        self.friends.sort_by(|a, b| {
            a.user
                .username
                .to_lowercase()
                .cmp(&b.user.username.to_lowercase())
                .then(a.user.id.cmp(&b.user.id))
        });
    }

    fn clear_session(&mut self) {
        let server = self.persisted.server_url.clone();
        let login = LoginForm {
            server_chosen: true,
            server: server.clone(),
            focus_first: true,
            ..Default::default()
        };
        *self = AppState {
            persisted: Persisted { server_url: server, session: None, media: self.persisted.media.clone() },
            login,
            focused: self.focused,
            ..Default::default()
        };
    }

    // ---- user intents (called by the screens) ----

    /// Confirms the server address on the first-run screen.
    pub fn choose_server(&mut self) {
        let server = self.login.server.trim().trim_end_matches('/').to_owned();
        match url::Url::parse(&server) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                self.login.server = server.clone();
                self.persisted.server_url = server;
                self.login.server_chosen = true;
                self.login.focus_first = true;
                self.login.field_errors.remove("server");
            }
            _ => {
                self.login.field_errors.insert(
                    "server".into(),
                    "Enter the server's address, like http://127.0.0.1:8000 or https://chat.example.org"
                        .into(),
                );
            }
        }
    }

    /// Validates the login/register form and sends it.
    pub fn submit_auth(&mut self) -> Vec<Command> {
        let form = &mut self.login;
        if form.pending {
            return vec![];
        }
        form.error = None;
        form.field_errors.clear();
        let mut checks = vec![validate::email(&form.email)];
        if form.mode == AuthMode::Register {
            checks.push(validate::username(&form.username));
            checks.push(validate::password(&form.password));
        } else if form.password.is_empty() {
            checks.push(Err(validate::FieldError {
                field: "password",
                message: "Enter your password.".into(),
            }));
        }
        for error in checks.into_iter().filter_map(Result::err) {
            form.field_errors.insert(error.field.to_owned(), error.message);
        }
        if !form.field_errors.is_empty() {
            return vec![];
        }
        form.pending = true;
        let server = self.persisted.server_url.clone();
        let (email, password) = (form.email.trim().to_owned(), form.password.clone());
        vec![match form.mode {
            AuthMode::Login => Command::Login { server, email, password },
            AuthMode::Register => {
                Command::Register { server, email, username: form.username.trim().to_owned(), password }
            }
        }]
    }

    /// Logs out on this device.
    pub fn logout(&mut self) -> Vec<Command> {
        self.clear_session();
        vec![Command::Logout]
    }

    /// Opens the conversation with `peer`.
    pub fn select(&mut self, peer: UserId) -> Vec<Command> {
        self.selected = Some(peer);
        self.switcher = None;
        let conversation = self.conversations.entry(peer).or_default();
        conversation.focus_composer = true;
        let mut commands = Vec::new();
        if !conversation.loaded && !conversation.loading {
            conversation.loading = true;
            commands.push(Command::LoadHistory { peer, before: None });
        }
        commands.extend(self.mark_read_if_visible(peer));
        commands
    }

    /// Asks for the page before the oldest loaded message.
    pub fn load_older(&mut self, peer: UserId) -> Vec<Command> {
        let Some(conversation) = self.conversations.get_mut(&peer) else { return vec![] };
        if conversation.loading || !conversation.has_more || !conversation.loaded {
            return vec![];
        }
        conversation.loading = true;
        vec![Command::LoadHistory { peer, before: conversation.oldest() }]
    }

    /// Sends the composer's text to `peer` (queued if offline).
    pub fn send_draft(&mut self, peer: UserId) -> Vec<Command> {
        let conversation = self.conversations.entry(peer).or_default();
        let content = conversation.draft.trim_end_matches(['\n', '\r']).to_owned();
        if content.trim().is_empty() {
            return vec![];
        }
        if let Err(error) = validate::message_content(&content) {
            conversation.draft_error = Some(error.message);
            return vec![];
        }
        conversation.draft.clear();
        conversation.draft_error = None;
        conversation.typing_sent_at = None;
        let nonce = (self.inputs.new_nonce)();
        conversation.pending.push(PendingMessage {
            nonce: nonce.clone(),
            content: content.clone(),
            refused: None,
        });
        vec![Command::SendMessage { peer, content, nonce }]
    }

    /// The composer changed: maybe tell the friend I am typing.
    pub fn draft_edited(&mut self, peer: UserId) -> Vec<Command> {
        let now = (self.inputs.now)();
        let conversation = self.conversations.entry(peer).or_default();
        if conversation.draft.trim().is_empty()
            || conversation.typing_sent_at.is_some_and(|t| now.duration_since(t) < TYPING_SEND_EVERY)
        {
            return vec![];
        }
        conversation.typing_sent_at = Some(now);
        vec![Command::Typing { peer }]
    }

    /// Sends the "Add friend" dialog.
    pub fn submit_invite(&mut self) -> Vec<Command> {
        let form = &mut self.add_friend;
        if form.pending {
            return vec![];
        }
        if let Err(error) = validate::email(&form.email) {
            form.error = Some(error.message);
            return vec![];
        }
        form.pending = true;
        form.error = None;
        vec![Command::Invite { email: form.email.trim().to_owned() }]
    }

    /// The window gained or lost focus.
    pub fn set_focused(&mut self, focused: bool) -> Vec<Command> {
        self.focused = focused;
        match (focused, self.selected) {
            (true, Some(peer)) => self.mark_read_if_visible(peer).into_iter().collect(),
            _ => vec![],
        }
    }

    /// Friends whose name contains `query` (case-insensitive), for Ctrl+K.
    pub fn matching_friends(&self, query: &str) -> Vec<&Friend> {
        let query = query.trim().to_lowercase();
        self.friends.iter().filter(|f| f.user.username.to_lowercase().contains(&query)).collect()
    }
}

impl AppState {
    /// What a browser test needs to see, as JSON (the canvas has no DOM).
    #[cfg(feature = "test-hooks")]
    pub fn test_summary(&self) -> String {
        let name = |id: UserId| self.friend(id).map_or_else(|| id.to_string(), |f| f.user.username.clone());
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
        })
        .to_string()
    }
}

fn preview(content: &str) -> String {
    let mut preview: String = content.chars().take(120).collect();
    if preview.len() < content.len() {
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_common::{AuthResponse, ErrorBody, ErrorCode, MessagePage};

    fn user(id: i64, name: &str) -> User {
        User { id: UserId(id), username: name.into(), email: format!("{name}@example.com") }
    }

    fn message(id: i64, from: i64, to: i64, text: &str) -> DirectMessage {
        DirectMessage {
            id: MessageId(id),
            sender_id: UserId(from),
            recipient_id: UserId(to),
            content: text.into(),
            nonce: format!("n{id}"),
            created_at_ms: id,
        }
    }

    fn logged_in() -> AppState {
        let (mut state, _) = AppState::restore(Persisted::default(), 0);
        state.apply(NetEvent::Authenticated {
            server: DEFAULT_SERVER.into(),
            auth: AuthResponse { token: "t".into(), expires_at_ms: i64::MAX, user: user(1, "ada") },
        });
        state.apply(NetEvent::Server(ServerEvent::Ready {
            me: user(1, "ada"),
            friends: vec![Friend { user: user(2, "bob"), online: false, since_ms: 0 }],
            invites: InviteList::default(),
            unread: vec![],
            heartbeat_interval_ms: 30_000,
        }));
        state
    }

    #[test]
    fn a_kept_session_resumes_and_an_expired_one_asks_to_log_in() {
        let session = StoredSession { token: "t".into(), expires_at_ms: 1_000, user: user(1, "ada") };
        let persisted =
            Persisted { server_url: "http://x:1".into(), session: Some(session), ..Default::default() };
        let (state, commands) = AppState::restore(persisted.clone(), 500);
        assert!(state.logged_in());
        assert_eq!(commands, vec![Command::Resume { server: "http://x:1".into(), token: "t".into() }]);
        let (state, commands) = AppState::restore(persisted, 2_000);
        assert!(!state.logged_in());
        assert!(commands.is_empty());
        assert!(state.notice.unwrap().contains("expired"));
        assert_eq!(state.login.email, "ada@example.com");
    }

    #[test]
    fn server_field_errors_land_beside_their_field() {
        let (mut state, _) = AppState::restore(Persisted::default(), 0);
        state.login.mode = AuthMode::Register;
        state.login.email = "bad".into();
        state.login.username = "x".into();
        state.login.password = "short".into();
        assert!(state.submit_auth().is_empty(), "invalid forms are not sent");
        assert_eq!(state.login.field_errors.len(), 3);
        state.login = LoginForm {
            email: "a@b.co".into(),
            username: "ada".into(),
            password: "longenough".into(),
            mode: AuthMode::Register,
            ..Default::default()
        };
        assert_eq!(state.submit_auth().len(), 1);
        assert!(state.login.pending);
        assert!(state.submit_auth().is_empty(), "no double submit while pending");
        let mut error = ErrorBody::new(ErrorCode::EmailTaken, "An account with this email already exists.");
        error.field = Some("email".into());
        state.apply(NetEvent::AuthFailed { error });
        assert!(!state.login.pending);
        assert_eq!(state.login.field_errors["email"], "An account with this email already exists.");
    }

    #[test]
    fn sent_messages_stay_pending_until_stored_and_appear_once() {
        let mut state = logged_in();
        state.select(UserId(2));
        state.conversations.get_mut(&UserId(2)).unwrap().draft = "hello\n".into();
        let commands = state.send_draft(UserId(2));
        let Command::SendMessage { nonce, content, .. } = &commands[0] else { panic!("{commands:?}") };
        assert_eq!(content, "hello");
        assert_eq!(state.conversations[&UserId(2)].pending.len(), 1);
        let mut stored = message(10, 1, 2, "hello");
        stored.nonce = nonce.clone();
        // The websocket echo may arrive before the POST answer: either clears the pending copy.
        state.apply(NetEvent::Server(ServerEvent::MessageCreated { message: stored.clone() }));
        state.apply(NetEvent::MessageSent { peer: UserId(2), nonce: nonce.clone(), message: stored });
        let conversation = &state.conversations[&UserId(2)];
        assert!(conversation.pending.is_empty());
        assert_eq!(conversation.messages.len(), 1);
    }

    #[test]
    fn incoming_messages_count_as_unread_unless_open_and_focused() {
        let mut state = logged_in();
        state.apply(NetEvent::Server(ServerEvent::MessageCreated { message: message(10, 2, 1, "one") }));
        assert_eq!(state.unread[&UserId(2)], 1);
        assert_eq!(state.notifications.len(), 1);
        let commands = state.select(UserId(2));
        assert!(commands.contains(&Command::MarkRead { peer: UserId(2) }));
        assert!(!state.unread.contains_key(&UserId(2)));
        let commands =
            state.apply(NetEvent::Server(ServerEvent::MessageCreated { message: message(11, 2, 1, "two") }));
        assert_eq!(commands, vec![Command::MarkRead { peer: UserId(2) }]);
        state.set_focused(false);
        state.apply(NetEvent::Server(ServerEvent::MessageCreated { message: message(12, 2, 1, "three") }));
        assert_eq!(state.unread[&UserId(2)], 1);
    }

    #[test]
    fn older_pages_prepend_and_reconnect_refreshes_open_conversations() {
        let mut state = logged_in();
        state.select(UserId(2));
        let page = |ids: std::ops::Range<i64>, has_more| MessagePage {
            messages: ids.rev().map(|i| message(i, 2, 1, "m")).collect(),
            has_more,
        };
        state.apply(NetEvent::History { peer: UserId(2), before: None, page: page(50..100, true) });
        assert_eq!(
            state.load_older(UserId(2)),
            vec![Command::LoadHistory { peer: UserId(2), before: Some(MessageId(50)) }]
        );
        assert!(state.load_older(UserId(2)).is_empty(), "one page at a time");
        state.apply(NetEvent::History {
            peer: UserId(2),
            before: Some(MessageId(50)),
            page: page(0..50, false),
        });
        let conversation = &state.conversations[&UserId(2)];
        assert_eq!(conversation.messages.len(), 100);
        assert!(conversation.prepended && !conversation.has_more);
        let commands = state.apply(NetEvent::Server(ServerEvent::Ready {
            me: user(1, "ada"),
            friends: vec![],
            invites: InviteList::default(),
            unread: vec![],
            heartbeat_interval_ms: 1,
        }));
        assert!(commands.contains(&Command::LoadHistory { peer: UserId(2), before: None }));
    }

    #[test]
    fn expired_session_returns_to_login_with_a_message() {
        let mut state = logged_in();
        let commands = state.apply(NetEvent::SessionExpired { message: "Your session has expired.".into() });
        assert_eq!(commands, vec![Command::Logout]);
        assert!(!state.logged_in());
        assert!(state.friends.is_empty());
        assert!(state.notice.unwrap().contains("expired"));
    }
}
