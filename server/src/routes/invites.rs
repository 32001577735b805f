//! `GET/POST /api/invites`, `POST /api/invites/{id}/accept|reject`,
//! `DELETE /api/invites/{id}`.

use concord_common::{CreateInviteRequest, CreateInviteResponse, Friend, InviteId, InviteList};
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

#[get("/invites")]
async fn list(social: &State<Social>, auth: AuthUser) -> Result<Json<InviteList>, ApiError> {
    Ok(Json(social.invites(auth.0).await?))
}

#[post("/invites", data = "<body>")]
async fn create(
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

#[post("/invites/<id>/accept")]
async fn accept(social: &State<Social>, auth: AuthUser, id: &str) -> Result<Json<Friend>, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    Ok(Json(social.accept(auth.0, id).await?))
}

#[post("/invites/<id>/reject")]
async fn reject(social: &State<Social>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    social.reject(auth.0, id).await?;
    Ok(Status::NoContent)
}

#[delete("/invites/<id>")]
async fn cancel(social: &State<Social>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    social.cancel(auth.0, id).await?;
    Ok(Status::NoContent)
}
