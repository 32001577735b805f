//! What the SFU changes in the SDP its peer connection library writes, so
//! that WebRTC stacks other than browsers accept it as it is: our ICE
//! candidates in every media section rather than only the first; and what
//! it reads from a client's offer that str0m leaves aside: the RTX stream
//! of each simulcast layer. (The
//! `a=msid-semantic` line aiortc needs to read `a=msid`, which rtc 0.21 left
//! out of first offers, str0m always writes; the engine's simulated-time
//! test checks it.)

/// Our candidates (and `a=end-of-candidates`) in every media section that
/// is not rejected. str0m (as rtc did) writes them in the first section only, which is
/// enough for a client that bundles by the rules of RFC 9143 (browsers,
/// webrtc-rs); aiortc (1.16, bundling with max-bundle as docs/API.md
/// advises) starts ICE for each section with that section's candidates,
/// and without them in each its connections stay "connecting". The same
/// candidates in several sections are one candidate to a bundling client.
pub fn with_candidates_in_every_section(sdp: String) -> String {
    let mut sections: Vec<&str> = Vec::new();
    let mut rest = sdp.as_str();
    // The session part, then each section from its `m=` line.
    while let Some(at) = rest.find("\r\nm=") {
        sections.push(&rest[..at + 2]);
        rest = &rest[at + 2..];
    }
    sections.push(rest);
    let media = &sections[1..];
    let candidates: Vec<&str> = media
        .iter()
        .flat_map(|section| section.split("\r\n"))
        .filter(|line| line.starts_with("a=candidate:"))
        .fold(Vec::new(), |mut found, line| {
            if !found.contains(&line) {
                found.push(line);
            }
            found
        });
    if candidates.is_empty() {
        return sdp;
    }
    let mut fixed = String::with_capacity(sdp.len() + media.len() * 160);
    fixed.push_str(sections[0]);
    for section in media {
        fixed.push_str(section);
        let rejected = section.split(' ').nth(1) == Some("0");
        if rejected {
            continue;
        }
        let lines: Vec<&str> = section.split("\r\n").collect();
        for candidate in &candidates {
            if !lines.contains(candidate) {
                fixed.push_str(candidate);
                fixed.push_str("\r\n");
            }
        }
        if !lines.contains(&"a=end-of-candidates") {
            fixed.push_str("a=end-of-candidates\r\n");
        }
    }
    fixed
}

/// The (media SSRC, RTX SSRC) pairs an offer declares (`a=ssrc-group:FID`).
/// str0m pairs them itself, except in a simulcast section, where it knows a
/// layer by its RID alone; but webrtc-rs marks its retransmissions with no
/// repaired RID, so without these pairs its layers' retransmissions could
/// not be placed.
pub fn retransmission_pairs(offer: &str) -> Vec<(u32, u32)> {
    offer
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=ssrc-group:FID "))
        .filter_map(|pair| {
            let mut ssrcs = pair.split_whitespace().map(str::parse::<u32>);
            Some((ssrcs.next()?.ok()?, ssrcs.next()?.ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "a=candidate:1 1 udp 2130706431 10.0.0.1 7882 typ host";
    const TCP: &str = "a=candidate:2 1 tcp 1671430143 10.0.0.1 7882 typ host tcptype passive";

    #[test]
    fn every_live_section_gets_the_candidates_of_the_first_once() {
        let offer = format!(
            "v=0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n{UDP}\r\n{TCP}\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=mid:2\r\n"
        );
        let fixed = with_candidates_in_every_section(offer);
        assert_eq!(
            fixed,
            format!(
                "v=0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n\
                 m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n{UDP}\r\n{TCP}\r\na=end-of-candidates\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\n{UDP}\r\n{TCP}\r\na=end-of-candidates\r\n\
                 m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=mid:2\r\n"
            )
        );
        assert_eq!(with_candidates_in_every_section(fixed.clone()), fixed, "applied twice, nothing more");
    }

    #[test]
    fn an_sdp_without_candidates_is_left_as_it_is() {
        let answer = "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n".to_owned();
        assert_eq!(with_candidates_in_every_section(answer.clone()), answer);
    }

    #[test]
    fn retransmission_pairs_are_read_from_an_offer_and_garbage_is_left_out() {
        let offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102 103\r\na=rid:q send\r\n\
                     a=ssrc-group:FID 1111 2222\r\na=ssrc-group:FID 3333 4444\r\n\
                     a=ssrc-group:FID 5555\r\na=ssrc-group:FID x 7\r\na=ssrc-group:SIM 1 2 3\r\n";
        assert_eq!(retransmission_pairs(offer), [(1111, 2222), (3333, 4444)]);
        assert_eq!(retransmission_pairs(""), []);
    }
}
