//! Messages waiting to be delivered, sent one at a time in the order typed.
//! Each keeps its nonce across retries, so a message whose answer was lost is
//! not stored twice: the server returns the original.

use std::time::Duration;

use concord_common::{ErrorCode, SendMessageRequest, UserId};
use tokio::sync::{mpsc, watch};

use super::rest::{Api, RestError};
use super::{EventSink, NetEvent};

/// Messages that may wait in the outbox.
pub const OUTBOX_LEN: usize = 1000;
const MAX_RETRY: Duration = Duration::from_secs(10);

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The friend it is for.
    pub peer: UserId,
    /// Its text.
    pub content: String,
    /// Its idempotency key.
    pub nonce: String,
}

/// Delivers queued messages while `online`, retrying each until the server
/// either stores or refuses it.
pub async fn run(
    api: Api,
    mut queue: mpsc::Receiver<Outgoing>,
    mut online: watch::Receiver<bool>,
    sink: EventSink,
) {
    while let Some(message) = queue.recv().await {
        let request = SendMessageRequest { content: message.content.clone(), nonce: message.nonce.clone() };
        let mut retry = Duration::from_millis(250);
        loop {
            while !*online.borrow_and_update() {
                if online.changed().await.is_err() {
                    return;
                }
            }
            match api.send_message(message.peer, &request).await {
                Ok(stored) => {
                    let event = NetEvent::MessageSent {
                        peer: message.peer,
                        nonce: message.nonce.clone(),
                        message: stored,
                    };
                    sink.emit(event).await;
                    break;
                }
                Err(RestError::Api(error)) if error.code != ErrorCode::Internal => {
                    let event =
                        NetEvent::MessageRefused { peer: message.peer, nonce: message.nonce.clone(), error };
                    sink.emit(event).await;
                    break;
                }
                // Unreachable or a server failure: same nonce, a little later.
                Err(_) => {
                    crate::runtime::sleep(retry).await;
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }
}
