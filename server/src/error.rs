//! [`ApiError`], the crate's one error type: an HTTP status plus the JSON body
//! from `concord_common`. Database failures become `internal` (logged once,
//! here); everything a client can cause has its own code and a 4xx status.

use concord_common::validate::FieldError;
use concord_common::{ErrorBody, ErrorCode, ErrorResponse};
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

/// An error a route returns; serialises as `{"error": {...}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: Status,
    /// The JSON body.
    pub body: ErrorBody,
    /// Seconds to wait before retrying (for 429).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: Status, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody::new(code, message), retry_after_secs: None }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Status::BadRequest, ErrorCode::BadRequest, message)
    }

    /// 401: missing or unusable credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Status::Unauthorized, ErrorCode::Unauthorized, message)
    }

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Status::NotFound, ErrorCode::NotFound, message)
    }

    /// 500: the server failed. The cause is logged, not sent.
    pub fn internal() -> Self {
        Self::new(
            Status::InternalServerError,
            ErrorCode::Internal,
            "The server could not complete the request; nothing was changed. Try again.",
        )
    }

    /// The same error, attributed to request field `field` (shown beside it).
    pub fn with_field(mut self, field: &str) -> Self {
        self.body.field = Some(field.to_owned());
        self
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.body.code
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self {
            status: Status::UnprocessableEntity,
            body: ErrorBody { code: ErrorCode::Validation, message: e.message, field: Some(e.field.into()) },
            retry_after_secs: None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        Self::internal()
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        tracing::error!(error = %e, "redis error");
        Self::internal()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}: {}", self.status.code, self.body.code, self.body.message)
    }
}

impl std::error::Error for ApiError {}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let json = serde_json::to_string(&ErrorResponse { error: self.body })
            .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"error"}}"#.into());
        let mut response = Response::build();
        response
            .status(self.status)
            .header(ContentType::JSON)
            .sized_body(json.len(), std::io::Cursor::new(json));
        if let Some(secs) = self.retry_after_secs {
            response.header(Header::new("Retry-After", secs.to_string()));
        }
        response.ok()
    }
}

/// Lets a request guard that failed leave its [`ApiError`] for the catcher,
/// which has only the status otherwise.
#[derive(Default)]
pub struct GuardFailure(pub std::sync::Mutex<Option<ApiError>>);

impl GuardFailure {
    /// Records `error` on the request and returns its status.
    pub fn record(request: &Request<'_>, error: ApiError) -> Status {
        let status = error.status;
        let slot = request.local_cache(GuardFailure::default);
        if let Ok(mut slot) = slot.0.lock() {
            slot.get_or_insert(error);
        }
        status
    }

    /// Takes the error a guard recorded on this request, if any.
    pub fn take(request: &Request<'_>) -> Option<ApiError> {
        request.local_cache(GuardFailure::default).0.lock().ok()?.take()
    }
}

impl From<object_store::Error> for ApiError {
    fn from(e: object_store::Error) -> Self {
        tracing::error!(error = %e, "file store error");
        Self::internal()
    }
}
