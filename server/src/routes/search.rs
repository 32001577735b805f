//! `GET /api/search`: messages by their words, in every conversation of
//! mine or one of them.

use concord_common::validate::FieldError;
use concord_common::{Conversation, ErrorResponse, SearchPage, UserId};
use rocket::serde::json::Json;
use rocket::{get, routes, FromForm, Route, State};

use super::page_params;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Chat;

pub fn routes() -> Vec<Route> {
    routes![search]
}

/// The query of a search.
#[derive(FromForm)]
pub(crate) struct SearchQuery<'r> {
    q: Option<&'r str>,
    #[field(name = "in")]
    within: Option<&'r str>,
    from: Option<&'r str>,
    before: Option<&'r str>,
    limit: Option<&'r str>,
}

/// Search messages by their words.
#[utoipa::path(get, path = "/api/search", tag = "search",
    params(
        ("q" = String, Query, description = "Words, each of which must appear (the last one may be the start of a word), e.g. `lunch tomor`. At most 200 characters."),
        ("in" = Option<String>, Query, description = "Only this conversation: `dms/{user_id}` or `rooms/{id}`."),
        ("from" = Option<String>, Query, description = "Only messages written by this user id."),
        ("before" = Option<String>, Query, description = "Only messages older than this message id (the next page: the last hit's id)."),
        ("limit" = Option<u32>, Query, description = "1–100, default 50."),
    ),
    responses(
        (status = 200, description = "Hits, newest first, in every DM with a friend and every room you are in (or the one `in` names).", body = SearchPage),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "`in` names a DM with someone who is not your friend (`not_friends`).", body = ErrorResponse),
        (status = 404, description = "`in` names a room you are not in (`room_not_found`).", body = ErrorResponse),
        (status = 422, description = "No word in `q`, or `q` too long, or `in`, `from`, `before` or `limit` malformed (`validation`, `field` names it).", body = ErrorResponse),
    ))]
#[get("/search?<query..>")]
pub(crate) async fn search(
    chat: &State<Chat>,
    auth: AuthUser,
    query: SearchQuery<'_>,
) -> Result<Json<SearchPage>, ApiError> {
    let within = match query.within {
        None => None,
        Some(text) => Some(text.parse::<Conversation>().map_err(|_| FieldError {
            field: "in",
            message: "in must be dms/{user_id} or rooms/{id}.".into(),
        })?),
    };
    let from = match query.from {
        None => None,
        Some(text) => Some(
            text.parse::<UserId>()
                .map_err(|_| FieldError { field: "from", message: "from must be a user id.".into() })?,
        ),
    };
    let (before, limit) = page_params(query.before, query.limit)?;
    Ok(Json(chat.search(auth.0, query.q.unwrap_or_default(), within, from, before, limit).await?))
}
