//! Pictures and files: a message's pictures drawn from their thumbnails
//! (click for the picture large) and its other files as cards with a
//! download link; the uploads waiting in a composer (progress, ×); and the
//! ways files come in — the Attach button, files dropped on the window and
//! pictures pasted (Ctrl+V), each meant for the conversation open then.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use concord_common::{Attachment, Conversation};
use egui::RichText;

use super::tokens::{self, space};
use crate::state::{picture_key, AppState, Effect, Picture, Upload, UploadState};

/// A thumbnail is drawn within this box.
const THUMBNAIL_BOX: egui::Vec2 = egui::vec2(320.0, 240.0);

/// A message's attachments; the picture clicked, to show large.
pub fn attachments_ui(
    ui: &mut egui::Ui,
    attachments: &[Attachment],
    pictures: &HashMap<String, Picture>,
    server: &str,
) -> Option<Attachment> {
    let mut clicked = None;
    for attachment in attachments {
        match (&attachment.thumbnail_url, attachment.width.zip(attachment.height)) {
            (Some(thumbnail), Some(size)) => {
                if picture_ui(ui, attachment, thumbnail, size, pictures) {
                    clicked = Some(attachment.clone());
                }
            }
            _ => file_card_ui(ui, attachment, server),
        }
    }
    clicked
}

/// The size a `width` × `height` picture is drawn at within `bounds`.
fn fit(width: u32, height: u32, bounds: egui::Vec2) -> egui::Vec2 {
    let size = egui::vec2(width.max(1) as f32, height.max(1) as f32);
    let scale = (bounds.x / size.x).min(bounds.y / size.y).min(1.0);
    size * scale
}

/// One picture's thumbnail (a placeholder of its size until it arrives);
/// whether it was clicked.
fn picture_ui(
    ui: &mut egui::Ui,
    attachment: &Attachment,
    thumbnail: &str,
    (width, height): (u32, u32),
    pictures: &HashMap<String, Picture>,
) -> bool {
    let palette = tokens::palette(ui);
    let shown = fit(width, height, THUMBNAIL_BOX);
    let texture = match pictures.get(picture_key(thumbnail)) {
        Some(Picture::Loaded(bytes)) => texture(ui.ctx(), picture_key(thumbnail), &bytes.0),
        _ => None,
    };
    let response = match texture {
        Some(texture) => ui.add(
            egui::Image::new(&texture)
                .fit_to_exact_size(shown)
                .corner_radius(tokens::radius::M)
                .sense(egui::Sense::click()),
        ),
        None => {
            let (rect, response) = ui.allocate_exact_size(shown, egui::Sense::click());
            ui.painter().rect_filled(rect, tokens::radius::M, palette.hover);
            let failed = matches!(pictures.get(picture_key(thumbnail)), Some(Picture::Failed(_)));
            let text = if failed { "Picture unavailable" } else { "Loading picture…" };
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(tokens::text::SMALL),
                palette.text_muted,
            );
            response
        }
    };
    let response = response.on_hover_text(format!("{} — click to view", attachment.name));
    super::named(response, &format!("Picture {}", attachment.name)).clicked()
}

/// A file that is not a picture: its name, size and a download link.
fn file_card_ui(ui: &mut egui::Ui, attachment: &Attachment, server: &str) {
    let palette = tokens::palette(ui);
    egui::Frame::new()
        .fill(palette.surface)
        .stroke(egui::Stroke::new(1.0, palette.border))
        .corner_radius(tokens::radius::M)
        .inner_margin(space::S)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(&attachment.name).strong());
                ui.label(RichText::new(human_size(attachment.size)).small().color(palette.text_muted));
                let link = ui.hyperlink_to("Download", format!("{server}{}", attachment.url));
                super::named(link, &format!("Download {}", attachment.name));
            });
        });
}

/// `1.4 MB`, `820 KB`, `12 B`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1_000_000.0),
        b if b >= 1_000 => format!("{} KB", b / 1_000),
        b => format!("{b} B"),
    }
}

/// The texture of picture `key` made from `bytes` (PNG or JPEG), made once
/// and kept; `None` when the bytes are not a picture this app reads.
fn texture(ctx: &egui::Context, key: &str, bytes: &[u8]) -> Option<egui::TextureHandle> {
    let id = egui::Id::unique(("picture", key));
    if let Some(made) = ctx.data(|d| d.get_temp::<Option<egui::TextureHandle>>(id)) {
        return made;
    }
    let made = decode(bytes).map(|image| ctx.load_texture(key, image, egui::TextureOptions::LINEAR));
    ctx.data_mut(|d| d.insert_temp(id, made.clone()));
    made
}

fn decode(bytes: &[u8]) -> Option<egui::ColorImage> {
    let format = match image::guess_format(bytes).ok()? {
        format @ (image::ImageFormat::Png | image::ImageFormat::Jpeg) => format,
        _ => return None,
    };
    let picture = image::load_from_memory_with_format(bytes, format).ok()?.to_rgba8();
    let size = [picture.width() as usize, picture.height() as usize];
    Some(egui::ColorImage::from_rgba_unmultiplied(size, picture.as_raw()))
}

/// The uploads waiting in a composer; the one whose × was clicked.
pub fn uploads_ui(ui: &mut egui::Ui, uploads: &[Upload]) -> Option<u64> {
    let palette = tokens::palette(ui);
    let mut remove = None;
    ui.horizontal_wrapped(|ui| {
        for upload in uploads {
            egui::Frame::new()
                .fill(palette.surface)
                .stroke(egui::Stroke::new(1.0, palette.border))
                .corner_radius(tokens::radius::S)
                .inner_margin(egui::Margin::symmetric(space::S as i8, space::XS as i8))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(&upload.name).small());
                        match &upload.state {
                            UploadState::Sending => {
                                let done = upload.sent as f32 / upload.size.max(1) as f32;
                                let bar = egui::ProgressBar::new(done).desired_width(80.0).show_percentage();
                                ui.add(bar).on_hover_text(format!(
                                    "{} of {}",
                                    human_size(upload.sent),
                                    human_size(upload.size)
                                ));
                            }
                            UploadState::Ready(_) => {
                                ui.label(
                                    RichText::new(human_size(upload.size)).small().color(palette.text_muted),
                                );
                            }
                            UploadState::Failed(why) => {
                                ui.label(RichText::new(why).small().color(palette.error));
                            }
                        }
                        let verb = if upload.state == UploadState::Sending {
                            "Cancel upload"
                        } else {
                            "Remove file"
                        };
                        let close = ui.small_button(super::icons::X).on_hover_text(verb);
                        if super::named(close, &format!("{verb} {}", upload.name)).clicked() {
                            remove = Some(upload.key);
                        }
                    });
                });
        }
    });
    remove
}

/// A file that came in from outside the app, for a conversation.
pub struct IncomingFile {
    pub place: Conversation,
    pub name: String,
    pub bytes: Result<Vec<u8>, String>,
}

/// Files read off the UI thread (the file dialog, dropped files in the
/// browser), waiting for the next frame.
#[derive(Clone)]
struct Inbox {
    sender: mpsc::Sender<IncomingFile>,
    receiver: Arc<std::sync::Mutex<mpsc::Receiver<IncomingFile>>>,
}

fn inbox(ctx: &egui::Context) -> Inbox {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_insert_with(egui::Id::unique("incoming files"), || {
            let (sender, receiver) = mpsc::channel();
            Inbox { sender, receiver: Arc::new(std::sync::Mutex::new(receiver)) }
        })
        .clone()
    })
}

/// Opens the file dialog for `place`; what is picked arrives with a later frame.
fn pick_files(ctx: &egui::Context, place: Conversation) {
    let sender = inbox(ctx).sender;
    let ctx = ctx.clone();
    let picked = async move {
        let Some(files) = rfd::AsyncFileDialog::new().set_title("Attach files").pick_files().await else {
            return;
        };
        for file in files {
            let bytes = Ok(file.read().await);
            let _ = sender.send(IncomingFile { place, name: file.file_name(), bytes });
        }
        ctx.request_repaint();
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = std::thread::Builder::new().name("file-dialog".into()).spawn(move || pollster::block_on(picked));
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_futures::spawn_local(picked);
}

/// Where pictures pasted in the browser wait for the open composer.
#[cfg(target_arch = "wasm32")]
fn browser_pastes() -> egui::Id {
    egui::Id::unique("pictures pasted in the browser")
}

/// A picture pasted on the page (read by `web.rs`'s paste listener): the
/// open conversation's composer takes it on the next frame.
#[cfg(target_arch = "wasm32")]
pub fn paste_in_browser(ctx: &egui::Context, name: String, bytes: Result<Vec<u8>, String>) {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<Vec<(String, Result<Vec<u8>, String>)>>(browser_pastes())
            .push((name, bytes))
    });
    ctx.request_repaint();
}

/// The files dropped on the window and the pictures pasted this frame, for
/// `place` (the conversation open); a picture pasted is sent as a PNG.
fn take_dropped_and_pasted(ui: &egui::Ui, place: Conversation) {
    let (dropped, pasted) = ui.input(|i| {
        let pasted: Vec<Arc<egui::ColorImage>> = i
            .events
            .iter()
            .filter_map(|e| match e {
                egui::Event::PasteImage(image) => Some(image.clone()),
                _ => None,
            })
            .collect();
        (i.raw.dropped_files.clone(), pasted)
    });
    let sender = inbox(ui.ctx()).sender;
    #[cfg(target_arch = "wasm32")]
    for (name, bytes) in ui.ctx().data_mut(|d| {
        std::mem::take(d.get_temp_mut_or_default::<Vec<(String, Result<Vec<u8>, String>)>>(browser_pastes()))
    }) {
        let _ = sender.send(IncomingFile { place, name, bytes });
    }
    for (n, image) in pasted.into_iter().enumerate() {
        let name = if n == 0 { "pasted.png".to_owned() } else { format!("pasted-{}.png", n + 1) };
        let _ = sender.send(IncomingFile { place, name, bytes: encode_png(&image) });
    }
    for file in dropped {
        let name = file.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        #[cfg(not(target_arch = "wasm32"))]
        let _ = sender.send(IncomingFile { place, name, bytes: file.bytes() });
        #[cfg(target_arch = "wasm32")]
        {
            let sender = sender.clone();
            let ctx = ui.ctx().clone();
            wasm_bindgen_futures::spawn_local(async move {
                let bytes = file.bytes_async().await;
                let _ = sender.send(IncomingFile { place, name, bytes });
                ctx.request_repaint();
            });
        }
    }
}

fn encode_png(image: &egui::ColorImage) -> Result<Vec<u8>, String> {
    let [width, height] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_srgba_unmultiplied()).collect();
    let picture = image::RgbaImage::from_raw(width as u32, height as u32, rgba)
        .ok_or_else(|| "the pasted picture is malformed".to_owned())?;
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// What a composer's files asked for this frame: an upload removed, the
/// file dialog, files dropped on the window or a picture pasted (for
/// `place`, whose name `target` the drop hint shows).
pub(super) fn composer_files(
    ui: &egui::Ui,
    state: &mut AppState,
    place: Conversation,
    input: &super::conversation::ComposerInput,
    target: &str,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    if let Some(key) = input.remove_upload {
        effects.extend(state.remove_upload(place, key));
    }
    if input.attach {
        pick_files(ui.ctx(), place);
    }
    if input.emoji {
        state.open_emoji_picker(crate::state::PickFor::Composer(place));
    }
    take_dropped_and_pasted(ui, place);
    drop_hint_ui(ui, target);
    effects
}

/// Hands the files that came in since the last frame to the state.
pub fn deliver_incoming(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    let inbox = inbox(ctx);
    let receiver = inbox.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut effects = Vec::new();
    while let Ok(file) = receiver.try_recv() {
        match file.bytes {
            Ok(bytes) => effects.extend(state.attach_file(file.place, file.name, bytes)),
            Err(why) => state.notice = Some(format!("Could not read {}: {why}", file.name)),
        }
    }
    effects
}

/// While files are dragged over the window: where they will go.
fn drop_hint_ui(ui: &egui::Ui, target: &str) {
    if ui.input(|i| i.raw.hovered_files.is_empty()) {
        return;
    }
    let palette = tokens::palette(ui);
    let rect = ui.max_rect();
    let painter =
        ui.ctx().layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop hint")));
    painter.rect_filled(rect, tokens::radius::M, palette.panel.gamma_multiply(0.9));
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        format!("Drop to send to {target}"),
        egui::FontId::proportional(tokens::text::HEADING),
        palette.text,
    );
}

/// The picture being viewed, large, over everything (Esc or × closes it).
pub fn picture_viewer_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    let Some(picture) = state.files.viewing.clone() else { return vec![] };
    let server = state.persisted.server_url.clone();
    let mut close = false;
    let available = ctx.content_rect().size() * 0.85;
    let original = state.files.pictures.get(picture_key(&picture.url)).cloned();
    let thumbnail =
        picture.thumbnail_url.as_deref().and_then(|t| state.files.pictures.get(picture_key(t)).cloned());
    let modal = egui::Modal::new(egui::Id::unique("picture viewer")).show(ctx, |ui| {
        ui.horizontal(|ui| {
            ui.label(RichText::new(&picture.name).strong());
            ui.hyperlink_to("Open original", format!("{server}{}", picture.url));
            if super::named(ui.small_button(super::icons::X), "Close picture").clicked() {
                close = true;
            }
        });
        let size =
            fit(picture.width.unwrap_or(1), picture.height.unwrap_or(1), available - egui::vec2(0.0, 40.0));
        // The original when it is a PNG or JPEG and here; its thumbnail meanwhile.
        let shown = [
            (picture.url.as_str(), original),
            (picture.thumbnail_url.as_deref().unwrap_or_default(), thumbnail),
        ]
        .into_iter()
        .find_map(|(url, loaded)| match loaded {
            Some(Picture::Loaded(bytes)) => texture(ui.ctx(), picture_key(url), &bytes.0),
            _ => None,
        });
        match shown {
            Some(texture) => {
                ui.add(egui::Image::new(&texture).fit_to_exact_size(size));
            }
            None => {
                ui.add_sized(size, egui::Spinner::new());
            }
        }
    });
    // Esc, or a click beside the picture.
    close |= modal.should_close();
    if close {
        return state.view_picture(None);
    }
    vec![]
}
