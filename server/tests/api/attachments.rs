//! Pictures and files in messages: uploads within the limits (and refused
//! past them before anything is stored), pictures checked and stripped of
//! their metadata, downloads only for who can see the message (by signed link
//! or token), resends, and what a deleted message leaves behind: nothing.

use std::io::Cursor;

use concord_common::{AttachmentId, ServerEvent};
use concord_server::uploads::{AttachmentLinks, Variant};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{both_databases, Account, TestServer, SECRET};

both_databases!(
    a_picture_reaches_the_room_without_its_metadata_and_only_members_fetch_it,
    a_25_mb_file_downloads_byte_identical_and_a_larger_one_is_refused_before_it_is_stored,
    broken_pictures_get_a_clear_error_and_leave_nothing,
    an_attachment_is_sent_once_by_its_uploader_and_a_resend_is_one_message,
    a_deleted_message_takes_its_files_with_it,
);

both_databases!(with rocket::figment::Figment::new()
    .merge(("upload_max_bytes", "2 MiB"))
    .merge(("upload_daily_bytes", "5 MiB"));
    the_daily_limit_refuses_what_would_pass_it,
);

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// `POST /api/attachments?name=NAME` with `bytes` as the body.
async fn upload(
    server: &TestServer,
    token: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let url = reqwest::Url::parse_with_params(&server.url("/api/attachments"), &[("name", name)]).unwrap();
    let mut request = server.http.post(url).header("Content-Type", content_type).body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn uploaded(
    server: &TestServer,
    who: &Account,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Value {
    let (status, attachment) = upload(server, Some(&who.token), name, content_type, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{attachment}");
    attachment
}

/// `GET` of an attachment link: status, `Content-Type`, `Content-Disposition` and bytes.
async fn fetch(server: &TestServer, url: &str, token: Option<&str>) -> (StatusCode, String, String, Vec<u8>) {
    let mut request = server.http.get(server.url(url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    let (status, content_type, disposition) =
        (response.status(), header("content-type"), header("content-disposition"));
    (status, content_type, disposition, response.bytes().await.unwrap().to_vec())
}

/// A JPEG photo of `width` × `height` with an EXIF segment naming where it was taken.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut jpeg = Cursor::new(Vec::new());
    pixels.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0".to_vec();
    exif.extend_from_slice(b"GPS 48.8566N 2.3522E");
    concord_testkit::pictures::with_app1(&jpeg, &exif)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Files under the server's upload directory.
fn stored_files(server: &TestServer) -> usize {
    let dir = server.data_dir.as_ref().unwrap().join("uploads");
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum()
            })
            .unwrap_or(0)
    }
    count(&dir)
}

async fn a_picture_reaches_the_room_without_its_metadata_and_only_members_fetch_it(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("pics"), 2).await;
    let [owner, member] = [&people[0], &people[1]];
    let stranger = server.register("stranger").await;
    let (mut member_ws, _) = server.connect(member).await;

    let original = photo(800, 600);
    assert!(contains(&original, b"GPS 48.8566N"));
    let attachment = uploaded(&server, owner, "../holiday.jpg", "image/jpeg", original).await;
    assert_eq!(attachment["name"], "holiday.jpg", "folders are dropped: {attachment}");
    assert_eq!(attachment["content_type"], "image/jpeg");
    assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(800), Some(600)));
    let id = attachment["id"].as_str().unwrap().to_string();

    // Before it is sent, only its uploader can fetch it with a token.
    let url = attachment["url"].as_str().unwrap();
    let bare = format!("/api/attachments/{id}");
    assert_eq!(fetch(&server, &bare, Some(&owner.token)).await.0, StatusCode::OK);
    assert_eq!(fetch(&server, &bare, Some(&member.token)).await.0, StatusCode::NOT_FOUND);

    let (status, message) = server
        .post(
            &format!("/api/rooms/{room}/messages"),
            &owner.token,
            json!({"content": "", "nonce": "pic-1", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["attachments"][0]["id"], id.as_str());
    let event = member_ws
        .expect_next("the picture in the room", |e| matches!(e, ServerEvent::RoomMessageCreated(_)))
        .await;
    let ServerEvent::RoomMessageCreated(created) = event else { unreachable!() };
    assert_eq!(created.message.attachments.len(), 1);
    assert_eq!(created.message.attachments[0].id, AttachmentId(id.parse().unwrap()));

    // A member fetches it by its link alone: the picture, without where it was taken.
    let (status, content_type, disposition, kept) = fetch(&server, url, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/jpeg"));
    assert!(disposition.starts_with("inline"), "{disposition}");
    assert!(!contains(&kept, b"GPS 48.8566N"), "the EXIF segment was served");
    let decoded = image::load_from_memory(&kept).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (800, 600));
    let thumbnail_url = created.message.attachments[0].thumbnail_url.clone().unwrap();
    let (status, _, _, thumbnail) = fetch(&server, &thumbnail_url, None).await;
    assert_eq!(status, StatusCode::OK);
    let thumbnail = image::load_from_memory(&thumbnail).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (400, 300));
    assert_eq!(fetch(&server, &bare, Some(&member.token)).await.0, StatusCode::OK);

    // A stranger with a token but no link: as if it did not exist. No token, no link: 401.
    let (status, _, _, body) = fetch(&server, &bare, Some(&stranger.token)).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "attachment_not_found"));
    assert_eq!(fetch(&server, &bare, None).await.0, StatusCode::UNAUTHORIZED);
    // A link altered (another file's id, or a changed signature) is no link.
    let forged = url.replace(&format!("/attachments/{id}?"), "/attachments/1?");
    assert_eq!(fetch(&server, &forged, None).await.0, StatusCode::NOT_FOUND);
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    assert_eq!(fetch(&server, &tampered, None).await.0, StatusCode::NOT_FOUND);
    // An expired link: refused as expired, unless a member's token comes with it.
    let links = AttachmentLinks::new(SECRET.as_bytes(), 3600);
    let made =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3 * 86_400;
    let expired = links.url(AttachmentId(id.parse().unwrap()), Variant::File, made);
    let (status, _, _, body) = fetch(&server, &expired, None).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "link_expired"));
    assert_eq!(fetch(&server, &expired, Some(&stranger.token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(fetch(&server, &expired, Some(&member.token)).await.0, StatusCode::OK);

    // History carries it, with links that work.
    let (_, page) = server.get(&format!("/api/rooms/{room}/messages"), &member.token).await;
    let listed = &page["messages"][0]["attachments"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(fetch(&server, listed["url"].as_str().unwrap(), None).await.0, StatusCode::OK);
}

async fn a_25_mb_file_downloads_byte_identical_and_a_larger_one_is_refused_before_it_is_stored(
    server: TestServer,
) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let file: Vec<u8> = (0..25_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let attachment = uploaded(&server, &ada, "recording.flac", "audio/flac", file.clone()).await;
    assert_eq!(attachment["size"], 25_000_000);
    assert_eq!(attachment["content_type"], "audio/flac");
    assert!(attachment.get("thumbnail_url").is_none(), "{attachment}");
    let (status, message) = server
        .post(
            &format!("/api/dms/{}/messages", bob.id()),
            &ada.token,
            json!({"content": "the set", "nonce": "big-1", "attachments": [attachment["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let (status, content_type, disposition, bytes) =
        fetch(&server, message["attachments"][0]["url"].as_str().unwrap(), Some(&bob.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/octet-stream", "files that are not pictures are only saved");
    assert_eq!(disposition, "attachment; filename*=UTF-8''recording.flac");
    assert!(bytes == file, "the download differs from the upload");
    let before = stored_files(&server);

    // Over the limit (25 MiB): refused, with its length declared or not, and nothing stored.
    let too_big = vec![7u8; 25 * 1024 * 1024 + 1];
    let (status, body) =
        upload(&server, Some(&ada.token), "huge.bin", "application/octet-stream", too_big.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"), "{body}");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        too_big.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
    let streamed = server
        .http
        .post(server.url("/api/attachments?name=huge.bin"))
        .bearer_auth(&ada.token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = streamed.json().await.unwrap();
    assert_eq!(code(&body), "file_too_large", "{body}");
    assert_eq!(stored_files(&server), before, "a refused upload left a file");
    // Exactly the limit is fine.
    let (status, body) = upload(
        &server,
        Some(&ada.token),
        "edge.bin",
        "application/octet-stream",
        vec![1u8; 25 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn broken_pictures_get_a_clear_error_and_leave_nothing(server: TestServer) {
    let ada = server.register("ada").await;
    let bomb = concord_testkit::pictures::bomb_png(100_000, 100_000);
    let (status, body) = upload(&server, Some(&ada.token), "bomb.png", "image/png", bomb).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("too large"), "{body}");
    let whole = photo(640, 480);
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    let (status, body) = upload(&server, Some(&ada.token), "cut.jpg", "image/jpeg", cut).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cut short"), "{body}");
    let (status, body) = upload(&server, Some(&ada.token), "", "text/plain", b"hello".to_vec()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
    let (status, body) = upload(&server, Some(&ada.token), "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation"));
    let (status, body) = upload(&server, None, "a.txt", "text/plain", b"hello".to_vec()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert_eq!(stored_files(&server), 0, "a refused upload left a file");
    // An SVG (a picture that can carry script) is a file to save, never shown as a page.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let attachment = uploaded(&server, &ada, "x.svg", "image/svg+xml", svg).await;
    assert!(attachment.get("width").is_none(), "{attachment}");
    let (status, content_type, disposition, _) =
        fetch(&server, attachment["url"].as_str().unwrap(), None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/octet-stream"));
    assert!(disposition.starts_with("attachment;"), "{disposition}");
}

async fn an_attachment_is_sent_once_by_its_uploader_and_a_resend_is_one_message(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let notes =
        uploaded(&server, &ada, "notes.txt", "text/plain; charset=utf-8", b"milk, eggs".to_vec()).await;
    assert_eq!(notes["content_type"], "text/plain");
    let path = format!("/api/dms/{}/messages", bob.id());
    let send = json!({"content": "list", "nonce": "list-1", "attachments": [notes["id"]]});

    // Someone else's upload cannot be sent.
    let (status, body) =
        server.post(&format!("/api/dms/{}/messages", ada.id()), &bob.token, send.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "attachment_unavailable"), "{body}");
    // An empty message needs a file.
    let (status, body) = server.post(&path, &ada.token, json!({"content": "", "nonce": "e-1"})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("content"))
    );

    let (status, first) = server.post(&path, &ada.token, send.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = server.post(&path, &ada.token, send.clone()).await;
    assert_eq!(status, StatusCode::OK, "a resend returns the original: {again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["attachments"][0]["id"], notes["id"]);
    // Another message cannot take it again.
    let (status, body) = server
        .post(&path, &ada.token, json!({"content": "again", "nonce": "list-2", "attachments": [notes["id"]]}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "attachment_unavailable"), "{body}");
    // Bob heard of the message, and of the same message again on the resend
    // (its first event may have been lost with the first answer), then of
    // nothing else (a marker message follows).
    let (status, _) = server.post(&path, &ada.token, json!({"content": "marker", "nonce": "m-1"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let ServerEvent::MessageCreated(created) = bob_ws.next().await else { panic!("a message") };
    assert_eq!(created.message.attachments.len(), 1);
    let ServerEvent::MessageCreated(repeated) = bob_ws.next().await else { panic!("the message again") };
    assert_eq!(repeated.message, created.message);
    let ServerEvent::MessageCreated(marker) = bob_ws.next().await else { panic!("the marker") };
    assert_eq!(marker.message.content, "marker");
    let (status, content_type, _, bytes) =
        fetch(&server, created.message.attachments[0].url.as_str(), None).await;
    assert_eq!(
        (status, content_type.as_str(), bytes.as_slice()),
        (StatusCode::OK, "application/octet-stream", &b"milk, eggs"[..])
    );
    // Eleven files are too many for one message.
    let ids: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    let (status, body) =
        server.post(&path, &ada.token, json!({"content": "x", "nonce": "many", "attachments": ids})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("attachments"))
    );
}

async fn a_deleted_message_takes_its_files_with_it(server: TestServer) {
    let (room, people) = server.room_of(&crate::support::unique("gone"), 2).await;
    let [owner, member] = [&people[0], &people[1]];
    let picture = uploaded(&server, member, "cat.jpg", "image/jpeg", photo(64, 48)).await;
    let (status, message) = server
        .post(
            &format!("/api/rooms/{room}/messages"),
            &member.token,
            json!({"content": "cat", "nonce": "cat-1", "attachments": [picture["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(stored_files(&server), 2, "the picture and its thumbnail");
    let url = message["attachments"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(fetch(&server, &url, None).await.0, StatusCode::OK);
    // The room's owner deletes it: the file is gone for everyone, link or token.
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/rooms/{room}/messages/{}", message["id"].as_str().unwrap()),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&server, &url, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&server, &url, Some(&member.token)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&server), 0, "the deleted message's files are still stored");
    // Deleting the room takes the files of its chat too.
    let doc = uploaded(&server, owner, "plan.txt", "text/plain", b"plan".to_vec()).await;
    let (status, _) = server
        .post(
            &format!("/api/rooms/{room}/messages"),
            &owner.token,
            json!({"content": "plan", "nonce": "p-1", "attachments": [doc["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(stored_files(&server), 1);
    let (status, _) =
        server.call(Method::DELETE, &format!("/api/rooms/{room}"), Some(&owner.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(stored_files(&server), 0, "the deleted room's files are still stored");
}

async fn the_daily_limit_refuses_what_would_pass_it(server: TestServer) {
    let ada = server.register("ada").await;
    let two_mb = vec![3u8; 2 * 1024 * 1024];
    for name in ["a.bin", "b.bin"] {
        uploaded(&server, &ada, name, "application/octet-stream", two_mb.clone()).await;
    }
    let (status, body) =
        upload(&server, Some(&ada.token), "c.bin", "application/octet-stream", two_mb.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "upload_quota"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("a day"), "{body}");
    // What still fits is taken; the per-file limit is the setting's.
    uploaded(&server, &ada, "d.bin", "application/octet-stream", vec![3u8; 1024 * 1024]).await;
    let (status, body) = upload(
        &server,
        Some(&ada.token),
        "e.bin",
        "application/octet-stream",
        vec![3u8; 2 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"), "{body}");
    // Someone else's day is their own.
    let bob = server.register("bob").await;
    uploaded(&server, &bob, "f.bin", "application/octet-stream", two_mb).await;
}

/// Two instances on one database and one S3-compatible store (moto's
/// server): a file uploaded and sent through one is fetched through the
/// other, by its signed link; deleted through the other, it is gone from both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_files_through_s3_compatible_storage() {
    use concord_testkit::{s3::S3Server, test_figment, Backend, Database};
    let s3 = S3Server::start("concord-files").await;
    let db = Database::create(Backend::Sqlite).await;
    let start = |name: &str| {
        let dir = db.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        TestServer::start(
            test_figment(&db.url, &dir, 0).merge(("instance_id", 1 + name.len() as u16)).merge(s3.settings()),
        )
    };
    let one = start("one").await.unwrap();
    let two = start("other").await.unwrap();
    let ada = one.register("ada").await;
    let bob = one.register("bob").await;
    one.befriend(&ada, &bob).await;
    let original = photo(300, 200);
    let picture = uploaded(&one, &ada, "view.jpg", "image/jpeg", original).await;
    let (status, message) = one
        .post(
            &format!("/api/dms/{}/messages", bob.id()),
            &ada.token,
            json!({"content": "from the hill", "nonce": "s3-1", "attachments": [picture["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let url = message["attachments"][0]["url"].as_str().unwrap();
    let (status, content_type, _, through_one) = fetch(&one, url, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/jpeg"));
    let (status, _, _, through_two) = fetch(&two, url, None).await;
    assert_eq!(status, StatusCode::OK, "the other instance serves it");
    assert!(through_one == through_two && !through_two.is_empty());
    let thumbnail = message["attachments"][0]["thumbnail_url"].as_str().unwrap();
    assert_eq!(fetch(&two, thumbnail, Some(&bob.token)).await.0, StatusCode::OK);
    for server in [&one, &two] {
        assert_eq!(stored_files(server), 0, "a file landed on an instance's disk");
    }
    // Deleted through the other instance: gone from the store for both.
    let (status, _) = two
        .call(
            Method::DELETE,
            &format!("/api/dms/{}/messages/{}", bob.id(), message["id"].as_str().unwrap()),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&one, url, None).await.0, StatusCode::NOT_FOUND);
    two.stop().await;
    one.stop().await;
}
