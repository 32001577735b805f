//! Pictures people upload: recognised by their bytes (not by what the
//! uploader claims), decoded under limits (a small file cannot make the
//! server allocate gigabytes), turned upright, given a thumbnail, and stored
//! without their metadata (EXIF holds where a photo was taken). The
//! server runs [`process`] off its async workers; `server/fuzz` feeds both
//! functions arbitrary bytes.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The thumbnail fits in this square.
pub const THUMBNAIL_MAX: u32 = 400;
/// Widest or tallest picture decoded.
const MAX_SIDE: u32 = 16_384;
/// Most memory one decode may take.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// A checked picture, ready to store.
#[derive(Debug)]
pub struct Picture {
    /// Its real type.
    pub content_type: &'static str,
    /// Width as shown (after its orientation).
    pub width: u32,
    /// Height as shown.
    pub height: u32,
    /// The file to keep: the upload without its metadata (re-encoded when
    /// it had to be turned upright).
    pub file: Vec<u8>,
    /// A preview at most [`THUMBNAIL_MAX`] on a side.
    pub thumbnail: Vec<u8>,
    /// The thumbnail's type (`image/jpeg`, or `image/png` with transparency).
    pub thumbnail_type: &'static str,
}

/// Why a picture was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// Damaged or cut short.
    #[error("This picture could not be read (it may be damaged or cut short): {0}")]
    Unreadable(String),
    /// Its pixels would take more memory than a decode may.
    #[error("This picture is too large to show ({0}); pictures can be at most {MAX_SIDE} pixels on a side and 64 megapixels.")]
    TooLarge(String),
}

/// The picture format of `bytes`, if they start like one we show.
pub fn recognise(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes) {
        Ok(format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP)) => {
            Some(format)
        }
        _ => None,
    }
}

/// Checks and prepares picture `bytes` of `format` (from [`recognise`]).
/// CPU-heavy: run it off the async workers.
pub fn process(bytes: Vec<u8>, format: ImageFormat) -> Result<Picture, PictureError> {
    let stripped = match format {
        ImageFormat::Jpeg => strip_jpeg(&bytes)?,
        ImageFormat::Png => strip_png(&bytes)?,
        ImageFormat::WebP => strip_webp(&bytes)?,
        _ => bytes.clone(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(&bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    // The decoder checked the sides; the memory its pixels take is checked
    // here, before they are allocated.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        let (width, height) = decoder.dimensions();
        return Err(PictureError::TooLarge(format!("{width} × {height} pixels")));
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    let upright = orientation == image::metadata::Orientation::NoTransforms;
    decoded.apply_orientation(orientation);
    let (width, height) = (decoded.width(), decoded.height());
    if width == 0 || height == 0 {
        return Err(PictureError::Unreadable(format!("it has no pixels ({width} × {height})")));
    }
    let (content_type, file) = if upright {
        (content_type(format), stripped)
    } else {
        // Turned by its metadata, which goes: store the pixels turned instead.
        encode(&decoded, 92)?
    };
    let preview = if width > THUMBNAIL_MAX || height > THUMBNAIL_MAX {
        decoded.thumbnail(THUMBNAIL_MAX, THUMBNAIL_MAX)
    } else {
        decoded
    };
    let (thumbnail_type, thumbnail) = encode(&preview, 80)?;
    Ok(Picture { content_type, width, height, file, thumbnail, thumbnail_type })
}

fn content_type(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Gif => "image/gif",
        _ => "image/webp",
    }
}

fn refusal(error: image::ImageError) -> PictureError {
    match error {
        image::ImageError::Limits(limit) => PictureError::TooLarge(limit.to_string()),
        other => PictureError::Unreadable(other.to_string()),
    }
}

/// JPEG (opaque) or PNG (with transparency) of `picture`.
fn encode(picture: &DynamicImage, quality: u8) -> Result<(&'static str, Vec<u8>), PictureError> {
    let mut out = Cursor::new(Vec::new());
    let written = if picture.color().has_alpha() {
        picture.to_rgba8().write_to(&mut out, ImageFormat::Png).map(|_| "image/png")
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
        picture.to_rgb8().write_with_encoder(encoder).map(|_| "image/jpeg")
    };
    let content_type = written.map_err(|e| PictureError::Unreadable(e.to_string()))?;
    Ok((content_type, out.into_inner()))
}

fn cut_short() -> PictureError {
    PictureError::Unreadable("the file ends too early".into())
}

/// The JPEG without its APP1 (EXIF, XMP), APP13 (IPTC) and comment
/// segments; refused when it has no end (a truncated upload).
fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..2).ok_or_else(cut_short)?);
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(PictureError::Unreadable("not a well-formed JPEG".into()));
        };
        if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            out.extend_from_slice(&bytes[at..at + 2]);
            at += 2;
            continue;
        }
        if marker == 0xD9 {
            out.extend_from_slice(&bytes[at..at + 2]);
            return Ok(out);
        }
        let length = bytes.get(at + 2..at + 4).ok_or_else(cut_short)?;
        let end = at + 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
        let segment = bytes.get(at..end).ok_or_else(cut_short)?;
        if marker == 0xDA {
            // Start of scan: the entropy-coded data runs to the end marker.
            let rest = &bytes[at..];
            if !rest.windows(2).any(|w| w == [0xFF, 0xD9]) {
                return Err(cut_short());
            }
            out.extend_from_slice(rest);
            return Ok(out);
        }
        if !matches!(marker, 0xE1 | 0xED | 0xFE) {
            out.extend_from_slice(segment);
        }
        at = end;
    }
}

/// The PNG without its text, time and EXIF chunks.
fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..8).ok_or_else(cut_short)?);
    let mut at = 8;
    while at < bytes.len() {
        let header = bytes.get(at..at + 8).ok_or_else(cut_short)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at.checked_add(12 + length).ok_or_else(cut_short)?;
        let chunk = bytes.get(at..end).ok_or_else(cut_short)?;
        if !matches!(&header[4..8], b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        at = end;
        if &header[4..8] == b"IEND" {
            return Ok(out);
        }
    }
    Err(cut_short())
}

/// The WebP without its EXIF and XMP chunks (and their flags).
fn strip_webp(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let body = bytes.get(12..).ok_or_else(cut_short)?;
    let mut chunks = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < body.len() {
        let header = body.get(at..at + 8).ok_or_else(cut_short)?;
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let end = at.checked_add(8 + length + length % 2).ok_or_else(cut_short)?;
        let chunk = body.get(at..end.min(body.len())).ok_or_else(cut_short)?;
        match &header[..4] {
            b"EXIF" | b"XMP " => {}
            b"VP8X" if chunk.len() > 8 => {
                let mut extended = chunk.to_vec();
                extended[8] &= !0x0C;
                chunks.extend_from_slice(&extended);
            }
            _ => chunks.extend_from_slice(chunk),
        }
        at = end;
    }
    let mut out = Vec::with_capacity(chunks.len() + 12);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 40]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    /// `jpeg` with an EXIF segment (orientation `orientation`, and a GPS-ish
    /// marker string) after its SOI.
    fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        // TIFF header (big-endian), one IFD entry: Orientation (0x0112), SHORT, 1.
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        tiff.extend_from_slice(b"GPS 51.5N 0.1W");
        let mut segment = b"Exif\0\0".to_vec();
        segment.extend_from_slice(&tiff);
        concord_testkit::pictures::with_app1(jpeg, &segment)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_photo_loses_its_exif_and_gets_a_thumbnail() {
        let photo = with_exif(&jpeg(800, 600), 1);
        assert!(contains(&photo, b"GPS 51.5N"));
        let picture = process(photo, recognise(&with_exif(&jpeg(8, 8), 1)).unwrap()).unwrap();
        assert_eq!((picture.content_type, picture.width, picture.height), ("image/jpeg", 800, 600));
        assert!(!contains(&picture.file, b"GPS 51.5N"));
        assert!(!contains(&picture.file, b"Exif"));
        let thumbnail = image::load_from_memory(&picture.thumbnail).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (400, 300));
        assert_eq!(picture.thumbnail_type, "image/jpeg");
        // What is kept still decodes to the same size.
        let kept = image::load_from_memory(&picture.file).unwrap();
        assert_eq!((kept.width(), kept.height()), (800, 600));
    }

    #[test]
    fn a_turned_photo_is_stored_upright() {
        // Orientation 6: the camera was turned; shown 90° clockwise.
        let photo = with_exif(&jpeg(640, 480), 6);
        let picture = process(photo, ImageFormat::Jpeg).unwrap();
        assert_eq!((picture.width, picture.height), (480, 640));
        assert!(!contains(&picture.file, b"GPS 51.5N"));
        let kept = image::load_from_memory(&picture.file).unwrap();
        assert_eq!((kept.width(), kept.height()), (480, 640));
    }

    /// Found by the fuzzer (`server/fuzz`, target `picture`): a GIF whose
    /// screen and frame are 2,060 × 0 decoded into a picture without pixels,
    /// which was kept, with a 0-pixel side for every client to draw.
    #[test]
    fn a_picture_without_pixels_is_refused() {
        let gif = include_bytes!("../testdata/zero_height.gif").to_vec();
        assert_eq!(recognise(&gif), Some(ImageFormat::Gif));
        assert!(matches!(process(gif, ImageFormat::Gif), Err(PictureError::Unreadable(_))));
    }

    #[test]
    fn a_truncated_jpeg_is_refused() {
        let whole = jpeg(300, 200);
        let cut = whole[..whole.len() / 2].to_vec();
        assert!(matches!(process(cut, ImageFormat::Jpeg), Err(PictureError::Unreadable(_))));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_decoded() {
        use concord_testkit::pictures::bomb_png;
        // 100,000 × 100,000 RGBA: 40 GB of pixels declared by a 4 KB file.
        let bomb = bomb_png(100_000, 100_000);
        assert!(bomb.len() < 8 * 1024, "{} bytes", bomb.len());
        assert!(matches!(process(bomb, ImageFormat::Png), Err(PictureError::TooLarge(_))));
        // Within the sides but over the memory (1 GB): refused as well.
        let wide = bomb_png(16_000, 16_000);
        assert!(matches!(process(wide, ImageFormat::Png), Err(PictureError::TooLarge(_))));
    }

    #[test]
    fn a_png_loses_its_text_chunks_and_small_pictures_keep_their_size() {
        let mut picture = png(120, 80);
        // Insert a tEXt chunk after IHDR (8 + 25 bytes).
        let mut text = Vec::new();
        let data = b"Comment\0taken at home";
        text.extend_from_slice(&(data.len() as u32).to_be_bytes());
        text.extend_from_slice(b"tEXt");
        text.extend_from_slice(data);
        text.extend_from_slice(&[0, 0, 0, 0]); // CRC unchecked by the decoder for ancillary chunks
        picture.splice(33..33, text);
        let processed = process(picture, ImageFormat::Png).unwrap();
        assert!(!contains(&processed.file, b"taken at home"));
        assert_eq!((processed.width, processed.height), (120, 80));
        let thumbnail = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (120, 80));
    }

    #[test]
    fn only_the_formats_we_show_are_pictures() {
        assert_eq!(recognise(&png(2, 2)), Some(ImageFormat::Png));
        assert_eq!(recognise(&jpeg(2, 2)), Some(ImageFormat::Jpeg));
        assert_eq!(recognise(b"GIF89a......"), Some(ImageFormat::Gif));
        assert_eq!(recognise(b"%PDF-1.7 ..."), None);
        assert_eq!(recognise(b"<svg xmlns=...>"), None);
    }
}
