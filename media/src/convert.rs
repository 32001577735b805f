//! Pixel format conversion: raw camera and screen frames to planar I420 (BT.601
//! limited range, what the H.264 encoder takes) and decoded I420 back to RGBA.
//!
//! This module checks sizes and formats and decodes motion JPEG; the pixel
//! loops themselves are in `concord-media-kernels` (`pixels`), which debug
//! builds keep optimised.

use crate::{MediaError, Result};
pub use concord_media_kernels::pixels::{i420_to_rgba, psnr_y, I420Frame};
use concord_media_kernels::pixels::{packed_to_i420, yuyv_to_i420};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Pixel layouts a source can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B (3 bytes a pixel).
    Rgb24,
    /// Packed 8-bit R, G, B, A (4 bytes a pixel; alpha ignored).
    Rgba32,
    /// Packed 8-bit B, G, R, A (4 bytes a pixel; alpha ignored), as screen capture delivers.
    Bgra32,
    /// Packed 4:2:2 `Y0 U Y1 V` (4 bytes per 2 pixels), BT.601 limited range, as V4L2 cameras deliver.
    Yuyv422,
    /// One complete JPEG image per frame (motion JPEG cameras).
    Mjpeg,
}

impl PixelFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Rgb24 => "RGB24",
            Self::Rgba32 => "RGBA32",
            Self::Bgra32 => "BGRA32",
            Self::Yuyv422 => "YUYV422",
            Self::Mjpeg => "MJPEG",
        }
    }

    /// Bytes in one source row of `width` pixels (None for MJPEG, which has no fixed size).
    fn row_bytes(self, width: usize) -> Option<usize> {
        match self {
            Self::Rgb24 => width.checked_mul(3),
            Self::Rgba32 | Self::Bgra32 => width.checked_mul(4),
            // A YUYV row holds whole 2-pixel groups.
            Self::Yuyv422 => width.div_ceil(2).checked_mul(4),
            Self::Mjpeg => None,
        }
    }
}

/// Converts one raw frame to I420.
///
/// Odd width/height are cropped down to even (a 1921x1081 window becomes
/// 1920x1080); a frame under 2x2 after cropping is [`MediaError::FrameDimensions`];
/// a buffer of the wrong length is [`MediaError::FrameSize`]. For
/// [`PixelFormat::Mjpeg`], `width`/`height` are only the expected size: the
/// decoded JPEG's own size is used, and undecodable data is [`MediaError::Mjpeg`].
pub fn to_i420(format: PixelFormat, width: u32, height: u32, data: &[u8]) -> Result<I420Frame> {
    let mut out = I420Frame { width: 0, height: 0, y: Vec::new(), u: Vec::new(), v: Vec::new() };
    to_i420_into(format, width, height, data, &mut out)?;
    Ok(out)
}

/// Same as [`to_i420`], into an existing frame to reuse its buffers (resized when needed).
///
/// On error `out` is left unchanged.
pub fn to_i420_into(
    format: PixelFormat,
    width: u32,
    height: u32,
    data: &[u8],
    out: &mut I420Frame,
) -> Result<()> {
    if format == PixelFormat::Mjpeg {
        let (rgb, w, h) = decode_mjpeg(data)?;
        return to_i420_into(PixelFormat::Rgb24, w, h, &rgb, out);
    }
    let src_width = width as usize;
    let expected = format.row_bytes(src_width).and_then(|row| row.checked_mul(height as usize));
    if expected != Some(data.len()) {
        return Err(MediaError::FrameSize {
            format: format.name(),
            width,
            height,
            expected: expected.unwrap_or(usize::MAX),
            got: data.len(),
        });
    }
    let (w, h) = (width & !1, height & !1);
    if w < 2 || h < 2 {
        return Err(MediaError::FrameDimensions { width: w, height: h });
    }
    out.reshape(w, h);
    let (w, h) = (w as usize, h as usize);
    match format {
        PixelFormat::Rgb24 => packed_to_i420::<3, 0, 1, 2>(data, src_width, w, h, out),
        PixelFormat::Rgba32 => packed_to_i420::<4, 0, 1, 2>(data, src_width, w, h, out),
        PixelFormat::Bgra32 => packed_to_i420::<4, 2, 1, 0>(data, src_width, w, h, out),
        PixelFormat::Yuyv422 => yuyv_to_i420(data, src_width, w, h, out),
        PixelFormat::Mjpeg => {}
    }
    Ok(())
}

/// An APP0 "AVI1" segment: it tells zune-jpeg the data is motion JPEG, so the
/// standard Huffman tables (JPEG Annex K.3) stand in for missing DHT segments.
const AVI1_APP0: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00];

/// Whether a JPEG's header has no DHT segment before its first scan (many UVC
/// cameras leave the standard Huffman tables out of every MJPEG frame).
fn lacks_huffman_tables(data: &[u8]) -> bool {
    let mut i = 2;
    while let (Some(&0xFF), Some(&marker)) = (data.get(i), data.get(i + 1)) {
        match marker {
            0xFF => i += 1, // fill byte
            0xC4 => return false,
            0xDA | 0xD9 => return true,
            0xD0..=0xD7 | 0x01 => i += 2,
            _ => match (data.get(i + 2), data.get(i + 3)) {
                (Some(&hi), Some(&lo)) => i += 2 + u16::from_be_bytes([hi, lo]) as usize,
                _ => return false,
            },
        }
    }
    false
}

/// Decodes a JPEG to packed RGB24, returning the pixels and the image's size.
fn decode_mjpeg(data: &[u8]) -> Result<(Vec<u8>, u32, u32)> {
    let patched;
    let data = if data.starts_with(&[0xFF, 0xD8]) && lacks_huffman_tables(data) {
        patched = [&data[..2], &AVI1_APP0[..], &data[2..]].concat();
        &patched[..]
    } else {
        data
    };
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    let rgb = decoder.decode().map_err(|e| MediaError::Mjpeg(e.to_string()))?;
    let (w, h) = decoder.dimensions().ok_or_else(|| MediaError::Mjpeg("no image size".into()))?;
    if rgb.len() != w * h * 3 {
        return Err(MediaError::Mjpeg(format!("decoded {} bytes for a {w}x{h} RGB image", rgb.len())));
    }
    // JPEG sizes are 16-bit, so these always fit.
    Ok((rgb, w as u32, h as u32))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use concord_media_kernels::pixels::luma;

    const COLOURS: [[u8; 3]; 5] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]];

    fn solid(format: PixelFormat, w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let px: Vec<u8> = match format {
            PixelFormat::Rgb24 => rgb.to_vec(),
            PixelFormat::Rgba32 => vec![rgb[0], rgb[1], rgb[2], 255],
            PixelFormat::Bgra32 => vec![rgb[2], rgb[1], rgb[0], 255],
            _ => unreachable!(),
        };
        px.repeat((w * h) as usize)
    }

    fn assert_close(got: &[u8], want: [u8; 3], tol: u8) {
        for c in 0..3 {
            assert!(got[c].abs_diff(want[c]) <= tol, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn packed_formats_round_trip_primary_colours() {
        for format in [PixelFormat::Rgb24, PixelFormat::Rgba32, PixelFormat::Bgra32] {
            for rgb in COLOURS {
                let frame = to_i420(format, 8, 6, &solid(format, 8, 6, rgb)).unwrap();
                assert_eq!((frame.width, frame.height), (8, 6));
                assert_eq!((frame.y.len(), frame.u.len(), frame.v.len()), (48, 12, 12));
                let mut rgba = Vec::new();
                i420_to_rgba(&frame, &mut rgba);
                assert_eq!(rgba.len(), 8 * 6 * 4);
                for px in rgba.chunks_exact(4) {
                    assert_close(px, rgb, 3);
                    assert_eq!(px[3], 255);
                }
            }
        }
    }

    #[test]
    fn known_bt601_values() {
        let white = to_i420(PixelFormat::Rgb24, 2, 2, &[255; 12]).unwrap();
        assert_eq!((white.y[0], white.u[0], white.v[0]), (235, 128, 128));
        let black = to_i420(PixelFormat::Rgb24, 2, 2, &[0; 12]).unwrap();
        assert_eq!(black, I420Frame::black(2, 2));
        let red = to_i420(PixelFormat::Rgb24, 2, 2, &[255, 0, 0].repeat(4)).unwrap();
        assert_eq!((red.y[0], red.u[0], red.v[0]), (82, 90, 240));
    }

    #[test]
    fn chroma_is_the_average_of_each_2x2_block() {
        // Left column red, right column blue: chroma of red and blue averaged.
        let data = [[255, 0, 0], [0, 0, 255], [255, 0, 0], [0, 0, 255]].concat();
        let f = to_i420(PixelFormat::Rgb24, 2, 2, &data).unwrap();
        let red = to_i420(PixelFormat::Rgb24, 2, 2, &[255, 0, 0].repeat(4)).unwrap();
        let blue = to_i420(PixelFormat::Rgb24, 2, 2, &[0, 0, 255].repeat(4)).unwrap();
        assert!(f.u[0].abs_diff(((red.u[0] as u16 + blue.u[0] as u16) / 2) as u8) <= 1);
        assert!(f.v[0].abs_diff(((red.v[0] as u16 + blue.v[0] as u16) / 2) as u8) <= 1);
        assert_eq!((f.y[0], f.y[1], f.y[2], f.y[3]), (red.y[0], blue.y[0], red.y[0], blue.y[0]));
    }

    #[test]
    fn yuyv_layout() {
        // 4x2: row 0 = Y 10 20 30 40, U 100/110, V 200/210; row 1 = Y 50 60 70 80, U 102/112, V 204/214.
        let data = [
            10, 100, 20, 200, 30, 110, 40, 210, //
            50, 102, 60, 204, 70, 112, 80, 214,
        ];
        let f = to_i420(PixelFormat::Yuyv422, 4, 2, &data).unwrap();
        assert_eq!(f.y, [10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(f.u, [101, 111]);
        assert_eq!(f.v, [202, 212]);
    }

    #[test]
    fn yuyv_colours_round_trip() {
        for rgb in COLOURS {
            let i420 = to_i420(PixelFormat::Rgb24, 2, 2, &solid(PixelFormat::Rgb24, 2, 2, rgb)).unwrap();
            let (y, u, v) = (i420.y[0], i420.u[0], i420.v[0]);
            let data = [y, u, y, v].repeat(2 * 3);
            let f = to_i420(PixelFormat::Yuyv422, 4, 3, &data).unwrap();
            assert_eq!((f.width, f.height), (4, 2));
            let mut rgba = Vec::new();
            i420_to_rgba(&f, &mut rgba);
            for px in rgba.chunks_exact(4) {
                assert_close(px, rgb, 3);
            }
        }
    }

    fn jpeg(w: u16, h: u16, rgb: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        jpeg_encoder::Encoder::new(&mut buf, 90).encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        buf
    }

    #[test]
    fn mjpeg_decodes_to_the_right_colours_and_size() {
        // Left half red, right half blue, 64x32; the declared size is ignored.
        let (w, h) = (64usize, 32usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for _y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(if x < w / 2 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        let data = jpeg(w as u16, h as u16, &rgb);
        let f = to_i420(PixelFormat::Mjpeg, 1280, 720, &data).unwrap();
        assert_eq!((f.width, f.height), (64, 32));
        let mut rgba = Vec::new();
        i420_to_rgba(&f, &mut rgba);
        // Away from the edge, within JPEG tolerance.
        let at = |x: usize, y: usize| &rgba[(y * w + x) * 4..][..4];
        assert_close(at(8, 16), [255, 0, 0], 12);
        assert_close(at(56, 16), [0, 0, 255], 12);
    }

    #[test]
    fn mjpeg_without_huffman_tables_decodes() {
        // Many webcams send MJPEG without DHT segments (the standard tables are implied).
        let (w, h) = (32usize, 16usize);
        let rgb = [0, 255, 0].repeat(w * h);
        let data = jpeg(w as u16, h as u16, &rgb);
        let mut stripped = data[..2].to_vec();
        let mut i = 2;
        while i + 4 <= data.len() && data[i] == 0xFF && data[i + 1] != 0xDA {
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            if data[i + 1] != 0xC4 {
                stripped.extend_from_slice(&data[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        stripped.extend_from_slice(&data[i..]);
        assert!(stripped.len() < data.len(), "no DHT segment found");
        let f = to_i420(PixelFormat::Mjpeg, 0, 0, &stripped).unwrap();
        assert_eq!((f.width, f.height), (32, 16));
        let mut rgba = Vec::new();
        i420_to_rgba(&f, &mut rgba);
        assert_close(&rgba[(8 * w + 8) * 4..], [0, 255, 0], 12);
    }

    #[test]
    fn mjpeg_odd_size_is_cropped() {
        let data = jpeg(33, 17, &[128; 33 * 17 * 3]);
        let f = to_i420(PixelFormat::Mjpeg, 33, 17, &data).unwrap();
        assert_eq!((f.width, f.height), (32, 16));
        assert!(f.y.iter().all(|&y| y.abs_diff(126) <= 3), "{:?}", &f.y[..8]);
    }

    #[test]
    fn garbage_mjpeg_is_an_mjpeg_error() {
        for data in [&b""[..], b"not a jpeg at all", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 0, 0]] {
            let err = to_i420(PixelFormat::Mjpeg, 640, 480, data).unwrap_err();
            assert!(matches!(err, MediaError::Mjpeg(_)), "{err:?}");
        }
    }

    #[test]
    fn odd_sizes_are_cropped_to_even() {
        let (w, h) = (7u32, 5u32);
        // Each pixel's red channel encodes its position, so cropping keeps the top-left.
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[((y * 8 + x) * 4) as u8, 0, 0, 255]);
            }
        }
        let f = to_i420(PixelFormat::Rgba32, w, h, &data).unwrap();
        assert_eq!((f.width, f.height, f.y.len(), f.u.len()), (6, 4, 24, 6));
        assert_eq!(f.y[6 + 1], luma((8 + 1) * 4, 0, 0));
        let yuyv = to_i420(PixelFormat::Yuyv422, 5, 3, &[16; 3 * 4 * 3]).unwrap();
        assert_eq!((yuyv.width, yuyv.height), (4, 2));
        let big = to_i420(PixelFormat::Bgra32, 1921, 1081, &vec![0; 1921 * 1081 * 4]).unwrap();
        assert_eq!((big.width, big.height), (1920, 1080));
    }

    #[test]
    fn too_small_is_a_dimensions_error() {
        for (w, h) in [(1, 1), (1, 10), (10, 1), (0, 0)] {
            let data = vec![0; (w * h * 3) as usize];
            let err = to_i420(PixelFormat::Rgb24, w, h, &data).unwrap_err();
            assert!(matches!(err, MediaError::FrameDimensions { .. }), "{err:?}");
        }
    }

    #[test]
    fn wrong_length_is_a_size_error() {
        let err = to_i420(PixelFormat::Rgba32, 4, 4, &[0; 63]).unwrap_err();
        match err {
            MediaError::FrameSize { format, width, height, expected, got } => {
                assert_eq!((format, width, height, expected, got), ("RGBA32", 4, 4, 64, 63));
            }
            other => panic!("{other:?}"),
        }
        for (format, len) in [(PixelFormat::Rgb24, 49), (PixelFormat::Bgra32, 65), (PixelFormat::Yuyv422, 30)]
        {
            let err = to_i420(format, 4, 4, &vec![0; len]).unwrap_err();
            assert!(matches!(err, MediaError::FrameSize { .. }), "{err:?}");
        }
        // Huge sizes do not overflow.
        let err = to_i420(PixelFormat::Rgba32, u32::MAX, u32::MAX, &[0; 4]).unwrap_err();
        assert!(matches!(err, MediaError::FrameSize { .. }), "{err:?}");
    }

    #[test]
    fn into_reuses_and_resizes_buffers() {
        let mut f = I420Frame::black(2, 2);
        to_i420_into(PixelFormat::Rgb24, 4, 4, &[255; 48], &mut f).unwrap();
        assert_eq!((f.width, f.height, f.y.len(), f.u.len(), f.v.len()), (4, 4, 16, 4, 4));
        assert!(f.y.iter().all(|&y| y == 235));
        to_i420_into(PixelFormat::Rgb24, 2, 2, &[0; 12], &mut f).unwrap();
        assert_eq!(f, I420Frame::black(2, 2));
        // A failed conversion leaves the frame alone.
        assert!(to_i420_into(PixelFormat::Rgb24, 2, 2, &[0; 11], &mut f).is_err());
        assert_eq!(f, I420Frame::black(2, 2));
    }

    #[test]
    fn psnr() {
        let a = I420Frame::black(16, 16);
        assert_eq!(psnr_y(&a, &a), f64::INFINITY);
        let mut b = a.clone();
        // Every luma sample off by 2: MSE 4, PSNR = 10 log10(65025 / 4) = 42.11 dB.
        b.y.iter_mut().for_each(|y| *y += 2);
        assert!((psnr_y(&a, &b) - 42.110).abs() < 0.001, "{}", psnr_y(&a, &b));
        // One sample off by 16 in 256: MSE 1, PSNR = 48.13 dB.
        let mut c = a.clone();
        c.y[100] = 32;
        assert!((psnr_y(&a, &c) - 48.131).abs() < 0.001, "{}", psnr_y(&a, &c));
        assert_eq!(psnr_y(&a, &I420Frame::black(16, 8)), 0.0);
    }
}
