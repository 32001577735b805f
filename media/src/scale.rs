//! Resizing I420 frames to the resolution being sent (a 1080p screen sent at
//! 720p), with `fast_image_resize`: SIMD convolution with a Catmull-Rom
//! filter on each plane, so shared text stays readable where
//! nearest-neighbour would drop whole rows and columns of it.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::convert::I420Frame;

/// Luma of black in limited range.
const BLACK_LUMA: u8 = 16;
/// Chroma of grey.
const NEUTRAL_CHROMA: u8 = 128;

/// Scales frames plane by plane; keeps its working buffers between frames.
pub struct Scaler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl Default for Scaler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scaler {
    /// A scaler with a Catmull-Rom (bicubic) filter.
    pub fn new() -> Self {
        Self {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)),
        }
    }

    /// Scales `src` to `width`x`height` (both even, non-zero) into `out`.
    pub fn scale_i420(&mut self, src: &I420Frame, width: u32, height: u32, out: &mut I420Frame) {
        out.width = width;
        out.height = height;
        let (sw, sh) = (src.width, src.height);
        self.scale_plane(&src.y, (sw, sh), &mut out.y, (width, height), BLACK_LUMA);
        let (sw, sh, dw, dh) = (sw / 2, sh / 2, width / 2, height / 2);
        self.scale_plane(&src.u, (sw, sh), &mut out.u, (dw, dh), NEUTRAL_CHROMA);
        self.scale_plane(&src.v, (sw, sh), &mut out.v, (dw, dh), NEUTRAL_CHROMA);
    }

    /// Scales one plane; a source plane shorter than its size says (a broken
    /// frame) becomes a blank plane rather than a panic.
    fn scale_plane(
        &mut self,
        src: &[u8],
        (sw, sh): (u32, u32),
        dst: &mut Vec<u8>,
        (dw, dh): (u32, u32),
        blank: u8,
    ) {
        dst.resize(dw as usize * dh as usize, blank);
        let scaled = ImageRef::new(sw, sh, src, PixelType::U8).ok().and_then(|source| {
            let mut target = Image::from_slice_u8(dw, dh, dst.as_mut_slice(), PixelType::U8).ok()?;
            self.resizer.resize(&source, &mut target, &self.options).ok()
        });
        if scaled.is_none() {
            dst.fill(blank);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_a_frame_keeping_its_content() {
        let mut src = I420Frame::black(4, 4);
        src.y = (0..16).map(|i| i * 10).collect();
        let mut out = I420Frame::black(2, 2);
        Scaler::new().scale_i420(&src, 2, 2, &mut out);
        assert_eq!((out.width, out.height), (2, 2));
        assert_eq!((out.y.len(), out.u.len(), out.v.len()), (4, 1, 1));
        // A gradient stays a gradient, left to right and top to bottom.
        assert!(out.y[0] < out.y[1] && out.y[1] < out.y[3] && out.y[0] < out.y[2], "{:?}", out.y);
    }

    /// One-pixel black lines on white (small text's strokes): sampling every
    /// other column, nearest-neighbour keeps some lines at full contrast and
    /// loses the rest entirely; a filter keeps every line visible.
    #[test]
    fn thin_lines_survive_downscaling() {
        let (w, h) = (96u32, 8u32);
        let mut src = I420Frame::black(w, h);
        for y in 0..h as usize {
            for x in 0..w as usize {
                src.y[y * w as usize + x] = if x % 3 == 0 { 16 } else { 235 };
            }
        }
        let mut out = I420Frame::black(2, 2);
        Scaler::new().scale_i420(&src, 64, 8, &mut out);
        let row = &out.y[3 * 64..4 * 64];
        // Every source line (32 of them) still darkens the row somewhere near it.
        let lines_seen = (0..32).filter(|i| {
            let centre = (*i as f32 * 3.0 * 64.0 / 96.0).round() as usize;
            let lo = centre.saturating_sub(1);
            let hi = (centre + 1).min(63);
            row[lo..=hi].iter().any(|&v| v < 180)
        });
        assert_eq!(lines_seen.count(), 32, "{row:?}");
    }
}
