//! Pictures and files in messages: uploads (checked against the per-file and
//! daily limits before anything is stored, pictures decoded under limits and
//! stored without metadata), downloads (by signed link, or by token for
//! anyone who can see the message), and the attachments a message takes.
//!
//! An upload is only its uploader's until it is sent, once, within
//! [`SEND_WITHIN_MS`]; uploads never sent, and those of deleted messages, lose
//! their bytes (the [`Attachments::spawn_sweeper`] task, and at once on delete).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use concord_common::{Attachment, AttachmentId, ErrorCode, MessageId, UserId};
use rocket::http::Status;
use sqlx::AnyPool;
use tokio::sync::Semaphore;

use crate::db::attachments::{self, AttachmentRow, Place};
use crate::db::{friends, rooms};
use crate::error::ApiError;
use crate::ids::{now_ms, IdGenerator};
use crate::uploads::{AttachmentLinks, FileStore, LinkFault, Variant};
use concord_pictures::{self as picture, PictureError};

/// An upload can be sent in a message for this long.
pub const SEND_WITHIN_MS: i64 = 3600 * 1000;
/// Uploads count towards the daily limit for this long.
const QUOTA_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// How often uploads never sent are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How a download proves it may see the file.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `expires` and `signature` from a signed link.
    pub link: Option<(u64, String)>,
    /// The token's user.
    pub user: Option<UserId>,
}

/// A file to send back.
#[derive(Debug)]
pub struct Download {
    /// The file's name.
    pub name: String,
    /// The type to serve it as: a picture's own, anything else `application/octet-stream`.
    pub content_type: String,
    /// Shown in the page (a picture) or saved (anything else).
    pub inline: bool,
    /// The file.
    pub bytes: Bytes,
}

/// Uploads, downloads and the attachments of messages.
#[derive(Clone)]
pub struct Attachments {
    pub(super) pool: AnyPool,
    pub(super) ids: Arc<IdGenerator>,
    pub(super) store: FileStore,
    pub(super) links: AttachmentLinks,
    pub(super) max_bytes: u64,
    pub(super) daily_bytes: u64,
    /// Pictures decoded at once (each may take up to 256 MiB).
    pub(super) decoding: Arc<Semaphore>,
}

impl Attachments {
    /// The largest file one upload may be.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Refuses an upload of `declared` bytes (its `Content-Length`, when
    /// sent) before its body is read, when it cannot fit.
    pub async fn admit(&self, me: UserId, declared: Option<u64>) -> Result<(), ApiError> {
        if let Some(size) = declared {
            if size > self.max_bytes {
                return Err(self.too_large());
            }
            if size == 0 {
                return Err(empty());
            }
        }
        self.within_quota(me, declared.unwrap_or(0)).await
    }

    async fn within_quota(&self, me: UserId, adding: u64) -> Result<(), ApiError> {
        let used = attachments::uploaded_since(&self.pool, me, now_ms() - QUOTA_WINDOW_MS).await?;
        if used + adding > self.daily_bytes {
            return Err(ApiError::new(
                Status::PayloadTooLarge,
                ErrorCode::UploadQuota,
                format!(
                    "You can upload {} a day; you have uploaded {} in the last 24 hours.",
                    megabytes(self.daily_bytes),
                    megabytes(used)
                ),
            ));
        }
        Ok(())
    }

    fn too_large(&self) -> ApiError {
        ApiError::new(
            Status::PayloadTooLarge,
            ErrorCode::FileTooLarge,
            format!("Files can be at most {}.", megabytes(self.max_bytes)),
        )
    }

    /// Stores an upload of `me`'s: `bytes` (all of the body, `complete`
    /// false when it was longer than the limit) named `name`.
    pub async fn upload(
        &self,
        me: UserId,
        name: &str,
        declared_type: Option<String>,
        bytes: Vec<u8>,
        complete: bool,
    ) -> Result<Attachment, ApiError> {
        if !complete {
            return Err(self.too_large());
        }
        if bytes.is_empty() {
            return Err(empty());
        }
        let name = concord_common::validate::attachment_name(name).ok_or_else(|| {
            ApiError::new(
                Status::UnprocessableEntity,
                ErrorCode::Validation,
                "Give the file a name (`?name=`).",
            )
            .with_field("name")
        })?;
        self.within_quota(me, bytes.len() as u64).await?;
        let id = AttachmentId(self.ids.next());
        let size = bytes.len() as u64;
        let (content_type, dimensions) = match picture::recognise(&bytes) {
            Some(format) => {
                let picture = {
                    let _permit = self.decoding.acquire().await.map_err(|_| ApiError::internal())?;
                    tokio::task::spawn_blocking(move || picture::process(bytes, format))
                        .await
                        .map_err(|_| ApiError::internal())?
                        .map_err(invalid_picture)?
                };
                self.store_or_forget(id, Variant::Thumbnail, picture.thumbnail).await?;
                self.store_or_forget(id, Variant::File, picture.file).await?;
                (picture.content_type.to_string(), Some((picture.width, picture.height)))
            }
            None => {
                self.store_or_forget(id, Variant::File, bytes).await?;
                let declared = declared_type
                    .map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
                (
                    declared
                        .filter(|t| is_media_type(t))
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    None,
                )
            }
        };
        let row = AttachmentRow {
            id,
            uploader_id: me,
            name,
            size,
            content_type,
            dimensions,
            created_at_ms: now_ms(),
            message_id: None,
        };
        if let Err(e) = attachments::insert(&self.pool, &row).await {
            self.forget_bytes(&[id]).await;
            return Err(e.into());
        }
        Ok(self.view(&row))
    }

    /// Stores `variant` of a new upload `id`; on failure removes what of it
    /// was stored already (a thumbnail without its file).
    async fn store_or_forget(
        &self,
        id: AttachmentId,
        variant: Variant,
        bytes: Vec<u8>,
    ) -> Result<(), ApiError> {
        if let Err(e) = self.store.put(id, variant, bytes).await {
            self.forget_bytes(&[id]).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// `variant` of attachment `id`, for whoever `access` proves they are.
    pub async fn download(
        &self,
        id: AttachmentId,
        variant: Variant,
        access: Access,
    ) -> Result<Download, ApiError> {
        let link = access.link.as_ref().map(|(expires, signature)| {
            self.links.check(id, variant, *expires, signature, now_ms() as u64 / 1000)
        });
        let (row, place) = attachments::located(&self.pool, id).await?.ok_or_else(not_found)?;
        if link != Some(Ok(())) {
            let sees = match access.user {
                Some(user) => self.can_see(user, &row, place).await?,
                None => false,
            };
            if !sees {
                return Err(match (link, access.user) {
                    (Some(Err(LinkFault::Expired)), _) => ApiError::new(
                        Status::Forbidden,
                        ErrorCode::LinkExpired,
                        "This link has expired: load the message again for a fresh one.",
                    ),
                    (None, None) => ApiError::unauthorized(
                        "Use the attachment's signed link, or send `Authorization: Bearer <token>`.",
                    ),
                    _ => not_found(),
                });
            }
        }
        if variant == Variant::Thumbnail && row.dimensions.is_none() {
            return Err(not_found());
        }
        let bytes = self.store.get(id, variant).await?.ok_or_else(not_found)?;
        let picture = row.dimensions.is_some();
        let content_type = match variant {
            Variant::Thumbnail => thumbnail_type(&bytes).into(),
            Variant::File if picture => row.content_type,
            Variant::File => "application/octet-stream".into(),
        };
        Ok(Download { name: row.name, content_type, inline: picture, bytes })
    }

    async fn can_see(&self, user: UserId, row: &AttachmentRow, place: Place) -> Result<bool, ApiError> {
        Ok(match place {
            Place::Unsent => row.uploader_id == user,
            // Former friends no longer see their conversation, nor its files.
            Place::Dm(a, b) => (user == a || user == b) && friends::are_friends(&self.pool, a, b).await?,
            Place::Room(room) => rooms::is_member(&self.pool, room, user).await?,
        })
    }

    /// The attachment as clients see it, with fresh links.
    pub(super) fn view(&self, row: &AttachmentRow) -> Attachment {
        let now = now_ms() as u64 / 1000;
        Attachment {
            id: row.id,
            name: row.name.clone(),
            size: row.size,
            content_type: row.content_type.clone(),
            url: self.links.url(row.id, Variant::File, now),
            width: row.dimensions.map(|(w, _)| w),
            height: row.dimensions.map(|(_, h)| h),
            thumbnail_url: row.dimensions.map(|_| self.links.url(row.id, Variant::Thumbnail, now)),
        }
    }

    /// The attachments of `messages`, by message.
    pub(super) async fn of_messages(
        &self,
        messages: &[MessageId],
    ) -> Result<Vec<(MessageId, Attachment)>, sqlx::Error> {
        let rows = attachments::of_messages(&self.pool, messages).await?;
        Ok(rows.iter().filter_map(|row| row.message_id.map(|m| (m, self.view(row)))).collect())
    }

    /// `me`'s uploads `ids`, checked to be sendable now (in that order).
    pub(super) async fn sendable(
        &self,
        me: UserId,
        ids: &[AttachmentId],
    ) -> Result<Vec<Attachment>, ApiError> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(ApiError::bad_request("The same attachment is named twice."));
        }
        let rows = attachments::unsent(&self.pool, me, ids, now_ms() - SEND_WITHIN_MS).await?;
        if rows.len() != ids.len() {
            return Err(ApiError::new(
                Status::UnprocessableEntity,
                ErrorCode::AttachmentUnavailable,
                "An attachment is not yours, was already sent, or was uploaded over an hour ago: upload it again.",
            ));
        }
        Ok(rows.iter().map(|row| self.view(row)).collect())
    }

    /// Puts `me`'s uploads `ids` into stored message `message`; how many it took.
    pub(super) async fn attach(
        &self,
        me: UserId,
        message: MessageId,
        ids: &[AttachmentId],
    ) -> Result<u64, ApiError> {
        Ok(attachments::claim(&self.pool, message, me, ids).await?)
    }

    /// Removes the bytes of discarded attachments `ids` (failures are logged
    /// and retried by the sweeper a day later).
    pub(super) async fn forget_bytes(&self, ids: &[AttachmentId]) {
        for &id in ids {
            if let Err(e) = self.store.remove(id).await {
                tracing::warn!(error = %e, attachment = %id, "could not remove an attachment's file; retried later");
            }
        }
    }

    /// Starts the task that discards uploads never sent (after an hour) and
    /// forgets discarded ones once they no longer count towards a limit.
    pub fn spawn_sweeper(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = this.sweep().await {
                    tracing::warn!(error = %e, "sweeping old uploads failed; trying again later");
                }
            }
        });
    }

    async fn sweep(&self) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let unsent = attachments::discard_unsent(&self.pool, now - SEND_WITHIN_MS, now).await?;
        self.forget_bytes(&unsent).await;
        let expired = attachments::expired_discards(&self.pool, now - QUOTA_WINDOW_MS).await?;
        self.forget_bytes(&expired).await;
        attachments::forget(&self.pool, &expired).await
    }
}

fn empty() -> ApiError {
    ApiError::new(Status::UnprocessableEntity, ErrorCode::Validation, "The file is empty.").with_field("body")
}

fn not_found() -> ApiError {
    ApiError::new(Status::NotFound, ErrorCode::AttachmentNotFound, "No such attachment.")
}

fn invalid_picture(error: PictureError) -> ApiError {
    ApiError::new(Status::UnprocessableEntity, ErrorCode::InvalidImage, error.to_string())
}

/// `image/png` for a PNG thumbnail, `image/jpeg` otherwise.
fn thumbnail_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// A plausible `type/subtype` (what a declared `Content-Type` must be to be kept).
fn is_media_type(value: &str) -> bool {
    value.len() <= 127
        && value.split_once('/').is_some_and(|(kind, sub)| {
            let token = |s: &str| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            token(kind) && token(sub)
        })
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
