//! Calls: who is in each room's call, from which connection, with what
//! switched on. A user is in a call from one connection at a time, and a
//! connection is in one call at a time. Every change is told to every member
//! of the room (in the call or not: the room list shows who is in it), in the
//! order the roster changed; the connection a change concerns gets its own
//! answer or `call_left`.
//!
//! The roster lives in this instance's memory: a call is hosted by the
//! instance its participants' websockets are on, and its media goes through
//! this instance's SFU ([`crate::sfu`]): the roster tells the SFU who joins
//! and leaves, passes offers and answers between clients and the SFU, and
//! turns the SFU's events into websocket events (offers, speaking, and
//! participants whose media went silent).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use concord_common::events::{
    self, CallJoined, CallLeftReason, CallMedia, CallParticipant, CallParticipantJoined, CallParticipantLeft,
    CallParticipantUpdated, CallSpeaking, CallSubscribeOffer, CallVideoQuality, CallVideoWanted, CallView,
    PublishedTrack, TileSize, TileView,
};
use concord_common::{ErrorCode, RoomId, ServerEvent, ServerFrame, UserId};
use rocket::http::Status;
use sqlx::AnyPool;

use super::rooms::room_not_found;
use super::turn::TurnRelays;
use crate::db::rooms;
use crate::error::ApiError;
use crate::ids::now_ms;
use crate::realtime::{ConnId, Hub};
use crate::sfu::{Sfu, SfuCommand, SfuError, SfuEvent};

/// One participant and the connection they are in the call from.
#[derive(Debug, Clone)]
struct Seat {
    conn: ConnId,
    participant: CallParticipant,
}

#[derive(Debug, Default)]
struct Roster {
    /// Each room's call, in the order people joined.
    rooms: HashMap<RoomId, Vec<Seat>>,
    /// Which call each connection is in.
    by_conn: HashMap<ConnId, RoomId>,
}

impl Roster {
    fn seat_of(&self, room: RoomId, conn: ConnId) -> Option<&Seat> {
        self.rooms.get(&room)?.iter().find(|s| s.conn == conn)
    }

    fn seat_of_user(&mut self, room: RoomId, user: UserId) -> Option<&mut Seat> {
        self.rooms.get_mut(&room)?.iter_mut().find(|s| s.participant.user_id == user)
    }

    fn take_seat(&mut self, room: RoomId, user: UserId) -> Option<Seat> {
        let seats = self.rooms.get_mut(&room)?;
        let at = seats.iter().position(|s| s.participant.user_id == user)?;
        let seat = seats.remove(at);
        if seats.is_empty() {
            self.rooms.remove(&room);
        }
        self.by_conn.remove(&seat.conn);
        Some(seat)
    }

    fn seat_mut(&mut self, room: RoomId, conn: ConnId) -> Option<&mut Seat> {
        self.rooms.get_mut(&room)?.iter_mut().find(|s| s.conn == conn)
    }

    fn participants(&self, room: RoomId) -> Vec<CallParticipant> {
        self.rooms
            .get(&room)
            .map(|seats| seats.iter().map(|s| s.participant.clone()).collect())
            .unwrap_or_default()
    }
}

/// Rooms' calls on this instance.
#[derive(Clone)]
pub struct Calls {
    pool: AnyPool,
    hub: Arc<Hub>,
    sfu: Sfu,
    /// TURN relays whose credentials go with `call_joined`.
    turn: Option<TurnRelays>,
    roster: Arc<Mutex<Roster>>,
}

impl Calls {
    /// An empty roster whose calls' media go through `sfu`, reachable also
    /// through `turn`'s relays.
    pub fn new(pool: AnyPool, hub: Arc<Hub>, sfu: Sfu, turn: Option<TurnRelays>) -> Self {
        Self { pool, hub, sfu, turn, roster: Arc::default() }
    }

    /// `user`'s credentials for the configured relays, valid from now.
    fn relay_credentials(&self, user: Option<UserId>) -> Vec<events::IceServer> {
        let now_secs = u64::try_from(now_ms() / 1000).unwrap_or_default();
        match (&self.turn, user) {
            (Some(turn), Some(user)) => vec![turn.issue(user, now_secs)],
            _ => Vec::new(),
        }
    }

    /// Turns the SFU's events into websocket events, until the SFU stops.
    pub fn spawn_media_events(&self, mut events: tokio::sync::mpsc::Receiver<SfuEvent>) {
        let calls = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                calls.on_media_event(event).await;
            }
        });
    }

    async fn on_media_event(&self, event: SfuEvent) {
        match event {
            SfuEvent::SubscribeOffer { room, conn, offer_id, sdp, tracks } => {
                let user =
                    self.roster().rooms.get(&room).and_then(|seats| {
                        seats.iter().find(|s| s.conn == conn).map(|s| s.participant.user_id)
                    });
                let ice_servers = self.relay_credentials(user);
                let offer = CallSubscribeOffer { room_id: room, offer_id, sdp, tracks, ice_servers };
                let frame = ServerFrame { request_id: None, event: ServerEvent::CallSubscribeOffer(offer) };
                self.hub.send_to(conn, &frame);
            }
            SfuEvent::VideoWanted { room, conn, source, wanted, layers } => {
                let wanted = CallVideoWanted { room_id: room, source, wanted, layers };
                let frame = ServerFrame { request_id: None, event: ServerEvent::CallVideoWanted(wanted) };
                self.hub.send_to(conn, &frame);
            }
            SfuEvent::VideoQuality { room, conn, user, source, quality, size, estimate } => {
                let size = size.map(|(width, height)| events::TileSize { width, height });
                let estimate_kbps = estimate.map(|bps| u32::try_from(bps / 1000).unwrap_or(u32::MAX));
                let changed =
                    CallVideoQuality { room_id: room, user_id: user, source, quality, size, estimate_kbps };
                let frame = ServerFrame { request_id: None, event: ServerEvent::CallVideoQuality(changed) };
                self.hub.send_to(conn, &frame);
            }
            SfuEvent::Speaking { room, user, speaking } => {
                // Kept in the roster, for those who join or look later.
                if let Some(seat) = self.roster().seat_of_user(room, user) {
                    seat.participant.speaking = speaking;
                }
                // To every member, like the roster: the sidebar shows who
                // speaks in a room's call without joining it.
                let members = rooms::member_ids(&self.pool, room).await.unwrap_or_default();
                let event =
                    ServerEvent::CallSpeaking(CallSpeaking { room_id: room, user_id: user, speaking });
                self.tell(&members, event);
            }
            SfuEvent::Lost { room, conn } => {
                let Some(user) = self.roster().seat_of(room, conn).map(|s| s.participant.user_id) else {
                    return;
                };
                let members = rooms::member_ids(&self.pool, room).await.unwrap_or_default();
                let mut roster = self.roster();
                if roster.seat_of(room, conn).is_some() {
                    roster.take_seat(room, user);
                    // The engine dropped it already; this keeps the SFU's count of the room.
                    self.sfu.tell(SfuCommand::Leave { room, conn });
                    self.send_left(conn, room, CallLeftReason::Disconnected);
                    self.tell(&members, participant_left(room, user, CallLeftReason::Disconnected));
                }
            }
        }
    }

    /// An SDP offer for `conn`'s publishing connection in `room`'s call; the
    /// SFU's answer.
    pub async fn publish(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        sdp: String,
        tracks: Vec<PublishedTrack>,
    ) -> Result<String, ApiError> {
        self.members_if_in_call(user, conn, room).await?;
        self.sfu
            .ask(|reply| SfuCommand::Publish { room, conn, sdp, tracks, reply })
            .await
            .map_err(media_error)
    }

    /// `conn`'s answer to the SFU's offer `offer_id`.
    pub async fn subscribe_answer(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        offer_id: u64,
        sdp: String,
    ) -> Result<(), ApiError> {
        self.members_if_in_call(user, conn, room).await?;
        self.sfu
            .ask(|reply| SfuCommand::SubscribeAnswer { room, conn, offer_id, sdp, reply })
            .await
            .map_err(media_error)
    }

    /// Which of the others' videos `conn` shows in `room`'s call (`call_view`).
    pub async fn view(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        tiles: Vec<TileView>,
    ) -> Result<(), ApiError> {
        if tiles.len() > CallView::MAX_TILES {
            let message = format!("A call_view lists at most {} tiles.", CallView::MAX_TILES);
            return Err(ApiError::new(Status::BadRequest, ErrorCode::BadRequest, message).with_field("tiles"));
        }
        if tiles.iter().filter_map(|t| t.size).any(|size| !size.is_valid()) {
            let message = format!("A tile's width and height are from 1 to {} pixels.", TileSize::MAX);
            return Err(ApiError::new(Status::BadRequest, ErrorCode::BadRequest, message).with_field("tiles"));
        }
        self.members_if_in_call(user, conn, room).await?;
        self.sfu.ask(|reply| SfuCommand::View { room, conn, tiles, reply }).await.map_err(media_error)
    }

    fn roster(&self) -> MutexGuard<'_, Roster> {
        self.roster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who is in `room`'s call, in the order they joined.
    pub fn participants(&self, room: RoomId) -> Vec<CallParticipant> {
        self.roster().participants(room)
    }

    /// `user` joins `room`'s call from `conn` with `media` switched on. If
    /// they were in it from another connection, that one is taken out
    /// (`joined_elsewhere`); if `conn` was in another room's call, it leaves
    /// that one (`joined_another_call`). Joining again from the same
    /// connection only updates `media`.
    pub async fn join(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        media: CallMedia,
    ) -> Result<CallJoined, ApiError> {
        if !rooms::is_member(&self.pool, room, user).await? {
            return Err(room_not_found());
        }
        let members = rooms::member_ids(&self.pool, room).await?;
        let previous = self.roster().by_conn.get(&conn).copied().filter(|r| *r != room);
        let previous_members = match previous {
            Some(other) => rooms::member_ids(&self.pool, other).await?,
            None => Vec::new(),
        };
        let mut roster = self.roster();
        if let Some(other) = roster.by_conn.get(&conn).copied().filter(|r| *r != room) {
            roster.take_seat(other, user);
            self.sfu.tell(SfuCommand::Leave { room: other, conn });
            self.send_left(conn, other, CallLeftReason::JoinedAnotherCall);
            // Its members, as read before the lock (if it is still that call).
            let only_me = [user];
            let to: &[UserId] = if Some(other) == previous { &previous_members } else { &only_me };
            self.tell(to, participant_left(other, user, CallLeftReason::JoinedAnotherCall));
        }
        let existing =
            roster.rooms.get(&room).and_then(|seats| seats.iter().find(|s| s.participant.user_id == user));
        match existing.map(|s| (s.conn, s.participant.joined_at_ms)) {
            Some((old_conn, joined_at_ms)) => {
                if old_conn != conn {
                    roster.by_conn.remove(&old_conn);
                    roster.by_conn.insert(conn, room);
                    self.sfu.tell(SfuCommand::Leave { room, conn: old_conn });
                    self.sfu.tell(SfuCommand::Join { room, conn, user });
                    self.send_left(old_conn, room, CallLeftReason::JoinedElsewhere);
                }
                let seat = roster
                    .rooms
                    .get_mut(&room)
                    .and_then(|seats| seats.iter_mut().find(|s| s.participant.user_id == user));
                if let Some(seat) = seat {
                    seat.conn = conn;
                    let speaking = seat.participant.speaking;
                    seat.participant = CallParticipant { user_id: user, media, joined_at_ms, speaking };
                    let participant = seat.participant.clone();
                    self.tell(
                        &members,
                        ServerEvent::CallParticipantUpdated(CallParticipantUpdated {
                            room_id: room,
                            participant,
                        }),
                    );
                }
            }
            None => {
                let participant =
                    CallParticipant { user_id: user, media, joined_at_ms: now_ms(), speaking: false };
                roster.rooms.entry(room).or_default().push(Seat { conn, participant: participant.clone() });
                roster.by_conn.insert(conn, room);
                self.sfu.tell(SfuCommand::Join { room, conn, user });
                self.tell(
                    &members,
                    ServerEvent::CallParticipantJoined(CallParticipantJoined { room_id: room, participant }),
                );
            }
        }
        let ice_servers = self.relay_credentials(Some(user));
        Ok(CallJoined { room_id: room, participants: roster.participants(room), ice_servers })
    }

    /// `conn` leaves `room`'s call.
    pub async fn leave(&self, user: UserId, conn: ConnId, room: RoomId) -> Result<(), ApiError> {
        let members = self.members_if_in_call(user, conn, room).await?;
        let mut roster = self.roster();
        if roster.seat_mut(room, conn).is_none() {
            return Err(not_in_call());
        }
        roster.take_seat(room, user);
        self.sfu.tell(SfuCommand::Leave { room, conn });
        self.tell(&members, participant_left(room, user, CallLeftReason::Left));
        Ok(())
    }

    /// What `conn` has switched on in `room`'s call changed.
    pub async fn update(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        media: CallMedia,
    ) -> Result<CallParticipant, ApiError> {
        let members = self.members_if_in_call(user, conn, room).await?;
        let mut roster = self.roster();
        let seat = roster.seat_mut(room, conn).ok_or_else(not_in_call)?;
        seat.participant.media = media;
        let participant = seat.participant.clone();
        let event = CallParticipantUpdated { room_id: room, participant: participant.clone() };
        self.tell(&members, ServerEvent::CallParticipantUpdated(event));
        Ok(participant)
    }

    /// A connection closed: it leaves its call, if it was in one.
    pub async fn disconnected(&self, user: UserId, conn: ConnId) {
        let Some(room) = self.roster().by_conn.get(&conn).copied() else { return };
        let members = rooms::member_ids(&self.pool, room).await.unwrap_or_default();
        let mut roster = self.roster();
        if roster.seat_mut(room, conn).is_some() {
            roster.take_seat(room, user);
            self.sfu.tell(SfuCommand::Leave { room, conn });
            self.tell(&members, participant_left(room, user, CallLeftReason::Disconnected));
        }
    }

    /// `user` is no longer a member of `room`: out of its call, told on the
    /// connection they were in it from; `remaining` (the members) hear of it.
    pub fn removed_from_room(&self, room: RoomId, user: UserId, remaining: &[UserId]) {
        let mut roster = self.roster();
        if let Some(seat) = roster.take_seat(room, user) {
            self.sfu.tell(SfuCommand::Leave { room, conn: seat.conn });
            self.send_left(seat.conn, room, CallLeftReason::RemovedFromRoom);
            self.tell(remaining, participant_left(room, user, CallLeftReason::RemovedFromRoom));
        }
    }

    /// `room` was deleted: everyone in its call is taken out.
    pub fn room_deleted(&self, room: RoomId) {
        let mut roster = self.roster();
        let seats = roster.rooms.remove(&room).unwrap_or_default();
        for seat in seats {
            roster.by_conn.remove(&seat.conn);
            self.sfu.tell(SfuCommand::Leave { room, conn: seat.conn });
            self.send_left(seat.conn, room, CallLeftReason::RoomDeleted);
        }
    }

    /// The room's members, if `conn` is in its call (errors otherwise).
    async fn members_if_in_call(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
    ) -> Result<Vec<UserId>, ApiError> {
        if !rooms::is_member(&self.pool, room, user).await? {
            return Err(room_not_found());
        }
        if self.roster().by_conn.get(&conn) != Some(&room) {
            return Err(not_in_call());
        }
        Ok(rooms::member_ids(&self.pool, room).await?)
    }

    fn tell(&self, users: &[UserId], event: ServerEvent) {
        self.hub.publish_to_users(users, &event);
    }

    fn send_left(&self, conn: ConnId, room: RoomId, reason: CallLeftReason) {
        let event = ServerEvent::CallLeft(events::CallLeft { room_id: room, reason });
        self.hub.send_to(conn, &ServerFrame { request_id: None, event });
    }
}

fn participant_left(room: RoomId, user: UserId, reason: CallLeftReason) -> ServerEvent {
    ServerEvent::CallParticipantLeft(CallParticipantLeft { room_id: room, user_id: user, reason })
}

fn media_error(error: SfuError) -> ApiError {
    match error {
        SfuError::NotJoined => not_in_call(),
        SfuError::Sdp(reason) => ApiError::new(
            Status::BadRequest,
            ErrorCode::InvalidSdp,
            format!("The call's media server could not use that SDP: {reason}"),
        ),
        SfuError::StaleOffer(_) => ApiError::new(Status::Conflict, ErrorCode::StaleOffer, error.to_string()),
        SfuError::Internal(_) => {
            tracing::error!(%error, "SFU");
            ApiError::new(Status::InternalServerError, ErrorCode::Internal, "The call's media server failed.")
        }
    }
}

fn not_in_call() -> ApiError {
    ApiError::new(Status::Conflict, ErrorCode::NotInCall, "This connection is not in that room's call.")
}
