//! One websocket connection: identify, `ready` snapshot, then events out and
//! client frames in until the client leaves, goes quiet, or falls behind.

use std::time::Duration;

use concord_common::{ClientEvent, ErrorBody, ErrorCode, Friend, ServerEvent, UserId};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rocket_ws::frame::{CloseCode, CloseFrame};
use rocket_ws::stream::DuplexStream;
use rocket_ws::Message;
use tokio::time::{timeout, Instant};

use crate::app::App;
use crate::db::{friends, invites, messages, users};
use crate::error::ApiError;

/// How long a client has to send `identify`.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may take before the client counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Sink = SplitSink<DuplexStream, Message>;
type Source = SplitStream<DuplexStream>;

/// Runs a connection to the end.
///
/// Steps that await the database are boxed: an idle connection then holds
/// only the small `serve` loop's state, not the largest query future's.
pub async fn run(app: App, stream: DuplexStream) {
    let (mut sink, mut source) = stream.split();
    let Some(user) = Box::pin(identify(&app, &mut sink, &mut source)).await else {
        return;
    };
    let (attached, mut events) = app.hub.attach(user).await;
    if attached.became_online {
        Box::pin(announce_presence(&app, user, true)).await;
    }
    let ready = match Box::pin(ready_event(&app, user)).await {
        Ok(ready) => ready,
        Err(_) => {
            let _ = close(&mut sink, CloseCode::Error, "server error").await;
            Box::pin(finish(&app, attached)).await;
            return;
        }
    };
    if send_event(&mut sink, &ready).await.is_ok() {
        serve(&app, user, &mut sink, &mut source, &mut events).await;
    }
    Box::pin(finish(&app, attached)).await;
}

async fn finish(app: &App, attached: crate::realtime::hub::Attached) {
    let user = attached.user;
    if app.hub.detach(attached).await {
        announce_presence(app, user, false).await;
    }
}

async fn announce_presence(app: &App, user: UserId, online: bool) {
    match friends::ids(&app.pool, user).await {
        Ok(friends) => app.hub.publish(&friends, &ServerEvent::Presence { user_id: user, online }),
        Err(e) => tracing::error!(error = %e, "presence fan-out failed"),
    }
}

async fn identify(app: &App, sink: &mut Sink, source: &mut Source) -> Option<UserId> {
    let first = match timeout(IDENTIFY_TIMEOUT, source.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Err(rocket_ws::result::Error::Capacity(_)))) => {
            let error = ErrorBody::new(ErrorCode::PayloadTooLarge, "The identify frame is too large.");
            let _ = send_event(sink, &ServerEvent::Error { error }).await;
            let _ = close(sink, CloseCode::Size, "frame too large").await;
            return None;
        }
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
        Ok(Some(Ok(_))) | Err(_) => {
            let error = ErrorBody::new(
                ErrorCode::IdentifyRequired,
                "Send {\"type\":\"identify\",\"token\":\"...\"} first.",
            );
            let _ = send_event(sink, &ServerEvent::Error { error }).await;
            let _ = close(sink, CloseCode::Policy, "identify required").await;
            return None;
        }
    };
    let result = match serde_json::from_str::<ClientEvent>(&first) {
        Ok(ClientEvent::Identify { token }) => app.tokens.verify(token.trim()),
        _ => Err(ApiError::new(
            rocket::http::Status::BadRequest,
            ErrorCode::IdentifyRequired,
            "The first frame must be {\"type\":\"identify\",\"token\":\"...\"}.",
        )),
    };
    match result {
        Ok(user) => Some(user),
        Err(e) => {
            let _ = send_event(sink, &ServerEvent::Error { error: e.body }).await;
            let _ = close(sink, CloseCode::Policy, "not identified").await;
            None
        }
    }
}

/// The snapshot a client draws its first screen from.
pub async fn ready_event(app: &App, user: UserId) -> Result<ServerEvent, ApiError> {
    let me = users::by_id(&app.pool, user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("This account no longer exists."))?;
    let friend_rows = friends::list(&app.pool, user).await?;
    let ids: Vec<UserId> = friend_rows.iter().map(|(u, _)| u.id).collect();
    let online = app.hub.online(&ids).await;
    let friends = friend_rows
        .into_iter()
        .zip(online)
        .map(|((user, since_ms), online)| Friend { user, online, since_ms })
        .collect();
    Ok(ServerEvent::Ready {
        me,
        friends,
        invites: invites::list(&app.pool, user).await?,
        unread: messages::unread_counts(&app.pool, user).await?,
        heartbeat_interval_ms: app.settings.heartbeat_interval_ms,
    })
}

async fn serve(
    app: &App,
    user: UserId,
    sink: &mut Sink,
    source: &mut Source,
    events: &mut tokio::sync::mpsc::Receiver<crate::realtime::hub::Payload>,
) {
    let heartbeat = Duration::from_millis(app.settings.heartbeat_interval_ms.max(100));
    let mut ping = tokio::time::interval(heartbeat / 2);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(payload) => {
                    if write(sink, Message::Text(payload.to_string())).await.is_err() {
                        return;
                    }
                }
                // The hub dropped us for falling behind.
                None => {
                    let _ = close(sink, CloseCode::Again, "too slow; reconnect").await;
                    return;
                }
            },
            frame = source.next() => {
                last_heard = Instant::now();
                let reply = match frame {
                    Some(Ok(Message::Text(text))) => Box::pin(handle_frame(app, user, &text)).await,
                    Some(Ok(Message::Binary(_))) => Some(error_event(ErrorCode::BadRequest, "Frames must be JSON text.")),
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Ok(_)) => None, // ping/pong: tungstenite answers pings itself
                    Some(Err(rocket_ws::result::Error::Capacity(_))) => {
                        let too_big = error_event(ErrorCode::PayloadTooLarge, format!(
                            "Frames are limited to {} bytes.", app.settings.ws_max_message_bytes));
                        let _ = send_event(sink, &too_big).await;
                        let _ = close(sink, CloseCode::Size, "frame too large").await;
                        return;
                    }
                    Some(Err(_)) => return,
                };
                if let Some(reply) = reply {
                    if send_event(sink, &reply).await.is_err() {
                        return;
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    let _ = close(sink, CloseCode::Away, "heartbeat timeout").await;
                    return;
                }
                if write(sink, Message::Ping(Vec::new())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn handle_frame(app: &App, user: UserId, text: &str) -> Option<ServerEvent> {
    let event = match serde_json::from_str::<ClientEvent>(text) {
        Ok(event) => event,
        Err(e) => return Some(error_event(ErrorCode::InvalidJson, format!("Unreadable frame: {e}"))),
    };
    match event {
        ClientEvent::Heartbeat => Some(ServerEvent::HeartbeatAck),
        ClientEvent::Identify { .. } => {
            Some(error_event(ErrorCode::BadRequest, "This connection is already identified."))
        }
        ClientEvent::Typing { user_id } => match friends::are_friends(&app.pool, user, user_id).await {
            Ok(true) => {
                app.hub.publish(&[user_id], &ServerEvent::Typing { user_id: user });
                None
            }
            Ok(false) => Some(error_event(ErrorCode::NotFriends, "You can only message your friends.")),
            Err(e) => {
                tracing::error!(error = %e, "typing check failed");
                Some(ServerEvent::Error { error: ApiError::internal().body })
            }
        },
    }
}

fn error_event(code: ErrorCode, message: impl Into<String>) -> ServerEvent {
    ServerEvent::Error { error: ErrorBody::new(code, message) }
}

async fn send_event(sink: &mut Sink, event: &ServerEvent) -> Result<(), ()> {
    let text = serde_json::to_string(event).map_err(|_| ())?;
    write(sink, Message::Text(text)).await
}

async fn write(sink: &mut Sink, message: Message) -> Result<(), ()> {
    match timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(sink: &mut Sink, code: CloseCode, reason: &str) -> Result<(), ()> {
    let frame = CloseFrame { code, reason: reason.to_owned().into() };
    write(sink, Message::Close(Some(frame))).await
}
