//! Typed calls to the Concord REST API.

use concord_common::{
    AddMemberRequest, Attachment, AuthResponse, Conversation, CreateInviteRequest, CreateInviteResponse,
    DirectMessage, EditMessageRequest, ErrorBody, ErrorCode, ErrorResponse, LoginRequest, MessageId,
    MessagePage, RegisterRequest, Room, RoomId, RoomLabelRequest, RoomList, RoomMessage, RoomMessagePage,
    SearchPage, SendMessageRequest, UnreadCount, UserId,
};
#[cfg(not(target_arch = "wasm32"))]
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestError {
    /// The server answered with an error body.
    #[error("{}", .0.message)]
    Api(ErrorBody),
    /// The server could not be reached (or answered nonsense): retry later.
    #[error("cannot reach the server: {0}")]
    Network(String),
}

impl RestError {
    /// The error as a body the UI can show.
    pub fn body(&self) -> ErrorBody {
        match self {
            RestError::Api(body) => body.clone(),
            RestError::Network(message) => ErrorBody::new(
                ErrorCode::Unknown,
                format!("Cannot reach the server ({message}). Check the address and your connection."),
            ),
        }
    }
}

/// A successful answer's JSON body, or the error it carries.
async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, RestError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| RestError::Network(e.to_string()))?;
    answer_of(status, &bytes)
}

/// What an answer with `status` and body `bytes` means: the `T` it carries,
/// the server's error, or that this is not a Concord server answering.
fn answer_of<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, RestError> {
    if status.is_success() {
        let bytes: &[u8] = if status == StatusCode::NO_CONTENT || bytes.is_empty() { b"null" } else { bytes };
        return serde_json::from_slice(bytes)
            .map_err(|e| RestError::Network(format!("unexpected answer: {e}")));
    }
    match serde_json::from_slice::<ErrorResponse>(bytes) {
        Ok(error) => Err(RestError::Api(error.error)),
        Err(_) if status.is_server_error() || status == StatusCode::BAD_GATEWAY => {
            Err(RestError::Network(format!("server error {status}")))
        }
        Err(_) => Err(RestError::Network(format!("unexpected answer {status}: is this a Concord server?"))),
    }
}

/// A client for one server, optionally with a token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client for `server` (e.g. `http://127.0.0.1:8000`).
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self { http: reqwest::Client::new(), base: server.trim_end_matches('/').to_owned(), token }
    }

    /// The websocket URL of this server.
    pub fn ws_url(&self) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| self.base.strip_prefix("http://").map(|r| format!("ws://{r}")))
            .unwrap_or_else(|| format!("ws://{}", self.base));
        format!("{rest}/api/ws")
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, RestError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| RestError::Network(e.to_string()))?;
        answer(response).await
    }

    /// `POST /api/attachments?name=NAME`: uploads `bytes`, calling
    /// `progress(sent, total)` as they leave. Dropping the future cancels it.
    pub async fn upload(
        &self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<Attachment, RestError> {
        let total = bytes.len() as u64;
        let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let url = format!("{}/api/attachments?name={name}", self.base);
        #[cfg(target_arch = "wasm32")]
        {
            // reqwest in the browser sends a body in one piece, with no
            // progress: XMLHttpRequest's upload events give it.
            let _ = total;
            let (status, body) =
                browser_upload::post(&url, self.token.as_deref(), content_type, &bytes, progress).await?;
            answer_of(status, &body)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            const CHUNK: usize = 256 * 1024;
            let mut request = self.http.post(url).header("Content-Type", content_type);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
            let mut sent = 0u64;
            let body = futures_util::stream::iter(chunks).map(move |chunk| {
                sent += chunk.len() as u64;
                progress(sent, total);
                Ok::<_, std::io::Error>(chunk)
            });
            let request = request.header("Content-Length", total).body(reqwest::Body::wrap_stream(body));
            let response = request.send().await.map_err(|e| RestError::Network(e.to_string()))?;
            answer(response).await
        }
    }

    /// The bytes behind an attachment link (`url` as the server gave it,
    /// relative to the server), fetched with the token.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, RestError> {
        let mut request = self.http.get(format!("{}{url}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| RestError::Network(e.to_string()))?;
        if response.status().is_success() {
            return response.bytes().await.map(|b| b.to_vec()).map_err(|e| RestError::Network(e.to_string()));
        }
        answer::<serde_json::Value>(response).await.map(|_| Vec::new())
    }

    /// The server's address (what attachment links are relative to).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /api/auth/register`.
    pub async fn register(&self, body: &RegisterRequest) -> Result<AuthResponse, RestError> {
        self.call(Method::POST, "/api/auth/register", Some(body)).await
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, body: &LoginRequest) -> Result<AuthResponse, RestError> {
        self.call(Method::POST, "/api/auth/login", Some(body)).await
    }

    /// `GET /api/dms/{peer}/messages`.
    pub async fn history(&self, peer: UserId, before: Option<MessageId>) -> Result<MessagePage, RestError> {
        let path = match before {
            Some(before) => format!("/api/dms/{peer}/messages?limit=50&before={before}"),
            None => format!("/api/dms/{peer}/messages?limit=50"),
        };
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// `POST /api/dms/{peer}/messages`.
    pub async fn send_message(
        &self,
        peer: UserId,
        body: &SendMessageRequest,
    ) -> Result<DirectMessage, RestError> {
        self.call(Method::POST, &format!("/api/dms/{peer}/messages"), Some(body)).await
    }

    /// `POST /api/dms/{peer}/read`.
    pub async fn mark_read(&self, peer: UserId) -> Result<UnreadCount, RestError> {
        self.call::<(), _>(Method::POST, &format!("/api/dms/{peer}/read"), None).await
    }

    /// `POST /api/invites`.
    pub async fn invite(&self, email: &str) -> Result<CreateInviteResponse, RestError> {
        let body = CreateInviteRequest { email: email.to_owned() };
        self.call(Method::POST, "/api/invites", Some(&body)).await
    }

    /// `GET /api/rooms`.
    pub async fn rooms(&self) -> Result<RoomList, RestError> {
        self.call::<(), _>(Method::GET, "/api/rooms", None).await
    }

    /// `POST /api/rooms`.
    pub async fn create_room(&self, label: &str) -> Result<Room, RestError> {
        let body = RoomLabelRequest { label: label.to_owned() };
        self.call(Method::POST, "/api/rooms", Some(&body)).await
    }

    /// `PATCH /api/rooms/{room}`.
    pub async fn rename_room(&self, room: RoomId, label: &str) -> Result<Room, RestError> {
        let body = RoomLabelRequest { label: label.to_owned() };
        self.call(Method::PATCH, &format!("/api/rooms/{room}"), Some(&body)).await
    }

    /// `POST /api/rooms/{room}/members`.
    pub async fn add_room_member(&self, room: RoomId, user: UserId) -> Result<Room, RestError> {
        let body = AddMemberRequest { user_id: user };
        self.call(Method::POST, &format!("/api/rooms/{room}/members"), Some(&body)).await
    }

    /// `GET /api/rooms/{room}/messages`.
    pub async fn room_history(
        &self,
        room: RoomId,
        before: Option<MessageId>,
    ) -> Result<RoomMessagePage, RestError> {
        let path = match before {
            Some(before) => format!("/api/rooms/{room}/messages?limit=50&before={before}"),
            None => format!("/api/rooms/{room}/messages?limit=50"),
        };
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// `GET /api/search?q=…[&in=…][&before=…]`: a page of my messages holding `words`.
    pub async fn search(
        &self,
        words: &str,
        within: Option<Conversation>,
        before: Option<MessageId>,
    ) -> Result<SearchPage, RestError> {
        let path = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("q", words).append_pair("limit", "25");
            if let Some(within) = within {
                query.append_pair("in", &within.to_string());
            }
            if let Some(before) = before {
                query.append_pair("before", &before.to_string());
            }
            format!("/api/search?{}", query.finish())
        };
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// `POST /api/rooms/{room}/messages`.
    pub async fn send_room_message(
        &self,
        room: RoomId,
        body: &SendMessageRequest,
    ) -> Result<RoomMessage, RestError> {
        self.call(Method::POST, &format!("/api/rooms/{room}/messages"), Some(body)).await
    }

    /// `PATCH /api/{conversation}/messages/{id}` (the answer's message is not
    /// needed: its event follows).
    pub async fn edit_message(
        &self,
        conversation: Conversation,
        id: MessageId,
        body: &EditMessageRequest,
    ) -> Result<(), RestError> {
        let path = format!("/api/{conversation}/messages/{id}");
        self.call::<_, serde_json::Value>(Method::PATCH, &path, Some(body)).await.map(|_| ())
    }

    /// `POST`/`DELETE` on an invite, friend or room path (deleting a room,
    /// removing a member), ignoring the answer body.
    pub async fn act(&self, method: Method, path: &str) -> Result<(), RestError> {
        self.call::<(), serde_json::Value>(method, path, None).await.map(|_| ())
    }
}

/// An upload through the browser's XMLHttpRequest, whose `upload.onprogress`
/// reports the bytes as they leave (fetch has no upload progress).
#[cfg(target_arch = "wasm32")]
mod browser_upload {
    use reqwest::StatusCode;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{ProgressEvent, XmlHttpRequest};

    use super::RestError;

    /// Aborts the request if the upload is dropped (cancelled) before it ends.
    struct AbortOnDrop(XmlHttpRequest);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            if self.0.ready_state() != XmlHttpRequest::DONE {
                let _ = self.0.abort();
            }
        }
    }

    fn js_error(error: wasm_bindgen::JsValue) -> RestError {
        RestError::Network(error.as_string().unwrap_or_else(|| format!("{error:?}")))
    }

    /// POSTs `bytes` to `url`; the answer's status and body.
    pub async fn post(
        url: &str,
        token: Option<&str>,
        content_type: &str,
        bytes: &[u8],
        progress: impl Fn(u64, u64) + 'static,
    ) -> Result<(StatusCode, Vec<u8>), RestError> {
        let request = XmlHttpRequest::new().map_err(js_error)?;
        request.open_with_async("POST", url, true).map_err(js_error)?;
        request.set_request_header("Content-Type", content_type).map_err(js_error)?;
        if let Some(token) = token {
            request.set_request_header("Authorization", &format!("Bearer {token}")).map_err(js_error)?;
        }
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            progress(event.loaded() as u64, event.total() as u64);
        });
        request.upload().map_err(js_error)?.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let done_tx = std::cell::RefCell::new(Some(done_tx));
        let on_end = Closure::<dyn FnMut()>::new(move || {
            if let Some(done) = done_tx.borrow_mut().take() {
                let _ = done.send(());
            }
        });
        request.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
        let request = AbortOnDrop(request);
        request.0.send_with_opt_u8_array(Some(bytes)).map_err(js_error)?;
        let _ = done_rx.await;
        let status = request.0.status().map_err(js_error)?;
        if status == 0 {
            return Err(RestError::Network("the upload did not reach the server".into()));
        }
        let body = request.0.response_text().map_err(js_error)?.unwrap_or_default().into_bytes();
        // The closures live until here: the request may call them until it ends.
        drop((on_progress, on_end));
        Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), body))
    }
}
