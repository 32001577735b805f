//! Pictures for the upload tests, made byte by byte: hostile ones, and
//! metadata put where a camera puts it.

/// A PNG whose header declares `width` × `height` RGBA pixels (4 bytes
/// each) and whose data is a few kilobytes of zeros: what a decompression
/// bomb looks like to a decoder before it allocates.
pub fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &header);
    // A zlib stream of one stored block of zeros (the decoder is refused
    // before it reads this far).
    let zeros = vec![0u8; 4096];
    let mut data = vec![0x78, 0x01, 0x01];
    data.extend_from_slice(&(zeros.len() as u16).to_le_bytes());
    data.extend_from_slice(&(!(zeros.len() as u16)).to_le_bytes());
    data.extend_from_slice(&zeros);
    data.extend_from_slice(&adler32(&zeros).to_be_bytes());
    chunk(&mut png, b"IDAT", &data);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// `jpeg` with an APP1 segment holding `segment` (e.g. `Exif\0\0` and a
/// TIFF block) right after its SOI marker, where cameras write EXIF.
pub fn with_app1(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}
