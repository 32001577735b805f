//! What the self-test reports: one JSON object, as `concord selftest` prints it.

use serde::Serialize;

use crate::devices::DeviceList;

/// p50/p95 of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// One video track's results.
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    /// What produced the frames.
    pub source: String,
    /// Frames encoded and sent.
    pub frames_sent: u64,
    /// Frames the encoder's rate control skipped (nothing changed, or over budget).
    pub frames_skipped: u64,
    /// Frames the receiver decoded.
    pub frames_decoded: u64,
    /// Largest jump between consecutive decoded frame numbers (1 = none missing); synthetic sources only.
    pub max_frame_gap: Option<u32>,
    /// Longest time without a decoded frame after the first one, in ms.
    pub max_freeze_ms: f64,
    /// Mean luma PSNR of decoded frames against the source, in dB; synthetic sources only.
    pub psnr_db: Option<f64>,
    /// Capture → decoded picture; synthetic sources only.
    pub glass_to_glass_ms: Option<Percentiles>,
    /// Encoder throughput: frames per second of encoder time (one core).
    pub encode_fps: f64,
    /// Decoder throughput: frames per second of decoder time (one core).
    pub decode_fps: f64,
    /// PLIs the receiver sent.
    pub keyframe_requests: u64,
    /// Keyframes the sender produced.
    pub keyframes_sent: u64,
}

/// The audio track's results.
#[derive(Debug, Clone, Serialize)]
pub struct AudioReport {
    /// What produced the sound.
    pub source: String,
    /// The tone sent (synthetic source only).
    pub tone_hz_sent: Option<f32>,
    /// The dominant frequency heard in the played-out mix.
    pub tone_hz_detected: Option<f32>,
    /// Tone onset captured → played out; synthetic source only.
    pub mouth_to_ear_ms: Option<Percentiles>,
    /// 20 ms packets sent.
    pub packets_sent: u64,
    /// What the receiver's jitter buffer did.
    pub playout: Option<PlayoutReport>,
}

/// The receiving jitter buffer's figures at the end of the test.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PlayoutReport {
    /// The delay it aimed for at the end, in ms (adaptive: 10 to 200).
    pub target_ms: f64,
    /// Packets played.
    pub played: u64,
    /// Ticks concealed (lost packets, and ticks spent waiting for one).
    pub concealed: u64,
    /// Packets that came after their slot was played or concealed.
    pub dropped_late: u64,
    /// Packets skipped to give back delay it no longer needed.
    pub dropped_shrink: u64,
}

/// The whole result. The top-level video fields repeat the camera track's
/// (the screen's when there is no camera).
#[derive(Debug, Clone, Serialize)]
pub struct SelftestReport {
    /// Seconds media flowed.
    pub seconds: u32,
    /// Camera resolution, `WxH`.
    pub resolution: String,
    /// Loss applied on the path, percent.
    pub loss_percent: f64,
    /// Measured packet loss on the path, percent.
    pub measured_loss_percent: f64,
    /// Time to connect the two peers, ms.
    pub connect_ms: f64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Largest frame-number gap.
    pub max_frame_gap: Option<u32>,
    /// PSNR against the source, dB.
    pub psnr_db: Option<f64>,
    /// Glass-to-glass latency.
    pub glass_to_glass_ms: Option<Percentiles>,
    /// Encoder frames per second (one core).
    pub encode_fps: f64,
    /// Decoder frames per second (one core).
    pub decode_fps: f64,
    /// The camera track in full (absent when there was no camera).
    pub camera: Option<VideoReport>,
    /// The screen track (absent when there was no screen).
    pub screen: Option<VideoReport>,
    /// The audio track (absent when there was no microphone).
    pub audio: Option<AudioReport>,
    /// Devices found on this machine (listed when a real device was asked for).
    pub devices: Vec<DeviceList>,
    /// Sources that could not be used, and why (the test ran with what exists).
    pub unavailable: Vec<String>,
}

impl SelftestReport {
    /// A report whose top-level video fields summarise `camera` (or `screen`).
    pub(crate) fn new(
        resolution: String,
        camera: Option<VideoReport>,
        screen: Option<VideoReport>,
        audio: Option<AudioReport>,
    ) -> Self {
        let main = camera.as_ref().or(screen.as_ref());
        Self {
            seconds: 0,
            resolution,
            loss_percent: 0.0,
            measured_loss_percent: 0.0,
            connect_ms: 0.0,
            frames_sent: main.map_or(0, |r| r.frames_sent),
            frames_decoded: main.map_or(0, |r| r.frames_decoded),
            max_frame_gap: main.and_then(|r| r.max_frame_gap),
            psnr_db: main.and_then(|r| r.psnr_db),
            glass_to_glass_ms: main.and_then(|r| r.glass_to_glass_ms),
            encode_fps: main.map_or(0.0, |r| r.encode_fps),
            decode_fps: main.map_or(0.0, |r| r.decode_fps),
            camera,
            screen,
            audio,
            devices: Vec::new(),
            unavailable: Vec::new(),
        }
    }
}

/// p50 and p95 of some latencies; `None` when there are none.
pub(crate) fn percentiles(mut values: Vec<f64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some(Percentiles { p50: at(0.5), p95: at(0.95) })
}

/// Frames per second of busy time.
pub(crate) fn per_second(frames: u64, micros: u64) -> f64 {
    if micros == 0 {
        0.0
    } else {
        frames as f64 * 1_000_000.0 / micros as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_median_and_the_tail() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!(p, Some(Percentiles { p50: 51.0, p95: 95.0 }));
        assert_eq!(percentiles(Vec::new()), None);
        assert_eq!(per_second(30, 1_000_000), 30.0);
        assert_eq!(per_second(30, 0), 0.0);
    }
}
