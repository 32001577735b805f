//! Opus at 48 kHz mono in 20 ms frames, with in-band FEC and loss concealment.

use bytes::Bytes;
use opus::{Application, Bitrate, Channels};

use crate::{MediaError, Result};

/// Samples per second everywhere in the audio path.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame (mono).
pub const FRAME_SAMPLES: usize = 960;
/// The largest Opus packet we produce (RFC 6716 recommends 1275 bytes at most).
const MAX_PACKET: usize = 1275;

/// Encodes 20 ms mono frames for one microphone.
pub struct AudioEncoder {
    encoder: opus::Encoder,
    out: Vec<u8>,
}

impl AudioEncoder {
    /// A voice encoder at `bitrate_bps` with FEC for ~5% loss.
    pub fn new(bitrate_bps: i32) -> Result<Self> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip).map_err(opus_error)?;
        encoder.set_bitrate(Bitrate::Bits(bitrate_bps)).map_err(opus_error)?;
        encoder.set_inband_fec(true).map_err(opus_error)?;
        encoder.set_packet_loss_perc(5).map_err(opus_error)?;
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

fn opus_error(error: opus::Error) -> MediaError {
    MediaError::Audio(error.to_string())
}
