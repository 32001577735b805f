//! Pictures and files: `POST /api/attachments?name=` (the file as the raw
//! body) and `GET /api/attachments/{id}` (and `/thumbnail`) by signed link or
//! token.

use concord_common::{Attachment, AttachmentId, ErrorResponse};
use rocket::data::{ByteUnit, Data};
use rocket::http::{Header, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, status, Responder, Response};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};
use tokio::io::AsyncReadExt;

use super::path_id;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::attachments::{Access, Download};
use crate::services::Attachments;
use crate::uploads::Variant;

pub fn routes() -> Vec<Route> {
    routes![upload, download, thumbnail]
}

/// An upload's `Content-Length` and `Content-Type`, as sent, and whether
/// the client waits for `100 Continue` before it sends the body.
pub struct UploadHeaders {
    length: Option<u64>,
    content_type: Option<String>,
    expects_continue: bool,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for UploadHeaders {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let headers = request.headers();
        request::Outcome::Success(UploadHeaders {
            length: headers.get_one("Content-Length").and_then(|v| v.trim().parse().ok()),
            content_type: headers.get_one("Content-Type").map(str::to_string),
            expects_continue: headers
                .get_one("Expect")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue")),
        })
    }
}

/// Upload a picture or file, to send in a message within the hour.
#[utoipa::path(post, path = "/api/attachments", tag = "attachments",
    params(("name" = String, Query, description = "The file's name (folders are dropped), e.g. `cat.png`.")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes; its `Content-Type` is kept for files that are not pictures."),
    responses(
        (status = 201, description = "Stored. Pictures (PNG, JPEG, GIF, WebP, recognised by their bytes) carry `width`, `height` and `thumbnail_url`, and are stored without their metadata.", body = Attachment),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 413, description = "Larger than the per-file limit (`file_too_large`), or past the daily limit (`upload_quota`); nothing was stored.", body = ErrorResponse),
        (status = 422, description = "No name or an empty file (`validation`), or a picture that cannot be read: damaged, cut short or too large to decode (`invalid_image`).", body = ErrorResponse),
    ))]
#[post("/attachments?<name>", data = "<body>")]
pub(crate) async fn upload(
    files: &State<Attachments>,
    auth: AuthUser,
    name: Option<&str>,
    headers: UploadHeaders,
    body: Data<'_>,
) -> Result<status::Created<Json<Attachment>>, ApiError> {
    let limit = files.max_bytes();
    // A refused body is still read (and dropped), up to twice the limit, before
    // the answer: a client that sends its whole body before it reads then gets
    // the error instead of a reset connection (a "lingering close"). One that
    // asked to wait for `100 Continue` has sent nothing: it is answered at once.
    let mut stream = body.open(ByteUnit::from(limit.saturating_mul(2).max(limit + 1)));
    let linger = !headers.expects_continue;
    if let Err(refused) = files.admit(auth.0, headers.length).await {
        drain(&mut stream, linger).await;
        return Err(refused);
    }
    let mut bytes = Vec::new();
    (&mut stream)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| ApiError::bad_request("The upload could not be read to its end."))?;
    let complete = bytes.len() as u64 <= limit;
    if !complete {
        drain(&mut stream, linger).await;
        bytes = Vec::new();
    }
    let attachment =
        files.upload(auth.0, name.unwrap_or_default(), headers.content_type, bytes, complete).await?;
    let location = attachment.url.clone();
    Ok(status::Created::new(location).body(Json(attachment)))
}

/// Reads and drops what is left of a refused upload (when `linger`).
async fn drain(stream: &mut rocket::data::DataStream<'_>, linger: bool) {
    if linger {
        let _ = tokio::io::copy(stream, &mut tokio::io::sink()).await;
    }
}

/// Download an attachment.
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "attachments",
    params(
        ("id" = AttachmentId, Path, description = "The attachment."),
        ("expires" = Option<u64>, Query, description = "From its signed `url`."),
        ("signature" = Option<String>, Query, description = "From its signed `url`."),
    ),
    responses(
        (status = 200, description = "The bytes. Pictures are served as themselves (`Content-Disposition: inline`), anything else as `application/octet-stream` to save (`attachment`, with the file's name).", content_type = "application/octet-stream"),
        (status = 401, description = "Neither a signed link nor a token.", body = ErrorResponse),
        (status = 403, description = "A genuine link past its expiry, and no token of someone who can see it (`link_expired`).", body = ErrorResponse),
        (status = 404, description = "No such attachment, or not one you can see (`attachment_not_found`).", body = ErrorResponse),
    ))]
#[get("/attachments/<id>?<expires>&<signature>")]
pub(crate) async fn download(
    files: &State<Attachments>,
    user: Option<AuthUser>,
    id: &str,
    expires: Option<u64>,
    signature: Option<&str>,
) -> Result<FileResponse, ApiError> {
    fetch(files, user, id, Variant::File, expires, signature).await
}

/// Download a picture's thumbnail (at most 400 × 400, JPEG or PNG).
#[utoipa::path(get, path = "/api/attachments/{id}/thumbnail", tag = "attachments",
    params(
        ("id" = AttachmentId, Path, description = "The picture."),
        ("expires" = Option<u64>, Query, description = "From its signed `thumbnail_url`."),
        ("signature" = Option<String>, Query, description = "From its signed `thumbnail_url`."),
    ),
    responses(
        (status = 200, description = "The thumbnail.", content_type = "image/jpeg"),
        (status = 401, description = "Neither a signed link nor a token.", body = ErrorResponse),
        (status = 403, description = "An expired link (`link_expired`).", body = ErrorResponse),
        (status = 404, description = "No such picture, or not one you can see (`attachment_not_found`).", body = ErrorResponse),
    ))]
#[get("/attachments/<id>/thumbnail?<expires>&<signature>")]
pub(crate) async fn thumbnail(
    files: &State<Attachments>,
    user: Option<AuthUser>,
    id: &str,
    expires: Option<u64>,
    signature: Option<&str>,
) -> Result<FileResponse, ApiError> {
    fetch(files, user, id, Variant::Thumbnail, expires, signature).await
}

async fn fetch(
    files: &Attachments,
    user: Option<AuthUser>,
    id: &str,
    variant: Variant,
    expires: Option<u64>,
    signature: Option<&str>,
) -> Result<FileResponse, ApiError> {
    let id: AttachmentId = path_id(id, "attachment")?;
    let access = Access { link: expires.zip(signature.map(str::to_string)), user: user.map(|u| u.0) };
    Ok(FileResponse(files.download(id, variant, access).await?))
}

/// A downloaded file, with the headers that keep a browser from running it.
pub struct FileResponse(Download);

impl<'r> Responder<'r, 'static> for FileResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let Download { name, content_type, inline, bytes } = self.0;
        let disposition = format!(
            "{}; filename*=UTF-8''{}",
            if inline { "inline" } else { "attachment" },
            percent_encode(&name)
        );
        Response::build()
            .status(Status::Ok)
            .raw_header("Content-Type", content_type)
            .header(Header::new("Content-Disposition", disposition))
            .header(Header::new("X-Content-Type-Options", "nosniff"))
            .header(Header::new("Content-Security-Policy", "default-src 'none'; sandbox"))
            .header(Header::new("Cache-Control", "private, max-age=3600"))
            .sized_body(bytes.len(), std::io::Cursor::new(bytes))
            .ok()
    }
}

/// RFC 5987 encoding of a file name: everything but unreserved ASCII as `%XX`.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
