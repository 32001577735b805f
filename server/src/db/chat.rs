//! What direct messages and room chat share in the database: edits, deletes,
//! the quoted line of replies, and the `message_reactions` table (message ids
//! are unique across both message tables, so one reactions table serves both).

use concord_common::{AttachmentId, MessageId, ReplyPreview, RoomId, UserId};
use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, AnyPool};

use super::{search, Backend};

/// Longest quoted line a reply carries of its original, in characters.
pub const PREVIEW_CHARS: usize = 200;

/// The conversation a message is looked for in: its table and its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Direct messages between two people.
    Dm(UserId, UserId),
    /// A room's chat.
    Room(RoomId),
}

impl Scope {
    fn table(self) -> &'static str {
        match self {
            Scope::Dm(..) => "direct_messages",
            Scope::Room(_) => "room_messages",
        }
    }

    /// The WHERE clause that keeps to this conversation (bound by [`Scope::bind`]).
    fn filter(self) -> &'static str {
        match self {
            Scope::Dm(..) => "user_low = ? AND user_high = ?",
            Scope::Room(_) => "room_id = ?",
        }
    }

    pub(super) fn values(self) -> Vec<i64> {
        match self {
            Scope::Dm(a, b) => vec![a.0.min(b.0), a.0.max(b.0)],
            Scope::Room(room) => vec![room.0],
        }
    }

    fn bind<'q>(self, query: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        self.values().into_iter().fold(query, |q, v| q.bind(v))
    }

    fn bind_as<'q, O>(self, query: QueryAs<'q, Any, O, AnyArguments>) -> QueryAs<'q, Any, O, AnyArguments> {
        self.values().into_iter().fold(query, |q, v| q.bind(v))
    }
}

/// Who wrote message `id` of this conversation (`None`: no such message here).
pub async fn sender(pool: &AnyPool, scope: Scope, id: MessageId) -> Result<Option<UserId>, sqlx::Error> {
    let sql = format!("SELECT sender_id FROM {} WHERE id = ? AND {}", scope.table(), scope.filter());
    let row: Option<(i64,)> =
        scope.bind_as(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.0)).fetch_optional(pool).await?;
    Ok(row.map(|(sender,)| UserId(sender)))
}

/// Replaces the text of message `id`. `Ok(false)`: nothing changed, because
/// the message is not here or `nonce` is the nonce of its last edit (a retry).
pub async fn edit(
    pool: &AnyPool,
    scope: Scope,
    id: MessageId,
    content: &str,
    nonce: Option<&str>,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    let indexed = Backend::of(pool) == Backend::MySql;
    let mut tx = pool.begin().await?;
    // MariaDB's search index drops the old text's words (SQLite's FTS5 triggers do it there).
    let before = if indexed { text_for_update(&mut tx, scope, id).await? } else { None };
    let sql = format!(
        "UPDATE {} SET content = ?, edited_at_ms = ?, edit_nonce = ? WHERE id = ? AND {} \
         AND (edit_nonce IS NULL OR ? IS NULL OR edit_nonce <> ?)",
        scope.table(),
        scope.filter()
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(content).bind(now_ms).bind(nonce).bind(id.0);
    let done = scope.bind(query).bind(nonce).bind(nonce).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if let Some(before) = before {
        search::words::remove(&mut tx, scope, id, &before).await?;
        search::words::add(&mut tx, &[(scope, id, content)]).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The text of message `id`, its row locked until the transaction ends.
async fn text_for_update(
    conn: &mut sqlx::AnyConnection,
    scope: Scope,
    id: MessageId,
) -> Result<Option<String>, sqlx::Error> {
    let sql = format!("SELECT content FROM {} WHERE id = ? AND {} FOR UPDATE", scope.table(), scope.filter());
    let row: Option<(String,)> =
        scope.bind_as(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.0)).fetch_optional(conn).await?;
    Ok(row.map(|(content,)| content))
}

/// Deletes message `id` and its reactions, and discards its attachments
/// (whose ids it returns, for their bytes to go). `Ok(None)`: it is not here.
pub async fn delete(
    pool: &AnyPool,
    scope: Scope,
    id: MessageId,
    now_ms: i64,
) -> Result<Option<Vec<AttachmentId>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let indexed_text =
        if Backend::of(pool) == Backend::MySql { text_for_update(&mut tx, scope, id).await? } else { None };
    let sql = format!("DELETE FROM {} WHERE id = ? AND {}", scope.table(), scope.filter());
    let done = scope.bind(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0)).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    if let Some(text) = indexed_text {
        search::words::remove(&mut tx, scope, id, &text).await?;
    }
    sqlx::query("DELETE FROM message_reactions WHERE message_id = ?").bind(id.0).execute(&mut *tx).await?;
    let discarded = super::attachments::discard_of(&mut tx, "?", id.0, now_ms).await?;
    tx.commit().await?;
    Ok(Some(discarded))
}

/// The quoted lines of the messages `ids` of this conversation that still
/// exist (any order).
pub async fn previews(
    pool: &AnyPool,
    scope: Scope,
    ids: &[MessageId],
) -> Result<Vec<ReplyPreview>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, sender_id, content FROM {} WHERE id IN ({}) AND {}",
        scope.table(),
        vec!["?"; ids.len()].join(", "),
        scope.filter()
    );
    let query = ids.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.0));
    let rows: Vec<(i64, i64, String)> = scope.bind_as(query).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, sender, content)| ReplyPreview {
            id: MessageId(id),
            sender_id: UserId(sender),
            content: content.chars().take(PREVIEW_CHARS).collect(),
        })
        .collect())
}

/// What [`add_reaction`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddReaction {
    /// Stored now.
    Added,
    /// This person had already reacted with this emoji.
    AlreadyThere,
    /// The message already carries `max_emoji` different emoji.
    TooMany,
}

/// Adds `user`'s reaction `emoji` to `message`, unless that would give the
/// message more than `max_emoji` different emoji.
pub async fn add_reaction(
    pool: &AnyPool,
    message: MessageId,
    emoji: &str,
    user: UserId,
    max_emoji: usize,
    now_ms: i64,
) -> Result<AddReaction, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The write first, the count after it (as for room members): two
    // concurrent new emoji cannot both squeeze past the limit.
    let inserted = sqlx::query(
        "INSERT INTO message_reactions (message_id, emoji_hex, user_id, created_at_ms) VALUES (?, ?, ?, ?)",
    )
    .bind(message.0)
    .bind(to_hex(emoji))
    .bind(user.0)
    .bind(now_ms)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if super::is_unique_violation(&e) => return Ok(AddReaction::AlreadyThere),
        Err(e) => return Err(e),
    }
    let (distinct,): (i64,) =
        sqlx::query_as("SELECT COUNT(DISTINCT emoji_hex) FROM message_reactions WHERE message_id = ?")
            .bind(message.0)
            .fetch_one(&mut *tx)
            .await?;
    if distinct.max(0) as usize > max_emoji {
        tx.rollback().await?;
        return Ok(AddReaction::TooMany);
    }
    tx.commit().await?;
    Ok(AddReaction::Added)
}

/// Takes back `user`'s reaction `emoji` on `message`; `Ok(false)` if there was none.
pub async fn remove_reaction(
    pool: &AnyPool,
    message: MessageId,
    emoji: &str,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM message_reactions WHERE message_id = ? AND emoji_hex = ? AND user_id = ?")
            .bind(message.0)
            .bind(to_hex(emoji))
            .bind(user.0)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// One person's reaction: (message, emoji, who).
pub type ReactionRow = (MessageId, String, UserId);

/// Every reaction on `messages`, oldest first.
pub async fn reactions(pool: &AnyPool, messages: &[MessageId]) -> Result<Vec<ReactionRow>, sqlx::Error> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT message_id, emoji_hex, user_id FROM message_reactions WHERE message_id IN ({}) \
         ORDER BY created_at_ms, user_id",
        vec!["?"; messages.len()].join(", ")
    );
    let query = messages.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.0));
    let rows: Vec<(i64, String, i64)> = query.fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(message, hex, user)| Some((MessageId(message), from_hex(&hex)?, UserId(user))))
        .collect())
}

/// An emoji as stored: the lower-case hex of its UTF-8 bytes (compared byte
/// for byte on both databases, whatever their collation).
fn to_hex(emoji: &str) -> String {
    emoji.bytes().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_survive_their_stored_form() {
        for emoji in ["👍", "👨‍👩‍👧", "❤️", "1️⃣"] {
            assert_eq!(from_hex(&to_hex(emoji)).as_deref(), Some(emoji));
        }
        assert_eq!(to_hex("👍"), "f09f918d");
        assert_eq!(from_hex("f09"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
