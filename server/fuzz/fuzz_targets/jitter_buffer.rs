//! Received Opus packets before playout (concord_media::jitter): sequence
//! numbers in any order, repeated, wrapping or far away, at any times —
//! nothing panics, and the buffer never holds more than it was given.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use concord_media::jitter::JitterBuffer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut buffer = JitterBuffer::adaptive(Duration::from_millis(40), Duration::from_millis(400));
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut seq = 0u16;
    let mut pushed = 0usize;
    while let Some(op) = next() {
        match op % 4 {
            0 | 1 => {
                let step = next().unwrap_or(1);
                seq = match step {
                    0..=230 => seq.wrapping_add(u16::from(step % 4)),
                    231..=240 => seq.wrapping_sub(u16::from(step - 230)),
                    _ => seq.wrapping_add(u16::from(step) << 7),
                };
                let len = usize::from(next().unwrap_or(0) % 16);
                let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                if buffer.push(now, seq, Bytes::from(payload)) {
                    pushed += 1;
                }
                assert!(buffer.len() <= pushed, "holds more than it was given");
            }
            2 => now += Duration::from_millis(u64::from(next().unwrap_or(0))),
            _ => {
                for _ in 0..usize::from(next().unwrap_or(0) % 8) {
                    let _ = buffer.pop(now);
                }
            }
        }
    }
    let _ = buffer.stats();
});
