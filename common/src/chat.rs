//! What direct messages and room chat share: the conversation a message
//! belongs to (as it appears in REST paths and events) and mentions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{RoomId, UserId};

/// A conversation as the reader sees it: `dms/{user_id}` (the other person)
/// or `rooms/{id}`, exactly the prefix of its REST paths under `/api/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Conversation {
    /// Direct messages with this person.
    Dm(UserId),
    /// A room's chat.
    Room(RoomId),
}

impl fmt::Display for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conversation::Dm(user) => write!(f, "dms/{}", user.0),
            Conversation::Room(room) => write!(f, "rooms/{}", room.0),
        }
    }
}

/// Why a string is not a [`Conversation`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotAConversation(pub String);

impl fmt::Display for NotAConversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not dms/{{user_id}} or rooms/{{id}}", self.0)
    }
}

impl FromStr for Conversation {
    type Err = NotAConversation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || NotAConversation(s.to_owned());
        let (kind, id) = s.split_once('/').ok_or_else(fail)?;
        let id: i64 = id.parse().map_err(|_| fail())?;
        match kind {
            "dms" => Ok(Conversation::Dm(UserId(id))),
            "rooms" => Ok(Conversation::Room(RoomId(id))),
            _ => Err(fail()),
        }
    }
}

impl TryFrom<String> for Conversation {
    type Error = NotAConversation;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Conversation> for String {
    fn from(c: Conversation) -> Self {
        c.to_string()
    }
}

/// The people `<@user_id>` names in `content`, in order of first mention,
/// each once. Clients show such a mention as `@name`.
pub fn mentions(content: &str) -> Vec<UserId> {
    let mut found = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest.as_bytes().get(digits) == Some(&b'>') {
            if let Ok(id) = rest[..digits].parse::<i64>() {
                let user = UserId(id);
                if !found.contains(&user) {
                    found.push(user);
                }
            }
            rest = &rest[digits + 1..];
        }
    }
    found
}

/// The text `<@user_id>` that mentions `user`.
pub fn mention(user: UserId) -> String {
    format!("<@{}>", user.0)
}

/// `content` with each `<@user_id>` written as `@name`.
pub fn with_names(content: &str, name_of: impl Fn(UserId) -> String) -> String {
    let mut text = content.to_owned();
    for user in mentions(content) {
        text = text.replace(&mention(user), &format!("@{}", name_of(user)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_read_and_print_as_their_path() {
        for text in ["dms/42", "rooms/7"] {
            let c: Conversation = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{text}\""));
        }
        for bad in ["dms", "dms/x", "users/1", "rooms/1/2", ""] {
            assert!(bad.parse::<Conversation>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mentions_are_found_once_each_in_order() {
        assert_eq!(mentions("hi <@12> and <@3>, <@12>!"), vec![UserId(12), UserId(3)]);
        assert_eq!(mentions("<@> <@x> <@12 <12> @12 <@99999999999999999999>"), vec![]);
        assert_eq!(mentions("<@<@5>"), vec![UserId(5)]);
        assert_eq!(mention(UserId(5)), "<@5>");
    }

    #[test]
    fn mentions_read_as_names() {
        let name_of = |u: UserId| if u == UserId(5) { "bob".to_owned() } else { "someone".to_owned() };
        assert_eq!(with_names("hi <@5>, and <@6> <@5>", name_of), "hi @bob, and @someone @bob");
        assert_eq!(with_names("no <@x> here", name_of), "no <@x> here");
    }
}
