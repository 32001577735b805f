//! Input rules shared by client and server, so a form can say what is wrong
//! before sending and the server enforces the very same limits.

/// Username length in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 2..=32;
/// Password length in bytes.
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest accepted email address, in bytes.
pub const EMAIL_MAX_BYTES: usize = 254;
/// Longest direct message, in characters.
pub const MESSAGE_MAX_CHARS: usize = 4000;
/// Longest client nonce, in bytes.
pub const NONCE_MAX_BYTES: usize = 64;
/// Largest page of message history.
pub const HISTORY_MAX_LIMIT: u32 = 100;
/// Page size when the client does not ask for one.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;
/// Room label length in characters.
pub const ROOM_LABEL_CHARS: std::ops::RangeInclusive<usize> = 1..=64;
/// Most members a room can have, owner included.
pub const ROOM_MAX_MEMBERS: usize = 50;
/// Most rooms one user can own.
pub const ROOMS_OWNED_MAX: usize = 100;
/// Longest search, in characters.
pub const SEARCH_MAX_CHARS: usize = 200;
/// Most files one message can carry.
pub const ATTACHMENTS_PER_MESSAGE: usize = 10;
/// Longest name an uploaded file keeps, in characters.
pub const ATTACHMENT_NAME_MAX_CHARS: usize = 200;

/// A rejected field and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FieldError {
    /// The field's name in the request body.
    pub field: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

fn fail(field: &'static str, message: impl Into<String>) -> Result<(), FieldError> {
    Err(FieldError { field, message: message.into() })
}

/// Normalises an email for storage and lookup: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks an email's shape: one `@`, a non-empty local part, a dotted domain.
pub fn email(email: &str) -> Result<(), FieldError> {
    let email = email.trim();
    if email.is_empty() {
        return fail("email", "Enter your email address.");
    }
    if email.len() > EMAIL_MAX_BYTES {
        return fail("email", "That email address is too long.");
    }
    let shape_ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if shape_ok {
        Ok(())
    } else {
        fail("email", "That does not look like an email address (name@example.com).")
    }
}

/// Checks a username: 2–32 characters, not blank, no control characters.
pub fn username(name: &str) -> Result<(), FieldError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if !USERNAME_CHARS.contains(&chars) {
        return fail(
            "username",
            format!("Username must be {} to {} characters.", USERNAME_CHARS.start(), USERNAME_CHARS.end()),
        );
    }
    if trimmed.chars().any(char::is_control) {
        return fail("username", "Username cannot contain control characters.");
    }
    Ok(())
}

/// Checks a password: 8–128 bytes.
pub fn password(password: &str) -> Result<(), FieldError> {
    let len = password.len();
    if len < *PASSWORD_BYTES.start() {
        return fail("password", format!("Password must be at least {} characters.", PASSWORD_BYTES.start()));
    }
    if len > *PASSWORD_BYTES.end() {
        return fail("password", format!("Password must be at most {} bytes.", PASSWORD_BYTES.end()));
    }
    Ok(())
}

/// Checks a direct message body: not blank, at most 4000 characters.
pub fn message_content(content: &str) -> Result<(), FieldError> {
    if content.trim().is_empty() {
        return fail("content", "A message cannot be empty.");
    }
    if content.chars().count() > MESSAGE_MAX_CHARS {
        return fail("content", format!("A message can be at most {MESSAGE_MAX_CHARS} characters."));
    }
    Ok(())
}

/// Checks what a new message carries: at most 4000 characters and at most
/// [`ATTACHMENTS_PER_MESSAGE`] files, and not nothing at all.
pub fn message_body(content: &str, attachments: usize) -> Result<(), FieldError> {
    if attachments > ATTACHMENTS_PER_MESSAGE {
        return fail("attachments", format!("A message can carry at most {ATTACHMENTS_PER_MESSAGE} files."));
    }
    if attachments > 0 && content.is_empty() {
        return Ok(());
    }
    message_content(content)
}

/// An uploaded file's name as kept: its last path component (after `/` or
/// `\`), without control characters, cut to [`ATTACHMENT_NAME_MAX_CHARS`];
/// `None` when nothing is left.
pub fn attachment_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String =
        last.chars().filter(|c| !c.is_control()).take(ATTACHMENT_NAME_MAX_CHARS).collect::<String>();
    let kept = kept.trim();
    (!kept.is_empty() && kept != "." && kept != "..").then(|| kept.to_string())
}

/// Checks a client nonce: 1–64 bytes of printable ASCII.
pub fn nonce(nonce: &str) -> Result<(), FieldError> {
    if nonce.is_empty() || nonce.len() > NONCE_MAX_BYTES {
        return fail("nonce", format!("nonce must be 1 to {NONCE_MAX_BYTES} bytes."));
    }
    if !nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return fail("nonce", "nonce must be printable ASCII without spaces.");
    }
    Ok(())
}

/// Checks a reaction: one emoji (a single grapheme of at most 8 code points
/// and 32 bytes, with at least one pictographic code point, no letters,
/// spaces or control characters).
pub fn reaction_emoji(emoji: &str) -> Result<(), FieldError> {
    let points = emoji.chars().count();
    let pictographic = emoji.chars().any(|c| u32::from(c) >= 0x00A9);
    let plain_text = emoji.chars().any(|c| c.is_alphabetic() || c.is_whitespace() || c.is_control());
    if points == 0 || points > 8 || emoji.len() > 32 || !pictographic || plain_text {
        return fail("emoji", "A reaction is one emoji.");
    }
    Ok(())
}

/// Checks a room label: 1–64 characters, not blank, no control characters.
pub fn room_label(label: &str) -> Result<(), FieldError> {
    let trimmed = label.trim();
    if trimmed.is_empty() {
        return fail("label", "Give the room a name.");
    }
    if trimmed.chars().count() > *ROOM_LABEL_CHARS.end() {
        return fail("label", format!("A room name can be at most {} characters.", ROOM_LABEL_CHARS.end()));
    }
    if trimmed.chars().any(char::is_control) {
        return fail("label", "A room name cannot contain control characters.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_emails_and_rejects_malformed_ones() {
        assert!(email("ada@example.com").is_ok());
        assert!(email("  Ada.L+x@mail.example.org ").is_ok());
        for bad in
            ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "a@b@c.com", "ada@.com"]
        {
            assert_eq!(email(bad).unwrap_err().field, "email", "{bad:?} accepted");
        }
    }

    #[test]
    fn an_attachment_keeps_only_its_file_name() {
        assert_eq!(attachment_name("photo.jpg").as_deref(), Some("photo.jpg"));
        assert_eq!(attachment_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(attachment_name("C:\\Users\\ada\\cat.png").as_deref(), Some("cat.png"));
        assert_eq!(attachment_name("a\nb\u{0}.txt").as_deref(), Some("ab.txt"));
        assert_eq!(attachment_name("dir/"), None);
        assert_eq!(attachment_name(".."), None);
        assert_eq!(
            attachment_name(&"é".repeat(300)).map(|n| n.chars().count()),
            Some(ATTACHMENT_NAME_MAX_CHARS)
        );
    }

    #[test]
    fn a_message_may_be_only_files() {
        assert!(message_body("", 1).is_ok());
        assert_eq!(message_body("", 0).unwrap_err().field, "content");
        assert_eq!(message_body("hi", ATTACHMENTS_PER_MESSAGE + 1).unwrap_err().field, "attachments");
        assert!(message_body("hi", 0).is_ok());
    }

    #[test]
    fn username_length_counts_characters_not_bytes() {
        assert!(username("ab").is_ok());
        assert!(username("a").is_err());
        assert!(username(&"é".repeat(32)).is_ok());
        assert!(username(&"é".repeat(33)).is_err());
        assert!(username("   ").is_err());
        assert!(username("a\u{7}b").is_err());
    }

    #[test]
    fn password_length_is_bytes() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(128)).is_ok());
        assert!(password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn message_and_nonce_rules() {
        assert!(message_content("hi 👋").is_ok());
        assert!(message_content(" \n ").is_err());
        assert!(message_content(&"😀".repeat(MESSAGE_MAX_CHARS)).is_ok());
        assert!(message_content(&"😀".repeat(MESSAGE_MAX_CHARS + 1)).is_err());
        assert!(nonce("c-1").is_ok());
        assert!(nonce("").is_err());
        assert!(nonce("has space").is_err());
        assert!(nonce(&"n".repeat(65)).is_err());
    }

    #[test]
    fn reactions_are_single_emoji() {
        for good in ["👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", "©"] {
            assert!(reaction_emoji(good).is_ok(), "{good:?} refused");
        }
        for bad in ["", "a", "ok", "👍 ", "é", "\u{7}", "👍👍👍👍👍👍👍👍👍", "<b>"] {
            assert!(reaction_emoji(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn room_labels() {
        assert!(room_label("Game night 🎲").is_ok());
        assert!(room_label(&"é".repeat(64)).is_ok());
        assert_eq!(room_label(&"é".repeat(65)).unwrap_err().field, "label");
        assert!(room_label("  ").is_err());
        assert!(room_label("a\nb").is_err());
    }
}
