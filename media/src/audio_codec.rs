//! Opus at 48 kHz mono in 20 ms frames, with in-band FEC (a lost frame
//! rebuilt from the next packet), DTX (silence costs almost nothing) and
//! loss concealment.

use bytes::Bytes;
use opus::{Application, Bitrate, Channels};

use crate::{MediaError, Result};

/// Samples per second everywhere in the audio path.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame (mono).
pub const FRAME_SAMPLES: usize = 960;
/// The largest Opus packet we produce (RFC 6716 recommends 1275 bytes at most).
const MAX_PACKET: usize = 1275;
/// With DTX, a frame of silence encodes to at most this many bytes: it is
/// not sent (the receiver conceals, then plays comfort noise from the
/// update Opus sends every 400 ms).
pub const DTX_PACKET_MAX: usize = 2;

/// Encodes 20 ms mono frames for one microphone.
pub struct AudioEncoder {
    encoder: opus::Encoder,
    out: Vec<u8>,
}

impl AudioEncoder {
    /// A voice encoder at `bitrate_bps` with FEC for ~5% loss and DTX.
    pub fn new(bitrate_bps: i32) -> Result<Self> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip).map_err(opus_error)?;
        encoder.set_bitrate(Bitrate::Bits(bitrate_bps)).map_err(opus_error)?;
        encoder.set_inband_fec(true).map_err(opus_error)?;
        encoder.set_packet_loss_perc(5).map_err(opus_error)?;
        encoder.set_dtx(true).map_err(opus_error)?;
        // Voice: Opus keeps to SILK or hybrid, whose frames carry the FEC;
        // left to guess, it codes tonal or noisy stretches with CELT, which has none.
        encoder.set_signal(opus::Signal::Voice).map_err(opus_error)?;
        Ok(Self { encoder, out: vec![0; MAX_PACKET] })
    }

    /// Encodes exactly [`FRAME_SAMPLES`] samples.
    pub fn encode(&mut self, frame: &[f32]) -> Result<Bytes> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaError::Audio(format!(
                "a frame is {FRAME_SAMPLES} samples, got {}",
                frame.len()
            )));
        }
        let len = self.encoder.encode_float(frame, &mut self.out).map_err(opus_error)?;
        Ok(Bytes::copy_from_slice(&self.out[..len]))
    }
}

/// Decodes one remote speaker's packets; conceals the missing ones.
pub struct AudioDecoder {
    decoder: opus::Decoder,
}

impl AudioDecoder {
    /// A mono 48 kHz decoder.
    pub fn new() -> Result<Self> {
        Ok(Self { decoder: opus::Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(opus_error)? })
    }

    /// Decodes a packet into `out` (one frame); returns the samples written.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize> {
        self.decoder.decode_float(packet, out, false).map_err(opus_error)
    }

    /// Fills `out` for a lost packet: from the next packet's FEC data when it
    /// is already here, else by Opus packet-loss concealment.
    pub fn conceal(&mut self, next_packet: Option<&[u8]>, out: &mut [f32]) -> Result<usize> {
        match next_packet {
            Some(next) => self.decoder.decode_float(next, out, true).map_err(opus_error),
            None => self.decoder.decode_float(&[], out, false).map_err(opus_error),
        }
    }
}

/// Whether an Opus packet carries in-band FEC (LBRR) data for the frame
/// before it: only SILK and hybrid packets can; in a single-frame packet the
/// LBRR flag follows one VAD flag per SILK frame at the top of the first
/// byte after the TOC (RFC 6716, 4.2.3).
pub fn has_fec(packet: &[u8]) -> bool {
    let (Some(&toc), Some(&first)) = (packet.first(), packet.get(1)) else { return false };
    let config = toc >> 3;
    let single_frame = toc & 0b11 == 0;
    if config >= 16 || !single_frame {
        return false; // CELT only, or several frames: not what we send
    }
    // SILK frames per Opus frame: 10 and 20 ms hold one, 40 ms two, 60 ms three.
    let silk_frames = match config % 4 {
        0 | 1 => 1,
        2 => 2,
        _ => 3,
    };
    (first >> (7 - silk_frames)) & 1 == 1
}

fn opus_error(error: opus::Error) -> MediaError {
    MediaError::Audio(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{AudioSource, SpeechLikeSource};

    #[test]
    fn silence_costs_almost_nothing_and_speech_carries_fec() {
        let mut encoder = AudioEncoder::new(32_000).expect("encoder");
        // Speech-like: Opus codes a steady pure tone with CELT, which has no FEC.
        let mut voice = SpeechLikeSource::new(440.0, 0.3);
        let mut frame = vec![0.0f32; FRAME_SAMPLES];
        let mut with_fec = 0;
        for _ in 0..50 {
            voice.read_frame(&mut frame).expect("synthetic");
            let packet = encoder.encode(&frame).expect("encodes");
            assert!(packet.len() > DTX_PACKET_MAX);
            with_fec += usize::from(has_fec(&packet));
        }
        assert!(with_fec > 40, "FEC in {with_fec} of 50 packets");
        frame.fill(0.0);
        let sizes: Vec<usize> = (0..50).map(|_| encoder.encode(&frame).expect("encodes").len()).collect();
        // After Opus's 200 ms hangover, only a comfort-noise update every 400 ms is sent.
        let untransmitted = sizes[10..].iter().filter(|&&n| n <= DTX_PACKET_MAX).count();
        assert!(untransmitted >= 36, "DTX: {untransmitted} of 40 silent frames need no packet: {sizes:?}");
        assert!(!has_fec(&[]) && !has_fec(&[0xF8, 0xFF]), "CELT-only packets carry none");
    }
}
