//! A websocket text frame from a client, as the gateway reads it: a
//! `ClientFrame` (any event), which must serialise back to a frame that reads
//! the same.
#![no_main]

use concord_common::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = serde_json::from_slice::<ClientFrame>(data) {
        let again = serde_json::to_string(&frame).expect("a frame serialises");
        let back: ClientFrame = serde_json::from_str(&again).expect("what was written reads back");
        assert_eq!(back, frame);
    }
});
