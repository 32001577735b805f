//! Keeping calls hosted: the leases of the calls hosted here renewed (with
//! their rosters as notes) and given up once empty; a call another instance
//! took over (Redis restarted under a host, say) handed over; this
//! instance's connections in a call whose host is gone told to join again;
//! and on shutdown every call hosted here moved.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use concord_common::events::{CallLeftReason, CallParticipant};
use concord_common::{RoomId, UserId};

use super::roster::Seat;
use super::{lease_name, participant_left, Away, Calls};
use crate::db::rooms;
use crate::lock;
use crate::realtime::ConnId;
use crate::sfu::SfuCommand;

/// Watches in a row that must find a call's host gone before this
/// instance's participants are told it moved: a Redis restart empties
/// every lease for a moment, and hosts take theirs back within one watch.
const GONE_AFTER_WATCHES: u32 = 3;

/// A call taken out of the roster: its seats, in joining order, and its
/// room's members as last read.
type TakenCall = (Vec<Seat>, Vec<UserId>);

/// What the watch knows of a call hosted elsewhere.
#[derive(Debug, Default)]
pub(super) struct Watched {
    /// Watches in a row that found its host gone.
    missing: u32,
    /// The roster its host last wrote.
    last_note: String,
}

impl Calls {
    /// Every fifth of a lease (and at once after a hosted call's roster
    /// changed): renews, hands over and gives up the calls hosted here, and
    /// watches the hosts of this instance's connections in other calls.
    pub fn spawn_hosting(&self) {
        let calls = self.clone();
        tokio::spawn(async move {
            let every = (calls.leases.lease() / 5).max(Duration::from_millis(100));
            let mut held = HashSet::new();
            let mut watched = HashMap::new();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = calls.changed.notified() => {}
                }
                if !calls.stopping.load(Ordering::Relaxed) {
                    calls.keep_hosted(&mut held).await;
                }
                calls.watch_hosts(&mut watched).await;
            }
        });
    }

    /// Renews the leases of the calls hosted here, each with its roster as
    /// the note; those another instance holds now are handed over; those
    /// emptied since the last time are given up.
    async fn keep_hosted(&self, held: &mut HashSet<RoomId>) {
        let notes: Vec<(RoomId, String)> = {
            let roster = self.roster();
            roster
                .rooms
                .keys()
                .map(|room| (*room, serde_json::to_string(&roster.participants(*room)).unwrap_or_default()))
                .collect()
        };
        let named: Vec<(String, String)> =
            notes.iter().map(|(room, note)| (lease_name(*room), note.clone())).collect();
        match self.leases.renew(&named).await {
            Ok(lost) => {
                for (room, _) in notes.iter().filter(|(room, _)| lost.contains(&lease_name(*room))) {
                    tracing::warn!(%room, "another instance hosts this call now; its participants move");
                    self.move_call(*room).await;
                }
            }
            Err(error) => tracing::warn!(%error, "calls' leases not renewed; retrying"),
        }
        let now: HashSet<RoomId> = notes.iter().map(|(room, _)| *room).collect();
        let emptied: Vec<String> = held.difference(&now).map(|room| lease_name(*room)).collect();
        self.leases.release(&emptied).await;
        *held = now;
    }

    /// Everyone in `room`'s call hosted here is taken out and told to join
    /// again (`moved`): the call continues wherever they rejoin.
    async fn move_call(&self, room: RoomId) {
        let taken = self.roster().take_call(room);
        self.tell_moved(room, taken).await;
    }

    /// Tells each of `seats` that `room`'s call moved, and the members that
    /// they left it (`known` if the database cannot say: shutting down).
    async fn tell_moved(&self, room: RoomId, (seats, known): TakenCall) {
        let members = rooms::member_ids(&self.pool, room).await.unwrap_or(known);
        let stopping = self.stopping.load(Ordering::Relaxed);
        for seat in seats {
            self.sfu.tell(SfuCommand::Leave { room, conn: seat.conn });
            // (This instance's own connections, when it stops, are closed
            // with 1012 next: their clients rejoin once reconnected.)
            if !(stopping && seat.conn.instance == self.me()) {
                self.send_left(seat.conn, room, CallLeftReason::Moved);
            }
            self.tell(&members, participant_left(room, seat.participant.user_id, CallLeftReason::Moved));
        }
    }

    /// This instance's connections in calls hosted elsewhere whose host no
    /// longer holds the call ([`GONE_AFTER_WATCHES`] times in a row: killed,
    /// its lease lapsed) are told the call moved; the room's members are
    /// told that everyone the host last listed left it, but for those in
    /// the call again already.
    async fn watch_hosts(&self, watched: &mut HashMap<(RoomId, u16), Watched>) {
        let away: Vec<(ConnId, Away)> = lock(&self.away).iter().map(|(c, a)| (*c, *a)).collect();
        let mut calls: Vec<(RoomId, u16)> = away.iter().map(|(_, a)| (a.room, a.host)).collect();
        calls.sort_unstable_by_key(|(room, host)| (room.0, *host));
        calls.dedup();
        watched.retain(|call, _| calls.contains(call));
        if calls.is_empty() {
            return;
        }
        let names: Vec<String> = calls.iter().map(|(room, _)| lease_name(*room)).collect();
        let Ok(holders) = self.leases.holders(&names).await else { return };
        let mut gone = Vec::new();
        for (call, holder) in calls.iter().zip(holders) {
            let entry = watched.entry(*call).or_default();
            match holder {
                Some((host, note)) if host == call.1 => {
                    *entry = Watched { missing: 0, last_note: note };
                }
                holder => {
                    entry.missing += 1;
                    if entry.missing >= GONE_AFTER_WATCHES {
                        let now = holder.map(|(_, note)| note);
                        gone.push((*call, std::mem::take(&mut entry.last_note), now));
                    }
                }
            }
        }
        for ((room, host), last_note, now_note) in gone {
            watched.remove(&(room, host));
            tracing::warn!(%room, host, "the instance hosting this call is gone; its participants here rejoin");
            let listed = |note: Option<&str>| -> Vec<UserId> {
                let participants: Vec<CallParticipant> =
                    note.and_then(|note| serde_json::from_str(note).ok()).unwrap_or_default();
                participants.into_iter().map(|p| p.user_id).collect()
            };
            let mut there_now = listed(now_note.as_deref());
            there_now.extend(self.roster().participants(room).into_iter().map(|p| p.user_id));
            let mut left = listed(Some(&last_note));
            for (conn, moved) in away.iter().filter(|(_, a)| a.room == room && a.host == host) {
                let still = {
                    let mut away_now = lock(&self.away);
                    away_now.get(conn) == Some(moved) && away_now.remove(conn).is_some()
                };
                if still {
                    self.send_left(*conn, room, CallLeftReason::Moved);
                    if !left.contains(&moved.user) {
                        left.push(moved.user);
                    }
                }
            }
            let members = rooms::member_ids(&self.pool, room).await.unwrap_or_default();
            for user in left.into_iter().filter(|user| !there_now.contains(user)) {
                self.tell(&members, participant_left(room, user, CallLeftReason::Moved));
            }
        }
    }

    /// Shutting down: nothing more is hosted or joined here; everyone in a
    /// call hosted here is told it moved (they rejoin through another
    /// instance) and the calls' leases are given up, so the first to rejoin
    /// claims it. Call before the websockets are closed: the calls are
    /// taken at once, so a closing connection finds itself in none.
    pub async fn move_all_for_shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let rooms: Vec<RoomId> = self.roster().rooms.keys().copied().collect();
        let taken: Vec<(RoomId, TakenCall)> =
            rooms.iter().map(|room| (*room, self.roster().take_call(*room))).collect();
        tracing::info!(calls = taken.len(), "shutting down: moving the calls hosted here");
        for (room, seats) in taken {
            self.tell_moved(room, seats).await;
        }
        let names: Vec<String> = rooms.iter().map(|room| lease_name(*room)).collect();
        self.leases.release(&names).await;
    }
}
