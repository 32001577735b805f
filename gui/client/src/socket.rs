//! The realtime websocket, through ezsockets, supervised: identify on
//! connect, forward frames as events, and on loss reconnect with exponential
//! backoff (0.5 s doubling to 30 s, each wait jittered down to half) until
//! the session ends, so clients cut off together do not return together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_common::events;
use concord_common::{ClientEvent, ErrorCode, ServerEvent};
use ezsockets::client::ClientCloseMode;
use ezsockets::{ClientConfig, CloseFrame, Utf8Bytes, WSError};
use tokio::sync::{mpsc, watch};

use super::{Connection, EventSink, NetEvent};

/// Frames from one connection, in order.
const FRAME_QUEUE: usize = 1024;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// ezsockets' keep-alive: after 5 s without a frame from the server it
/// pings, and after 10 s it gives the connection up (we reconnect). In the
/// browser a page cannot send pings (the browser answers the server's own),
/// and ezsockets sends a close frame with code 1006 instead, which the
/// browser refuses: the connection's sending side dies and, with the next
/// frame sent, its receiving side too. So there it sends our `heartbeat`
/// frame, which the server answers with `heartbeat_ack`.
fn keep_alive() -> ezsockets::SocketConfig {
    #[cfg(target_arch = "wasm32")]
    {
        let heartbeat = serde_json::to_string(&ClientEvent::Heartbeat).unwrap_or_default();
        ezsockets::SocketConfig {
            heartbeat_ping_msg_fn: Arc::new(move |_| ezsockets::RawMessage::Text(heartbeat.clone().into())),
            ..ezsockets::SocketConfig::default()
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    ezsockets::SocketConfig::default()
}

/// The live connection, if any, for sending frames (e.g. typing).
pub type SocketSlot = Arc<Mutex<Option<ezsockets::Client<Handler>>>>;

/// ezsockets callbacks for one connection.
pub struct Handler {
    token: String,
    handle: ezsockets::Client<Handler>,
    frames: mpsc::Sender<ServerEvent>,
}

#[async_trait::async_trait]
impl ezsockets::ClientExt for Handler {
    type Call = ();

    async fn on_text(&mut self, text: Utf8Bytes) -> Result<(), ezsockets::Error> {
        match serde_json::from_str::<ServerEvent>(&text) {
            // A closed receiver means the session ended: stop this connection.
            Ok(event) => self.frames.send(event).await.map_err(|_| "session ended".into()),
            // A frame this version does not know: skip it, stay connected.
            Err(_) => Ok(()),
        }
    }

    async fn on_binary(&mut self, _bytes: ezsockets::Bytes) -> Result<(), ezsockets::Error> {
        Ok(())
    }

    async fn on_call(&mut self, _call: ()) -> Result<(), ezsockets::Error> {
        Ok(())
    }

    async fn on_connect(&mut self) -> Result<(), ezsockets::Error> {
        let identify =
            serde_json::to_string(&ClientEvent::Identify(events::Identify { token: self.token.clone() }))?;
        self.handle.text(identify).map_err(|_| "socket closed")?;
        Ok(())
    }

    // Every way a connection ends returns `Close`: the supervisor below owns
    // reconnecting, so it can back off and tell the UI.
    async fn on_connect_fail(&mut self, _error: WSError) -> Result<ClientCloseMode, ezsockets::Error> {
        Ok(ClientCloseMode::Close)
    }

    async fn on_close(&mut self, _frame: Option<CloseFrame>) -> Result<ClientCloseMode, ezsockets::Error> {
        Ok(ClientCloseMode::Close)
    }

    async fn on_disconnect(&mut self) -> Result<ClientCloseMode, ezsockets::Error> {
        Ok(ClientCloseMode::Close)
    }
}

/// Sends a frame on the live connection; `false` when offline.
pub fn send(slot: &SocketSlot, event: &ClientEvent) -> bool {
    let Ok(text) = serde_json::to_string(event) else { return false };
    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().is_some_and(|client| client.text(text).is_ok())
}

/// Closes the live connection, if any.
pub fn close(slot: &SocketSlot) {
    if let Some(client) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = client.close(None);
    }
}

/// Keeps a connection to `ws_url` open for the session's lifetime.
/// `online` is true between `ready` and the connection's loss.
pub async fn supervise(
    ws_url: String,
    token: String,
    sink: EventSink,
    slot: SocketSlot,
    online: watch::Sender<bool>,
) {
    let mut attempt: u32 = 0;
    sink.emit(NetEvent::Connection(Connection::Connecting)).await;
    loop {
        let (frames_tx, mut frames) = mpsc::channel(FRAME_QUEUE);
        let config = ClientConfig::new(ws_url.as_str())
            .max_initial_connect_attempts(1)
            .max_reconnect_attempts(0)
            .socket_config(keep_alive());
        let token = token.clone();
        let (client, _running) = ezsockets::connect_with(
            move |handle| Handler { token, handle, frames: frames_tx },
            config,
            crate::runtime::ws_connector(),
        );
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(client);

        // Frames until the connection ends (its handler, and so `frames_tx`, is dropped).
        let mut identified = false;
        while let Some(event) = frames.recv().await {
            match &event {
                ServerEvent::Ready(events::Ready { .. }) => {
                    identified = true;
                    attempt = 0;
                    let _ = online.send(true);
                    sink.emit(NetEvent::Connection(Connection::Online)).await;
                }
                ServerEvent::Error(events::Refused { error })
                    if !identified
                        && matches!(error.code, ErrorCode::Unauthorized | ErrorCode::TokenExpired) =>
                {
                    close(&slot);
                    let _ = online.send(false);
                    sink.emit(NetEvent::SessionExpired { message: error.message.clone() }).await;
                    return;
                }
                _ => {}
            }
            sink.emit(NetEvent::Server(event)).await;
        }
        slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _ = online.send(false);

        attempt = attempt.saturating_add(1);
        let delay = retry_delay(attempt, rand::random::<f64>());
        sink.emit(NetEvent::Connection(Connection::Reconnecting {
            attempt,
            retry_in_ms: delay.as_millis() as u64,
        }))
        .await;
        crate::runtime::sleep(delay).await;
    }
}

/// The wait before reconnect attempt `attempt` (1, 2, ...): exponential from
/// [`FIRST_RETRY`] up to [`MAX_RETRY`], scaled by `0.5 + jitter / 2` for
/// `jitter` in 0..1 ("equal jitter"): never less than half the step, and
/// spread so a thousand clients dropped by one server restart come back over
/// a window instead of in lockstep.
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let step = FIRST_RETRY.saturating_mul(1 << attempt.saturating_sub(1).min(6)).min(MAX_RETRY);
    step.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_grow_are_capped_and_spread() {
        assert_eq!(retry_delay(1, 1.0), FIRST_RETRY);
        assert_eq!(retry_delay(1, 0.0), FIRST_RETRY / 2);
        assert_eq!(retry_delay(3, 1.0), FIRST_RETRY * 4);
        assert_eq!(retry_delay(40, 1.0), MAX_RETRY);
        // A thousand clients on attempt 5: spread over the upper half of the step.
        let mut delays: Vec<Duration> = (0..1000).map(|i| retry_delay(5, f64::from(i) / 1000.0)).collect();
        delays.dedup();
        assert!(delays.len() > 900, "{} distinct waits", delays.len());
        assert!(delays.iter().all(|d| *d >= FIRST_RETRY * 8 && *d <= FIRST_RETRY * 16));
    }
}
