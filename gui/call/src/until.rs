//! Ending a bot process's call once what it waits for has arrived
//! (`concord-bot --until-received N`): every participant of the process has
//! received N frames of each other one's camera (unless it hides it) and a
//! second of its microphone — the others in the process, and those named
//! with `--from` in other processes — and (when they send sound) has been told that each of them,
//! itself included, speaks. A test then ends when its condition holds, however slow the
//! machine, instead of after a fixed stay (`--seconds` stays the deadline).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use concord_common::events::TrackSource;
use concord_common::UserId;

use crate::receive::TrackProgress;

/// The line a bot process writes to standard error once its participants
/// have what they wait for: with `--until-stdin-closes` they stay, and a
/// script that runs several processes closes each one's standard input once
/// every one has said so (the first satisfied would otherwise leave and
/// starve the others).
pub const RECEIVED_LINE: &str = "concord-bot: received what it waits for";

/// A second of 20 ms audio packets: enough for the tone to be read back.
pub const AUDIO_FRAMES: u64 = 50;
/// How often the board is looked at.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// What one process's participants have received from each other.
#[derive(Debug)]
pub struct ReceivedBoard {
    participants: usize,
    /// Camera frames wanted from each other participant (None: they send no camera).
    camera_frames: Option<u64>,
    /// Microphone frames wanted from each other participant (None: they send none).
    audio_frames: Option<u64>,
    /// Whose videos the participants hide (none of them is wanted).
    hidden: Vec<UserId>,
    /// Participants of other processes whose camera and microphone are wanted too.
    from: Vec<UserId>,
    state: Mutex<Board>,
}

#[derive(Debug, Default)]
struct Board {
    /// The participants who have logged in.
    members: Vec<UserId>,
    /// (receiver, sender, what, its progress, its frames counted before
    /// the last [`ReceivedBoard::again`]).
    tracks: Vec<(UserId, UserId, TrackSource, TrackProgress, u64)>,
    /// (receiver, speaker): the server told the receiver the speaker speaks.
    spoke: Vec<(UserId, UserId)>,
    /// Participants of other processes no longer waited for.
    gone: Vec<UserId>,
}

impl ReceivedBoard {
    /// A board for `participants` in one process, each wanting
    /// `camera_frames` of every other's camera and `audio_frames` of its
    /// microphone (None where the others send none), and the same of each
    /// of `from` (participants of other processes); `hidden`'s cameras are
    /// not wanted.
    pub fn new(
        participants: usize,
        camera_frames: Option<u64>,
        audio_frames: Option<u64>,
        hidden: Vec<UserId>,
        from: Vec<UserId>,
    ) -> Arc<Self> {
        Arc::new(Self { participants, camera_frames, audio_frames, hidden, from, state: Mutex::default() })
    }

    /// `user` is one of the process's participants.
    pub fn member(&self, user: UserId) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.members.contains(&user) {
            state.members.push(user);
        }
    }

    /// `receiver` watches `sender`'s track carrying `source`.
    pub fn watching(&self, receiver: UserId, sender: UserId, source: TrackSource, progress: TrackProgress) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tracks.push((receiver, sender, source, progress, 0));
    }

    /// From now on, what is wanted must arrive again: frames counted so far
    /// no longer count (a test waits for the call to come back after a
    /// fault); of `gone`, participants of other processes who left for
    /// good, nothing is wanted any more.
    pub fn again(&self, gone: &[UserId]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.gone.extend_from_slice(gone);
        for (_, _, _, progress, before) in &mut state.tracks {
            *before = progress.frames();
        }
    }

    /// The server told `receiver` that `speaker` speaks.
    pub fn spoke(&self, receiver: UserId, speaker: UserId) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.spoke.push((receiver, speaker));
    }

    /// Whether every participant has what it wants from every other.
    pub fn complete(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.members.len() < self.participants {
            return false;
        }
        let has = |receiver: UserId, sender: UserId, source: TrackSource, wanted: Option<u64>| {
            wanted.is_none_or(|wanted| {
                state.tracks.iter().any(|(r, s, what, progress, before)| {
                    (*r, *s, *what) == (receiver, sender, source)
                        && progress.frames().saturating_sub(*before) >= wanted
                })
            })
        };
        let heard_speak = |receiver: UserId, speaker: UserId| {
            self.audio_frames.is_none() || state.spoke.contains(&(receiver, speaker))
        };
        let senders: Vec<UserId> = state
            .members
            .iter()
            .chain(self.from.iter().filter(|u| !state.members.contains(u) && !state.gone.contains(u)))
            .copied()
            .collect();
        state.members.iter().all(|&receiver| {
            senders.iter().all(|&sender| {
                heard_speak(receiver, sender)
                    && (sender == receiver
                        || has(
                            receiver,
                            sender,
                            TrackSource::Camera,
                            self.camera_frames.filter(|_| !self.hidden.contains(&sender)),
                        ) && has(receiver, sender, TrackSource::Microphone, self.audio_frames))
            })
        })
    }

    /// Completes once [`ReceivedBoard::complete`] holds.
    pub async fn wait(self: Arc<Self>) {
        let mut check = tokio::time::interval(CHECK_EVERY);
        loop {
            check.tick().await;
            if self.complete() {
                return;
            }
        }
    }
}
