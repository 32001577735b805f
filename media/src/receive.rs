//! Receiving: RTP from a remote track to decoded pictures or buffered audio.
//!
//! Video: a tokio task reads the track's packets into the [`FrameAssembler`],
//! depacketises each complete frame and hands it to `concord-decode-<track>`
//! over a bounded channel; the decoder thread asks for a keyframe (PLI) when a
//! frame was lost (and again while none comes, whether frames arrive or not),
//! when decoding fails, or when it starts mid-stream. Audio: a
//! task puts Opus packets into the speaker's [`JitterBuffer`], which
//! [`crate::playback::Playback`] drains every 20 ms.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use tokio::runtime::Handle;

use crate::assembler::FrameAssembler;
use crate::convert::I420Frame;
use crate::jitter::JitterBuffer;
use crate::send::spawn;
use crate::transport::RemoteTrack;
use crate::video_codec::{is_keyframe, VideoDecoder};
use crate::Result;

/// How long a missing video packet is waited for (NACK retransmission)
/// before the frame is given up: long enough for the answer to the second
/// NACK (they go out on a 100 ms cycle, [`crate::transport`]) on a link of
/// up to about 50 ms round trip, should the first request or its
/// retransmission be lost too. A frame given up costs a keyframe request,
/// and the picture freezes until the keyframe arrives.
const MAX_PACKET_WAIT: Duration = Duration::from_millis(250);
/// At most one keyframe request per this interval while waiting for one.
const PLI_INTERVAL: Duration = Duration::from_millis(300);
/// After a loss, keyframes are asked for every [`PLI_INTERVAL`] even while
/// no frame arrives, for this long (then only as frames arrive: a
/// publisher that stopped sending is not asked for ever).
const MAX_KEYFRAME_WAIT: Duration = Duration::from_secs(5);
/// The audio playout delay follows the measured jitter between these bounds.
/// Playout ticks every 20 ms, which adds 0–20 ms of waiting on top, so a
/// clean LAN or loopback sits at 10–30 ms of buffering.
pub const AUDIO_MIN_DELAY: Duration = Duration::from_millis(10);
/// See [`AUDIO_MIN_DELAY`].
pub const AUDIO_MAX_DELAY: Duration = Duration::from_millis(200);

/// Counters of one video receive pipeline.
#[derive(Debug, Default)]
pub struct VideoReceiveStats {
    /// RTP packets received.
    pub packets: AtomicU64,
    /// RTP packets that never arrived (gaps in the sequence numbers).
    pub lost: AtomicU64,
    /// RTP payload bytes received.
    pub bytes: AtomicU64,
    /// Complete frames handed to the decoder.
    pub frames: AtomicU64,
    /// Frames decoded to pictures.
    pub decoded: AtomicU64,
    /// Frames thrown away while waiting for a keyframe.
    pub discarded: AtomicU64,
    /// Keyframe requests (PLI) sent.
    pub keyframe_requests: AtomicU64,
    /// Total microseconds spent in the decoder.
    pub decode_micros: AtomicU64,
}

struct AccessUnit {
    data: Bytes,
    after_loss: bool,
}

/// A running video receive pipeline for one remote track.
pub struct VideoReceiver {
    stop: Arc<AtomicBool>,
    stats: Arc<VideoReceiveStats>,
    thread: Option<JoinHandle<()>>,
}

impl VideoReceiver {
    /// Starts reading `track`; `on_frame` gets every decoded picture on the decoder thread.
    pub fn start(
        track: RemoteTrack,
        runtime: &Handle,
        mut on_frame: impl FnMut(&I420Frame) + Send + 'static,
    ) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(VideoReceiveStats::default());
        let (units_tx, units) = sync_channel::<AccessUnit>(16);

        let reader = {
            let (track, stats) = (track.clone(), stats.clone());
            async move {
                let mut assembler = FrameAssembler::new(MAX_PACKET_WAIT);
                let mut depacketizer = H264Packet::default();
                let mut overflowed = false;
                let mut sequence = SequenceGaps::default();
                while let Some(piece) = track.next_packet().await {
                    stats.packets.fetch_add(1, Ordering::Relaxed);
                    stats.bytes.fetch_add(piece.payload.len() as u64, Ordering::Relaxed);
                    stats.lost.fetch_add(sequence.observe(piece.seq), Ordering::Relaxed);
                    let now = Instant::now();
                    assembler.push(now, piece);
                    while let Some(frame) = assembler.pop(now) {
                        let mut data = BytesMut::new();
                        for payload in &frame.packets {
                            // A malformed payload spoils the frame; the decoder will ask for a keyframe.
                            if let Some(nal) = depacketize_h264(&mut depacketizer, payload) {
                                data.extend_from_slice(&nal);
                            }
                        }
                        let unit =
                            AccessUnit { data: data.freeze(), after_loss: frame.after_loss || overflowed };
                        match units_tx.try_send(unit) {
                            Ok(()) => {
                                overflowed = false;
                                stats.frames.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(TrySendError::Full(_)) => overflowed = true,
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                }
            }
        };
        runtime.spawn(reader);

        let thread = {
            let (stop, stats, runtime) = (stop.clone(), stats.clone(), runtime.clone());
            let mut decoder = VideoDecoder::new()?;
            spawn(format!("concord-decode-{}", track.id), move || {
                let mut picture = I420Frame::black(2, 2);
                let mut waiting_for_keyframe = true;
                let mut last_request: Option<Instant> = None;
                let mut request_keyframe = |stats: &VideoReceiveStats| {
                    if last_request.is_some_and(|at| at.elapsed() < PLI_INTERVAL) {
                        return;
                    }
                    last_request = Some(Instant::now());
                    tracing::debug!(track = %track.id, "asking for a keyframe");
                    stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    let track = track.clone();
                    runtime.spawn(async move {
                        if let Err(error) = track.request_keyframe().await {
                            tracing::debug!(%error, "keyframe request not sent");
                        }
                    });
                };
                // Since when a lost frame has the picture waiting for a keyframe.
                let mut lost_since: Option<Instant> = None;
                while !stop.load(Ordering::Relaxed) {
                    let unit = match units.recv_timeout(Duration::from_millis(100)) {
                        Ok(unit) => unit,
                        Err(RecvTimeoutError::Timeout) => {
                            // Nothing to decode meanwhile (the network holds the
                            // frames back, or the request was lost): ask again.
                            if lost_since.is_some_and(|since| since.elapsed() < MAX_KEYFRAME_WAIT) {
                                request_keyframe(&stats);
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if unit.after_loss && lost_since.is_none() {
                        tracing::debug!(track = %track.id, "a frame was lost: waiting for a keyframe");
                        lost_since = Some(Instant::now());
                    }
                    waiting_for_keyframe |= unit.after_loss;
                    if waiting_for_keyframe && !is_keyframe(&unit.data) {
                        stats.discarded.fetch_add(1, Ordering::Relaxed);
                        request_keyframe(&stats);
                        continue;
                    }
                    if std::mem::take(&mut waiting_for_keyframe) {
                        tracing::debug!(track = %track.id, "a keyframe arrived");
                        lost_since = None;
                    }
                    let started = Instant::now();
                    let decoded = decoder.decode_into(&unit.data, &mut picture);
                    stats.decode_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    match decoded {
                        Ok(true) => {
                            stats.decoded.fetch_add(1, Ordering::Relaxed);
                            on_frame(&picture);
                        }
                        Ok(false) => {}
                        Err(error) => {
                            tracing::debug!(%error, "a frame did not decode; asking for a keyframe");
                            waiting_for_keyframe = true;
                            lost_since.get_or_insert_with(Instant::now);
                            request_keyframe(&stats);
                        }
                    }
                }
            })?
        };
        Ok(Self { stop, stats, thread: Some(thread) })
    }

    /// Live counters.
    pub fn stats(&self) -> &VideoReceiveStats {
        &self.stats
    }

    /// The live counters, to keep reading after the receiver moved.
    pub fn stats_handle(&self) -> &Arc<VideoReceiveStats> {
        &self.stats
    }
}

impl Drop for VideoReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts packets missing from an RTP sequence (16-bit, wrapping): a jump
/// forward counts the skipped numbers; a late or repeated packet counts nothing.
#[derive(Debug, Default)]
pub struct SequenceGaps {
    last: Option<u16>,
}

impl SequenceGaps {
    /// Packet `seq` arrived: how many were skipped since the newest so far.
    pub fn observe(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            self.last = Some(seq);
            return 0;
        };
        let ahead = seq.wrapping_sub(last);
        if ahead == 0 || ahead >= 0x8000 {
            return 0;
        }
        self.last = Some(seq);
        u64::from(ahead - 1)
    }
}

/// Counters of one audio receive task.
#[derive(Debug, Default)]
pub struct AudioReceiveStats {
    /// RTP packets received (one per 20 ms frame).
    pub packets: AtomicU64,
    /// RTP packets that never arrived.
    pub lost: AtomicU64,
    /// RTP payload bytes received.
    pub bytes: AtomicU64,
}

/// Starts moving one remote audio track's packets into a jitter buffer, which is returned
/// for [`crate::playback::Playback::add_speaker`].
pub fn receive_audio(track: RemoteTrack, runtime: &Handle) -> Arc<Mutex<JitterBuffer>> {
    receive_audio_counted(track, runtime, Arc::default())
}

/// [`receive_audio`], counting into `stats`.
pub fn receive_audio_counted(
    track: RemoteTrack,
    runtime: &Handle,
    stats: Arc<AudioReceiveStats>,
) -> Arc<Mutex<JitterBuffer>> {
    let buffer = Arc::new(Mutex::new(JitterBuffer::adaptive(AUDIO_MIN_DELAY, AUDIO_MAX_DELAY)));
    let task_buffer = Arc::clone(&buffer);
    runtime.spawn(async move {
        let mut sequence = SequenceGaps::default();
        while let Some(piece) = track.next_packet().await {
            stats.packets.fetch_add(1, Ordering::Relaxed);
            stats.bytes.fetch_add(piece.payload.len() as u64, Ordering::Relaxed);
            stats.lost.fetch_add(sequence.observe(piece.seq), Ordering::Relaxed);
            task_buffer.lock().unwrap_or_else(PoisonError::into_inner).push(
                Instant::now(),
                piece.seq,
                piece.payload,
            );
        }
    });
    buffer
}

/// The NAL unit type of an RTP payload that aggregates several NAL units
/// (STAP-A, RFC 6184 §5.7.1).
const STAP_A: u8 = 24;

/// One H.264 RTP payload as Annex B NAL units (webrtc-rs's depacketizer),
/// or `None` when it is malformed. A STAP-A whose sizes do not add up to
/// the payload is refused here first: rtc-rtp 0.21.1 reads past the end of
/// one that ends in half a size field and panics (found by `server/fuzz`,
/// target `h264_assembler`) — a publisher could stop everyone's video.
pub fn depacketize_h264(depacketizer: &mut H264Packet, payload: &Bytes) -> Option<Bytes> {
    if payload.first().is_some_and(|header| header & 0x1f == STAP_A) && !stap_a_sizes_fit(payload) {
        return None;
    }
    depacketizer.depacketize(payload).ok()
}

/// Whether a STAP-A's size fields each name a NAL unit that is there,
/// ending exactly at the payload's end.
fn stap_a_sizes_fit(payload: &[u8]) -> bool {
    let mut at = 1;
    while at < payload.len() {
        let Some(&[high, low]) = payload.get(at..at + 2) else { return false };
        at += 2 + usize::from(u16::from_be_bytes([high, low]));
    }
    at == payload.len()
}

#[cfg(test)]
mod tests {
    use super::{depacketize_h264, SequenceGaps};
    use bytes::Bytes;
    use rtc::rtp::codec::h264::H264Packet;

    /// Found by the fuzzer: a STAP-A ending in half a size field made
    /// rtc-rtp's depacketizer index past the payload (a panic in the
    /// receiving task). Refused now; well-formed ones still pass.
    #[test]
    fn a_stap_a_cut_in_a_size_field_is_refused_and_a_whole_one_depacketized() {
        let mut depacketizer = H264Packet::default();
        let cut = Bytes::from_static(&[0x18, 0x00, 0x02, 0x67, 0x42, 0x00]);
        assert_eq!(depacketize_h264(&mut depacketizer, &cut), None);
        let short = Bytes::from_static(&[0x18, 0x00, 0x05, 0x67, 0x42]);
        assert_eq!(depacketize_h264(&mut depacketizer, &short), None);
        let whole = Bytes::from_static(&[0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]);
        let nal = depacketize_h264(&mut depacketizer, &whole).expect("a well-formed STAP-A");
        assert_eq!(&nal[..], &[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68]);
    }

    #[test]
    fn gaps_count_skipped_numbers_across_the_wrap_and_ignore_late_packets() {
        let mut gaps = SequenceGaps::default();
        let lost: Vec<u64> = [65_533u16, 65_534, 1, 0, 2, 2, 6].iter().map(|s| gaps.observe(*s)).collect();
        assert_eq!(lost, vec![0, 0, 2, 0, 0, 0, 3]);
    }
}
