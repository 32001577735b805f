//! Which engine holds each room's call. Every room's media is owned by one
//! engine (one task, its own sockets), so a call never crosses engines;
//! the first to join a room places it on the engine with the fewest
//! participants, and it stays there until its last participant leaves.

use std::collections::{HashMap, HashSet};

use concord_common::RoomId;

use crate::realtime::ConnId;

/// The rooms in calls, the engine of each, and each engine's participants.
#[derive(Debug)]
pub struct Placement {
    rooms: HashMap<RoomId, Placed>,
    /// Participants per engine.
    load: Vec<usize>,
}

#[derive(Debug)]
struct Placed {
    engine: usize,
    members: HashSet<ConnId>,
}

impl Placement {
    /// No rooms, over `engines` engines (at least one).
    pub fn new(engines: usize) -> Self {
        Self { rooms: HashMap::new(), load: vec![0; engines.max(1)] }
    }

    /// `conn` joins `room`'s call: the engine that holds it (placing a new
    /// room on the least loaded engine, the first of equals).
    pub fn join(&mut self, room: RoomId, conn: ConnId) -> usize {
        let least_loaded = self.load.iter().enumerate().min_by_key(|(_, load)| **load).map_or(0, |(i, _)| i);
        let placed = self
            .rooms
            .entry(room)
            .or_insert_with(|| Placed { engine: least_loaded, members: HashSet::new() });
        if placed.members.insert(conn) {
            self.load[placed.engine] += 1;
        }
        placed.engine
    }

    /// `conn` leaves `room`'s call: the engine that held it, if it was in it.
    /// A room nobody is left in is forgotten (its next call may go elsewhere).
    pub fn leave(&mut self, room: RoomId, conn: ConnId) -> Option<usize> {
        let placed = self.rooms.get_mut(&room)?;
        let engine = placed.engine;
        if placed.members.remove(&conn) {
            self.load[engine] -= 1;
        }
        if placed.members.is_empty() {
            self.rooms.remove(&room);
        }
        Some(engine)
    }

    /// The engine holding `room`'s call, if one is going on.
    pub fn engine_of(&self, room: RoomId) -> Option<usize> {
        self.rooms.get(&room).map(|placed| placed.engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(n: u64) -> ConnId {
        ConnId { instance: 0, local: n }
    }

    #[test]
    fn a_new_room_goes_to_the_least_loaded_engine_and_stays_there() {
        let mut placement = Placement::new(2);
        let (a, b, c) = (RoomId(1), RoomId(2), RoomId(3));
        assert_eq!(placement.join(a, conn(1)), 0);
        assert_eq!(placement.join(a, conn(2)), 0);
        assert_eq!(placement.join(a, conn(2)), 0, "joining twice counts once");
        assert_eq!(placement.join(b, conn(3)), 1, "engine 0 holds two participants, engine 1 none");
        assert_eq!(placement.join(c, conn(4)), 1, "two against one");
        assert_eq!(placement.join(a, conn(5)), 0, "a room stays where its call is");
        assert_eq!(placement.leave(a, conn(1)), Some(0));
        assert_eq!(placement.leave(a, conn(2)), Some(0));
        assert_eq!(placement.leave(a, conn(5)), Some(0));
        assert_eq!(placement.engine_of(a), None, "an empty room is forgotten");
        assert_eq!(placement.leave(a, conn(5)), None);
        assert_eq!(placement.join(a, conn(6)), 0, "its next call goes to the emptier engine");
        assert_eq!(placement.engine_of(c), Some(1));
    }

    #[test]
    fn one_engine_holds_everything() {
        let mut placement = Placement::new(1);
        for room in 1..=5 {
            assert_eq!(placement.join(RoomId(room), conn(room.unsigned_abs())), 0);
        }
    }
}
