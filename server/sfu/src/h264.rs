//! Just enough H.264 (RFC 6184 payloads) for forwarding decisions: whether
//! a packet starts a keyframe, where a subscriber that was sent nothing
//! (a hidden tile shown again) can start decoding.

/// NAL unit types: an IDR slice, and a sequence parameter set (sent ahead
/// of an IDR picture).
const IDR: u8 = 5;
const SPS: u8 = 7;
/// Payload structures: several NAL units in one packet, one NAL unit in several.
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Whether this RTP payload starts a keyframe: an SPS or IDR slice alone,
/// first in an aggregate (STAP-A), or the first fragment of one (FU-A).
pub fn starts_keyframe(payload: &[u8]) -> bool {
    let Some(&header) = payload.first() else { return false };
    match header & 0x1f {
        IDR | SPS => true,
        STAP_A => {
            // Each aggregated unit: a 16-bit size, then the unit.
            let mut rest = &payload[1..];
            while let [high, low, unit @ ..] = rest {
                let size = usize::from(u16::from_be_bytes([*high, *low]));
                match unit.first() {
                    Some(nal) if matches!(nal & 0x1f, IDR | SPS) => return true,
                    Some(_) if size <= unit.len() => rest = &unit[size..],
                    _ => return false,
                }
            }
            false
        }
        FU_A => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::starts_keyframe;

    #[test]
    fn keyframe_starts_are_told_from_the_rest_of_a_picture() {
        // Single NAL units: IDR slice and SPS start one; a P slice, PPS and SEI do not.
        assert!(starts_keyframe(&[0x65, 0x88]));
        assert!(starts_keyframe(&[0x67, 0x42]));
        assert!(!starts_keyframe(&[0x41, 0x9a]));
        assert!(!starts_keyframe(&[0x68, 0xce]));
        assert!(!starts_keyframe(&[0x06, 0x05]));
        // STAP-A with SPS, PPS (as encoders send them ahead of an IDR), and with two P slices.
        assert!(starts_keyframe(&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]));
        assert!(starts_keyframe(&[0x78, 0x00, 0x01, 0x06, 0x00, 0x02, 0x65, 0x88]));
        assert!(!starts_keyframe(&[0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b]));
        // FU-A: the first fragment of an IDR starts one; a middle one, or a P slice's, does not.
        assert!(starts_keyframe(&[0x7c, 0x85, 0xb8]));
        assert!(!starts_keyframe(&[0x7c, 0x05, 0xb8]));
        assert!(!starts_keyframe(&[0x7c, 0x81, 0x9a]));
        // Garbage: empty, truncated, a size past the end.
        assert!(!starts_keyframe(&[]));
        assert!(!starts_keyframe(&[0x7c]));
        assert!(!starts_keyframe(&[0x78, 0x00]));
        assert!(!starts_keyframe(&[0x78, 0xff, 0xff, 0x41]));
    }
}
