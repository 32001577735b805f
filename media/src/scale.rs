//! Resizing I420 frames to the resolution being sent.
//!
//! Nearest-neighbour with precomputed source indices: cheap enough to run
//! per frame before the encoder, and only used when a source's size differs
//! from what the call asked for (a 1080p screen sent at 720p).

use crate::convert::I420Frame;

/// Scales `src` to `width`x`height` (both even) into `out`.
pub fn scale_i420(src: &I420Frame, width: u32, height: u32, out: &mut I420Frame) {
    out.width = width;
    out.height = height;
    scale_plane(&src.y, src.width as usize, src.height as usize, &mut out.y, width as usize, height as usize);
    let (sw, sh, dw, dh) =
        (src.width as usize / 2, src.height as usize / 2, width as usize / 2, height as usize / 2);
    scale_plane(&src.u, sw, sh, &mut out.u, dw, dh);
    scale_plane(&src.v, sw, sh, &mut out.v, dw, dh);
}

fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut Vec<u8>, dw: usize, dh: usize) {
    dst.clear();
    dst.reserve(dw * dh);
    let columns: Vec<usize> = (0..dw).map(|x| x * sw / dw.max(1)).collect();
    for y in 0..dh {
        let row_start = (y * sh / dh.max(1)) * sw;
        let row = &src[row_start..row_start + sw];
        dst.extend(columns.iter().map(|&x| row[x]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_a_frame_keeping_its_content() {
        let mut src = I420Frame::black(4, 4);
        src.y = (0..16).collect();
        let mut out = I420Frame::black(2, 2);
        scale_i420(&src, 2, 2, &mut out);
        assert_eq!((out.width, out.height), (2, 2));
        assert_eq!(out.y, vec![0, 2, 8, 10]);
        assert_eq!(out.u.len(), 1);
    }
}
