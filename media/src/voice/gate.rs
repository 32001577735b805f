//! When the microphone is sent: always (while unmuted), while a voice is
//! louder than the input-sensitivity threshold ("voice activity"), or while
//! the push-to-talk key is held and a short moment after. Pure state
//! machines on a clock passed in, so tests drive them frame by frame; the
//! audio thread asks [`TransmitGate::open`] once per 20 ms frame.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Push-to-talk keeps sending this long after the key is released, so the
/// end of the last word is not cut off (Discord's default is 20 ms; a
/// little more suits a key that is let go while still speaking).
pub const PUSH_TO_TALK_RELEASE: Duration = Duration::from_millis(200);
/// Voice activity keeps sending this long after the last frame above the
/// threshold, so pauses between words do not chop the voice.
pub const VOICE_HANGOVER: Duration = Duration::from_millis(400);
/// "Automatic" sensitivity: this far above the measured background.
const AUTO_MARGIN_DB: f32 = 12.0;
/// "Automatic" never goes below or above these.
const AUTO_RANGE_DB: (f32, f32) = (-60.0, -30.0);

/// How the microphone is opened (Settings → Voice → Input mode).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// Voice activity: sent while louder than the sensitivity.
    #[default]
    VoiceActivity,
    /// Sent only while the push-to-talk key is held (and a moment after).
    PushToTalk,
}

/// The input-sensitivity threshold for voice activity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Follows the background noise: 12 dB above it.
    #[default]
    Automatic,
    /// Frames quieter than this (dBFS) are not sent.
    Threshold(f32),
}

/// The push-to-talk key's state, with the release delay.
#[derive(Debug, Clone, Default)]
pub struct PushToTalk {
    held: bool,
    released_at: Option<Instant>,
}

impl PushToTalk {
    /// The key went down.
    pub fn press(&mut self) {
        self.held = true;
        self.released_at = None;
    }

    /// The key came up at `now`: still open for [`PUSH_TO_TALK_RELEASE`].
    pub fn release(&mut self, now: Instant) {
        if self.held {
            self.held = false;
            self.released_at = Some(now);
        }
    }

    /// The window lost focus at `now`. A global key still reports its
    /// release, so nothing changes; a key seen only by the focused window
    /// will not, so it counts as released now (never a microphone left open).
    pub fn focus_lost(&mut self, now: Instant, global_key: bool) {
        if !global_key {
            self.release(now);
        }
    }

    /// Whether to send at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.held
            || self.released_at.is_some_and(|at| now.saturating_duration_since(at) < PUSH_TO_TALK_RELEASE)
    }
}

/// Voice activity on frame levels: open from the first frame above the
/// threshold until [`VOICE_HANGOVER`] after the last one.
#[derive(Debug, Clone, Default)]
pub struct VoiceActivity {
    /// The background level "Automatic" follows (dBFS), once a frame came.
    floor_db: Option<f32>,
    last_loud: Option<Instant>,
}

impl VoiceActivity {
    /// The threshold `sensitivity` means now, in dBFS.
    pub fn threshold(&self, sensitivity: Sensitivity) -> f32 {
        match sensitivity {
            Sensitivity::Threshold(db) => db,
            Sensitivity::Automatic => (self.floor_db.unwrap_or(AUTO_RANGE_DB.0) + AUTO_MARGIN_DB)
                .clamp(AUTO_RANGE_DB.0, AUTO_RANGE_DB.1),
        }
    }

    /// One frame at `level_db` (dBFS) at `now`: whether to send it.
    pub fn frame(&mut self, level_db: f32, sensitivity: Sensitivity, now: Instant) -> bool {
        // The background: falls at once to a quieter frame, rises slowly
        // (0.05 dB a frame, 2.5 dB a second) through speech.
        self.floor_db = Some(match self.floor_db {
            Some(floor) if level_db >= floor => floor + 0.05,
            _ => level_db,
        });
        if level_db >= self.threshold(sensitivity) {
            self.last_loud = Some(now);
        }
        self.last_loud.is_some_and(|at| now.saturating_duration_since(at) < VOICE_HANGOVER)
    }
}

/// The whole decision per frame: the input mode, and each mode's state.
#[derive(Debug, Clone, Default)]
pub struct TransmitGate {
    /// How the microphone is opened.
    pub mode: InputMode,
    /// Voice activity's threshold.
    pub sensitivity: Sensitivity,
    /// The push-to-talk key.
    pub push_to_talk: PushToTalk,
    activity: VoiceActivity,
}

impl TransmitGate {
    /// Whether a frame at `level_db` (dBFS, after processing) is sent at `now`.
    pub fn open(&mut self, level_db: f32, now: Instant) -> bool {
        let active = self.activity.frame(level_db, self.sensitivity, now);
        match self.mode {
            InputMode::VoiceActivity => active,
            InputMode::PushToTalk => self.push_to_talk.is_open(now),
        }
    }

    /// The voice-activity threshold in effect, in dBFS (for the meter).
    pub fn threshold_db(&self) -> f32 {
        self.activity.threshold(self.sensitivity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    #[test]
    fn push_to_talk_opens_while_held_and_for_the_release_delay_after() {
        let start = Instant::now();
        let mut key = PushToTalk::default();
        assert!(!key.is_open(start));
        key.press();
        assert!(key.is_open(start + FRAME * 50), "held: open however long");
        let released = start + FRAME * 50;
        key.release(released);
        assert!(key.is_open(released + PUSH_TO_TALK_RELEASE - FRAME), "still open in the release delay");
        assert!(!key.is_open(released + PUSH_TO_TALK_RELEASE), "closed after it");
        // Pressed again inside the delay: open without a gap, and held.
        key.release(released);
        key.press();
        assert!(key.is_open(released + PUSH_TO_TALK_RELEASE * 3));
    }

    #[test]
    fn a_global_key_stays_held_across_a_focus_change_a_window_key_does_not() {
        let now = Instant::now();
        let mut global = PushToTalk::default();
        global.press();
        global.focus_lost(now, true);
        assert!(global.is_open(now + Duration::from_secs(5)), "the global key still reports its release");
        let mut focused = PushToTalk::default();
        focused.press();
        focused.focus_lost(now, false);
        assert!(focused.is_open(now), "the release delay still applies");
        assert!(!focused.is_open(now + PUSH_TO_TALK_RELEASE), "never left open without the window");
        // A release that arrives for a key not held changes nothing.
        focused.release(now + Duration::from_secs(9));
        assert!(!focused.is_open(now + Duration::from_secs(9)));
    }

    #[test]
    fn voice_activity_opens_above_the_threshold_and_holds_through_short_pauses() {
        let start = Instant::now();
        let mut activity = VoiceActivity::default();
        let fixed = Sensitivity::Threshold(-40.0);
        assert!(!activity.frame(-50.0, fixed, start));
        assert!(activity.frame(-30.0, fixed, start + FRAME));
        // A pause shorter than the hangover stays open; a longer one closes.
        assert!(activity.frame(-60.0, fixed, start + FRAME + VOICE_HANGOVER - FRAME));
        assert!(!activity.frame(-60.0, fixed, start + FRAME + VOICE_HANGOVER));
    }

    #[test]
    fn automatic_sensitivity_sits_above_the_background_and_ignores_it() {
        let start = Instant::now();
        let mut activity = VoiceActivity::default();
        let auto = Sensitivity::Automatic;
        // Two seconds of a fan at -50 dBFS: learnt as background, not sent.
        let mut sent = 0;
        for i in 0..100 {
            sent += usize::from(activity.frame(-50.0, auto, start + FRAME * i));
        }
        assert_eq!(sent, 0, "the background is not a voice");
        assert!((activity.threshold(auto) - (-38.0)).abs() < 1.0, "{}", activity.threshold(auto));
        // A voice at -25 dBFS over it is sent.
        assert!(activity.frame(-25.0, auto, start + FRAME * 100));
        // In silence the threshold does not fall below -60 dBFS.
        let mut quiet = VoiceActivity::default();
        quiet.frame(-120.0, auto, start);
        assert_eq!(quiet.threshold(auto), -60.0);
    }

    #[test]
    fn the_gate_follows_its_mode() {
        let now = Instant::now();
        let mut gate = TransmitGate { mode: InputMode::PushToTalk, ..TransmitGate::default() };
        assert!(!gate.open(-10.0, now), "a loud voice without the key is not sent");
        gate.push_to_talk.press();
        assert!(gate.open(-80.0, now), "the key sends even silence");
        gate.mode = InputMode::VoiceActivity;
        gate.sensitivity = Sensitivity::Threshold(-40.0);
        let later = now + VOICE_HANGOVER + FRAME;
        assert!(!gate.open(-80.0, later), "quiet, and the loud frame is past its hangover");
        assert!(gate.open(-20.0, later + FRAME));
    }
}
