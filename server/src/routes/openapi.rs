//! The OpenAPI document, generated from the route annotations and the
//! `concord_common` types (their `openapi` feature), served at
//! `/api/openapi.json` and written to `docs/openapi.json` by the test that
//! checks it (`CONCORD_WRITE_OPENAPI=1`). Prose and the websocket protocol
//! live in `docs/API.md`; the websocket frames are here as schemas.

use std::sync::OnceLock;

use concord_common::events::{
    CallJoin, CallJoined, CallLeave, CallLeft, CallLeftReason, CallMedia, CallParticipant,
    CallParticipantJoined, CallParticipantLeft, CallParticipantUpdated, CallPublish, CallPublishAnswer,
    CallSpeaking, CallSubscribeAccepted, CallSubscribeAnswer, CallSubscribeOffer, CallUpdate, CallUpdated,
    CallVideoQuality, CallVideoWanted, CallView, CallViewAccepted, DmRead, ForwardedTrack, FriendAdded,
    FriendRemoved, FriendTyping, IceServer, Identify, InviteCreated, InviteRemoved, InviteRemovedReason,
    MessageCreated, MessageDeleted, MessageUpdated, Presence, PublishedTrack, ReactionChanged, Ready,
    Refused, RoomAdded, RoomMemberAdded, RoomMemberRemoved, RoomMessageCreated, RoomMessageUpdated,
    RoomRemoved, RoomRemovedReason, RoomRenamed, TileView, TrackSource, TypingTo, VideoQuality,
};
use concord_common::{
    ClientEvent, ClientFrame, ErrorCode, ErrorResponse, PublicUser, ServerEvent, ServerFrame,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{attachments, auth, chat, dms, friends, health, invites, rooms, search, users};

/// The document's source: every route, every wire type.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concord API",
        description = "REST API of the Concord server. Ids are decimal strings on output (strings or integers \
            accepted on input). Every error has the body `{\"error\":{\"code\",\"message\",\"field?\"}}`. JSON \
            bodies are limited to 64 KiB. The realtime websocket is `/api/ws`; its frames are the `ClientFrame` \
            and `ServerFrame` schemas, and docs/API.md describes the protocol."
    ),
    paths(
        auth::register, auth::login, users::me, friends::list, friends::remove,
        invites::list, invites::create, invites::accept, invites::reject, invites::cancel,
        dms::history, dms::send, dms::read, rooms::list, rooms::create, rooms::rename, rooms::remove,
        rooms::add_member, rooms::remove_member, rooms::history, rooms::send,
        chat::edit_dm, chat::edit_room, chat::delete_dm, chat::delete_room, chat::react_dm, chat::react_room,
        chat::unreact_dm, chat::unreact_room, attachments::upload, attachments::download,
        attachments::thumbnail, search::search, health::health, health::openapi, crate::gateway::websocket,
    ),
    components(schemas(
        ClientFrame, ClientEvent, ServerFrame, ServerEvent, ErrorResponse, ErrorCode, PublicUser,
        Identify, TypingTo, Ready, Refused, InviteCreated, InviteRemoved, InviteRemovedReason, FriendAdded,
        FriendRemoved, Presence, MessageCreated, MessageUpdated, MessageDeleted, ReactionChanged, FriendTyping, DmRead, RoomAdded, RoomRenamed, RoomMemberAdded,
        RoomMemberRemoved, RoomRemoved, RoomRemovedReason, RoomMessageCreated, RoomMessageUpdated, CallMedia, CallParticipant, CallJoin,
        CallLeave, CallUpdate, CallJoined, IceServer, CallUpdated, CallLeft, CallLeftReason, CallParticipantJoined,
        CallParticipantUpdated, CallParticipantLeft, TrackSource, PublishedTrack, ForwardedTrack, CallPublish,
        CallPublishAnswer, CallSubscribeOffer, CallSubscribeAnswer, CallSubscribeAccepted, CallSpeaking,
        CallView, TileView, CallViewAccepted, CallVideoWanted, CallVideoQuality, VideoQuality,
    )),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "users", description = "The current account"),
        (name = "friends", description = "Friendships"),
        (name = "invites", description = "Friend invites"),
        (name = "dms", description = "Direct messages"),
        (name = "rooms", description = "Rooms, their members and chat"),
        (name = "attachments", description = "Pictures and files sent in messages"),
        (name = "search", description = "Messages by their words"),
        (name = "realtime", description = "The websocket"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token every route but register, login, health and
/// this document needs.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "Token from register or login; expires at `expires_at_ms` (401 `token_expired`).",
            ))
            .build();
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(scheme));
    }
}

/// The document as pretty JSON (built once).
pub fn document_json() -> String {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be serialised");
            "{}".to_owned()
        })
    })
    .clone()
}
