//! Every JSON body the REST API reads, and the checks its handlers run on
//! the text fields (names, emails, messages with `<@id>` mentions, emoji,
//! conversation paths).
#![no_main]

use concord_common::{validate, Conversation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<concord_common::RegisterRequest>(data);
    let _ = serde_json::from_slice::<concord_common::LoginRequest>(data);
    let _ = serde_json::from_slice::<concord_common::CreateInviteRequest>(data);
    let _ = serde_json::from_slice::<concord_common::RoomLabelRequest>(data);
    let _ = serde_json::from_slice::<concord_common::AddMemberRequest>(data);
    let _ = serde_json::from_slice::<concord_common::EditMessageRequest>(data);
    if let Ok(request) = serde_json::from_slice::<concord_common::SendMessageRequest>(data) {
        let _ = validate::message_body(&request.content, request.attachments.len());
        let _ = validate::nonce(&request.nonce);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = validate::email(text);
    let _ = validate::normalize_email(text);
    let _ = validate::username(text);
    let _ = validate::password(text);
    let _ = validate::message_content(text);
    let _ = validate::attachment_name(text);
    let _ = validate::reaction_emoji(text);
    let _ = validate::room_label(text);
    let mentions = concord_common::chat::mentions(text);
    let named = concord_common::chat::with_names(text, |_| "someone".to_owned());
    assert!(mentions.len() <= text.len());
    let _ = named;
    if let Ok(conversation) = text.parse::<Conversation>() {
        assert_eq!(conversation.to_string().parse::<Conversation>(), Ok(conversation));
    }
});
