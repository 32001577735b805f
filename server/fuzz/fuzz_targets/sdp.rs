//! An SDP offer as a client sends it: the SFU's rewriting (candidates in
//! every section) and its reading of retransmission pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else { return };
    let _ = concord_sfu::sdp::retransmission_pairs(sdp);
    let _ = concord_sfu::sdp::with_candidates_in_every_section(sdp.to_owned());
});
