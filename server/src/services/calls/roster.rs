//! Who is in each call this instance hosts, and from which connection
//! (a connection of any instance: its [`ConnId`] names the instance).

use std::collections::HashMap;

use concord_common::events::CallParticipant;
use concord_common::{RoomId, UserId};

use crate::realtime::ConnId;

/// One participant and the connection they are in the call from.
#[derive(Debug, Clone)]
pub(super) struct Seat {
    pub conn: ConnId,
    pub participant: CallParticipant,
}

/// The calls hosted here.
#[derive(Debug, Default)]
pub(super) struct Roster {
    /// Each room's call, in the order people joined.
    pub rooms: HashMap<RoomId, Vec<Seat>>,
    /// Which call each connection is in.
    pub by_conn: HashMap<ConnId, RoomId>,
    /// Each call's room's members when someone last joined it: who to tell
    /// when the database cannot be asked (shutting down).
    pub members: HashMap<RoomId, Vec<UserId>>,
}

impl Roster {
    pub fn seat_of(&self, room: RoomId, conn: ConnId) -> Option<&Seat> {
        self.rooms.get(&room)?.iter().find(|s| s.conn == conn)
    }

    pub fn seat_of_user(&mut self, room: RoomId, user: UserId) -> Option<&mut Seat> {
        self.rooms.get_mut(&room)?.iter_mut().find(|s| s.participant.user_id == user)
    }

    pub fn take_seat(&mut self, room: RoomId, user: UserId) -> Option<Seat> {
        let seats = self.rooms.get_mut(&room)?;
        let at = seats.iter().position(|s| s.participant.user_id == user)?;
        let seat = seats.remove(at);
        if seats.is_empty() {
            self.rooms.remove(&room);
            self.members.remove(&room);
        }
        self.by_conn.remove(&seat.conn);
        Some(seat)
    }

    /// Takes `room`'s whole call out: its seats, in joining order, and the
    /// room's members as last read.
    pub fn take_call(&mut self, room: RoomId) -> (Vec<Seat>, Vec<UserId>) {
        let seats = self.rooms.remove(&room).unwrap_or_default();
        for seat in &seats {
            self.by_conn.remove(&seat.conn);
        }
        (seats, self.members.remove(&room).unwrap_or_default())
    }

    pub fn seat_mut(&mut self, room: RoomId, conn: ConnId) -> Option<&mut Seat> {
        self.rooms.get_mut(&room)?.iter_mut().find(|s| s.conn == conn)
    }

    pub fn participants(&self, room: RoomId) -> Vec<CallParticipant> {
        self.rooms
            .get(&room)
            .map(|seats| seats.iter().map(|s| s.participant.clone()).collect())
            .unwrap_or_default()
    }
}
