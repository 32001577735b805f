//! What a participant saw, as `concord-bot` prints it (docs: README, "The
//! headless bot").

use concord_common::{RoomId, UserId};
use serde::Serialize;

/// One participant's run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ParticipantReport {
    /// The room.
    pub room_id: Option<RoomId>,
    /// Who this participant is.
    pub user_id: Option<UserId>,
    /// From the join request to media connected (the first peer connection up).
    pub joined_ms: Option<u64>,
    /// From the join request to the first remote video frame (or audio, in a
    /// call without video).
    pub first_remote_frame_ms: Option<u64>,
    /// What was sent.
    pub sent: SentReport,
    /// Per remote participant.
    pub received: Vec<RemoteReport>,
    /// Everyone the server reported speaking at some point.
    pub speaking_seen: Vec<UserId>,
    /// What each connection's media went over: `udp`, or `tcp` where UDP is blocked.
    pub transport: crate::session::TransportReport,
    /// The receiving connection's round-trip time to the server, median of
    /// one ICE measurement a second, in milliseconds.
    pub round_trip_ms: Option<f64>,
    /// What went wrong, for a person to read.
    pub errors: Vec<String>,
    /// How many times it joined the call again after losing it.
    pub rejoins: u64,
    /// Each `call_video_quality` the server sent, in order: remote videos
    /// reduced or paused for this participant's network, and back in full.
    pub video_quality: Vec<concord_common::events::CallVideoQuality>,
}

/// Frames sent per track.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SentReport {
    /// Camera frames.
    pub video_frames: u64,
    /// Screen frames.
    pub screen_frames: u64,
    /// 20 ms audio frames.
    pub audio_frames: u64,
    /// 20 ms frames of silence not sent (Opus DTX said there was nothing to send).
    pub audio_frames_silent: u64,
    /// Camera and screen frames captured but not encoded: nobody else watched
    /// (`call_video_wanted`).
    pub video_frames_unwatched: u64,
    /// Camera frames encoded per simulcast layer, smallest first (`--simulcast`;
    /// a layer nobody receives is not encoded).
    #[serde(skip_serializing_if = "no_layers")]
    pub camera_layer_frames: [u64; 3],
    /// The publishing connection's uplink estimate, last, in kbit/s
    /// (absent before the first feedback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink_kbps: Option<u32>,
    /// The lowest uplink estimate, in kbit/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink_lowest_kbps: Option<u32>,
}

fn no_layers(frames: &[u64; 3]) -> bool {
    frames[1..].iter().all(|n| *n == 0)
}

/// What arrived from one remote participant.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    /// Who.
    pub user_id: UserId,
    /// Per track.
    pub tracks: Vec<TrackReport>,
}

/// What arrived on one remote track.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackReport {
    /// `microphone`, `camera` or `screen`.
    pub kind: String,
    /// Frames decoded (or, without decoding, counted from RTP marker bits;
    /// audio: packets).
    pub frames: u64,
    /// The longest wait between two frames, in milliseconds (as `concord selftest` reports it).
    pub max_frame_gap: u64,
    /// When its first and last frames arrived, in milliseconds after the
    /// participant first asked to join (a track of a rejoin follows the
    /// one before it: the gap between them is the call's interruption).
    pub first_frame_ms: Option<u64>,
    /// See `first_frame_ms`.
    pub last_frame_ms: Option<u64>,
    /// Every decoded frame's test-pattern stamp was readable and numbers only
    /// increased (`null` without decoding, or for audio).
    pub frame_numbers_ok: Option<bool>,
    /// The tone heard, in Hz (audio, when decoding).
    pub tone_hz: Option<f32>,
    /// The strongest frequencies heard after the track's first 3 s, strongest
    /// first: at most 8, none more than 60 dB below the strongest (audio,
    /// when decoding; empty when less than 0.2 s of audio came after 3 s).
    pub peaks: Option<Vec<PeakReport>>,
    /// RTP packets received.
    pub packets: u64,
    /// RTP packets that never arrived.
    pub packets_lost: u64,
    /// Keyframe requests (PLI) this receiver sent: pictures lost for good
    /// (video, when decoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframes_asked: Option<u64>,
    /// The size of the latest decoded picture (video, when decoding): of a
    /// simulcast camera, the layer this participant receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// See `width`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// One strong frequency in received audio.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeakReport {
    /// Where, in Hz (0.1 Hz steps).
    pub hz: f32,
    /// How strong: a sine of this level, in dB relative to a full-scale sine.
    pub dbfs: f32,
}
