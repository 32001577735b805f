//! H.264 through openh264: I420 in, Annex-B access units out, and back.
//!
//! Encoder settings can change at runtime: frame rate and bitrate rebuild the
//! encoder (the next frame is a keyframe), a new resolution is picked up from
//! the frames themselves. Rate control may skip a frame; [`VideoEncoder::encode`]
//! then returns `None` so no empty sample is ever sent.

use bytes::Bytes;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::{OpenH264API, Timestamp};

use crate::convert::I420Frame;
use crate::{MediaError, Result};

/// What is being encoded: cameras and screens want different encoder tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoContent {
    /// A camera or the test pattern: natural motion.
    Camera,
    /// A shared screen or window: sharp text, little motion.
    Screen,
}

/// Encoder settings that can change during a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSettings {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Frames per second the source delivers.
    pub frame_rate: f32,
    /// Camera or screen tuning.
    pub content: VideoContent,
}

impl EncoderSettings {
    /// Camera defaults for a resolution: 1.5 Mbps at 720p30, scaled by pixel count.
    pub fn camera(width: u32, height: u32, frame_rate: f32) -> Self {
        let pixels = f64::from(width) * f64::from(height);
        let bitrate = (1_500_000.0 * pixels / (1280.0 * 720.0)).clamp(150_000.0, 6_000_000.0);
        Self { bitrate_bps: bitrate as u32, frame_rate, content: VideoContent::Camera }
    }
}

/// One encoded frame: an Annex-B access unit.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// NAL units with start codes (SPS/PPS precede every keyframe).
    pub data: Bytes,
    /// An IDR frame a decoder can start from.
    pub keyframe: bool,
}

/// H.264 encoder for one track.
pub struct VideoEncoder {
    encoder: Encoder,
    settings: EncoderSettings,
    keyframe_requested: bool,
    buffer: Vec<u8>,
}

impl VideoEncoder {
    /// An encoder with these settings; the resolution comes from the first frame.
    pub fn new(settings: EncoderSettings) -> Result<Self> {
        Ok(Self {
            encoder: build_encoder(settings)?,
            settings,
            keyframe_requested: false,
            buffer: Vec::new(),
        })
    }

    /// The current settings.
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Changes bitrate, frame rate or tuning. The next frame is a keyframe.
    pub fn set_settings(&mut self, settings: EncoderSettings) -> Result<()> {
        if settings != self.settings {
            self.encoder = build_encoder(settings)?;
            self.settings = settings;
        }
        Ok(())
    }

    /// Makes the next encoded frame a keyframe (a receiver sent a PLI).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Encodes one frame; `None` when rate control skipped it.
    pub fn encode(&mut self, frame: &I420Frame, timestamp_ms: u64) -> Result<Option<EncodedFrame>> {
        if std::mem::take(&mut self.keyframe_requested) {
            self.encoder.force_intra_frame();
        }
        let source = I420Source(frame);
        let stream = self
            .encoder
            .encode_at(&source, Timestamp::from_millis(timestamp_ms))
            .map_err(|e| MediaError::Video(format!("encode failed: {e}")))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        self.buffer.clear();
        stream.write_vec(&mut self.buffer);
        if self.buffer.is_empty() || matches!(stream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        Ok(Some(EncodedFrame { data: Bytes::copy_from_slice(&self.buffer), keyframe }))
    }
}

fn build_encoder(settings: EncoderSettings) -> Result<Encoder> {
    let usage = match settings.content {
        VideoContent::Camera => UsageType::CameraVideoRealTime,
        VideoContent::Screen => UsageType::ScreenContentRealTime,
    };
    // A keyframe every 10 s bounds how long a lost PLI can leave a viewer frozen.
    let keyframe_every = (settings.frame_rate.max(1.0) * 10.0) as u32;
    // Screen content does not support these two; openh264 warns and turns them off.
    let natural = settings.content == VideoContent::Camera;
    let config = EncoderConfig::new()
        .adaptive_quantization(natural)
        .background_detection(natural)
        .bitrate(BitRate::from_bps(settings.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(settings.frame_rate))
        .rate_control_mode(RateControlMode::Bitrate)
        .usage_type(usage)
        .skip_frames(true)
        .intra_frame_period(IntraFramePeriod::from_num_frames(keyframe_every));
    Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| MediaError::Video(format!("encoder could not start: {e}")))
}

/// Lets openh264 read our tightly packed planes without a copy.
struct I420Source<'a>(&'a I420Frame);

impl YUVSource for I420Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let w = self.0.width as usize;
        (w, w / 2, w / 2)
    }
    fn y(&self) -> &[u8] {
        &self.0.y
    }
    fn u(&self) -> &[u8] {
        &self.0.u
    }
    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

/// H.264 decoder for one remote track.
pub struct VideoDecoder {
    decoder: Decoder,
}

impl VideoDecoder {
    /// A fresh decoder (needs a keyframe first).
    pub fn new() -> Result<Self> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| MediaError::Video(format!("decoder could not start: {e}")))?;
        Ok(Self { decoder })
    }

    /// Decodes one access unit into `out`; `Ok(false)` when it produced no picture yet.
    pub fn decode_into(&mut self, access_unit: &[u8], out: &mut I420Frame) -> Result<bool> {
        let Some(picture) =
            self.decoder.decode(access_unit).map_err(|e| MediaError::Video(format!("decode failed: {e}")))?
        else {
            return Ok(false);
        };
        let (width, height) = picture.dimensions();
        let (stride_y, stride_u, stride_v) = picture.strides();
        copy_planes(
            YUVSlices::new(
                (picture.y(), picture.u(), picture.v()),
                (width, height),
                (stride_y, stride_u, stride_v),
            ),
            out,
        );
        Ok(true)
    }
}

fn copy_planes(source: YUVSlices<'_>, out: &mut I420Frame) {
    let (width, height) = source.dimensions();
    let (stride_y, stride_u, stride_v) = source.strides();
    out.width = width as u32;
    out.height = height as u32;
    copy_plane(source.y(), stride_y, width, height, &mut out.y);
    copy_plane(source.u(), stride_u, width / 2, height / 2, &mut out.u);
    copy_plane(source.v(), stride_v, width / 2, height / 2, &mut out.v);
}

fn copy_plane(src: &[u8], stride: usize, width: usize, height: usize, dst: &mut Vec<u8>) {
    dst.clear();
    dst.reserve(width * height);
    for row in src.chunks(stride).take(height) {
        dst.extend_from_slice(&row[..width.min(row.len())]);
    }
}

/// True when an Annex-B access unit holds an IDR slice (NAL type 5).
pub fn is_keyframe(access_unit: &[u8]) -> bool {
    nal_types(access_unit).any(|t| t == 5)
}

/// The NAL unit types in an Annex-B buffer, in order.
pub fn nal_types(access_unit: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 3 < access_unit.len() {
            let start = access_unit[i] == 0 && access_unit[i + 1] == 0 && access_unit[i + 2] == 1;
            i += 1;
            if start {
                i += 2;
                return Some(access_unit[i] & 0x1f);
            }
        }
        None
    })
}

/// Splits an Annex-B H.264 stream (a `.h264` file) into access units, one
/// per frame: a unit ends where an access unit delimiter, SPS, PPS or SEI
/// follows a slice, or where a slice starts a new picture
/// (`first_mb_in_slice` = 0).
pub fn split_access_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            // A four-byte start code begins at the zero before.
            let at = if i > 0 && stream[i - 1] == 0 { i - 1 } else { i };
            starts.push((at, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    let mut unit_start: Option<usize> = None;
    let mut has_slice = false;
    for (at, payload) in starts {
        let Some(&header) = stream.get(payload) else { break };
        let kind = header & 0x1f;
        let slice = kind == 1 || kind == 5;
        let new_picture = slice && stream.get(payload + 1).is_some_and(|b| b & 0x80 != 0);
        let boundary = has_slice && (matches!(kind, 6..=9) || new_picture);
        if boundary {
            if let Some(start) = unit_start {
                units.push(&stream[start..at]);
            }
            unit_start = None;
            has_slice = false;
        }
        unit_start.get_or_insert(at);
        has_slice |= slice;
    }
    if let Some(start) = unit_start {
        units.push(&stream[start..]);
    }
    units
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::convert::{to_i420, PixelFormat};
    use crate::synthetic::{read_stamp_i420, Stamp, TestPattern};

    fn frame(width: u32, height: u32, number: u32) -> I420Frame {
        let mut rgba = Vec::new();
        TestPattern::new(width, height)
            .render_rgba(Stamp { frame_number: number, capture_micros: 0 }, &mut rgba);
        to_i420(PixelFormat::Rgba32, width, height, &rgba).unwrap()
    }

    /// The pattern with per-pixel noise: content the encoder cannot compress for free.
    fn noisy_frame(width: u32, height: u32, number: u32) -> I420Frame {
        let mut frame = frame(width, height, number);
        let mut state = number.wrapping_mul(2_654_435_761).wrapping_add(1);
        for y in &mut frame.y {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *y = y.saturating_add((state >> 27) as u8 * 4);
        }
        frame
    }

    fn settings(bitrate_bps: u32) -> EncoderSettings {
        EncoderSettings { bitrate_bps, frame_rate: 30.0, content: VideoContent::Camera }
    }

    #[test]
    fn a_requested_keyframe_comes_next_and_a_fresh_decoder_starts_from_it() {
        let mut encoder = VideoEncoder::new(settings(800_000)).unwrap();
        let first = encoder.encode(&frame(640, 360, 0), 0).unwrap().unwrap();
        assert!(first.keyframe && is_keyframe(&first.data), "a stream starts with a keyframe");
        for n in 1..10 {
            if let Some(encoded) = encoder.encode(&frame(640, 360, n), u64::from(n) * 33).unwrap() {
                assert!(!is_keyframe(&encoded.data), "frame {n} should be a P-frame");
            }
        }
        encoder.request_keyframe();
        let keyframe = encoder.encode(&frame(640, 360, 10), 330).unwrap().unwrap();
        assert!(keyframe.keyframe && is_keyframe(&keyframe.data));
        let mut decoder = VideoDecoder::new().unwrap();
        let mut picture = I420Frame::black(2, 2);
        assert!(decoder.decode_into(&keyframe.data, &mut picture).unwrap());
        assert_eq!(read_stamp_i420(&picture).map(|s| s.frame_number), Some(10));
    }

    #[test]
    fn resolution_and_bitrate_change_during_a_stream() {
        let mut encoder = VideoEncoder::new(settings(1_500_000)).unwrap();
        let mut decoder = VideoDecoder::new().unwrap();
        let mut picture = I420Frame::black(2, 2);
        let mut bytes_at = |encoder: &mut VideoEncoder, width, height, range: std::ops::Range<u32>| {
            let mut bytes = 0;
            for n in range {
                if let Some(encoded) =
                    encoder.encode(&noisy_frame(width, height, n), u64::from(n) * 33).unwrap()
                {
                    bytes += encoded.data.len();
                    assert!(decoder.decode_into(&encoded.data, &mut picture).unwrap());
                    assert_eq!((picture.width, picture.height), (width, height));
                }
            }
            bytes
        };
        let high = bytes_at(&mut encoder, 640, 360, 0..30);
        bytes_at(&mut encoder, 320, 180, 30..40);
        encoder.set_settings(settings(150_000)).unwrap();
        let _settle = bytes_at(&mut encoder, 640, 360, 40..50);
        let low = bytes_at(&mut encoder, 640, 360, 50..80);
        assert!(low * 3 < high, "150 kbps made {low} bytes, 1.5 Mbps made {high}");
    }

    #[test]
    fn frames_rate_control_skips_are_never_sent_empty() {
        let mut encoder = VideoEncoder::new(settings(20_000)).unwrap();
        let (mut sent, mut skipped) = (0, 0);
        for n in 0..60 {
            match encoder.encode(&frame(1280, 720, n), u64::from(n) * 33).unwrap() {
                Some(encoded) => {
                    assert!(!encoded.data.is_empty());
                    sent += 1;
                }
                None => skipped += 1,
            }
        }
        assert!(
            sent > 0 && skipped > 0,
            "at 20 kbps 720p some frames must be skipped: {sent} sent, {skipped} skipped"
        );
    }

    #[test]
    fn nal_types_are_read_from_annex_b() {
        let unit = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4];
        assert_eq!(nal_types(&unit).collect::<Vec<_>>(), vec![7, 8, 5]);
        assert!(is_keyframe(&unit));
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 9]));
    }

    #[test]
    fn an_encoded_stream_splits_back_into_its_frames() {
        let mut encoder = VideoEncoder::new(EncoderSettings::camera(320, 180, 15.0)).unwrap();
        let mut stream = Vec::new();
        let mut sizes = Vec::new();
        for number in 0..20 {
            if number == 10 {
                encoder.request_keyframe();
            }
            if let Some(encoded) = encoder.encode(&frame(320, 180, number), u64::from(number) * 66).unwrap() {
                sizes.push(encoded.data.len());
                stream.extend_from_slice(&encoded.data);
            }
        }
        let units = split_access_units(&stream);
        assert_eq!(units.iter().map(|u| u.len()).collect::<Vec<_>>(), sizes);
        assert!(is_keyframe(units[0]));
        assert_eq!(units.iter().filter(|u| is_keyframe(u)).count(), 2);
        assert!(split_access_units(&[0, 0, 1]).len() <= 1, "a lone start code is not a frame");
        assert!(split_access_units(&[]).is_empty());
    }
}
