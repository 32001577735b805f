//! An H.264 RTP payload as a publisher sends it: whether it starts a
//! keyframe, and the picture size its sequence parameter set declares.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = concord_sfu::h264::starts_keyframe(data);
    if let Some((width, height)) = concord_sfu::h264::picture_size(data) {
        assert!(width > 0 && height > 0);
    }
});
