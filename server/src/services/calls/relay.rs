//! A call's requests between instances: the instance a participant's
//! websocket is on asks the instance hosting the call (through the bus,
//! [`crate::realtime::Target::Instance`]) and waits for its answer, at most
//! [`ASK_TIMEOUT`]. What the host sends the participant meanwhile (offers,
//! roster events) goes straight to their connection, on the same ordered bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_common::events::{
    CallJoined, CallLeftReason, CallMedia, CallParticipant, PublishedTrack, TileView,
};
use concord_common::{ErrorBody, ErrorCode, RoomId, UserId};
use rocket::http::Status;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::lock;
use crate::realtime::{ConnId, Hub};

/// How long an instance waits for the host's answer before telling the
/// client the call's server did not answer.
pub(super) const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// What a participant's instance asks of the call's host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum HostRequest {
    Join { media: CallMedia },
    Leave { reason: CallLeftReason },
    Update { media: CallMedia },
    Publish { sdp: String, tracks: Vec<PublishedTrack> },
    SubscribeAnswer { offer_id: u64, sdp: String },
    View { tiles: Vec<TileView> },
    Disconnected,
    RemovedFromRoom { remaining: Vec<UserId> },
    RoomDeleted,
}

/// The host's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub(super) enum HostAnswer {
    Joined {
        joined: CallJoined,
    },
    Participant {
        participant: CallParticipant,
    },
    Sdp {
        sdp: String,
    },
    Done,
    /// It does not host this call (any more): find its host again.
    Moved,
    Refused {
        status: u16,
        error: ErrorBody,
    },
}

impl HostAnswer {
    /// An answer from the host's result.
    pub fn of(result: Result<HostAnswer, ApiError>) -> Self {
        result.unwrap_or_else(|e| HostAnswer::Refused { status: e.status.code, error: e.body })
    }

    /// Back into a result: a refusal is the host's error, as it gave it.
    pub fn into_result(self) -> Result<HostAnswer, ApiError> {
        match self {
            HostAnswer::Refused { status, error } => Err(ApiError {
                status: Status::from_code(status).unwrap_or(Status::InternalServerError),
                body: error,
                retry_after_secs: None,
            }),
            answer => Ok(answer),
        }
    }
}

/// One message between instances about calls.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub(super) enum Mail {
    Ask {
        id: u64,
        from: u16,
        user: UserId,
        conn: (u16, u64),
        room: RoomId,
        request: HostRequest,
    },
    Answer {
        id: u64,
        answer: HostAnswer,
    },
    /// The host took `conn` out of `room`'s call (its `call_left` follows).
    Forget {
        conn: (u16, u64),
        room: RoomId,
    },
}

pub(super) fn conn_of((instance, local): (u16, u64)) -> ConnId {
    ConnId { instance, local }
}

fn wire(conn: ConnId) -> (u16, u64) {
    (conn.instance, conn.local)
}

/// This instance's questions awaiting their host's answer.
pub(super) struct Relay {
    hub: Arc<Hub>,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<HostAnswer>>>,
}

impl Relay {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub, next_id: AtomicU64::new(1), waiting: Mutex::new(HashMap::new()) }
    }

    fn send(&self, to: u16, mail: &Mail) {
        match serde_json::to_string(mail) {
            Ok(text) => self.hub.send_to_instance(to, text),
            Err(error) => tracing::error!(%error, "call mail not serialised"),
        }
    }

    /// Asks `host` to do `request` for `user` on `conn` in `room`'s call.
    pub async fn ask(
        &self,
        host: u16,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        request: HostRequest,
    ) -> Result<HostAnswer, ApiError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        lock(&self.waiting).insert(id, reply);
        let from = self.hub.instance();
        self.send(host, &Mail::Ask { id, from, user, conn: wire(conn), room, request });
        match tokio::time::timeout(ASK_TIMEOUT, answer).await {
            Ok(Ok(answer)) => answer.into_result(),
            _ => {
                lock(&self.waiting).remove(&id);
                tracing::warn!(host, %room, "the instance hosting the call did not answer");
                Err(host_unreachable())
            }
        }
    }

    /// Sends `answer` to question `id` of instance `to`.
    pub fn answer(&self, to: u16, id: u64, answer: HostAnswer) {
        self.send(to, &Mail::Answer { id, answer });
    }

    /// Hands an answer to whoever waits for it.
    pub fn answered(&self, id: u64, answer: HostAnswer) {
        if let Some(waiting) = lock(&self.waiting).remove(&id) {
            let _ = waiting.send(answer);
        }
    }

    /// Tells `conn`'s instance that `conn` is no longer in `room`'s call.
    pub fn forget(&self, conn: ConnId, room: RoomId) {
        self.send(conn.instance, &Mail::Forget { conn: wire(conn), room });
    }
}

/// The call's host did not answer in time.
pub(super) fn host_unreachable() -> ApiError {
    ApiError::new(
        Status::ServiceUnavailable,
        ErrorCode::ServerBusy,
        "The server hosting this call did not answer; try again in a moment.",
    )
}
