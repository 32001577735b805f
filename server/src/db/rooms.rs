//! The `rooms`, `room_members` and `room_messages` tables.

use std::collections::HashMap;

use concord_common::{AttachmentId, MessageId, PublicUser, Room, RoomId, RoomMessage, UserId};
use sqlx::AnyPool;

use super::chat::Scope;
use super::{search, Backend};

/// What adding a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMember {
    /// Added now.
    Added,
    /// They were a member already.
    AlreadyMember,
    /// The room holds `max` members already; nothing changed.
    Full,
}

/// Stores a new room with its owner as first member.
pub async fn create(
    pool: &AnyPool,
    id: RoomId,
    label: &str,
    owner: UserId,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO rooms (id, label, owner_id, created_at_ms) VALUES (?, ?, ?, ?)")
        .bind(id.0)
        .bind(label)
        .bind(owner.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO room_members (room_id, user_id, added_at_ms) VALUES (?, ?, ?)")
        .bind(id.0)
        .bind(owner.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// How many rooms `owner` owns.
pub async fn count_owned(pool: &AnyPool, owner: UserId) -> Result<usize, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM rooms WHERE owner_id = ?").bind(owner.0).fetch_one(pool).await?;
    Ok(count.max(0) as usize)
}

/// A room's owner, if the room exists.
pub async fn owner(pool: &AnyPool, room: RoomId) -> Result<Option<UserId>, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT owner_id FROM rooms WHERE id = ?").bind(room.0).fetch_optional(pool).await?;
    Ok(row.map(|(owner,)| UserId(owner)))
}

/// Whether `user` is a member of `room`.
pub async fn is_member(pool: &AnyPool, room: RoomId, user: UserId) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM room_members WHERE room_id = ? AND user_id = ?")
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

/// Everyone in `room`, in the order they were added.
pub async fn member_ids(pool: &AnyPool, room: RoomId) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT user_id FROM room_members WHERE room_id = ? ORDER BY added_at_ms, user_id")
            .bind(room.0)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
}

/// One room with its members.
pub async fn get(pool: &AnyPool, room: RoomId) -> Result<Option<Room>, sqlx::Error> {
    let row: Option<(i64, String, i64, i64)> =
        sqlx::query_as("SELECT id, label, owner_id, created_at_ms FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(pool)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let members: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id = ? ORDER BY m.added_at_ms, u.id",
    )
    .bind(room.0)
    .fetch_all(pool)
    .await?;
    Ok(assemble(vec![row], members).pop())
}

/// Every room `user` is a member of, oldest first, with members.
pub async fn list_for(pool: &AnyPool, user: UserId) -> Result<Vec<Room>, sqlx::Error> {
    let rooms: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT r.id, r.label, r.owner_id, r.created_at_ms FROM room_members m JOIN rooms r ON r.id = m.room_id \
         WHERE m.user_id = ? ORDER BY r.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?) \
         ORDER BY m.room_id, m.added_at_ms, u.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(assemble(rooms, members))
}

fn assemble(rooms: Vec<(i64, String, i64, i64)>, members: Vec<(i64, i64, String)>) -> Vec<Room> {
    let mut by_room: HashMap<i64, Vec<PublicUser>> = HashMap::new();
    for (room, id, username) in members {
        by_room.entry(room).or_default().push(PublicUser { id: UserId(id), username });
    }
    rooms
        .into_iter()
        .map(|(id, label, owner, created_at_ms)| Room {
            id: RoomId(id),
            label,
            owner_id: UserId(owner),
            members: by_room.remove(&id).unwrap_or_default(),
            in_call: Vec::new(),
            created_at_ms,
        })
        .collect()
}

/// Renames a room; `Ok(false)` if it no longer exists.
pub async fn rename(pool: &AnyPool, room: RoomId, label: &str) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE rooms SET label = ? WHERE id = ?").bind(label).bind(room.0).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a room with its members, chat and the chat's reactions, and
/// discards the chat's attachments (whose ids it returns, for their bytes to
/// go); `Ok(None)` if it was already gone.
pub async fn delete(
    pool: &AnyPool,
    room: RoomId,
    now_ms: i64,
) -> Result<Option<Vec<AttachmentId>>, sqlx::Error> {
    const ROOM_CHAT: &str = "SELECT id FROM room_messages WHERE room_id = ?";
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM message_reactions WHERE message_id IN ({ROOM_CHAT})"
    )))
    .bind(room.0)
    .execute(&mut *tx)
    .await?;
    let discarded = super::attachments::discard_of(&mut tx, ROOM_CHAT, room.0, now_ms).await?;
    if Backend::of(pool) == Backend::MySql {
        search::words::remove_room(&mut tx, room).await?;
    }
    let done = sqlx::query("DELETE FROM rooms WHERE id = ?").bind(room.0).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(discarded))
}

/// Adds `user` to `room` unless it already holds `max` members.
pub async fn add_member(
    pool: &AnyPool,
    room: RoomId,
    user: UserId,
    max: usize,
    now_ms: i64,
) -> Result<AddMember, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The write first (SQLite then holds the write lock for the count), and
    // the count after it: two concurrent adds cannot both squeeze in.
    let inserted = sqlx::query("INSERT INTO room_members (room_id, user_id, added_at_ms) VALUES (?, ?, ?)")
        .bind(room.0)
        .bind(user.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) if super::is_unique_violation(&e) => return Ok(AddMember::AlreadyMember),
        Err(e) => return Err(e),
    }
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_members WHERE room_id = ?")
        .bind(room.0)
        .fetch_one(&mut *tx)
        .await?;
    if count.max(0) as usize > max {
        tx.rollback().await?;
        return Ok(AddMember::Full);
    }
    tx.commit().await?;
    Ok(AddMember::Added)
}

/// Removes `user` from `room`; `Ok(false)` if they were not a member.
pub async fn remove_member(pool: &AnyPool, room: RoomId, user: UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM room_members WHERE room_id = ? AND user_id = ?")
        .bind(room.0)
        .bind(user.0)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

type MessageRow = (i64, i64, i64, String, String, i64, Option<i64>, Option<i64>);
const MESSAGE_COLUMNS: &str = "id, room_id, sender_id, content, nonce, created_at_ms, edited_at_ms, reply_to";

/// A message as stored; its reactions and reply preview are added by the service.
fn message(
    (id, room, sender, content, nonce, created_at_ms, edited_at_ms, reply_to): MessageRow,
) -> RoomMessage {
    RoomMessage {
        id: MessageId(id),
        room_id: RoomId(room),
        sender_id: UserId(sender),
        mentions: concord_common::chat::mentions(&content),
        content,
        nonce,
        created_at_ms,
        edited_at_ms,
        reply_to: reply_to.map(MessageId),
        reply_preview: None,
        reactions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Message `id` of `room`, if it exists.
pub async fn message_by_id(
    pool: &AnyPool,
    room: RoomId,
    id: MessageId,
) -> Result<Option<RoomMessage>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM room_messages WHERE id = ? AND room_id = ?"
    )))
    .bind(id.0)
    .bind(room.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(message))
}

/// Stores a chat message; `Ok(Some(original))` instead if its sender already
/// used its nonce in this room.
pub async fn insert_message(pool: &AnyPool, m: &RoomMessage) -> Result<Option<RoomMessage>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO room_messages (id, room_id, sender_id, nonce, content, created_at_ms, reply_to) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(m.id.0)
    .bind(m.room_id.0)
    .bind(m.sender_id.0)
    .bind(&m.nonce)
    .bind(&m.content)
    .bind(m.created_at_ms)
    .bind(m.reply_to.map(|r| r.0))
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {
            // MariaDB's search index (SQLite's FTS5 triggers do it there).
            if Backend::of(pool) == Backend::MySql {
                search::words::add(&mut tx, &[(Scope::Room(m.room_id), m.id, m.content.as_str())]).await?;
            }
            tx.commit().await?;
            Ok(None)
        }
        Err(e) if super::is_unique_violation(&e) => {
            drop(tx);
            // Refused, yet no message with its nonce: the id itself collided.
            message_by_nonce(pool, m.room_id, m.sender_id, &m.nonce)
                .await?
                .map(Some)
                .ok_or_else(|| sqlx::Error::Protocol("message id collision".into()))
        }
        Err(e) => Err(e),
    }
}

/// The message `sender` sent to `room` with `nonce`, if any.
pub async fn message_by_nonce(
    pool: &AnyPool,
    room: RoomId,
    sender: UserId,
    nonce: &str,
) -> Result<Option<RoomMessage>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM room_messages WHERE room_id = ? AND sender_id = ? AND nonce = ?"
    )))
    .bind(room.0)
    .bind(sender.0)
    .bind(nonce)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(message))
}

/// Up to `limit` messages of `room` older than `before`, newest first.
pub async fn message_page(
    pool: &AnyPool,
    room: RoomId,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Vec<RoomMessage>, sqlx::Error> {
    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM room_messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
    )))
    .bind(room.0)
    .bind(before.map_or(i64::MAX, |m| m.0))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(message).collect())
}
