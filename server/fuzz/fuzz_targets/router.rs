//! The SFU's forwarding of published RTP (concord_sfu::router): packets of
//! a simulcast camera and a microphone with sequence numbers, timestamps,
//! keyframe flags and payloads as a publisher (or an attacker) sends them,
//! mixed with subscribers' tile sizes, hidden videos, estimates and the
//! clock: nothing panics, every forwarded packet is of a track the
//! subscriber subscribed to, and its queue stays bounded.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_sfu::router::{Kind, Router, RtpPacket};
use libfuzzer_sys::fuzz_target;

const ADA: u64 = 1;
const SUBSCRIBERS: [u64; 2] = [2, 3];
const CAMERA: [u32; 3] = [100, 101, 102];
const MICROPHONE: u32 = 200;
const QUEUE: usize = 64;

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let mut router = Router::new();
    for id in [ADA].iter().chain(&SUBSCRIBERS) {
        router.add_participant(*id, QUEUE);
    }
    router.publish(ADA, CAMERA[0], Kind::Video);
    router.set_simulcast(CAMERA[0]);
    router.add_layer(CAMERA[0], CAMERA[1]);
    router.add_layer(CAMERA[0], CAMERA[2]);
    router.publish(ADA, MICROPHONE, Kind::Audio);
    for subscriber in SUBSCRIBERS {
        router.subscribe(subscriber, CAMERA[0]);
        router.subscribe(subscriber, MICROPHONE);
    }
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut seq = [0u64; 4];
    while let Some(op) = next() {
        match op % 6 {
            0 | 1 => {
                let which = usize::from(next().unwrap_or(0) % 4);
                let ssrc = if which == 3 { MICROPHONE } else { CAMERA[which] };
                // Mostly in order, sometimes far away (a wrap, a replay, garbage).
                let step = next().unwrap_or(1);
                seq[which] = match step {
                    0..=249 => seq[which].wrapping_add(u64::from(step % 4)),
                    250..=252 => seq[which].wrapping_sub(u64::from(step)),
                    _ => u64::from(next().unwrap_or(0)) << 40,
                };
                let flags = next().unwrap_or(0);
                let len = usize::from(next().unwrap_or(0) % 48);
                let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                let packet = RtpPacket {
                    ssrc: if flags & 0x80 != 0 { u32::from(flags) } else { ssrc },
                    seq: seq[which],
                    timestamp: u32::from(next().unwrap_or(0)) * 3000,
                    marker: flags & 1 != 0,
                    keyframe: flags & 2 != 0 || concord_sfu::h264::starts_keyframe(&payload),
                    audio_level: (flags & 4 != 0).then_some((flags >> 1, flags & 8 != 0)),
                    payload: Arc::from(payload),
                };
                let _ = router.on_rtp(now, ADA, Arc::new(packet));
            }
            2 => {
                let subscriber = SUBSCRIBERS[usize::from(next().unwrap_or(0) % 2)];
                let side = u32::from(next().unwrap_or(0));
                let tile = (side > 0).then_some((side * 8, side * 4));
                router.set_tile(subscriber, CAMERA[0], tile);
            }
            3 => {
                let subscriber = SUBSCRIBERS[usize::from(next().unwrap_or(0) % 2)];
                let _ = router.set_hidden(subscriber, CAMERA[0], next().unwrap_or(0) % 2 == 0);
            }
            4 => {
                let subscriber = SUBSCRIBERS[usize::from(next().unwrap_or(0) % 2)];
                let bitrate = u64::from(next().unwrap_or(0)) * 20_000;
                router.set_estimate(now, subscriber, bitrate);
            }
            _ => {
                now += Duration::from_millis(u64::from(next().unwrap_or(0)) * 4);
                let _ = router.poll(now);
                for subscriber in SUBSCRIBERS {
                    let mut drained = 0;
                    while let Some(forwarded) = router.next_forwarded(subscriber) {
                        assert!(forwarded.track == CAMERA[0] || forwarded.track == MICROPHONE);
                        drained += 1;
                        assert!(drained <= QUEUE * 4, "a subscriber's queue outgrew its bound");
                    }
                }
            }
        }
    }
});
