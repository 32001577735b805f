//! A received H.264 video track as the desktop app and the bot take it
//! (concord_media::assembler, then `receive::depacketize_h264`, the
//! checked webrtc-rs depacketizer): packets in any order, repeated,
//! missing, with any payload and any clock — nothing panics, and a frame
//! holds at least one packet.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use concord_media::assembler::{FrameAssembler, RtpPiece};
use libfuzzer_sys::fuzz_target;
use concord_media::receive::depacketize_h264;
use rtc::rtp::codec::h264::H264Packet;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut assembler = FrameAssembler::new(Duration::from_millis(200));
    let mut depacketizer = H264Packet::default();
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let (mut seq, mut timestamp) = (0u16, 0u32);
    while let Some(op) = next() {
        match op % 4 {
            0 | 1 => {
                let step = next().unwrap_or(1);
                seq = match step {
                    0..=240 => seq.wrapping_add(u16::from(step % 5)),
                    _ => seq.wrapping_add(u16::from(step) << 8),
                };
                let flags = next().unwrap_or(0);
                if flags & 2 != 0 {
                    timestamp = timestamp.wrapping_add(3000 * u32::from(flags >> 2));
                }
                let len = usize::from(next().unwrap_or(0) % 64);
                let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                let piece = RtpPiece { seq, timestamp, marker: flags & 1 != 0, payload: Bytes::from(payload) };
                assembler.push(now, piece);
            }
            2 => now += Duration::from_millis(u64::from(next().unwrap_or(0))),
            _ => {
                while let Some(frame) = assembler.pop(now) {
                    assert!(!frame.packets.is_empty(), "a frame without packets");
                    for payload in &frame.packets {
                        let _ = depacketize_h264(&mut depacketizer, payload);
                    }
                }
            }
        }
    }
    let _ = assembler.stats();
});
