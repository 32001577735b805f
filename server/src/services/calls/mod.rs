//! Calls: who is in each room's call, from which connection, with what
//! switched on. A user is in a call from one connection at a time, and a
//! connection is in one call at a time. Every change is told to every member
//! of the room (in the call or not: the room list shows who is in it), in the
//! order the roster changed; the connection a change concerns gets its own
//! answer or `call_left`.
//!
//! **One host per call.** Each room's call is hosted by one instance: the
//! first joiner's instance claims the lease `call:{room}`
//! ([`crate::realtime::Leases`]) and keeps it while anyone is in the call
//! ([`hosting`]). The host holds the [`roster`] — connections of any
//! instance — and its SFU ([`crate::sfu`]) carries the call's media: the
//! roster tells the SFU who joins and leaves, passes offers and answers
//! between clients and the SFU, and turns the SFU's events into websocket
//! events (offers, speaking, participants whose media went silent), sent
//! to each connection wherever it is. A participant whose websocket is on
//! another instance has that instance [`relay`] their requests to the host
//! and send their media to the host's advertised address. When the host
//! stops (SIGTERM) or dies, everyone in its calls is told `call_left`
//! `moved` and joins again; the first to rejoin claims the call for their
//! instance.

mod hosting;
mod relay;
mod roster;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use concord_common::events::{
    self, CallJoined, CallLeftReason, CallMedia, CallParticipant, CallParticipantJoined, CallParticipantLeft,
    CallParticipantUpdated, CallSpeaking, CallSubscribeOffer, CallVideoQuality, CallVideoWanted, CallView,
    PublishedTrack, TileSize, TileView,
};
use concord_common::{ErrorCode, RoomId, ServerEvent, UserId};
use rocket::http::Status;
use sqlx::AnyPool;

use self::relay::{HostAnswer, HostRequest, Mail, Relay};
use self::roster::{Roster, Seat};
use super::rooms::room_not_found;
use super::turn::TurnRelays;
use crate::db::rooms;
use crate::error::ApiError;
use crate::ids::now_ms;
use crate::lock;
use crate::realtime::{ConnId, Hub, Leases, Target};
use crate::sfu::{Sfu, SfuCommand, SfuError, SfuEvent};

/// A connection of this instance in a call another instance hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Away {
    room: RoomId,
    host: u16,
    user: UserId,
}

/// Rooms' calls: those hosted here, and this instance's connections in
/// calls hosted elsewhere.
#[derive(Clone)]
pub struct Calls {
    pool: AnyPool,
    hub: Arc<Hub>,
    sfu: Sfu,
    /// TURN relays whose credentials go with `call_joined`.
    turn: Option<TurnRelays>,
    roster: Arc<Mutex<Roster>>,
    leases: Arc<dyn Leases>,
    away: Arc<Mutex<HashMap<ConnId, Away>>>,
    relay: Arc<Relay>,
    /// Shutting down: host nothing more.
    stopping: Arc<AtomicBool>,
    /// Woken when a hosted call's roster changed (its note is rewritten).
    changed: Arc<tokio::sync::Notify>,
}

/// The lease name of `room`'s call.
fn lease_name(room: RoomId) -> String {
    format!("call:{room}")
}

impl Calls {
    /// No calls yet; those hosted here carry their media through `sfu`,
    /// reachable also through `turn`'s relays; `leases` says who hosts
    /// which call. Starts reading the other instances' call requests.
    pub fn new(
        pool: AnyPool,
        hub: Arc<Hub>,
        sfu: Sfu,
        turn: Option<TurnRelays>,
        leases: Arc<dyn Leases>,
    ) -> Self {
        let calls = Self {
            pool,
            relay: Arc::new(Relay::new(hub.clone())),
            hub,
            sfu,
            turn,
            roster: Arc::default(),
            leases,
            away: Arc::default(),
            stopping: Arc::default(),
            changed: Arc::default(),
        };
        let reader = calls.clone();
        calls.hub.on_instance_mail(Arc::new(move |payload| reader.on_mail(&payload)));
        calls
    }

    fn me(&self) -> u16 {
        self.hub.instance()
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
        // What the SFU says to a connection no longer seated here (its call
        // moved, or it left) is about media it no longer has: dropped, so
        // that an old offer never reaches a client that rejoined elsewhere.
        let seated = |room: RoomId, conn: ConnId| self.roster().seat_of(room, conn).is_some();
        match event {
            SfuEvent::SubscribeOffer { room, conn, .. }
            | SfuEvent::VideoWanted { room, conn, .. }
            | SfuEvent::VideoQuality { room, conn, .. }
                if !seated(room, conn) =>
            {
                tracing::debug!(%room, %conn, "media event for a connection no longer in the call; dropped");
            }
            SfuEvent::SubscribeOffer { room, conn, offer_id, sdp, tracks } => {
                let user = self.roster().seat_of(room, conn).map(|s| s.participant.user_id);
                let ice_servers = self.relay_credentials(user);
                let offer = CallSubscribeOffer { room_id: room, offer_id, sdp, tracks, ice_servers };
                self.send(conn, ServerEvent::CallSubscribeOffer(offer));
            }
            SfuEvent::VideoWanted { room, conn, source, wanted, layers } => {
                let wanted = CallVideoWanted { room_id: room, source, wanted, layers };
                self.send(conn, ServerEvent::CallVideoWanted(wanted));
            }
            SfuEvent::VideoQuality { room, conn, user, source, quality, size, estimate } => {
                let size = size.map(|(width, height)| events::TileSize { width, height });
                let estimate_kbps = estimate.map(|bps| u32::try_from(bps / 1000).unwrap_or(u32::MAX));
                let changed =
                    CallVideoQuality { room_id: room, user_id: user, source, quality, size, estimate_kbps };
                self.send(conn, ServerEvent::CallVideoQuality(changed));
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
                    self.changed.notify_one();
                }
            }
        }
    }

    fn roster(&self) -> MutexGuard<'_, Roster> {
        self.roster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who is in each of `rooms`' calls, in the order they joined (read
    /// from the host's note when another instance hosts it).
    pub async fn participants_of(&self, rooms: &[RoomId]) -> Vec<Vec<CallParticipant>> {
        let mut found: Vec<Option<Vec<CallParticipant>>> = {
            let roster = self.roster();
            rooms
                .iter()
                .map(|room| roster.rooms.contains_key(room).then(|| roster.participants(*room)))
                .collect()
        };
        let elsewhere: Vec<usize> = (0..rooms.len()).filter(|i| found[*i].is_none()).collect();
        if !elsewhere.is_empty() {
            let names: Vec<String> = elsewhere.iter().map(|i| lease_name(rooms[*i])).collect();
            let holders = self.leases.holders(&names).await.unwrap_or_default();
            for (i, holder) in elsewhere.iter().zip(holders) {
                let note = holder.filter(|(host, _)| *host != self.me()).map(|(_, note)| note);
                found[*i] = note.and_then(|note| serde_json::from_str(&note).ok());
            }
        }
        found.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// Which instance hosts `room`'s call: this one if it does, else
    /// whoever holds its lease — or this one, claiming it.
    async fn host_for(&self, room: RoomId) -> Result<u16, ApiError> {
        if self.roster().rooms.contains_key(&room) {
            return Ok(self.me());
        }
        self.leases.claim(&lease_name(room)).await.map_err(|error| {
            tracing::error!(%error, %room, "cannot find the call's host");
            relay::host_unreachable()
        })
    }

    /// Where `conn`'s requests about `room`'s call are served: at its host
    /// when it is in that call hosted elsewhere, else here.
    fn route(&self, conn: ConnId, room: RoomId) -> u16 {
        match lock(&self.away).get(&conn) {
            Some(away) if away.room == room => away.host,
            _ => self.me(),
        }
    }

    /// `request` served by `host`: here, or asked through the bus.
    async fn on_host(
        &self,
        host: u16,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        request: HostRequest,
    ) -> Result<HostAnswer, ApiError> {
        if host == self.me() {
            self.serve(user, conn, room, request).await
        } else {
            self.relay.ask(host, user, conn, room, request).await
        }
    }

    /// A message from another instance ([`Mail`]).
    fn on_mail(&self, payload: &str) {
        let mail = match serde_json::from_str::<Mail>(payload) {
            Ok(mail) => mail,
            Err(error) => {
                tracing::warn!(%error, "unreadable call mail");
                return;
            }
        };
        match mail {
            Mail::Ask { id, from, user, conn, room, request } => {
                let calls = self.clone();
                tokio::spawn(async move {
                    let answer = HostAnswer::of(calls.serve(user, relay::conn_of(conn), room, request).await);
                    calls.relay.answer(from, id, answer);
                });
            }
            Mail::Answer { id, answer } => self.relay.answered(id, answer),
            Mail::Forget { conn, room } => self.forget_away(relay::conn_of(conn), room),
        }
    }

    /// Does `request` as the call's host.
    async fn serve(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        request: HostRequest,
    ) -> Result<HostAnswer, ApiError> {
        match request {
            HostRequest::Join { media } => {
                if self.stopping.load(Ordering::Relaxed) || self.host_for(room).await? != self.me() {
                    return Ok(HostAnswer::Moved);
                }
                let joined = self.join_here(user, conn, room, media).await?;
                Ok(HostAnswer::Joined { joined })
            }
            HostRequest::Leave { reason } => {
                self.leave_here(user, conn, room, reason).await?;
                Ok(HostAnswer::Done)
            }
            HostRequest::Update { media } => {
                let participant = self.update_here(user, conn, room, media).await?;
                Ok(HostAnswer::Participant { participant })
            }
            HostRequest::Publish { sdp, tracks } => {
                self.members_if_in_call(user, conn, room).await?;
                let sdp = self
                    .sfu
                    .ask(|reply| SfuCommand::Publish { room, conn, sdp, tracks, reply })
                    .await
                    .map_err(media_error)?;
                Ok(HostAnswer::Sdp { sdp })
            }
            HostRequest::SubscribeAnswer { offer_id, sdp } => {
                self.members_if_in_call(user, conn, room).await?;
                self.sfu
                    .ask(|reply| SfuCommand::SubscribeAnswer { room, conn, offer_id, sdp, reply })
                    .await
                    .map_err(media_error)?;
                Ok(HostAnswer::Done)
            }
            HostRequest::View { tiles } => {
                self.members_if_in_call(user, conn, room).await?;
                self.sfu
                    .ask(|reply| SfuCommand::View { room, conn, tiles, reply })
                    .await
                    .map_err(media_error)?;
                Ok(HostAnswer::Done)
            }
            HostRequest::Disconnected => {
                self.disconnected_here(user, conn).await;
                Ok(HostAnswer::Done)
            }
            HostRequest::RemovedFromRoom { remaining } => {
                self.removed_here(room, user, &remaining);
                Ok(HostAnswer::Done)
            }
            HostRequest::RoomDeleted => {
                self.room_deleted_here(room);
                Ok(HostAnswer::Done)
            }
        }
    }

    /// `user` joins `room`'s call from `conn` with `media` switched on. If
    /// they were in it from another connection, that one is taken out
    /// (`joined_elsewhere`); if `conn` was in another room's call, it leaves
    /// that one (`joined_another_call`). Joining again from the same
    /// connection only updates `media`. Served by the call's host: this
    /// instance when nobody hosts it yet.
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
        if self.stopping.load(Ordering::Relaxed) {
            return Err(ApiError::new(
                Status::ServiceUnavailable,
                ErrorCode::ServerBusy,
                "This server is restarting: join again once reconnected.",
            ));
        }
        let previous = self.roster().by_conn.get(&conn).copied().map(|other| (other, self.me()));
        let previous = previous.or_else(|| lock(&self.away).get(&conn).map(|a| (a.room, a.host)));
        if let Some((other, host)) = previous.filter(|(other, _)| *other != room) {
            let leave = HostRequest::Leave { reason: CallLeftReason::JoinedAnotherCall };
            if let Err(error) = self.on_host(host, user, conn, other, leave).await {
                tracing::debug!(?error, "leaving the previous call");
            }
        }
        // Forgotten while joining (it is noted again once joined), so that
        // a host found gone meanwhile does not tell this join it moved.
        lock(&self.away).remove(&conn);
        // A host that is stopping, or just gave the call up, answers
        // `Moved`; a dead one does not answer until its lease lapses.
        let deadline = tokio::time::Instant::now() + self.leases.lease() + relay::ASK_TIMEOUT;
        loop {
            let host = self.host_for(room).await?;
            match self.on_host(host, user, conn, room, HostRequest::Join { media }).await {
                Ok(HostAnswer::Joined { joined }) => {
                    let mut away = lock(&self.away);
                    if host == self.me() {
                        away.remove(&conn);
                    } else {
                        away.insert(conn, Away { room, host, user });
                    }
                    return Ok(joined);
                }
                Ok(HostAnswer::Moved) => {}
                Err(error) if error.body.code == ErrorCode::ServerBusy => {}
                Err(error) => return Err(error),
                Ok(other) => return Err(unexpected(&other)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(relay::host_unreachable());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Joins `room`'s call hosted here.
    async fn join_here(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        media: CallMedia,
    ) -> Result<CallJoined, ApiError> {
        let members = rooms::member_ids(&self.pool, room).await?;
        if !members.contains(&user) {
            return Err(room_not_found());
        }
        let mut roster = self.roster();
        roster.members.insert(room, members.clone());
        if let Some(other) = roster.by_conn.get(&conn).copied().filter(|r| *r != room) {
            // (Left already by `join`; a request raced it.)
            roster.take_seat(other, user);
            self.sfu.tell(SfuCommand::Leave { room: other, conn });
            self.send_left(conn, other, CallLeftReason::JoinedAnotherCall);
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
                if let Some(seat) = roster.seat_of_user(room, user) {
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
        self.changed.notify_one();
        let ice_servers = self.relay_credentials(Some(user));
        Ok(CallJoined { room_id: room, participants: roster.participants(room), ice_servers })
    }

    /// `conn` leaves `room`'s call.
    pub async fn leave(&self, user: UserId, conn: ConnId, room: RoomId) -> Result<(), ApiError> {
        let host = self.route(conn, room);
        let leave = HostRequest::Leave { reason: CallLeftReason::Left };
        let answer = self.on_host(host, user, conn, room, leave).await?;
        self.forget_away(conn, room);
        expect_done(&answer)
    }

    /// Takes `conn` out of `room`'s call hosted here; told to the members,
    /// and to `conn` itself unless it asked (`Left`: its answer says so).
    async fn leave_here(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
        reason: CallLeftReason,
    ) -> Result<(), ApiError> {
        let members = self.members_if_in_call(user, conn, room).await?;
        let mut roster = self.roster();
        if roster.seat_mut(room, conn).is_none() {
            return Err(not_in_call());
        }
        roster.take_seat(room, user);
        self.sfu.tell(SfuCommand::Leave { room, conn });
        if reason != CallLeftReason::Left {
            self.send_left(conn, room, reason);
        }
        self.tell(&members, participant_left(room, user, reason));
        self.changed.notify_one();
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
        let host = self.route(conn, room);
        match self.on_host(host, user, conn, room, HostRequest::Update { media }).await? {
            HostAnswer::Participant { participant } => Ok(participant),
            other => Err(unexpected(&other)),
        }
    }

    async fn update_here(
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
        self.changed.notify_one();
        Ok(participant)
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
        let host = self.route(conn, room);
        match self.on_host(host, user, conn, room, HostRequest::Publish { sdp, tracks }).await? {
            HostAnswer::Sdp { sdp } => Ok(sdp),
            other => Err(unexpected(&other)),
        }
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
        let host = self.route(conn, room);
        let answer =
            self.on_host(host, user, conn, room, HostRequest::SubscribeAnswer { offer_id, sdp }).await?;
        expect_done(&answer)
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
        let host = self.route(conn, room);
        expect_done(&self.on_host(host, user, conn, room, HostRequest::View { tiles }).await?)
    }

    /// A connection closed: it leaves its call, if it was in one.
    pub async fn disconnected(&self, user: UserId, conn: ConnId) {
        let away = lock(&self.away).remove(&conn);
        match away {
            Some(Away { room, host, .. }) => {
                if let Err(error) = self.relay.ask(host, user, conn, room, HostRequest::Disconnected).await {
                    tracing::debug!(?error, "telling the call's host of a closed connection");
                }
            }
            None => self.disconnected_here(user, conn).await,
        }
    }

    async fn disconnected_here(&self, user: UserId, conn: ConnId) {
        let Some(room) = self.roster().by_conn.get(&conn).copied() else { return };
        let members = rooms::member_ids(&self.pool, room).await.unwrap_or_default();
        let mut roster = self.roster();
        if roster.seat_mut(room, conn).is_some() {
            roster.take_seat(room, user);
            self.sfu.tell(SfuCommand::Leave { room, conn });
            self.tell(&members, participant_left(room, user, CallLeftReason::Disconnected));
            self.changed.notify_one();
        }
    }

    /// `user` is no longer a member of `room`: out of its call, told on the
    /// connection they were in it from; `remaining` (the members) hear of it.
    pub async fn removed_from_room(&self, room: RoomId, user: UserId, remaining: &[UserId]) {
        let remaining = remaining.to_vec();
        self.on_call_host(room, user, HostRequest::RemovedFromRoom { remaining }).await;
    }

    fn removed_here(&self, room: RoomId, user: UserId, remaining: &[UserId]) {
        let mut roster = self.roster();
        if let Some(seat) = roster.take_seat(room, user) {
            self.sfu.tell(SfuCommand::Leave { room, conn: seat.conn });
            self.send_left(seat.conn, room, CallLeftReason::RemovedFromRoom);
            self.tell(remaining, participant_left(room, user, CallLeftReason::RemovedFromRoom));
            self.changed.notify_one();
        }
    }

    /// `room` was deleted: everyone in its call is taken out.
    pub async fn room_deleted(&self, room: RoomId, by: UserId) {
        self.on_call_host(room, by, HostRequest::RoomDeleted).await;
    }

    fn room_deleted_here(&self, room: RoomId) {
        let (seats, _) = self.roster().take_call(room);
        for seat in seats {
            self.sfu.tell(SfuCommand::Leave { room, conn: seat.conn });
            self.send_left(seat.conn, room, CallLeftReason::RoomDeleted);
        }
        self.changed.notify_one();
    }

    /// `request` about `room`'s call done by its host, if it has one.
    async fn on_call_host(&self, room: RoomId, user: UserId, request: HostRequest) {
        let here = ConnId { instance: self.me(), local: 0 };
        let host = if self.roster().rooms.contains_key(&room) {
            Some(self.me())
        } else {
            let holders = self.leases.holders(&[lease_name(room)]).await.unwrap_or_default();
            holders.into_iter().flatten().next().map(|(host, _)| host)
        };
        if let Some(host) = host {
            if let Err(error) = self.on_host(host, user, here, room, request).await {
                tracing::warn!(?error, %room, "the call's host did not take the change");
            }
        }
    }

    /// The room's members, if `conn` is in its call (errors otherwise).
    async fn members_if_in_call(
        &self,
        user: UserId,
        conn: ConnId,
        room: RoomId,
    ) -> Result<Vec<UserId>, ApiError> {
        let members = rooms::member_ids(&self.pool, room).await?;
        if !members.contains(&user) {
            return Err(room_not_found());
        }
        if self.roster().by_conn.get(&conn) != Some(&room) {
            return Err(not_in_call());
        }
        Ok(members)
    }

    fn forget_away(&self, conn: ConnId, room: RoomId) {
        let mut away = lock(&self.away);
        if away.get(&conn).is_some_and(|a| a.room == room) {
            away.remove(&conn);
        }
    }

    fn tell(&self, users: &[UserId], event: ServerEvent) {
        self.hub.publish_to_users(users, &event);
    }

    /// Sends `event` to one connection, on whichever instance it is.
    fn send(&self, conn: ConnId, event: ServerEvent) {
        self.hub.publish(&[Target::Connection(conn)], &event);
    }

    /// Tells `conn` it is out of `room`'s call (and its instance first,
    /// when that is another: it stops routing the call's requests here).
    fn send_left(&self, conn: ConnId, room: RoomId, reason: CallLeftReason) {
        if conn.instance != self.me() {
            self.relay.forget(conn, room);
        }
        self.send(conn, ServerEvent::CallLeft(events::CallLeft { room_id: room, reason }));
    }
}

fn participant_left(room: RoomId, user: UserId, reason: CallLeftReason) -> ServerEvent {
    ServerEvent::CallParticipantLeft(CallParticipantLeft { room_id: room, user_id: user, reason })
}

fn expect_done(answer: &HostAnswer) -> Result<(), ApiError> {
    match answer {
        HostAnswer::Done => Ok(()),
        other => Err(unexpected(other)),
    }
}

/// An answer that does not fit the question (instances of different versions).
fn unexpected(answer: &HostAnswer) -> ApiError {
    tracing::error!(?answer, "unexpected answer from the call's host");
    ApiError::new(Status::InternalServerError, ErrorCode::Internal, "The call's server answered strangely.")
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
