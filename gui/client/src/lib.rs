//! Concord's client library, without a UI: the REST API, the realtime
//! websocket (reconnecting with jittered backoff) and the outbox of messages
//! waiting to be sent. The desktop and web app, the tests, the benchmarks and
//! the headless bot all drive it the same way:
//!
//! A caller sends [`Command`]s through [`Net`]; network tasks answer with
//! [`NetEvent`]s and call the wake-up callback given to [`Net::start`] (the
//! app repaints; a headless caller may do nothing and poll, or notify a task).

mod actor;
mod outbox;
pub mod rest;
pub mod runtime;
mod socket;

use std::sync::Arc;

use concord_common::{
    events, Attachment, AttachmentId, AuthResponse, ClientEvent, Conversation, CreateInviteResponse,
    DirectMessage, ErrorBody, InviteId, MessageId, MessagePage, Room, RoomId, RoomMessage, RoomMessagePage,
    SearchPage, ServerEvent, UserId,
};
use tokio::sync::mpsc;

/// Commands waiting for the network tasks.
const COMMAND_QUEUE: usize = 256;
/// Events waiting for the UI.
const EVENT_QUEUE: usize = 4096;

/// What the UI asks the network side to do.
#[allow(missing_docs)] // the fields are named for what they hold; each variant says what it does
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Create an account on `server`.
    Register { server: String, email: String, username: String, password: String },
    /// Log in on `server`.
    Login { server: String, email: String, password: String },
    /// Start syncing with a session (after login, or a token kept from last time).
    Resume { server: String, token: String },
    /// Stop syncing and forget the session.
    Logout,
    /// Fetch a page of history with `peer`, older than `before`.
    LoadHistory { peer: UserId, before: Option<MessageId> },
    /// Deliver a message exactly once (retried with the same nonce until the
    /// server answers).
    SendMessage {
        peer: UserId,
        content: String,
        nonce: String,
        reply_to: Option<MessageId>,
        attachments: Vec<AttachmentId>,
    },
    /// Mark the conversation with `peer` read.
    MarkRead { peer: UserId },
    /// Tell `peer` I am typing.
    Typing { peer: UserId },
    /// Invite someone by email.
    Invite { email: String },
    /// Accept an incoming invite.
    AcceptInvite(InviteId),
    /// Reject an incoming invite.
    RejectInvite(InviteId),
    /// Cancel an outgoing invite.
    CancelInvite(InviteId),
    /// End a friendship.
    RemoveFriend(UserId),
    /// Make a room (answered by [`NetEvent::RoomCreated`]).
    CreateRoom { label: String },
    /// Rename a room I own.
    RenameRoom { room: RoomId, label: String },
    /// Delete a room I own.
    DeleteRoom(RoomId),
    /// Add a friend to a room I own.
    AddRoomMember { room: RoomId, user: UserId },
    /// Remove a member from a room I own, or leave a room (my own id).
    RemoveRoomMember { room: RoomId, user: UserId },
    /// Search my messages for `words` (in one conversation, or everywhere),
    /// older than `before`; answered by [`NetEvent::SearchResults`] with `seq`.
    Search { seq: u64, words: String, within: Option<Conversation>, before: Option<MessageId> },
    /// Fetch a page of a room's chat, older than `before`.
    LoadRoomHistory { room: RoomId, before: Option<MessageId> },
    /// Deliver a chat message to a room exactly once (the outbox, as for DMs).
    SendRoomMessage {
        room: RoomId,
        content: String,
        nonce: String,
        reply_to: Option<MessageId>,
        attachments: Vec<AttachmentId>,
    },
    /// Upload a file to send in a message (answered by
    /// [`NetEvent::UploadProgress`], then [`NetEvent::Uploaded`] or
    /// [`NetEvent::UploadFailed`]); `key` is the caller's.
    Upload { key: u64, name: String, content_type: String, bytes: FileBytes },
    /// Stop upload `key` (no event follows).
    CancelUpload { key: u64 },
    /// Fetch the bytes behind an attachment link ([`NetEvent::AttachmentFetched`]).
    FetchAttachment { url: String },
    /// Edit my message (its `message_updated` / `room_message_updated` event
    /// updates the screen; a refusal comes as [`NetEvent::ActionFailed`]).
    EditMessage { conversation: Conversation, id: MessageId, content: String, nonce: String },
    /// Delete a message (mine, or any in a room I own).
    DeleteMessage { conversation: Conversation, id: MessageId },
    /// Add (`add`) or take back my reaction.
    React { conversation: Conversation, id: MessageId, emoji: String, add: bool },
    /// Send a call's signaling frame on the websocket (answers arrive as
    /// [`NetEvent::Server`]; offline, [`NetEvent::CallRequestNotSent`]).
    Call(CallRequest),
}

/// A call's signaling frames (see docs/API.md, "Calls").
#[allow(missing_docs)] // each variant is the websocket frame of the same name
#[derive(Debug, Clone, PartialEq)]
pub enum CallRequest {
    Join(events::CallJoin),
    Update(events::CallUpdate),
    Leave(events::CallLeave),
    Publish(events::CallPublish),
    SubscribeAnswer(events::CallSubscribeAnswer),
    View(events::CallView),
}

impl CallRequest {
    /// The websocket frame.
    pub fn into_event(self) -> ClientEvent {
        match self {
            Self::Join(join) => ClientEvent::CallJoin(join),
            Self::Update(update) => ClientEvent::CallUpdate(update),
            Self::Leave(leave) => ClientEvent::CallLeave(leave),
            Self::Publish(publish) => ClientEvent::CallPublish(publish),
            Self::SubscribeAnswer(answer) => ClientEvent::CallSubscribeAnswer(answer),
            Self::View(view) => ClientEvent::CallView(view),
        }
    }
}

/// The realtime connection's state, for the banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Opening the websocket.
    Connecting,
    /// Identified and receiving events.
    Online,
    /// Lost; the next attempt is in `retry_in_ms`.
    #[allow(missing_docs)]
    Reconnecting { attempt: u32, retry_in_ms: u64 },
}

/// What the network side reports.
#[allow(missing_docs)] // the fields are named for what they hold; each variant says what it does
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// Register or login worked.
    Authenticated { server: String, auth: AuthResponse },
    /// Register or login was refused (or the server was unreachable).
    AuthFailed { error: ErrorBody },
    /// The websocket's state changed.
    Connection(Connection),
    /// A frame from the server.
    Server(ServerEvent),
    /// The token expired or was refused: log in again.
    SessionExpired { message: String },
    /// A page of history.
    History { peer: UserId, before: Option<MessageId>, page: MessagePage },
    /// History could not be loaded.
    HistoryFailed { peer: UserId, error: String },
    /// The server stored a message from the outbox.
    MessageSent { peer: UserId, nonce: String, message: DirectMessage },
    /// The server refused a message; it will not be retried.
    MessageRefused { peer: UserId, nonce: String, error: ErrorBody },
    /// An invite was sent (or turned into a friendship), or refused.
    InviteResult(Result<CreateInviteResponse, ErrorBody>),
    /// Another action (accept, reject, cancel, remove, a room change) failed.
    ActionFailed { error: ErrorBody },
    /// A room I asked for exists now (its `room_added` event comes too).
    RoomCreated { room: Room },
    /// A page of a room's chat.
    RoomHistory { room: RoomId, before: Option<MessageId>, page: RoomMessagePage },
    /// A room's chat could not be loaded.
    RoomHistoryFailed { room: RoomId, error: String },
    /// The server stored a room message from the outbox.
    RoomMessageSent { room: RoomId, nonce: String, message: RoomMessage },
    /// The server refused a room message; it will not be retried.
    RoomMessageRefused { room: RoomId, nonce: String, error: ErrorBody },
    /// A call frame could not be sent: the websocket is down (the call
    /// rejoins once it is back).
    CallRequestNotSent { request: CallRequest },
    /// Upload `key` has sent `sent` of `total` bytes.
    UploadProgress { key: u64, sent: u64, total: u64 },
    /// Upload `key` is stored: send `attachment` in a message within the hour.
    Uploaded { key: u64, attachment: Attachment },
    /// Upload `key` was refused or could not reach the server.
    UploadFailed { key: u64, error: ErrorBody },
    /// The answer to [`Command::Search`] `seq` (a page of hits or why not).
    SearchResults { seq: u64, before: Option<MessageId>, page: Result<SearchPage, ErrorBody> },
    /// The bytes behind attachment link `url`, or why they could not be had.
    AttachmentFetched { url: String, bytes: Result<FileBytes, String> },
}

/// A file's bytes, shared between the UI and the network side rather than
/// copied (and shown by their length in debug output).
#[derive(Clone, PartialEq, Eq)]
pub struct FileBytes(pub Arc<Vec<u8>>);

impl FileBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileBytes({} bytes)", self.0.len())
    }
}

/// Called after every event a network task posts: wakes whoever reads them
/// (the app's `request_repaint`). Runs on a network task: keep it short.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The UI's handle on the network tasks.
pub struct Net {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<NetEvent>,
}

impl Net {
    /// Starts the network tasks; they call `wake` whenever they report.
    pub fn start(wake: Wake) -> Self {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let sink = EventSink { tx: event_tx, wake };
        runtime::start(actor::run(command_rx, sink));
        Self { commands, events }
    }

    /// Queues a command; `false` if the network side is gone or swamped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// A handle that queues commands from elsewhere (a call's media task
    /// sends its signaling through it).
    pub fn command_sender(&self) -> CommandSender {
        CommandSender(self.commands.clone())
    }

    /// The next pending event, without waiting.
    pub fn try_recv(&mut self) -> Option<NetEvent> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting for it (`None` once the network side stopped).
    pub async fn recv(&mut self) -> Option<NetEvent> {
        self.events.recv().await
    }
}

/// Queues commands for the network tasks, like [`Net::send`], from any
/// thread or task.
#[derive(Clone)]
pub struct CommandSender(mpsc::Sender<Command>);

impl CommandSender {
    /// Queues a command; `false` if the network side is gone or swamped.
    pub fn send(&self, command: Command) -> bool {
        self.0.try_send(command).is_ok()
    }
}

/// Where network tasks post events.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<NetEvent>,
    wake: Wake,
}

impl EventSink {
    /// Posts an event and wakes the reader.
    pub async fn emit(&self, event: NetEvent) {
        if self.tx.send(event).await.is_ok() {
            (self.wake)();
        }
    }

    /// Posts an event that may be dropped when the reader is far behind
    /// (progress reports, where the next one says more).
    pub fn emit_lossy(&self, event: NetEvent) {
        if self.tx.try_send(event).is_ok() {
            (self.wake)();
        }
    }
}
