//! `GET/POST /api/invites`, `POST /api/invites/{id}/accept|reject`,
//! `DELETE /api/invites/{id}`.

use concord_common::{
    CreateInviteRequest, CreateInviteResponse, ErrorResponse, Friend, InviteId, InviteList,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, routes, Route, State};

use super::{path_id, Body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Social;

pub fn routes() -> Vec<Route> {
    routes![list, create, accept, reject, cancel]
}

/// Pending invites both ways.
#[utoipa::path(get, path = "/api/invites", tag = "invites",
    responses(
        (status = 200, description = "Pending invites, oldest first.", body = InviteList),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
    ))]
#[get("/invites")]
pub(crate) async fn list(social: &State<Social>, auth: AuthUser) -> Result<Json<InviteList>, ApiError> {
    Ok(Json(social.invites(auth.0).await?))
}

/// Invite someone by email (or accept their pending invite).
#[utoipa::path(post, path = "/api/invites", tag = "invites", request_body = CreateInviteRequest,
    responses(
        (status = 200, description = "They had already invited you: friends now (`became_friends`).", body = CreateInviteResponse),
        (status = 201, description = "A new pending invite (`invited`). Event: `invite_created` to both users.", body = CreateInviteResponse),
        (status = 400, description = "Unreadable body, or your own email (`cannot_invite_self`).", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "Nobody has registered with that email (`user_not_found`).", body = ErrorResponse),
        (status = 409, description = "Already friends (`already_friends`) or already invited (`invite_exists`).", body = ErrorResponse),
        (status = 422, description = "The email is malformed (`validation`).", body = ErrorResponse),
    ))]
#[post("/invites", data = "<body>")]
pub(crate) async fn create(
    social: &State<Social>,
    auth: AuthUser,
    body: Body<CreateInviteRequest>,
) -> Result<(Status, Json<CreateInviteResponse>), ApiError> {
    let response = social.invite(auth.0, &body.0.email).await?;
    let status = match response {
        CreateInviteResponse::Invited { .. } => Status::Created,
        CreateInviteResponse::BecameFriends { .. } => Status::Ok,
    };
    Ok((status, Json(response)))
}

/// Accept an invite sent to you.
#[utoipa::path(post, path = "/api/invites/{id}/accept", tag = "invites", params(("id" = InviteId, Path, description = "The invite's id.")),
    responses(
        (status = 200, description = "Friends now; the sender as you see them. Events: `invite_removed`, `friend_added`.", body = Friend),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such pending invite to you (`invite_not_found`).", body = ErrorResponse),
    ))]
#[post("/invites/<id>/accept")]
pub(crate) async fn accept(
    social: &State<Social>,
    auth: AuthUser,
    id: &str,
) -> Result<Json<Friend>, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    Ok(Json(social.accept(auth.0, id).await?))
}

/// Reject an invite sent to you.
#[utoipa::path(post, path = "/api/invites/{id}/reject", tag = "invites", params(("id" = InviteId, Path, description = "The invite's id.")),
    responses(
        (status = 204, description = "Rejected. Event: `invite_removed` (rejected) to both users."),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such pending invite to you (`invite_not_found`).", body = ErrorResponse),
    ))]
#[post("/invites/<id>/reject")]
pub(crate) async fn reject(social: &State<Social>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    social.reject(auth.0, id).await?;
    Ok(Status::NoContent)
}

/// Cancel an invite you sent.
#[utoipa::path(delete, path = "/api/invites/{id}", tag = "invites", params(("id" = InviteId, Path, description = "The invite's id.")),
    responses(
        (status = 204, description = "Cancelled. Event: `invite_removed` (cancelled) to both users."),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such pending invite from you (`invite_not_found`).", body = ErrorResponse),
    ))]
#[delete("/invites/<id>")]
pub(crate) async fn cancel(social: &State<Social>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    social.cancel(auth.0, id).await?;
    Ok(Status::NoContent)
}
