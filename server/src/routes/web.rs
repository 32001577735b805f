//! The built web client at `/`. `.ci/build-web` puts a content hash in the
//! names of the wasm and JavaScript files and compresses every file once
//! (`NAME.br`, `NAME.gz`); here each request gets the smallest variant its
//! `Accept-Encoding` allows. Hashed files are cached for a year (their name
//! changes with their content); the rest (`index.html`) is revalidated by
//! `ETag`, so a second visit downloads nothing.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rocket::http::{ContentType, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder, Response};
use rocket::State;

/// Where the built web client lives.
pub struct WebRoot(pub PathBuf);

/// What the request says about representations: the encodings it accepts
/// and the `ETag` it already holds.
pub struct Negotiation {
    accept_encoding: String,
    if_none_match: Option<String>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Negotiation {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let headers = request.headers();
        request::Outcome::Success(Negotiation {
            accept_encoding: headers.get("Accept-Encoding").collect::<Vec<_>>().join(","),
            if_none_match: headers.get_one("If-None-Match").map(str::to_owned),
        })
    }
}

impl Negotiation {
    /// Whether `coding` is acceptable (listed, and not with `q=0`).
    fn accepts(&self, coding: &str) -> bool {
        self.accept_encoding.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let name_matches = parts.next().is_some_and(|name| name.eq_ignore_ascii_case(coding));
            let refused =
                parts.any(|p| p.replace(' ', "").trim_start_matches("q=").parse::<f32>() == Ok(0.0));
            name_matches && !refused
        })
    }
}

/// One file of the web client, in the encoding chosen for this request.
pub struct Asset {
    file: Option<rocket::tokio::fs::File>,
    content_type: ContentType,
    encoding: Option<&'static str>,
    cache_control: &'static str,
    etag: String,
}

impl<'r> Responder<'r, 'static> for Asset {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .header(self.content_type)
            .raw_header("Cache-Control", self.cache_control)
            .raw_header("Vary", "Accept-Encoding")
            .raw_header("ETag", self.etag);
        match self.file {
            None => {
                response.status(Status::NotModified);
            }
            Some(file) => {
                if let Some(encoding) = self.encoding {
                    response.raw_header("Content-Encoding", encoding);
                }
                response.sized_body(None, file);
            }
        }
        response.ok()
    }
}

/// `GET /` and every file under the web root (below the API's routes).
#[rocket::get("/<path..>", rank = 20)]
pub async fn asset(path: PathBuf, root: &State<WebRoot>, negotiation: Negotiation) -> Option<Asset> {
    let relative = if path.as_os_str().is_empty() { PathBuf::from("index.html") } else { path };
    let original = root.0.join(&relative);
    let content_type = original
        .extension()
        .and_then(|e| e.to_str())
        .and_then(ContentType::from_extension)
        .unwrap_or(ContentType::Binary);
    let mut chosen = None;
    for (coding, suffix) in [("br", "br"), ("gzip", "gz")] {
        let variant = with_suffix(&original, suffix);
        if negotiation.accepts(coding) && variant.is_file() {
            chosen = Some((variant, Some(coding)));
            break;
        }
    }
    let (file_path, encoding) = match chosen {
        Some(found) => found,
        None if original.is_file() => (original, None),
        None => return None,
    };
    let etag = etag(&file_path, encoding).await?;
    let cache_control =
        if is_content_hashed(&relative) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let unchanged = negotiation
        .if_none_match
        .as_deref()
        .is_some_and(|held| held.split(',').map(str::trim).any(|tag| tag == etag || tag == "*"));
    let file = if unchanged { None } else { Some(rocket::tokio::fs::File::open(&file_path).await.ok()?) };
    Some(Asset { file, content_type, encoding, cache_control, etag })
}

/// `PATH.suffix` (e.g. `concord.js` → `concord.js.br`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A tag that changes whenever the file (or the encoding served) does.
async fn etag(path: &Path, encoding: Option<&str>) -> Option<String> {
    let meta = rocket::tokio::fs::metadata(path).await.ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("\"{:x}-{modified:x}-{}\"", meta.len(), encoding.unwrap_or("identity")))
}

/// Whether the file name carries a content hash (`NAME-0123456789abcdef.EXT`,
/// as `.ci/build-web` writes them).
fn is_content_hashed(path: &Path) -> bool {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { return false };
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(header: &str) -> Negotiation {
        Negotiation { accept_encoding: header.to_owned(), if_none_match: None }
    }

    #[test]
    fn accept_encoding_lists_and_refusals() {
        assert!(accepting("gzip, deflate, br, zstd").accepts("br"));
        assert!(accepting("gzip, deflate, br").accepts("gzip"));
        assert!(!accepting("gzip, deflate").accepts("br"));
        assert!(!accepting("br;q=0, gzip").accepts("br"));
        assert!(accepting("br;q=0.5").accepts("br"));
        assert!(!accepting("").accepts("gzip"));
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_content_hashed(Path::new("concord-0123456789abcdef.js")));
        assert!(is_content_hashed(Path::new("concord_bg-0123456789abcdef.wasm")));
        assert!(!is_content_hashed(Path::new("index.html")));
        assert!(!is_content_hashed(Path::new("concord.js")));
        assert!(!is_content_hashed(Path::new("fonts/emoji-xyz.ttf")));
    }
}
