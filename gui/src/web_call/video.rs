//! Video in the browser's call view without copying frames through
//! JavaScript: each video track plays in a hidden `<video>` element, and
//! a tile is an egui paint callback that uploads the element's current
//! frame straight into a WebGL texture (`texImage2D` from the element, a
//! copy on the GPU side) and draws it with a small shader of ours.
//!
//! The element's `requestVideoFrameCallback` marks a new frame and asks
//! egui to repaint, so the UI draws at the sender's frame rate and uploads
//! each frame once. Elements live in a registry on the page's one thread;
//! tiles name them by key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{HtmlVideoElement, MediaStream, MediaStreamTrack, WebGl2RenderingContext as Gl};

/// Names one registered video.
pub type VideoKey = u64;

/// `requestVideoFrameCallback`'s closure, kept where it can ask for the next frame.
type FrameSlot = Rc<RefCell<Option<Closure<dyn FnMut(JsValue, JsValue)>>>>;

/// The shape a tile assumes until the first frame says otherwise.
const DEFAULT_SIZE: egui::Vec2 = egui::vec2(1280.0, 720.0);

struct Video {
    element: HtmlVideoElement,
    texture: Option<web_sys::WebGlTexture>,
    /// A frame arrived since the last upload.
    fresh: Rc<RefCell<bool>>,
    /// Frames presented so far (for the stats overlay's picture rate).
    presented: Rc<RefCell<u64>>,
    /// Keeps `requestVideoFrameCallback`'s closure alive.
    _on_frame: FrameSlot,
    /// Without `requestVideoFrameCallback` (an older browser) every paint
    /// uploads, and the tile repaints itself at [`FALLBACK_FPS`].
    unwatched: Option<egui::Context>,
}

/// Repaints per second of a tile whose browser cannot say when a frame arrives.
const FALLBACK_FPS: f32 = 30.0;

thread_local! {
    static VIDEOS: RefCell<HashMap<VideoKey, Video>> = RefCell::new(HashMap::new());
    static NEXT_KEY: RefCell<VideoKey> = const { RefCell::new(1) };
    static DRAWER: RefCell<Option<Result<Drawer, String>>> = const { RefCell::new(None) };
}

/// Plays `track` in a new hidden element; `ctx` repaints at each frame.
pub fn show(track: &MediaStreamTrack, ctx: &egui::Context) -> Result<VideoKey, JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let element: HtmlVideoElement = document.create_element("video")?.dyn_into()?;
    element.set_muted(true);
    element.set_autoplay(true);
    element.set_attribute("playsinline", "")?;
    // Off-screen but laid out: some browsers stop decoding a display:none video.
    element.set_attribute(
        "style",
        "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0;pointer-events:none",
    )?;
    let stream = MediaStream::new_with_tracks(&js_sys::Array::of1(track))?;
    element.set_src_object(Some(&stream));
    document.body().ok_or("no body")?.append_child(&element)?;
    let _ = element.play();
    let fresh = Rc::new(RefCell::new(false));
    let presented = Rc::new(RefCell::new(0));
    let on_frame = Rc::new(RefCell::new(None));
    let watched =
        watch_frames(&element, ctx.clone(), Rc::clone(&fresh), Rc::clone(&presented), Rc::clone(&on_frame));
    let key = NEXT_KEY.with(|next| {
        let mut next = next.borrow_mut();
        *next += 1;
        *next - 1
    });
    let unwatched = (!watched).then(|| ctx.clone());
    let video = Video { element, texture: None, fresh, presented, _on_frame: on_frame, unwatched };
    VIDEOS.with(|videos| videos.borrow_mut().insert(key, video));
    Ok(key)
}

/// Marks each new frame of `element` and repaints, for as long as the
/// element plays (`requestVideoFrameCallback`, asked again every frame);
/// `false` if this browser cannot.
fn watch_frames(
    element: &HtmlVideoElement,
    ctx: egui::Context,
    fresh: Rc<RefCell<bool>>,
    presented: Rc<RefCell<u64>>,
    slot: FrameSlot,
) -> bool {
    let Ok(request) = js_sys::Reflect::get(element, &"requestVideoFrameCallback".into()) else {
        return false;
    };
    let Some(request) = request.dyn_ref::<js_sys::Function>().cloned() else { return false };
    let first = request.clone();
    let again = Rc::clone(&slot);
    let target = element.clone();
    let closure = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_now: JsValue, _metadata: JsValue| {
        *fresh.borrow_mut() = true;
        *presented.borrow_mut() += 1;
        ctx.request_repaint();
        if let Some(callback) = again.borrow().as_ref() {
            let _ = request.call1(&target, callback.as_ref());
        }
    });
    let _ = first.call1(element, closure.as_ref());
    *slot.borrow_mut() = Some(closure);
    true
}

/// Stops showing `key` (its element leaves the page; its texture is freed).
pub fn remove(key: VideoKey) {
    let Some(video) = VIDEOS.with(|videos| videos.borrow_mut().remove(&key)) else { return };
    video._on_frame.borrow_mut().take();
    video.element.set_src_object(None);
    video.element.remove();
    if let Some(texture) = video.texture {
        with_drawer(|drawer| drawer.gl.delete_texture(Some(&texture)));
    }
}

/// The picture's size in pixels (16:9 until the first frame).
pub fn size(key: VideoKey) -> egui::Vec2 {
    VIDEOS
        .with(|videos| {
            videos.borrow().get(&key).and_then(|v| {
                let (w, h) = (v.element.video_width(), v.element.video_height());
                (w > 0 && h > 0).then(|| egui::vec2(w as f32, h as f32))
            })
        })
        .unwrap_or(DEFAULT_SIZE)
}

/// Frames `key` has presented so far.
pub fn frames_presented(key: VideoKey) -> u64 {
    VIDEOS.with(|videos| videos.borrow().get(&key).map_or(0, |v| *v.presented.borrow()))
}

/// A paint callback that draws `key`'s current frame into `rect`.
pub fn paint_callback(key: VideoKey, rect: egui::Rect) -> egui::PaintCallback {
    egui::PaintCallback {
        rect,
        callback: std::sync::Arc::new(eframe::egui_glow::CallbackFn::new(move |info, _painter| {
            let viewport = info.viewport_in_pixels();
            let clip = info.clip_rect_in_pixels();
            with_drawer(|drawer| {
                VIDEOS.with(|videos| {
                    if let Some(video) = videos.borrow_mut().get_mut(&key) {
                        drawer.draw(
                            video,
                            [
                                viewport.left_px,
                                viewport.from_bottom_px,
                                viewport.width_px,
                                viewport.height_px,
                            ],
                            [clip.left_px, clip.from_bottom_px, clip.width_px, clip.height_px],
                        );
                    }
                });
            });
        })),
    }
}

/// Runs `draw` with the page's WebGL 2 context and our shader, made on
/// first use (a page without WebGL 2 shows the avatar frame instead, once
/// said in the console).
fn with_drawer(draw: impl FnOnce(&Drawer)) {
    DRAWER.with(|slot| {
        let mut slot = slot.borrow_mut();
        let made = slot.get_or_insert_with(|| {
            let made = Drawer::new();
            if let Err(error) = &made {
                web_sys::console::warn_1(&format!("concord: remote video cannot be drawn: {error}").into());
            }
            made
        });
        if let Ok(drawer) = made {
            draw(drawer);
        }
    });
}

/// The page's WebGL 2 context (the one eframe draws with) and a program
/// that draws one texture over the viewport.
struct Drawer {
    gl: Gl,
    program: web_sys::WebGlProgram,
    /// Empty: the quad's corners come from `gl_VertexID`, no buffers read.
    vertex_array: web_sys::WebGlVertexArrayObject,
}

const VERTEX_SHADER: &str = "#version 300 es
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}";

const FRAGMENT_SHADER: &str = "#version 300 es
precision mediump float;
in vec2 v_uv;
uniform sampler2D u_video;
out vec4 color;
void main() {
    color = vec4(texture(u_video, v_uv).rgb, 1.0);
}";

impl Drawer {
    fn new() -> Result<Self, String> {
        let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
        let canvas: web_sys::HtmlCanvasElement = document
            .get_element_by_id(crate::web::CANVAS_ID)
            .ok_or("no canvas")?
            .dyn_into()
            .map_err(|_| "not a canvas")?;
        // The same context eframe made (a canvas has one per kind).
        let gl: Gl = canvas
            .get_context("webgl2")
            .map_err(|e| format!("{e:?}"))?
            .ok_or("the page draws without WebGL 2")?
            .dyn_into()
            .map_err(|_| "not a WebGL 2 context")?;
        let vertex = compile(&gl, Gl::VERTEX_SHADER, VERTEX_SHADER)?;
        let fragment = compile(&gl, Gl::FRAGMENT_SHADER, FRAGMENT_SHADER)?;
        let program = gl.create_program().ok_or("no program")?;
        gl.attach_shader(&program, &vertex);
        gl.attach_shader(&program, &fragment);
        gl.link_program(&program);
        if !gl.get_program_parameter(&program, Gl::LINK_STATUS).as_bool().unwrap_or(false) {
            return Err(gl.get_program_info_log(&program).unwrap_or_default());
        }
        let vertex_array = gl.create_vertex_array().ok_or("no vertex array")?;
        Ok(Self { gl, program, vertex_array })
    }

    /// Uploads `video`'s frame if a new one arrived, then draws it into
    /// `viewport`, cut to `clip` (both `[x, y from the bottom, w, h]`).
    fn draw(&self, video: &mut Video, viewport: [i32; 4], clip: [i32; 4]) {
        let gl = &self.gl;
        // HAVE_CURRENT_DATA: a frame to show.
        if video.element.ready_state() < 2 {
            return;
        }
        let texture = match &video.texture {
            Some(texture) => texture.clone(),
            None => {
                let Some(texture) = gl.create_texture() else { return };
                gl.bind_texture(Gl::TEXTURE_2D, Some(&texture));
                for (name, value) in [
                    (Gl::TEXTURE_MIN_FILTER, Gl::LINEAR),
                    (Gl::TEXTURE_MAG_FILTER, Gl::LINEAR),
                    (Gl::TEXTURE_WRAP_S, Gl::CLAMP_TO_EDGE),
                    (Gl::TEXTURE_WRAP_T, Gl::CLAMP_TO_EDGE),
                ] {
                    gl.tex_parameteri(Gl::TEXTURE_2D, name, value as i32);
                }
                video.texture = Some(texture.clone());
                *video.fresh.borrow_mut() = true;
                texture
            }
        };
        gl.active_texture(Gl::TEXTURE0);
        gl.bind_texture(Gl::TEXTURE_2D, Some(&texture));
        if let Some(ctx) = &video.unwatched {
            *video.fresh.borrow_mut() = true;
            *video.presented.borrow_mut() += 1;
            ctx.request_repaint_after(std::time::Duration::from_secs_f32(1.0 / FALLBACK_FPS));
        }
        if std::mem::take(&mut *video.fresh.borrow_mut()) {
            let uploaded = gl.tex_image_2d_with_u32_and_u32_and_html_video_element(
                Gl::TEXTURE_2D,
                0,
                Gl::RGBA as i32,
                Gl::RGBA,
                Gl::UNSIGNED_BYTE,
                &video.element,
            );
            if uploaded.is_err() {
                return;
            }
        }
        let [x, y, w, h] = viewport;
        gl.viewport(x, y, w, h);
        let [x, y, w, h] = clip;
        gl.enable(Gl::SCISSOR_TEST);
        gl.scissor(x, y, w, h);
        gl.use_program(Some(&self.program));
        gl.uniform1i(gl.get_uniform_location(&self.program, "u_video").as_ref(), 0);
        gl.bind_vertex_array(Some(&self.vertex_array));
        gl.draw_arrays(Gl::TRIANGLE_STRIP, 0, 4);
        // egui restores its own state (program, vertex array, viewport) after a callback.
        gl.bind_vertex_array(None);
    }
}

fn compile(gl: &Gl, kind: u32, source: &str) -> Result<web_sys::WebGlShader, String> {
    let shader = gl.create_shader(kind).ok_or("no shader")?;
    gl.shader_source(&shader, source);
    gl.compile_shader(&shader);
    if gl.get_shader_parameter(&shader, Gl::COMPILE_STATUS).as_bool().unwrap_or(false) {
        Ok(shader)
    } else {
        Err(gl.get_shader_info_log(&shader).unwrap_or_default())
    }
}
