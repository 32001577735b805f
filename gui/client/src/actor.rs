//! The network actor: takes [`Command`]s one by one, runs each as its own
//! task, and owns the session (websocket supervisor + outbox) while logged in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use concord_common::events;
use concord_common::{ClientEvent, EditMessageRequest, ErrorBody, ErrorCode, LoginRequest, RegisterRequest};
use futures_util::future::{abortable, AbortHandle};
use reqwest::Method;
use tokio::sync::{mpsc, watch};

use super::outbox::{self, Outgoing, Recipient, OUTBOX_LEN};
use super::rest::Api;
use super::socket::{self, SocketSlot};
use super::{Command, EventSink, FileBytes, NetEvent};
use crate::runtime::spawn;

/// A logged-in session's running parts; dropping it stops them.
struct Session {
    api: Api,
    outbox: mpsc::Sender<Outgoing>,
    socket: SocketSlot,
    tasks: Vec<AbortHandle>,
    /// Uploads under way, by the caller's key (to cancel them).
    uploads: Arc<Mutex<HashMap<u64, AbortHandle>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Session {
    fn start(server: &str, token: String, sink: &EventSink) -> Self {
        let api = Api::new(server, Some(token.clone()));
        let socket: SocketSlot = Arc::default();
        let (online_tx, online_rx) = watch::channel(false);
        let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_LEN);
        let (supervisor, supervisor_abort) =
            abortable(socket::supervise(api.ws_url(), token, sink.clone(), socket.clone(), online_tx));
        let (sender, sender_abort) = abortable(outbox::run(api.clone(), outbox_rx, online_rx, sink.clone()));
        spawn(async move {
            let _ = supervisor.await;
        });
        spawn(async move {
            let _ = sender.await;
        });
        Self {
            api,
            outbox: outbox_tx,
            socket,
            tasks: vec![supervisor_abort, sender_abort],
            uploads: Arc::default(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(lock(&self.uploads).values()) {
            task.abort();
        }
        socket::close(&self.socket);
    }
}

/// Runs until the UI drops its [`super::Net`].
pub async fn run(mut commands: mpsc::Receiver<Command>, sink: EventSink) {
    let mut session: Option<Session> = None;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Register { server, email, username, password } => {
                let sink = sink.clone();
                spawn(async move {
                    let result = Api::new(&server, None)
                        .register(&RegisterRequest { email, username, password })
                        .await;
                    sink.emit(auth_event(server, result)).await;
                });
            }
            Command::Login { server, email, password } => {
                let sink = sink.clone();
                spawn(async move {
                    let result = Api::new(&server, None).login(&LoginRequest { email, password }).await;
                    sink.emit(auth_event(server, result)).await;
                });
            }
            Command::Resume { server, token } => {
                // Stop the old session's socket before the new one connects.
                drop(session.take());
                session = Some(Session::start(&server, token, &sink));
            }
            Command::Logout => session = None,
            command => match &session {
                Some(session) => session_command(session, command, &sink),
                None => {
                    let error = ErrorBody::new(ErrorCode::Unauthorized, "You are not logged in.");
                    sink.emit(NetEvent::ActionFailed { error }).await;
                }
            },
        }
    }
}

fn auth_event(
    server: String,
    result: Result<concord_common::AuthResponse, super::rest::RestError>,
) -> NetEvent {
    match result {
        Ok(auth) => NetEvent::Authenticated { server, auth },
        Err(error) => NetEvent::AuthFailed { error: error.body() },
    }
}

fn session_command(session: &Session, command: Command, sink: &EventSink) {
    let api = session.api.clone();
    let sink = sink.clone();
    match command {
        Command::LoadHistory { peer, before } => spawn(async move {
            let event = match api.history(peer, before).await {
                Ok(page) => NetEvent::History { peer, before, page },
                Err(error) => NetEvent::HistoryFailed { peer, error: error.to_string() },
            };
            sink.emit(event).await;
        }),
        Command::SendMessage { peer, content, nonce, reply_to, attachments } => {
            let to = Recipient::Friend(peer);
            queue_message(session, Outgoing { to, content, nonce, reply_to, attachments }, sink)
        }
        Command::SendRoomMessage { room, content, nonce, reply_to, attachments } => {
            let to = Recipient::Room(room);
            queue_message(session, Outgoing { to, content, nonce, reply_to, attachments }, sink)
        }
        Command::Upload { key, name, content_type, bytes } => {
            let progress_sink = sink.clone();
            let progress =
                move |sent, total| progress_sink.emit_lossy(NetEvent::UploadProgress { key, sent, total });
            let uploads = session.uploads.clone();
            let (upload, abort) = abortable(async move {
                let bytes = Arc::try_unwrap(bytes.0).unwrap_or_else(|shared| shared.as_ref().clone());
                let event = match api.upload(&name, &content_type, bytes, progress).await {
                    Ok(attachment) => NetEvent::Uploaded { key, attachment },
                    Err(error) => NetEvent::UploadFailed { key, error: error.body() },
                };
                sink.emit(event).await;
            });
            lock(&session.uploads).insert(key, abort);
            spawn(async move {
                let _ = upload.await;
                lock(&uploads).remove(&key);
            });
        }
        Command::CancelUpload { key } => {
            if let Some(upload) = lock(&session.uploads).remove(&key) {
                upload.abort();
            }
        }
        Command::FetchAttachment { url } => spawn(async move {
            let bytes = api.download(&url).await.map(FileBytes::new).map_err(|e| e.to_string());
            sink.emit(NetEvent::AttachmentFetched { url, bytes }).await;
        }),
        Command::EditMessage { conversation, id, content, nonce } => spawn(async move {
            let body = EditMessageRequest { content, nonce: Some(nonce) };
            if let Err(error) = api.edit_message(conversation, id, &body).await {
                sink.emit(NetEvent::ActionFailed { error: error.body() }).await;
            }
        }),
        Command::DeleteMessage { conversation, id } => {
            act(api, sink, Method::DELETE, format!("/api/{conversation}/messages/{id}"))
        }
        Command::React { conversation, id, emoji, add } => {
            let method = if add { Method::PUT } else { Method::DELETE };
            let emoji: String = url::form_urlencoded::byte_serialize(emoji.as_bytes()).collect();
            act(api, sink, method, format!("/api/{conversation}/messages/{id}/reactions/{emoji}"))
        }
        Command::MarkRead { peer } => spawn(async move {
            // Best effort: the badge clears locally, the next `ready` corrects it.
            let _ = api.mark_read(peer).await;
        }),
        Command::Typing { peer } => {
            socket::send(&session.socket, &ClientEvent::Typing(events::TypingTo { user_id: peer }));
        }
        Command::Invite { email } => spawn(async move {
            let result = api.invite(&email).await.map_err(|e| e.body());
            sink.emit(NetEvent::InviteResult(result)).await;
        }),
        Command::AcceptInvite(id) => act(api, sink, Method::POST, format!("/api/invites/{id}/accept")),
        Command::RejectInvite(id) => act(api, sink, Method::POST, format!("/api/invites/{id}/reject")),
        Command::CancelInvite(id) => act(api, sink, Method::DELETE, format!("/api/invites/{id}")),
        Command::RemoveFriend(id) => act(api, sink, Method::DELETE, format!("/api/friends/{id}")),
        Command::CreateRoom { label } => spawn(async move {
            let event = match api.create_room(&label).await {
                Ok(room) => NetEvent::RoomCreated { room },
                Err(error) => NetEvent::ActionFailed { error: error.body() },
            };
            sink.emit(event).await;
        }),
        Command::RenameRoom { room, label } => spawn(async move {
            if let Err(error) = api.rename_room(room, &label).await {
                sink.emit(NetEvent::ActionFailed { error: error.body() }).await;
            }
        }),
        Command::DeleteRoom(room) => act(api, sink, Method::DELETE, format!("/api/rooms/{room}")),
        Command::AddRoomMember { room, user } => spawn(async move {
            if let Err(error) = api.add_room_member(room, user).await {
                sink.emit(NetEvent::ActionFailed { error: error.body() }).await;
            }
        }),
        Command::RemoveRoomMember { room, user } => {
            act(api, sink, Method::DELETE, format!("/api/rooms/{room}/members/{user}"))
        }
        Command::LoadRoomHistory { room, before } => spawn(async move {
            let event = match api.room_history(room, before).await {
                Ok(page) => NetEvent::RoomHistory { room, before, page },
                Err(error) => NetEvent::RoomHistoryFailed { room, error: error.to_string() },
            };
            sink.emit(event).await;
        }),
        Command::Search { seq, words, within, before } => spawn(async move {
            let page = api.search(&words, within, before).await.map_err(|error| error.body());
            sink.emit(NetEvent::SearchResults { seq, before, page }).await;
        }),
        Command::Call(request) => {
            if !socket::send(&session.socket, &request.clone().into_event()) {
                spawn(async move { sink.emit(NetEvent::CallRequestNotSent { request }).await });
            }
        }
        Command::Register { .. } | Command::Login { .. } | Command::Resume { .. } | Command::Logout => {}
    }
}

/// Queues a message for the outbox, or reports it refused when the outbox is full.
fn queue_message(session: &Session, outgoing: Outgoing, sink: EventSink) {
    if let Err(mpsc::error::TrySendError::Full(outgoing) | mpsc::error::TrySendError::Closed(outgoing)) =
        session.outbox.try_send(outgoing)
    {
        spawn(async move {
            let error = ErrorBody::new(
                ErrorCode::Unknown,
                "Too many messages are waiting to be sent; wait for the connection to come back.",
            );
            sink.emit(outbox::refused(outgoing.to, outgoing.nonce, error)).await;
        });
    }
}

/// An action whose success shows up as websocket events; only failure is reported.
fn act(api: Api, sink: EventSink, method: Method, path: String) {
    spawn(async move {
        if let Err(error) = api.act(method, &path).await {
            sink.emit(NetEvent::ActionFailed { error: error.body() }).await;
        }
    });
}
