//! Rewriting an RTP packet for one subscriber, without decoding its media.
//! Browsers and webrtc-rs pick their own payload-type numbers and header
//! extension ids in their SDP, so a packet a publisher sent with its numbers
//! must carry the subscriber's: the payload type is mapped, every header
//! extension (RFC 8285, one- or two-byte form) is renumbered, and those the
//! subscriber did not negotiate are left out. Garbage is refused with a
//! typed error, never a panic.

use std::collections::HashMap;

/// How one subscriber numbers what one publisher sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Publisher payload type → subscriber payload type.
    pub payload_types: HashMap<u8, u8>,
    /// Publisher extension id → subscriber extension id (absent: dropped).
    pub extensions: HashMap<u8, u8>,
}

/// Why a packet could not be rewritten (it is then not forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// Shorter than its own header says.
    Truncated,
    /// Not RTP version 2.
    NotRtp,
    /// A payload type the subscriber has no number for.
    UnknownPayloadType(u8),
    /// The header extension block is malformed.
    BadExtension,
}

/// One header extension element: id and data.
type Element<'a> = (u8, &'a [u8]);

/// The parts of a packet: fixed header + CSRCs, extension profile and
/// elements, and everything after (payload and padding).
struct Parts<'a> {
    header: &'a [u8],
    profile: Option<u16>,
    extension: &'a [u8],
    rest: &'a [u8],
}

fn split(packet: &[u8]) -> Result<Parts<'_>, RewriteError> {
    if packet.len() < 12 {
        return Err(RewriteError::Truncated);
    }
    if packet[0] >> 6 != 2 {
        return Err(RewriteError::NotRtp);
    }
    let header_len = 12 + 4 * usize::from(packet[0] & 0x0f);
    let header = packet.get(..header_len).ok_or(RewriteError::Truncated)?;
    if packet[0] & 0x10 == 0 {
        return Ok(Parts { header, profile: None, extension: &[], rest: &packet[header_len..] });
    }
    let block = packet.get(header_len..header_len + 4).ok_or(RewriteError::Truncated)?;
    let profile = u16::from_be_bytes([block[0], block[1]]);
    let words = usize::from(u16::from_be_bytes([block[2], block[3]]));
    let start = header_len + 4;
    let extension = packet.get(start..start + 4 * words).ok_or(RewriteError::Truncated)?;
    Ok(Parts { header, profile: Some(profile), extension, rest: &packet[start + 4 * words..] })
}

const ONE_BYTE: u16 = 0xBEDE;

fn is_two_byte(profile: u16) -> bool {
    profile & 0xfff0 == 0x1000
}

/// The elements of an extension block in either RFC 8285 form.
fn elements(profile: u16, mut data: &[u8]) -> Result<Vec<Element<'_>>, RewriteError> {
    let mut found = Vec::new();
    if profile == ONE_BYTE {
        while let Some((&first, tail)) = data.split_first() {
            let id = first >> 4;
            if id == 0 {
                data = tail; // padding
                continue;
            }
            if id == 15 {
                break; // reserved: stop reading
            }
            let len = usize::from(first & 0x0f) + 1;
            let value = tail.get(..len).ok_or(RewriteError::BadExtension)?;
            found.push((id, value));
            data = &tail[len..];
        }
    } else if is_two_byte(profile) {
        while let Some((&id, tail)) = data.split_first() {
            if id == 0 {
                data = tail;
                continue;
            }
            let (&len, tail) = tail.split_first().ok_or(RewriteError::BadExtension)?;
            let value = tail.get(..usize::from(len)).ok_or(RewriteError::BadExtension)?;
            found.push((id, value));
            data = &tail[usize::from(len)..];
        }
    }
    // Another profile: not ours to read; treated as no elements.
    Ok(found)
}

/// The data of header extension `id` in `packet`, if present (e.g. the
/// audio level the SFU reads for the speaking indicator).
pub fn extension(packet: &[u8], id: u8) -> Option<&[u8]> {
    let parts = split(packet).ok()?;
    let found = elements(parts.profile?, parts.extension).ok()?;
    found.into_iter().find(|(element, _)| *element == id).map(|(_, data)| data)
}

/// The payload type of `packet`, if it is RTP.
pub fn payload_type(packet: &[u8]) -> Option<u8> {
    split(packet).ok().map(|parts| parts.header[1] & 0x7f)
}

/// `packet` as `mapping`'s subscriber must receive it.
pub fn rewrite(packet: &[u8], mapping: &Mapping) -> Result<Vec<u8>, RewriteError> {
    let parts = split(packet)?;
    let publisher_pt = parts.header[1] & 0x7f;
    let pt =
        *mapping.payload_types.get(&publisher_pt).ok_or(RewriteError::UnknownPayloadType(publisher_pt))?;
    let kept: Vec<Element<'_>> = match parts.profile {
        Some(profile) => elements(profile, parts.extension)?
            .into_iter()
            .filter_map(|(id, data)| mapping.extensions.get(&id).map(|to| (*to, data)))
            .collect(),
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(packet.len());
    out.extend_from_slice(parts.header);
    out[1] = (out[1] & 0x80) | pt;
    if kept.is_empty() {
        out[0] &= !0x10;
    } else {
        out[0] |= 0x10;
        let one_byte = kept.iter().all(|(id, data)| (1..=14).contains(id) && (1..=16).contains(&data.len()));
        let mut block = Vec::new();
        for (id, data) in &kept {
            if one_byte {
                block.push((id << 4) | (data.len() as u8 - 1));
            } else {
                block.push(*id);
                block.push(u8::try_from(data.len()).map_err(|_| RewriteError::BadExtension)?);
            }
            block.extend_from_slice(data);
        }
        while block.len() % 4 != 0 {
            block.push(0);
        }
        let profile: u16 = if one_byte { ONE_BYTE } else { 0x1000 };
        let words = u16::try_from(block.len() / 4).map_err(|_| RewriteError::BadExtension)?;
        out.extend_from_slice(&profile.to_be_bytes());
        out.extend_from_slice(&words.to_be_bytes());
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(parts.rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet with payload type `pt`, sequence 7, one CSRC, the given
    /// one-byte extensions and payload "opus".
    fn packet(pt: u8, extensions: &[(u8, &[u8])]) -> Vec<u8> {
        let mut p = vec![0x81, 0x80 | pt, 0, 7, 0, 0, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4];
        if !extensions.is_empty() {
            p[0] |= 0x10;
            let mut block = Vec::new();
            for (id, data) in extensions {
                block.push((id << 4) | (data.len() as u8 - 1));
                block.extend_from_slice(data);
            }
            while block.len() % 4 != 0 {
                block.push(0);
            }
            p.extend_from_slice(&[0xBE, 0xDE, 0, (block.len() / 4) as u8]);
            p.extend_from_slice(&block);
        }
        p.extend_from_slice(b"opus");
        p
    }

    fn mapping(pts: &[(u8, u8)], exts: &[(u8, u8)]) -> Mapping {
        Mapping { payload_types: pts.iter().copied().collect(), extensions: exts.iter().copied().collect() }
    }

    #[test]
    fn payload_type_and_extension_ids_take_the_subscribers_numbers() {
        // The publisher (a browser) sends Opus as 111 with audio level as id 1
        // and mid as id 4; the subscriber (webrtc-rs) negotiated 96, level 3,
        // and no mid.
        let sent = packet(111, &[(1, &[0x80 | 20]), (4, b"0")]);
        let map = mapping(&[(111, 96)], &[(1, 3)]);
        let out = rewrite(&sent, &map).unwrap();
        assert_eq!(payload_type(&out), Some(96));
        assert_eq!(out[1] & 0x80, 0x80, "the marker bit is kept");
        assert_eq!(&out[2..16], &sent[2..16], "sequence, timestamp, SSRC and CSRC untouched");
        assert_eq!(extension(&out, 3), Some(&[0x80 | 20][..]));
        assert_eq!(extension(&out, 4), None, "mid was not negotiated: left out");
        assert!(out.ends_with(b"opus"));
        assert_eq!((out.len() - 12 - 4 - 4) % 4, 0, "the extension block is padded to 32 bits");
    }

    #[test]
    fn without_kept_extensions_the_block_goes_and_the_x_bit_clears() {
        let sent = packet(96, &[(5, b"xy")]);
        let out = rewrite(&sent, &mapping(&[(96, 102)], &[])).unwrap();
        assert_eq!(out[0] & 0x10, 0);
        assert_eq!(out.len(), 16 + 4);
        assert!(out.ends_with(b"opus"));
        // A packet without extensions stays one.
        let plain = packet(96, &[]);
        assert_eq!(rewrite(&plain, &mapping(&[(96, 96)], &[(1, 1)])).unwrap(), plain);
    }

    #[test]
    fn ids_beyond_fourteen_use_the_two_byte_form() {
        let sent = packet(96, &[(2, b"abc")]);
        let out = rewrite(&sent, &mapping(&[(96, 96)], &[(2, 20)])).unwrap();
        assert_eq!(&out[16..18], &[0x10, 0x00], "two-byte profile");
        assert_eq!(extension(&out, 20), Some(&b"abc"[..]));
    }

    #[test]
    fn garbage_is_refused_with_a_reason_and_never_panics() {
        let map = mapping(&[(96, 96)], &[(1, 1)]);
        assert_eq!(rewrite(&[0x80, 96], &map), Err(RewriteError::Truncated));
        assert_eq!(rewrite(&[0x40; 20], &map), Err(RewriteError::NotRtp));
        assert_eq!(rewrite(&packet(100, &[]), &map), Err(RewriteError::UnknownPayloadType(100)));
        let mut lying = packet(96, &[(1, &[1])]);
        lying[19] = 200; // says 200 words of extensions follow
        assert_eq!(rewrite(&lying, &map), Err(RewriteError::Truncated));
        let mut bad = packet(96, &[(1, &[1])]);
        bad[20] = (1 << 4) | 15; // an element longer than its block
        assert_eq!(rewrite(&bad, &map), Err(RewriteError::BadExtension));
        // A million random packets: each is rewritten or refused, nothing panics.
        let mut seed: u64 = 0x5eed;
        for _ in 0..1_000_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 58) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> ((i % 8) * 8)) as u8 ^ i as u8).collect();
            let _ = rewrite(&bytes, &map);
            let _ = extension(&bytes, 1);
        }
    }
}
