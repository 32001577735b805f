//! Pixel loops: packed RGB-like and YUYV frames to planar I420 (BT.601
//! limited range, what the H.264 encoder takes), I420 back to RGBA, and the
//! PSNR of two frames.
//!
//! All arithmetic is integer fixed-point; the loops walk two rows at a time in
//! 2x2 blocks so each chroma sample is the average of its four pixels. Sizes
//! are checked by the caller (`concord_media::convert`): here `w` and `h` are
//! the even, cropped size and the buffers are long enough.

/// A planar 4:2:0 frame, tightly packed: `y` is `width*height`, `u` and `v`
/// `(width/2)*(height/2)`. `width` and `height` are even.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Luma plane, `width*height` bytes, row after row.
    pub y: Vec<u8>,
    /// Cb plane, `(width/2)*(height/2)` bytes.
    pub u: Vec<u8>,
    /// Cr plane, `(width/2)*(height/2)` bytes.
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black frame: Y=16, U=V=128 (BT.601 limited range).
    pub fn black(width: u32, height: u32) -> Self {
        let (luma, chroma) = plane_sizes(width, height);
        Self { width, height, y: vec![16; luma], u: vec![128; chroma], v: vec![128; chroma] }
    }

    /// Sets the size and resizes the planes to match (contents unspecified).
    pub fn reshape(&mut self, width: u32, height: u32) {
        let (luma, chroma) = plane_sizes(width, height);
        self.width = width;
        self.height = height;
        self.y.resize(luma, 16);
        self.u.resize(chroma, 128);
        self.v.resize(chroma, 128);
    }
}

fn plane_sizes(width: u32, height: u32) -> (usize, usize) {
    let (w, h) = (width as usize, height as usize);
    (w * h, (w / 2) * (h / 2))
}

/// BT.601 limited-range luma of one RGB pixel.
#[inline(always)]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    // At most 220 * 255 + 128 = 56228: u16 is enough (and vectorises twice as wide).
    (((66 * r as u16 + 129 * g as u16 + 25 * b as u16 + 128) >> 8) + 16) as u8
}

/// Packed RGB-like pixels (`BPP` bytes, channels at offsets `R`, `G`, `B`) to I420.
/// `w` and `h` are the even, cropped size; `src_width` the source row length in pixels.
///
/// Two simple passes per row pair (luma per row, then chroma per 2x2 block) keep
/// the loops free of bounds checks so the compiler vectorises them.
pub fn packed_to_i420<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    src: &[u8],
    src_width: usize,
    w: usize,
    h: usize,
    out: &mut I420Frame,
) {
    let stride = src_width * BPP;
    let used = w * BPP;
    for (src_pair, y_pair, u_row, v_row) in row_pairs(src, stride, out, w, h) {
        let (s0, s1) = src_pair.split_at(stride);
        let (s0, s1) = (&s0[..used], &s1[..used]);
        let (y0, y1) = y_pair.split_at_mut(w);
        for (src_row, y_row) in [(s0, y0), (s1, y1)] {
            for (y, p) in y_row.iter_mut().zip(src_row.chunks_exact(BPP)) {
                *y = luma(p[R], p[G], p[B]);
            }
        }
        let blocks = s0.chunks_exact(2 * BPP).zip(s1.chunks_exact(2 * BPP)).zip(u_row.iter_mut().zip(v_row));
        for ((top, bottom), (u, v)) in blocks {
            let sum =
                |c: usize| top[c] as i32 + top[BPP + c] as i32 + bottom[c] as i32 + bottom[BPP + c] as i32;
            let (rs, gs, bs) = (sum(R), sum(G), sum(B));
            // The classic formulas on the sum of four pixels: 4x the scale, so >> 10.
            *u = (((-38 * rs - 74 * gs + 112 * bs + 512) >> 10) + 128) as u8;
            *v = (((112 * rs - 94 * gs - 18 * bs + 512) >> 10) + 128) as u8;
        }
    }
}

/// Walks a packed source two rows at a time (`stride` bytes per row) beside
/// the two luma rows and the one chroma row of each plane they become.
fn row_pairs<'a>(
    src: &'a [u8],
    stride: usize,
    out: &'a mut I420Frame,
    w: usize,
    h: usize,
) -> impl Iterator<Item = (&'a [u8], &'a mut [u8], &'a mut [u8], &'a mut [u8])> {
    let cw = w / 2;
    src.chunks_exact(2 * stride)
        .zip(out.y.chunks_exact_mut(2 * w))
        .zip(out.u.chunks_exact_mut(cw))
        .zip(out.v.chunks_exact_mut(cw))
        .take(h / 2)
        .map(|(((src_pair, y_pair), u_row), v_row)| (src_pair, y_pair, u_row, v_row))
}

/// YUYV 4:2:2 to I420: luma copied, chroma averaged over the two rows.
pub fn yuyv_to_i420(src: &[u8], src_width: usize, w: usize, h: usize, out: &mut I420Frame) {
    let stride = src_width.div_ceil(2) * 4;
    let used = w * 2;
    for (src_pair, y_pair, u_row, v_row) in row_pairs(src, stride, out, w, h) {
        let (s0, s1) = src_pair.split_at(stride);
        let (y0, y1) = y_pair.split_at_mut(w);
        let groups = s0[..used]
            .chunks_exact(4)
            .zip(s1[..used].chunks_exact(4))
            .zip(y0.chunks_exact_mut(2))
            .zip(y1.chunks_exact_mut(2))
            .zip(u_row.iter_mut())
            .zip(v_row.iter_mut());
        for (((((top, bottom), ya), yb), u), v) in groups {
            ya[0] = top[0];
            ya[1] = top[2];
            yb[0] = bottom[0];
            yb[1] = bottom[2];
            *u = ((top[1] as u16 + bottom[1] as u16 + 1) >> 1) as u8;
            *v = ((top[3] as u16 + bottom[3] as u16 + 1) >> 1) as u8;
        }
    }
}

/// I420 → RGBA8 (alpha 255), BT.601 limited range; `out` is resized to `width*height*4`.
///
/// A frame whose planes are shorter than its size says leaves the rest of `out` unwritten.
pub fn i420_to_rgba(frame: &I420Frame, out: &mut Vec<u8>) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    out.resize(w * h * 4, 255);
    let cw = w / 2;
    if cw == 0 {
        return;
    }
    let rows = frame
        .y
        .chunks_exact(2 * w)
        .zip(frame.u.chunks_exact(cw))
        .zip(frame.v.chunks_exact(cw))
        .zip(out.chunks_exact_mut(2 * w * 4))
        .take(h / 2);
    for (((y_pair, u_row), v_row), out_pair) in rows {
        let (y0, y1) = y_pair.split_at(w);
        let (o0, o1) = out_pair.split_at_mut(w * 4);
        let blocks = y0
            .chunks_exact(2)
            .zip(y1.chunks_exact(2))
            .zip(u_row.iter().zip(v_row))
            .zip(o0.chunks_exact_mut(8))
            .zip(o1.chunks_exact_mut(8));
        for ((((ya, yb), (&u, &v)), oa), ob) in blocks {
            let d = u as i32 - 128;
            let e = v as i32 - 128;
            let r_add = 409 * e + 128;
            let g_add = -100 * d - 208 * e + 128;
            let b_add = 516 * d + 128;
            put_rgba(&mut oa[..4], ya[0], r_add, g_add, b_add);
            put_rgba(&mut oa[4..], ya[1], r_add, g_add, b_add);
            put_rgba(&mut ob[..4], yb[0], r_add, g_add, b_add);
            put_rgba(&mut ob[4..], yb[1], r_add, g_add, b_add);
        }
    }
}

#[inline(always)]
fn put_rgba(px: &mut [u8], y: u8, r_add: i32, g_add: i32, b_add: i32) {
    let c = 298 * (y as i32 - 16);
    px[0] = ((c + r_add) >> 8).clamp(0, 255) as u8;
    px[1] = ((c + g_add) >> 8).clamp(0, 255) as u8;
    px[2] = ((c + b_add) >> 8).clamp(0, 255) as u8;
    px[3] = 255;
}

/// Peak signal-to-noise ratio over the Y plane, in dB ([`f64::INFINITY`] when identical).
///
/// Frames of different sizes (or with planes that do not match their size) give 0.0.
pub fn psnr_y(a: &I420Frame, b: &I420Frame) -> f64 {
    let n = a.width as usize * a.height as usize;
    if a.width != b.width || a.height != b.height || a.y.len() != n || b.y.len() != n {
        return 0.0;
    }
    let sum_sq: u64 =
        a.y.iter()
            .zip(&b.y)
            .map(|(&p, &q)| {
                let d = p.abs_diff(q) as u32;
                (d * d) as u64
            })
            .sum();
    if sum_sq == 0 {
        return f64::INFINITY;
    }
    let mse = sum_sq as f64 / n as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}
