//! HTTP routes under `/api`, one file per resource, plus the JSON catchers
//! and the web client's files. Handlers do HTTP only: parse the path and
//! body, call a service, pick the status; the services do the rest.

mod attachments;
mod auth;
mod chat;
mod dms;
mod friends;
mod health;
mod invites;
pub mod openapi;
mod rooms;
mod search;
mod users;
mod web;

use std::net::IpAddr;

use concord_common::validate::{FieldError, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};
use concord_common::{ErrorCode, MessageId};
use rocket::data::{self, Data, FromData};
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::{catch, catchers, Catcher, Route};
use serde::de::DeserializeOwned;

use crate::config::JSON_LIMIT;
use crate::error::{ApiError, GuardFailure};
use crate::services::messages::Sent;

/// Mounts the REST API under `/api`, the JSON catchers, and the web client at `/`.
pub fn stage() -> AdHoc {
    AdHoc::on_ignite("REST API and web client", |rocket| async {
        let web_root = rocket.state::<crate::config::Settings>().map(|s| s.web_root.clone());
        let rocket = rocket.mount("/api", api()).register("/", catchers());
        match web_root.filter(|root| root.join("index.html").is_file()) {
            Some(root) => rocket.manage(web::WebRoot(root)).mount("/", rocket::routes![web::asset]),
            None => rocket.mount("/", rocket::routes![web_client_missing]),
        }
    })
}

/// Every `/api` route but the websocket (mounted by `crate::gateway`).
pub fn api() -> Vec<Route> {
    let mut routes = Vec::new();
    routes.extend(auth::routes());
    routes.extend(users::routes());
    routes.extend(friends::routes());
    routes.extend(invites::routes());
    routes.extend(dms::routes());
    routes.extend(rooms::routes());
    routes.extend(chat::routes());
    routes.extend(attachments::routes());
    routes.extend(search::routes());
    routes.extend(health::routes());
    routes
}

/// `GET /` when the web client has not been built: say how to build it.
#[rocket::get("/")]
pub fn web_client_missing() -> (rocket::http::ContentType, &'static str) {
    (
        rocket::http::ContentType::HTML,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Concord</title></head><body>\
         <h1>Concord server is running</h1><p>The web client is not built. Start the server with \
         <code>./.ci/serve</code> (it builds the web client), or build it with <code>./.ci/build-web</code>. \
         The API is at <a href=\"/api/health\">/api/health</a>; see docs/API.md.</p></body></html>",
    )
}

/// JSON error bodies for every status Rocket produces itself.
pub fn catchers() -> Vec<Catcher> {
    catchers![default_catcher]
}

#[catch(default)]
fn default_catcher(status: Status, request: &Request<'_>) -> ApiError {
    if let Some(error) = GuardFailure::take(request) {
        return error;
    }
    let (code, message) = match status.code {
        401 => (ErrorCode::Unauthorized, "This route needs a valid token."),
        404 => (ErrorCode::NotFound, "There is no such route."),
        413 => (ErrorCode::PayloadTooLarge, "The request is too large."),
        422 => (ErrorCode::BadRequest, "The request could not be understood."),
        400..=499 => (ErrorCode::BadRequest, "The request is malformed or was refused."),
        _ => (ErrorCode::Internal, "The server failed; nothing was changed. Try again."),
    };
    ApiError::new(status, code, message)
}

/// A JSON request body of type `T`, at most the `json` limit (64 KiB). A
/// malformed or oversize body becomes a typed 400/413, never a 500.
pub struct Body<T>(pub T);

#[rocket::async_trait]
impl<'r, T: DeserializeOwned> FromData<'r> for Body<T> {
    type Error = ApiError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limit = request.limits().get("json").unwrap_or(JSON_LIMIT);
        let failed = |error: ApiError| {
            let status = GuardFailure::record(request, error.clone());
            data::Outcome::Error((status, error))
        };
        let bytes = match data.open(limit).into_bytes().await {
            Ok(bytes) if bytes.is_complete() => bytes.into_inner(),
            Ok(_) => {
                return failed(ApiError::new(
                    Status::PayloadTooLarge,
                    ErrorCode::PayloadTooLarge,
                    format!("The request body is larger than {limit}."),
                ))
            }
            Err(_) => return failed(ApiError::bad_request("The request body could not be read.")),
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => data::Outcome::Success(Body(value)),
            Err(e) => failed(ApiError::new(
                Status::BadRequest,
                ErrorCode::InvalidJson,
                format!("The request body is not the JSON this route expects: {e}"),
            )),
        }
    }
}

/// The client's address as Rocket sees it (the socket peer, or the configured
/// `ip_header` behind a proxy).
pub struct ClientAddr(pub Option<IpAddr>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientAddr {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(ClientAddr(request.client_ip()))
    }
}

/// Reads a history page's `before` and `limit` query parameters (limit 1 to
/// 100, 50 when absent), or explains which one is wrong.
fn page_params(before: Option<&str>, limit: Option<&str>) -> Result<(Option<MessageId>, u32), ApiError> {
    let before = match before.map(str::parse::<MessageId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Err(FieldError { field: "before", message: "before must be a message id.".into() }.into())
        }
    };
    let limit = match limit {
        None => HISTORY_DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=HISTORY_MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(FieldError {
                    field: "limit",
                    message: format!("limit must be a number from 1 to {HISTORY_MAX_LIMIT}."),
                }
                .into())
            }
        },
    };
    Ok((before, limit))
}

/// 201 for a message stored now, 200 for a resend answered with the original.
fn sent_status(sent: Sent) -> Status {
    match sent {
        Sent::Created => Status::Created,
        Sent::AlreadyStored => Status::Ok,
    }
}

/// Parses an id from a path segment, or explains the problem.
fn path_id<T: std::str::FromStr>(segment: &str, what: &str) -> Result<T, ApiError> {
    segment.parse().map_err(|_| ApiError::bad_request(format!("`{segment}` is not a valid {what} id.")))
}
