//! The short sounds: a message that arrives while you look elsewhere, and
//! someone joining or leaving your call. WAVs in `assets/sounds`, decoded
//! here (16-bit PCM only).

use crate::state::CallSound;

/// The notification sound.
pub const MESSAGE_WAV: &[u8] = include_bytes!("../../assets/sounds/message.wav");
/// Someone joined the call (a rising pair of notes).
pub const JOIN_WAV: &[u8] = include_bytes!("../../assets/sounds/join.wav");
/// Someone left the call (a falling pair).
pub const LEAVE_WAV: &[u8] = include_bytes!("../../assets/sounds/leave.wav");

/// The WAV of a call sound.
pub fn call_wav(sound: CallSound) -> &'static [u8] {
    match sound {
        CallSound::Joined => JOIN_WAV,
        CallSound::Left => LEAVE_WAV,
    }
}

/// Decoded mono audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Samples in -1.0..=1.0 (channels mixed down).
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Clip {
    /// The clip at `rate` samples per second (nearest-sample resampling,
    /// plenty for a notification chime).
    pub fn at_rate(&self, rate: u32) -> Vec<f32> {
        if rate == self.sample_rate || rate == 0 {
            return self.samples.clone();
        }
        let out_len = (self.samples.len() as u64 * u64::from(rate) / u64::from(self.sample_rate)) as usize;
        (0..out_len)
            .map(|i| {
                let src = (i as u64 * u64::from(self.sample_rate) / u64::from(rate)) as usize;
                self.samples.get(src).copied().unwrap_or(0.0)
            })
            .collect()
    }
}

/// Why a WAV could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// Not a RIFF/WAVE file, or cut short.
    #[error("not a WAV file")]
    NotWav,
    /// Something other than 16-bit PCM.
    #[error("only 16-bit PCM WAV is supported")]
    Unsupported,
}

/// Decodes a 16-bit PCM WAV, mixing channels down to mono.
pub fn decode_wav(bytes: &[u8]) -> Result<Clip, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let (mut channels, mut sample_rate, mut bits) = (0u16, 0u32, 0u16);
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = bytes.get(at + 8..at + 8 + len).ok_or(WavError::NotWav)?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let format = u16::from_le_bytes([body[0], body[1]]);
                channels = u16::from_le_bytes([body[2], body[3]]);
                sample_rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                bits = u16::from_le_bytes([body[14], body[15]]);
                if format != 1 || bits != 16 || channels == 0 {
                    return Err(WavError::Unsupported);
                }
            }
            b"data" => {
                if bits != 16 {
                    return Err(WavError::Unsupported);
                }
                let frame = 2 * usize::from(channels);
                let samples = body
                    .chunks_exact(frame)
                    .map(|f| {
                        let sum: f32 = f
                            .chunks_exact(2)
                            .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                            .sum();
                        sum / f32::from(channels)
                    })
                    .collect();
                return Ok(Clip { samples, sample_rate });
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    Err(WavError::NotWav)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_chime_decodes_and_is_short_and_audible() {
        let clip = decode_wav(MESSAGE_WAV).unwrap();
        assert_eq!(clip.sample_rate, 48_000);
        let seconds = clip.samples.len() as f32 / clip.sample_rate as f32;
        assert!((0.1..0.5).contains(&seconds), "{seconds} s");
        let peak = clip.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.2 && peak <= 1.0, "peak {peak}");
        assert_eq!(clip.at_rate(44_100).len(), clip.samples.len() * 44_100 / 48_000);
    }

    #[test]
    fn other_files_are_refused() {
        assert_eq!(decode_wav(b"not audio at all"), Err(WavError::NotWav));
        assert_eq!(decode_wav(b"RIFF\0\0\0\0WAVE"), Err(WavError::NotWav));
    }
}
