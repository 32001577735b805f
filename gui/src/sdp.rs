//! What the browser's call reads from a session description: which track
//! each media section (`a=mid`) carries (`a=msid:<stream> <track>`). The
//! browser names a remote track as it likes, and renames nothing when a
//! sender's track is replaced, so the SDP is what says which is which.

/// `(mid, track id)` of every media section that has both, in order.
pub fn tracks_by_mid(sdp: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut mid: Option<&str> = None;
    let mut track: Option<&str> = None;
    let mut flush = |mid: &mut Option<&str>, track: &mut Option<&str>| {
        if let (Some(m), Some(t)) = (mid.take(), track.take()) {
            found.push((m.to_owned(), t.to_owned()));
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            flush(&mut mid, &mut track);
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("a=msid:") {
            // "a=msid:<stream id> <track id>"; the track id may be absent ("-").
            track = value.split_whitespace().nth(1).filter(|t| *t != "-");
        }
    }
    flush(&mut mid, &mut track);
    found
}

/// The track id of the media section `mid`, if it names one.
pub fn track_of_mid(sdp: &str, mid: &str) -> Option<String> {
    tracks_by_mid(sdp).into_iter().find(|(m, _)| m == mid).map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:42 microphone\r\na=sendonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\na=msid:42 camera\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=msid:- -\r\na=mid:2\r\na=inactive\r\n";

    #[test]
    fn each_media_section_says_which_track_it_carries() {
        assert_eq!(
            tracks_by_mid(OFFER),
            vec![("0".to_owned(), "microphone".to_owned()), ("1".to_owned(), "camera".to_owned())]
        );
        assert_eq!(track_of_mid(OFFER, "1").as_deref(), Some("camera"));
    }

    #[test]
    fn a_section_without_a_track_or_a_mid_names_nothing() {
        assert_eq!(track_of_mid(OFFER, "2"), None);
        assert_eq!(track_of_mid(OFFER, "7"), None);
        assert!(tracks_by_mid("v=0\r\nm=audio 9 RTP/AVP 0\r\na=msid:s t\r\n").is_empty());
        assert!(tracks_by_mid("").is_empty());
    }
}
