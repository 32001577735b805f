//! One websocket connection: identify, `ready` snapshot, then the serve loop
//! until the client leaves, goes quiet, falls behind, or must resync.
//!
//! Everything the server sends after `ready` — events and answers to the
//! client's frames — goes through the connection's one ordered queue in the
//! hub, so an answer never overtakes events queued before it. Frames that
//! need the database run as tasks beside the loop, which keeps delivering
//! events and pings while they wait.

use std::sync::Arc;
use std::time::Duration;

use concord_common::events::{self, REQUEST_ID_MAX_LEN};
use concord_common::{ClientEvent, ClientFrame, ErrorBody, ErrorCode, ServerEvent, ServerFrame, UserId};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rocket::data::IoStream;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as SocketError, Message};
use tokio_tungstenite::WebSocketStream;

use super::Gateway;
use crate::error::ApiError;
use crate::realtime::hub::{Connection, Inlet, Kick, Outbound};
use crate::realtime::ConnId;

/// How long a client has to send `identify`.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may take before the client counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames of one connection being handled at once; the next frame is read
/// when one finishes (events and pings keep flowing meanwhile).
const MAX_IN_FLIGHT: usize = 16;

/// The upgraded connection, speaking websocket.
pub type Socket = WebSocketStream<IoStream>;
type Sink = SplitSink<Socket, Message>;
type Source = SplitStream<Socket>;

/// Runs a connection to the end.
///
/// Steps that await the database are boxed: an idle connection then holds
/// only the small `serve` loop's state, not the largest query future's.
pub async fn run(gateway: Arc<Gateway>, stream: Socket) {
    let (mut sink, mut source) = stream.split();
    let Some(user) = Box::pin(identify(&gateway, &mut sink, &mut source)).await else {
        return;
    };
    let (connection, mut inlet) = gateway.hub.attach(user).await;
    if connection.became_online {
        Box::pin(gateway.social.announce_presence(user, true)).await;
    }
    match Box::pin(ready_event(&gateway, user)).await {
        Ok(ready) => {
            if send_event(&mut sink, &ready).await.is_ok() {
                serve(&gateway, &connection, &mut sink, &mut source, &mut inlet).await;
            }
        }
        Err(_) => {
            let _ = close(&mut sink, CloseCode::Error, "server error").await;
        }
    }
    Box::pin(finish(&gateway, connection)).await;
}

async fn finish(gateway: &Gateway, connection: Connection) {
    gateway.calls.disconnected(connection.user, connection.id).await;
    if gateway.hub.leave_presence(&connection).await {
        gateway.social.announce_presence(connection.user, false).await;
    }
    gateway.hub.remove(connection);
}

async fn identify(gateway: &Gateway, sink: &mut Sink, source: &mut Source) -> Option<UserId> {
    let first = match timeout(IDENTIFY_TIMEOUT, source.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Err(SocketError::Capacity(_)))) => {
            let error = ErrorBody::new(ErrorCode::PayloadTooLarge, "The identify frame is too large.");
            let _ = send_event(sink, &ServerEvent::Error(events::Refused { error })).await;
            let _ = close(sink, CloseCode::Size, "frame too large").await;
            return None;
        }
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(_))) | Err(_) => {
            let error = ErrorBody::new(
                ErrorCode::IdentifyRequired,
                "Send {\"type\":\"identify\",\"token\":\"...\"} first.",
            );
            let _ = send_event(sink, &ServerEvent::Error(events::Refused { error })).await;
            let _ = close(sink, CloseCode::Policy, "identify required").await;
            return None;
        }
    };
    let result = match serde_json::from_str::<ClientFrame>(&first) {
        Ok(ClientFrame { event: ClientEvent::Identify(events::Identify { token }), .. }) => {
            gateway.tokens.verify(token.trim())
        }
        _ => Err(ApiError::new(
            rocket::http::Status::BadRequest,
            ErrorCode::IdentifyRequired,
            "The first frame must be {\"type\":\"identify\",\"token\":\"...\"}.",
        )),
    };
    match result {
        Ok(user) => Some(user),
        Err(e) => {
            let _ = send_event(sink, &ServerEvent::Error(events::Refused { error: e.body })).await;
            let _ = close(sink, CloseCode::Policy, "not identified").await;
            None
        }
    }
}

/// The snapshot a client draws its first screen from.
async fn ready_event(gateway: &Gateway, user: UserId) -> Result<ServerEvent, ApiError> {
    let (me, friends, invites) = gateway.social.snapshot(user).await?;
    Ok(ServerEvent::Ready(events::Ready {
        me,
        friends,
        invites,
        unread: gateway.messages.unread(user).await?,
        rooms: gateway.rooms.list(user).await?.rooms,
        heartbeat_interval_ms: gateway.heartbeat_interval_ms,
    }))
}

async fn serve(
    gateway: &Arc<Gateway>,
    connection: &Connection,
    sink: &mut Sink,
    source: &mut Source,
    inlet: &mut Inlet,
) {
    let heartbeat = Duration::from_millis(gateway.heartbeat_interval_ms.max(100));
    let mut ping = tokio::time::interval(heartbeat / 2);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // Dropped at the end of the loop, which aborts handlers still running.
    let mut handlers: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            // Queued frames go out first: an answer never overtakes them.
            biased;
            outbound = inlet.frames.recv() => match outbound {
                Some(Outbound::Frame(payload)) => {
                    if write(sink, Message::text(payload.as_ref())).await.is_err() {
                        return;
                    }
                }
                Some(Outbound::Close(Kick::TooSlow)) => {
                    let _ = close(sink, CloseCode::Again, "too slow; reconnect").await;
                    return;
                }
                Some(Outbound::Close(Kick::Resync)) => {
                    let _ = close(sink, CloseCode::Restart, "events may have been missed; reconnect to resync").await;
                    return;
                }
                Some(Outbound::Close(Kick::ShuttingDown)) => {
                    let _ = close(sink, CloseCode::Restart, "server restarting; reconnect").await;
                    return;
                }
                None => return,
            },
            Some(_) = handlers.join_next(), if !handlers.is_empty() => {},
            frame = source.next(), if handlers.len() < MAX_IN_FLIGHT => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => accept_frame(gateway, connection, text.as_str(), &mut handlers),
                    Some(Ok(Message::Binary(_))) => {
                        reply(gateway, connection.id, None, error_event(ErrorCode::BadRequest, "Frames must be JSON text."));
                    }
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    Some(Err(SocketError::Capacity(_))) => {
                        let too_big = error_event(ErrorCode::PayloadTooLarge, format!(
                            "Frames are limited to {} bytes.", gateway.max_frame_bytes));
                        let _ = send_event(sink, &too_big).await;
                        let _ = close(sink, CloseCode::Size, "frame too large").await;
                        return;
                    }
                    Some(Err(_)) => return,
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    let _ = close(sink, CloseCode::Away, "heartbeat timeout").await;
                    return;
                }
                if write(sink, Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one client frame: answers what needs no waiting at once (through
/// the queue), and starts a handler task for the rest.
fn accept_frame(gateway: &Arc<Gateway>, connection: &Connection, text: &str, handlers: &mut JoinSet<()>) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            reply(
                gateway,
                connection.id,
                None,
                error_event(ErrorCode::InvalidJson, format!("Unreadable frame: {e}")),
            );
            return;
        }
    };
    let request_id = match value.get("request_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) if id.chars().count() <= REQUEST_ID_MAX_LEN => Some(id.clone()),
        Some(_) => {
            let message = format!("request_id must be a string of at most {REQUEST_ID_MAX_LEN} characters.");
            reply(gateway, connection.id, None, error_event(ErrorCode::BadRequest, message));
            return;
        }
    };
    let event = match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => frame.event,
        Err(e) => {
            reply(
                gateway,
                connection.id,
                request_id,
                error_event(ErrorCode::InvalidJson, format!("Unreadable frame: {e}")),
            );
            return;
        }
    };
    match event {
        ClientEvent::Heartbeat => reply(gateway, connection.id, request_id, ServerEvent::HeartbeatAck),
        ClientEvent::Identify(events::Identify { .. }) => reply(
            gateway,
            connection.id,
            request_id,
            error_event(ErrorCode::BadRequest, "This connection is already identified."),
        ),
        ClientEvent::CallJoin(events::CallJoin { room_id, media }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                gateway.calls.join(user, conn, room_id, media).await.map(ServerEvent::CallJoined)
            })
        }
        ClientEvent::CallLeave(events::CallLeave { room_id }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                gateway.calls.leave(user, conn, room_id).await?;
                let reason = events::CallLeftReason::Left;
                Ok(ServerEvent::CallLeft(events::CallLeft { room_id, reason }))
            })
        }
        ClientEvent::CallUpdate(events::CallUpdate { room_id, media }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                let participant = gateway.calls.update(user, conn, room_id, media).await?;
                Ok(ServerEvent::CallUpdated(events::CallUpdated { room_id, participant }))
            })
        }
        ClientEvent::CallPublish(events::CallPublish { room_id, sdp, tracks }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                let sdp = gateway.calls.publish(user, conn, room_id, sdp, tracks).await?;
                Ok(ServerEvent::CallPublishAnswer(events::CallPublishAnswer { room_id, sdp }))
            })
        }
        ClientEvent::CallSubscribeAnswer(events::CallSubscribeAnswer { room_id, offer_id, sdp }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                gateway.calls.subscribe_answer(user, conn, room_id, offer_id, sdp).await?;
                Ok(ServerEvent::CallSubscribeAccepted(events::CallSubscribeAccepted { room_id, offer_id }))
            })
        }
        ClientEvent::CallView(events::CallView { room_id, tiles }) => {
            answer_in_task(handlers, gateway, connection, request_id, move |gateway, user, conn| async move {
                gateway.calls.view(user, conn, room_id, tiles).await?;
                Ok(ServerEvent::CallViewAccepted(events::CallViewAccepted { room_id }))
            })
        }
        ClientEvent::Typing(events::TypingTo { user_id }) => {
            let (gateway, conn, user) = (Arc::clone(gateway), connection.id, connection.user);
            handlers.spawn(async move {
                if let Err(e) = gateway.social.typing(user, user_id).await {
                    reply(&gateway, conn, request_id, ServerEvent::Error(events::Refused { error: e.body }));
                }
            });
        }
    }
}

/// Runs a request as a task beside the serve loop; its answer, or its
/// error, is queued for the connection with the request's `request_id`.
fn answer_in_task<F, Fut>(
    handlers: &mut JoinSet<()>,
    gateway: &Arc<Gateway>,
    connection: &Connection,
    request_id: Option<String>,
    handle: F,
) where
    F: FnOnce(Arc<Gateway>, UserId, ConnId) -> Fut,
    Fut: std::future::Future<Output = Result<ServerEvent, ApiError>> + Send + 'static,
{
    let (gateway, conn) = (Arc::clone(gateway), connection.id);
    let task = handle(Arc::clone(&gateway), connection.user, conn);
    handlers.spawn(async move {
        let answer = task.await.unwrap_or_else(|e| ServerEvent::Error(events::Refused { error: e.body }));
        reply(&gateway, conn, request_id, answer);
    });
}

/// Queues an answer for the connection, behind the events already queued.
fn reply(gateway: &Gateway, conn: ConnId, request_id: Option<String>, event: ServerEvent) {
    gateway.hub.send_to(conn, &ServerFrame { request_id, event });
}

fn error_event(code: ErrorCode, message: impl Into<String>) -> ServerEvent {
    ServerEvent::Error(events::Refused { error: ErrorBody::new(code, message) })
}

async fn send_event(sink: &mut Sink, event: &ServerEvent) -> Result<(), ()> {
    let text = serde_json::to_string(event).map_err(|_| ())?;
    write(sink, Message::text(text)).await
}

async fn write(sink: &mut Sink, message: Message) -> Result<(), ()> {
    match timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(sink: &mut Sink, code: CloseCode, reason: &str) -> Result<(), ()> {
    let frame = CloseFrame { code, reason: reason.into() };
    write(sink, Message::Close(Some(frame))).await
}
