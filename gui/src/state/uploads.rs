//! Files on their way into a message, and pictures on their way onto the
//! screen. Each conversation's composer holds its uploads (progress, cancel,
//! why one failed) until the message that carries them is sent; a message's
//! pictures are fetched once each, by their link, for the screen to show.

use std::collections::HashMap;

use concord_common::{Attachment, AttachmentId, Conversation as Where, ErrorBody, ServerEvent};

use super::{AppState, Effect};
use crate::net::{Command, FileBytes, NetEvent};

/// A file being uploaded for the next message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The key its network events carry.
    pub key: u64,
    /// Its file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Where it stands.
    pub state: UploadState,
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadState {
    /// On its way.
    Sending,
    /// Stored: goes with the next message.
    Ready(Attachment),
    /// Refused or cut off, and why.
    Failed(String),
}

/// What is known of a picture's bytes (by its link without the signature).
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    /// Asked for.
    Loading,
    /// Here.
    Loaded(FileBytes),
    /// Could not be fetched, and why.
    Failed(String),
}

/// The uploads of every composer and the pictures fetched.
#[derive(Debug, Default)]
pub struct Files {
    /// Per conversation, in the order attached.
    pub uploads: HashMap<Where, Vec<Upload>>,
    /// By [`picture_key`].
    pub pictures: HashMap<String, Picture>,
    /// The picture shown large, if any.
    pub viewing: Option<Attachment>,
    next_key: u64,
}

/// The thumbnail links of the pictures in the messages `event` carries.
pub(super) fn thumbnails_in(event: &NetEvent) -> Vec<String> {
    let attachments: Vec<&Attachment> = match event {
        NetEvent::History { page, .. } => page.messages.iter().flat_map(|m| &m.attachments).collect(),
        NetEvent::RoomHistory { page, .. } => page.messages.iter().flat_map(|m| &m.attachments).collect(),
        NetEvent::MessageSent { message, .. } => message.attachments.iter().collect(),
        NetEvent::RoomMessageSent { message, .. } => message.attachments.iter().collect(),
        NetEvent::Server(ServerEvent::MessageCreated(created)) => {
            created.message.attachments.iter().collect()
        }
        NetEvent::Server(ServerEvent::RoomMessageCreated(created)) => {
            created.message.attachments.iter().collect()
        }
        _ => Vec::new(),
    };
    attachments.into_iter().filter_map(|a| a.thumbnail_url.clone()).collect()
}

/// A picture's link without what changes when it is signed again.
pub fn picture_key(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The type to upload a file as, from its name (the server recognises
/// pictures by their bytes whatever this says).
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" | "md" | "log" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

impl AppState {
    /// Starts uploading a file for the next message of `conversation` (the
    /// Attach button, a file dropped on the window, a pasted picture).
    pub fn attach_file(&mut self, conversation: Where, name: String, bytes: Vec<u8>) -> Vec<Effect> {
        let files = &mut self.files;
        files.next_key += 1;
        let key = files.next_key;
        files.uploads.entry(conversation).or_default().push(Upload {
            key,
            name: name.clone(),
            size: bytes.len() as u64,
            sent: 0,
            state: UploadState::Sending,
        });
        let content_type = content_type(&name).to_owned();
        vec![Command::Upload { key, name, content_type, bytes: FileBytes::new(bytes) }.into()]
    }

    /// Takes an upload out of the composer (stopping it if under way).
    pub fn remove_upload(&mut self, conversation: Where, key: u64) -> Vec<Effect> {
        let Some(uploads) = self.files.uploads.get_mut(&conversation) else { return vec![] };
        let Some(index) = uploads.iter().position(|u| u.key == key) else { return vec![] };
        let removed = uploads.remove(index);
        match removed.state {
            UploadState::Sending => vec![Command::CancelUpload { key }.into()],
            _ => vec![],
        }
    }

    /// The uploads of `conversation` (empty when none).
    pub fn uploads(&self, conversation: Where) -> &[Upload] {
        self.files.uploads.get(&conversation).map(Vec::as_slice).unwrap_or_default()
    }

    /// The stored uploads to send with the next message of `conversation`,
    /// taken out of its composer; or why the message must wait.
    pub(super) fn take_attachments(&mut self, conversation: Where) -> Result<Vec<AttachmentId>, String> {
        let uploads = self.files.uploads.entry(conversation).or_default();
        if uploads.iter().any(|u| u.state == UploadState::Sending) {
            return Err("Wait for the files to finish uploading.".into());
        }
        if uploads.iter().any(|u| matches!(u.state, UploadState::Failed(_))) {
            return Err("A file could not be uploaded: remove it (×) or attach it again.".into());
        }
        Ok(uploads
            .drain(..)
            .filter_map(|u| match u.state {
                UploadState::Ready(attachment) => Some(attachment.id),
                _ => None,
            })
            .collect())
    }

    fn upload_mut(&mut self, key: u64) -> Option<&mut Upload> {
        self.files.uploads.values_mut().flat_map(|u| u.iter_mut()).find(|u| u.key == key)
    }

    pub(super) fn on_upload_progress(&mut self, key: u64, sent: u64) {
        if let Some(upload) = self.upload_mut(key) {
            upload.sent = upload.sent.max(sent);
        }
    }

    pub(super) fn on_uploaded(&mut self, key: u64, attachment: Attachment) {
        if let Some(upload) = self.upload_mut(key) {
            upload.sent = upload.size;
            upload.state = UploadState::Ready(attachment);
        }
    }

    pub(super) fn on_upload_failed(&mut self, key: u64, error: ErrorBody) {
        if let Some(upload) = self.upload_mut(key) {
            upload.state = UploadState::Failed(error.message);
        }
    }

    /// The picture behind `url` if fetched; asks for it the first time.
    pub fn want_picture(&mut self, url: &str) -> (Option<&Picture>, Vec<Effect>) {
        let key = picture_key(url);
        if self.files.pictures.contains_key(key) {
            return (self.files.pictures.get(key), vec![]);
        }
        self.files.pictures.insert(key.to_owned(), Picture::Loading);
        (self.files.pictures.get(key), vec![Command::FetchAttachment { url: url.to_owned() }.into()])
    }

    pub(super) fn on_attachment_fetched(&mut self, url: &str, bytes: Result<FileBytes, String>) {
        let picture = match bytes {
            Ok(bytes) => Picture::Loaded(bytes),
            Err(error) => Picture::Failed(error),
        };
        self.files.pictures.insert(picture_key(url).to_owned(), picture);
    }

    /// Shows `attachment` (a picture) large, or closes the view (`None`).
    pub fn view_picture(&mut self, attachment: Option<Attachment>) -> Vec<Effect> {
        let effects = match &attachment {
            Some(picture) => self.want_picture(&picture.url).1,
            None => vec![],
        };
        self.files.viewing = attachment;
        effects
    }
}
