//! What a participant sends and how it reads what it receives.

use std::path::PathBuf;

use concord_common::UserId;
use concord_media::voice::{EchoPath, VoiceSettings};

/// The camera track.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoChoice {
    /// No camera.
    None,
    /// The moving test pattern, its frame number stamped into every frame.
    Pattern,
    /// A pre-encoded H.264 Annex-B file, replayed in a loop (load tests
    /// measure the SFU, not the encoder).
    File(PathBuf),
}

/// Everything a participant publishes and how it receives.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaOptions {
    /// The camera track.
    pub video: VideoChoice,
    /// A screen-share track (the test pattern) beside the camera.
    pub screen: bool,
    /// Start the screen share this long after joining (renegotiating the
    /// publishing connection mid-call) instead of at once.
    pub screen_after: Option<std::time::Duration>,
    /// A tone at this frequency as the microphone; `None`: no microphone.
    pub tone_hz: Option<f32>,
    /// Send the tone as a speech-like voice (bursts over breath noise)
    /// instead of a steady tone: what an echo canceller can learn from.
    pub speech_like: bool,
    /// The microphone on, sending silence (nobody speaking).
    pub silent: bool,
    /// Camera and screen size.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Decode received video (and read back its stamps) and audio (and
    /// find its tone); `false` counts frames from RTP alone.
    pub decode: bool,
    /// What runs on the microphone (echo cancellation, noise suppression, gain control).
    pub audio_processing: VoiceSettings,
    /// Play what is received into a simulated room whose echo reaches the
    /// microphone this way (`None`: received audio is only analysed).
    pub echo_path: Option<EchoPath>,
    /// These people's videos are hidden (`call_view`): not sent to me.
    pub hide: Vec<UserId>,
    /// The size I draw the videos of these people at (`call_view`): of a
    /// simulcast camera, the layer that fills it is sent to me.
    pub tiles: Vec<(UserId, (u32, u32))>,
    /// The size I draw everybody else's videos at (those not in `tiles`),
    /// told again as people join.
    pub every_tile: Option<(u32, u32)>,
    /// Publish the camera in three simulcast layers (each half the size of the next).
    pub simulcast: bool,
    /// Encode every layer someone watches at its own bitrate, whatever the
    /// uplink estimate says (to compare: by default the encoders follow it).
    pub fixed_uplink: bool,
}

/// The RIDs of a simulcast camera's layers, smallest first.
pub use concord_common::media::SIMULCAST_RIDS;

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            video: VideoChoice::Pattern,
            screen: false,
            screen_after: None,
            tone_hz: Some(440.0),
            speech_like: false,
            silent: false,
            width: 640,
            height: 360,
            fps: 15,
            decode: true,
            audio_processing: VoiceSettings::default(),
            echo_path: None,
            hide: Vec::new(),
            tiles: Vec::new(),
            every_tile: None,
            simulcast: false,
            fixed_uplink: false,
        }
    }
}

/// A picture size on a command line: `WxH` (16x16 to 3840x2160), odd
/// sides rounded down to even (H.264 wants even sizes). The bot's and
/// `concord selftest`'s `--resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl std::str::FromStr for Resolution {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (w, h) = text
            .split_once(['x', 'X'])
            .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
            .ok_or_else(|| format!("WxH expected (e.g. 1280x720), got {text:?}"))?;
        if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) {
            return Err(format!("{text:?}: from 16x16 to 3840x2160"));
        }
        Ok(Self { width: w & !1, height: h & !1 })
    }
}

/// Encodes `seconds` of the stamped test pattern at `width`×`height` and
/// `fps` (a keyframe every second) into an Annex-B file for
/// [`VideoChoice::File`]: load tests then measure the SFU, not encoders.
pub fn write_pattern_h264(
    path: &std::path::Path,
    width: u32,
    height: u32,
    fps: u32,
    seconds: u32,
) -> concord_media::Result<usize> {
    use concord_media::convert::to_i420;
    use concord_media::source::{PatternSource, VideoSource};
    use concord_media::video_codec::{EncoderSettings, VideoEncoder};

    let mut source = PatternSource::new(width, height, fps);
    let mut encoder = VideoEncoder::new(EncoderSettings::camera(width, height, fps as f32))?;
    let mut stream = Vec::new();
    let mut frames = 0;
    for number in 0..seconds * fps {
        if number % fps == 0 {
            encoder.request_keyframe();
        }
        let raw = source.capture()?;
        let frame = to_i420(raw.format, raw.width, raw.height, &raw.data)?;
        if let Some(encoded) = encoder.encode(&frame, u64::from(number) * 1000 / u64::from(fps))? {
            stream.extend_from_slice(&encoded.data);
            frames += 1;
        }
    }
    std::fs::write(path, stream)
        .map_err(|e| concord_media::MediaError::Transport(format!("{}: {e}", path.display())))?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_rounded_to_even_and_bad_ones_say_the_form() {
        assert_eq!("1280x720".parse(), Ok(Resolution { width: 1280, height: 720 }));
        assert_eq!("641X361".parse(), Ok(Resolution { width: 640, height: 360 }));
        assert!("1280".parse::<Resolution>().unwrap_err().contains("WxH"));
        assert!("8x8".parse::<Resolution>().unwrap_err().contains("16x16"));
        assert!("axb".parse::<Resolution>().is_err());
    }
}
