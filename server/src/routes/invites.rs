//! `GET/POST /api/invites`, `POST /api/invites/{id}/accept|reject`,
//! `DELETE /api/invites/{id}`.

use concord_common::validate::{self, normalize_email};
use concord_common::{
    CreateInviteRequest, CreateInviteResponse, ErrorCode, Friend, InviteId, InviteList, InviteRemovedReason,
    ServerEvent,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, routes, Route, State};

use super::friends::announce_friendship;
use super::{path_id, Body};
use crate::app::App;
use crate::auth::AuthUser;
use crate::db::invites::{self, InviteKey};
use crate::db::{friends, users};
use crate::error::ApiError;
use crate::ids::now_ms;

pub fn routes() -> Vec<Route> {
    routes![list, create, accept, reject, cancel]
}

#[get("/invites")]
async fn list(app: &State<App>, auth: AuthUser) -> Result<Json<InviteList>, ApiError> {
    Ok(Json(invites::list(&app.pool, auth.0).await?))
}

#[post("/invites", data = "<body>")]
async fn create(
    app: &State<App>,
    auth: AuthUser,
    body: Body<CreateInviteRequest>,
) -> Result<(Status, Json<CreateInviteResponse>), ApiError> {
    validate::email(&body.0.email)?;
    let email = normalize_email(&body.0.email);
    let Some(target) = users::by_email(&app.pool, &email).await? else {
        return Err(field_error(
            Status::NotFound,
            ErrorCode::UserNotFound,
            "No one has registered with that email.",
        ));
    };
    let (me, them) = (auth.0, target.user.id);
    if me == them {
        return Err(field_error(
            Status::BadRequest,
            ErrorCode::CannotInviteSelf,
            "You cannot invite yourself.",
        ));
    }
    if friends::are_friends(&app.pool, me, them).await? {
        return Err(field_error(Status::Conflict, ErrorCode::AlreadyFriends, "You are already friends."));
    }
    // They already invited me: inviting back means yes.
    if let Some(reverse) = invites::between(&app.pool, them, me).await? {
        let friend = befriend(app, reverse).await?;
        return Ok((Status::Ok, Json(CreateInviteResponse::BecameFriends { friend })));
    }
    let key = InviteKey { id: InviteId(app.ids.next()), sender: me, receiver: them };
    if !invites::insert(&app.pool, key, now_ms()).await? {
        return Err(field_error(
            Status::Conflict,
            ErrorCode::InviteExists,
            "You have already invited this person.",
        ));
    }
    let invite = invites::full(&app.pool, key.id).await?.ok_or_else(ApiError::internal)?;
    app.hub.publish(&[me, them], &ServerEvent::InviteCreated { invite: invite.clone() });
    Ok((Status::Created, Json(CreateInviteResponse::Invited { invite })))
}

fn field_error(status: Status, code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(status, code, message).with_field("email")
}

/// Turns a pending invite into a friendship and tells everyone; returns the
/// receiver's view of the new friend.
async fn befriend(app: &App, key: InviteKey) -> Result<Friend, ApiError> {
    // An invite the other way (from a race) disappears with this one.
    let crossing = invites::between(&app.pool, key.receiver, key.sender).await?;
    if !friends::accept_invite(&app.pool, key, now_ms()).await? {
        return Err(invite_not_found());
    }
    for invite in std::iter::once(key).chain(crossing) {
        app.hub.publish(
            &[key.sender, key.receiver],
            &ServerEvent::InviteRemoved { invite_id: invite.id, reason: InviteRemovedReason::Accepted },
        );
    }
    announce_friendship(app, key.receiver, key.sender).await
}

fn invite_not_found() -> ApiError {
    ApiError::new(Status::NotFound, ErrorCode::InviteNotFound, "There is no such pending invite for you.")
}

/// The invite `id` if `me` is on the side `mine` selects; 404 otherwise, so
/// other people's invites are indistinguishable from missing ones.
async fn own_invite(app: &App, id: &str, mine: impl Fn(&InviteKey) -> bool) -> Result<InviteKey, ApiError> {
    let id: InviteId = path_id(id, "invite")?;
    match invites::by_id(&app.pool, id).await? {
        Some(key) if mine(&key) => Ok(key),
        _ => Err(invite_not_found()),
    }
}

#[post("/invites/<id>/accept")]
async fn accept(app: &State<App>, auth: AuthUser, id: &str) -> Result<Json<Friend>, ApiError> {
    let key = own_invite(app, id, |k| k.receiver == auth.0).await?;
    Ok(Json(befriend(app, key).await?))
}

#[post("/invites/<id>/reject")]
async fn reject(app: &State<App>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let key = own_invite(app, id, |k| k.receiver == auth.0).await?;
    remove(app, key, InviteRemovedReason::Rejected).await
}

#[delete("/invites/<id>")]
async fn cancel(app: &State<App>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let key = own_invite(app, id, |k| k.sender == auth.0).await?;
    remove(app, key, InviteRemovedReason::Cancelled).await
}

async fn remove(app: &App, key: InviteKey, reason: InviteRemovedReason) -> Result<Status, ApiError> {
    if !invites::delete(&app.pool, key.id).await? {
        return Err(invite_not_found());
    }
    app.hub.publish(&[key.sender, key.receiver], &ServerEvent::InviteRemoved { invite_id: key.id, reason });
    Ok(Status::NoContent)
}
