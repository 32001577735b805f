//! Just enough H.264 (RFC 6184 payloads) for forwarding decisions: whether
//! a packet starts a keyframe, where a subscriber that was sent nothing
//! (a hidden tile shown again, or switched to another simulcast layer) can
//! start decoding; and a picture's size, read from the sequence parameter
//! set ahead of a keyframe, which tells simulcast layers apart.

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
        STAP_A => aggregated(payload)
            .any(|(unit, _)| unit.first().is_some_and(|nal| matches!(nal & 0x1f, IDR | SPS))),
        FU_A => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        _ => false,
    }
}

/// The picture size (width, height in pixels) a sequence parameter set in
/// this RTP payload declares, alone or aggregated (STAP-A); `None` if there
/// is none or it does not parse.
pub fn picture_size(payload: &[u8]) -> Option<(u32, u32)> {
    let &header = payload.first()?;
    match header & 0x1f {
        SPS => sps_picture_size(&payload[1..]),
        STAP_A => {
            let (sps, _) = aggregated(payload)
                .find(|(unit, whole)| *whole && unit.first().is_some_and(|nal| nal & 0x1f == SPS))?;
            sps_picture_size(&sps[1..])
        }
        _ => None,
    }
}

/// The NAL units of a STAP-A payload (each after a 16-bit size), and
/// whether each is whole: a unit whose size runs past the payload's end is
/// the last, cut short. An empty unit ends it too (none may be empty).
fn aggregated(payload: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let mut rest = payload.get(1..).unwrap_or_default();
    std::iter::from_fn(move || {
        let [high, low, unit @ ..] = rest else { return None };
        let size = usize::from(u16::from_be_bytes([*high, *low]));
        if size == 0 || unit.is_empty() {
            return None;
        }
        let whole = size <= unit.len();
        let (nal, after) = unit.split_at(size.min(unit.len()));
        rest = if whole { after } else { &[] };
        Some((nal, whole))
    })
}

/// Profiles whose SPS carries the chroma format, bit depths and scaling lists.
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// ITU-T H.264 7.3.2.1.1 up to the frame cropping, on the SPS after its NAL header.
fn sps_picture_size(sps: &[u8]) -> Option<(u32, u32)> {
    let mut bits = BitReader::new(sps);
    let profile = bits.bits(8)? as u8;
    bits.bits(16)?; // constraint flags, level
    bits.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if HIGH_PROFILES.contains(&profile) {
        chroma_format = bits.ue()?;
        if chroma_format == 3 {
            bits.bits(1)?; // separate_colour_plane_flag
        }
        bits.ue()?; // bit depths
        bits.ue()?;
        bits.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if bits.bits(1)? == 1 {
            for list in 0..if chroma_format == 3 { 12 } else { 8 } {
                if bits.bits(1)? == 1 {
                    skip_scaling_list(&mut bits, if list < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    bits.ue()?; // log2_max_frame_num_minus4
    match bits.ue()? {
        0 => {
            bits.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            bits.bits(1)?; // delta_pic_order_always_zero_flag
            bits.se()?; // offset_for_non_ref_pic
            bits.se()?; // offset_for_top_to_bottom_field
            for _ in 0..bits.ue()?.min(255) {
                bits.se()?;
            }
        }
        _ => {}
    }
    bits.ue()?; // max_num_ref_frames
    bits.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_in_macroblocks = bits.ue()?.checked_add(1)?;
    let height_in_map_units = bits.ue()?.checked_add(1)?;
    let frame_macroblocks_only = bits.bits(1)?;
    if frame_macroblocks_only == 0 {
        bits.bits(1)?; // mb_adaptive_frame_field_flag
    }
    bits.bits(1)?; // direct_8x8_inference_flag
    let crop = if bits.bits(1)? == 1 { [bits.ue()?, bits.ue()?, bits.ue()?, bits.ue()?] } else { [0; 4] };
    // In 64 bits: every field is up to 2^32 - 2 on hostile input.
    let fields = u64::from(2 - frame_macroblocks_only);
    let (crop_x, crop_y): (u64, u64) = match chroma_format {
        0 | 3 => (1, fields),
        1 => (2, 2 * fields),
        _ => (2, fields),
    };
    let [left, right, top, bottom] = crop.map(u64::from);
    let width = (u64::from(width_in_macroblocks) * 16).checked_sub((left + right) * crop_x)?;
    let height = (fields * u64::from(height_in_map_units) * 16).checked_sub((top + bottom) * crop_y)?;
    let (width, height) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
    (width > 0 && height > 0 && width <= 16_384 && height <= 16_384).then_some((width, height))
}

fn skip_scaling_list(bits: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + i64::from(bits.se()?)).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Reads an RBSP bit by bit, skipping emulation-prevention bytes (00 00 03).
struct BitReader<'a> {
    bytes: &'a [u8],
    byte: usize,
    bit: u8,
    zeros: u8,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, byte: 0, bit: 0, zeros: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 0 {
            // A byte 3 after two zero bytes is not part of the data.
            if self.zeros >= 2 && self.bytes.get(self.byte) == Some(&3) {
                self.byte += 1;
                self.zeros = 0;
            }
            let &byte = self.bytes.get(self.byte)?;
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
        }
        let value = (self.bytes[self.byte] >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
        }
        Some(u32::from(value))
    }

    fn bits(&mut self, count: u32) -> Option<u32> {
        (0..count).try_fold(0, |value, _| Some(value << 1 | self.bit()?))
    }

    /// Unsigned Exp-Golomb.
    fn ue(&mut self) -> Option<u32> {
        let mut leading = 0;
        while self.bit()? == 0 {
            leading += 1;
            if leading > 31 {
                return None;
            }
        }
        u32::try_from((1u64 << leading) - 1 + u64::from(self.bits(leading)?)).ok()
    }

    /// Signed Exp-Golomb.
    fn se(&mut self) -> Option<i32> {
        let code = i64::from(self.ue()?);
        let value = if code % 2 == 1 { (code + 1) / 2 } else { -(code / 2) };
        i32::try_from(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::{picture_size, starts_keyframe};

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

    #[test]
    fn the_picture_size_is_read_from_a_sequence_parameter_set_alone_or_aggregated() {
        for (width, height) in [(320, 180), (640, 360), (1280, 720), (1920, 1080), (176, 144), (16, 16)] {
            let sps = crate::sim::sps(width, height);
            assert_eq!(picture_size(&sps), Some((width, height)), "{width}×{height}: {sps:02x?}");
            let mut aggregate = vec![0x78, 0, sps.len() as u8];
            aggregate.extend(&sps);
            aggregate.extend([0x00, 0x02, 0x68, 0xce]);
            assert_eq!(picture_size(&aggregate), Some((width, height)), "in a STAP-A");
        }
        // No SPS: a slice, a PPS, an aggregate of two slices.
        assert_eq!(picture_size(&[0x65, 0x88, 0x84]), None);
        assert_eq!(picture_size(&[0x68, 0xce, 0x3c, 0x80]), None);
        assert_eq!(picture_size(&[0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b]), None);
    }

    #[test]
    fn a_truncated_or_garbage_sequence_parameter_set_has_no_size() {
        let sps = crate::sim::sps(1280, 720);
        for end in 1..sps.len() - 1 {
            assert_eq!(picture_size(&sps[..end]), None, "cut at {end}");
        }
        // All zero bits: an Exp-Golomb code with no end.
        assert_eq!(picture_size(&[0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        // A size past the end of the aggregate.
        assert_eq!(picture_size(&[0x78, 0xff, 0xff, 0x67, 0x42]), None);
        assert_eq!(picture_size(&[]), None);
    }

    #[test]
    fn sizes_are_read_from_a_real_encoders_parameter_sets() {
        // x264's (through PyAV) in the Constrained Baseline, Main and High
        // profiles: with timing information, and emulation-prevention bytes.
        let cases = [
            ("6742c00dd901419f9e10000003001000000303c8f142a480", (320, 180)),
            ("6742c01ed900a02ff9610000030001000003003c8f162e48", (640, 360)),
            ("6742c01fd9005005ba10000003001000000303c8f1832480", (1280, 720)),
            ("6742c028d900780227e584000003000400000300f23c60c920", (1920, 1080)),
            ("674d401ed900a02ff9610000030001000003003c8f162e48", (640, 360)),
            ("6764000dacb202833f3c20000003002000000791e28549", (320, 180)),
            ("6764001facb200a00b7420000003002000000791e30649", (1280, 720)),
            ("67640028acb200f0044fcb08000003000800000301e478c19240", (1920, 1080)),
        ];
        for (hex, size) in cases {
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            assert_eq!(picture_size(&bytes), Some(size), "{hex}");
        }
    }

    #[test]
    fn an_sps_declaring_absurd_sizes_or_crops_has_no_size_and_panics_nothing() {
        // Width and height of 2^32 - 1 macroblocks, each crop offset 2^32 - 2
        // (the largest Exp-Golomb values), with emulation prevention.
        let hex = "6742c01fda0000030000ffffffff0000030001ffffffffc0000003007fffffff8000000300ffffffff\
                   0000030001fffffffe0000030003fffffffd";
        let hex: String = hex.split_whitespace().collect();
        let sps: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert_eq!(picture_size(&sps), None);
        for cut in 1..sps.len() {
            assert_eq!(picture_size(&sps[..cut]), None, "cut at {cut}");
        }
    }
}
