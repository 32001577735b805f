//! A datagram on the SFU's media port from anyone: its class (RFC 7983),
//! the username of a STUN binding request, and the demultiplexer's routing
//! by address and username.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use concord_sfu::demux::{binding_request_username, classify, Demuxer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = classify(data);
    let _ = binding_request_username(data);
    let mut demuxer: Demuxer<u32> = Demuxer::new(Duration::from_secs(30));
    demuxer.register("abcd", 1);
    let from: SocketAddr = ([127, 0, 0, 1], 5000).into();
    let _ = demuxer.route(Instant::now(), from, data);
    let _ = demuxer.by_username(data);
});
