//! The `direct_messages` and `dm_read_state` tables.

use concord_common::{DirectMessage, MessageId, UnreadCount, UserId};
use sqlx::AnyPool;

use super::chat::Scope;
use super::{search, Backend};

/// Why a message was not stored.
#[derive(Debug)]
pub enum InsertOutcome {
    /// Stored now.
    Stored,
    /// The sender already used this nonce: here is the original.
    Duplicate(Box<DirectMessage>),
}

type Row = (i64, i64, i64, String, String, i64, Option<i64>, Option<i64>);
const COLUMNS: &str = "id, sender_id, recipient_id, content, nonce, created_at_ms, edited_at_ms, reply_to";

/// A message as stored; its reactions and reply preview are added by the service.
fn message(
    (id, sender, recipient, content, nonce, created_at_ms, edited_at_ms, reply_to): Row,
) -> DirectMessage {
    DirectMessage {
        id: MessageId(id),
        sender_id: UserId(sender),
        recipient_id: UserId(recipient),
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

/// Message `id` between `a` and `b`, if it exists.
pub async fn by_id(
    pool: &AnyPool,
    a: UserId,
    b: UserId,
    id: MessageId,
) -> Result<Option<DirectMessage>, sqlx::Error> {
    let (low, high) = pair(a, b);
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM direct_messages WHERE id = ? AND user_low = ? AND user_high = ?"
    )))
    .bind(id.0)
    .bind(low)
    .bind(high)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(message))
}

fn pair(a: UserId, b: UserId) -> (i64, i64) {
    (a.0.min(b.0), a.0.max(b.0))
}

/// The message `sender` sent with `nonce`, if any.
pub async fn by_nonce(
    pool: &AnyPool,
    sender: UserId,
    nonce: &str,
) -> Result<Option<DirectMessage>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM direct_messages WHERE sender_id = ? AND nonce = ?"
    )))
    .bind(sender.0)
    .bind(nonce)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(message))
}

const INSERT: &str = "INSERT INTO direct_messages \
     (id, user_low, user_high, sender_id, recipient_id, nonce, content, created_at_ms, reply_to) VALUES ";
const PLACEHOLDERS: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn bind_message<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    m: &'q DirectMessage,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let (low, high) = pair(m.sender_id, m.recipient_id);
    query
        .bind(m.id.0)
        .bind(low)
        .bind(high)
        .bind(m.sender_id.0)
        .bind(m.recipient_id.0)
        .bind(&m.nonce)
        .bind(&m.content)
        .bind(m.created_at_ms)
        .bind(m.reply_to.map(|r| r.0))
}

/// What the search index needs of a message.
fn search_entry(m: &DirectMessage) -> (Scope, MessageId, &str) {
    (Scope::Dm(m.sender_id, m.recipient_id), m.id, m.content.as_str())
}

/// Stores messages that arrived together in one transaction (group commit):
/// one multi-row INSERT and one commit for the lot. A message whose sender
/// already used its nonce is not stored again; its outcome carries the
/// original. Outcomes are in the order of `batch`.
pub async fn insert_batch(
    pool: &AnyPool,
    batch: &[&DirectMessage],
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // On MariaDB the words of each message go into the search index in the
    // same transaction; SQLite's FTS5 triggers do it there.
    let indexed = Backend::of(pool) == Backend::MySql;
    let sql = format!("{INSERT}{}", vec![PLACEHOLDERS; batch.len()].join(", "));
    let query = batch.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, m| bind_message(query, m));
    let inserted = if indexed {
        let mut tx = pool.begin().await?;
        match query.execute(&mut *tx).await {
            Ok(_) => {
                let entries: Vec<_> = batch.iter().map(|m| search_entry(m)).collect();
                search::words::add(&mut tx, &entries).await?;
                tx.commit().await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    } else {
        query.execute(pool).await.map(|_| ())
    };
    match inserted {
        Ok(()) => return Ok(batch.iter().map(|_| InsertOutcome::Stored).collect()),
        Err(e) if super::is_unique_violation(&e) => {}
        Err(e) => return Err(e),
    }
    // Some message is a resend (rare): store them one by one in one
    // transaction, each refused duplicate leaving the rest untouched. On
    // SQLite the transaction takes the write lock at once (IMMEDIATE): a
    // deferred one whose first INSERT is refused can meet a batch committing
    // beside it and fail "database is locked" at once, without waiting.
    let mut tx = match Backend::of(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::MySql => pool.begin().await?,
    };
    let mut stored = Vec::with_capacity(batch.len());
    for m in batch {
        let one = bind_message(sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT}{PLACEHOLDERS}"))), m);
        match one.execute(&mut *tx).await {
            Ok(_) => stored.push(true),
            Err(e) if super::is_unique_violation(&e) => stored.push(false),
            Err(e) => return Err(e),
        }
    }
    if indexed {
        let entries: Vec<_> =
            batch.iter().zip(&stored).filter(|(_, s)| **s).map(|(m, _)| search_entry(m)).collect();
        search::words::add(&mut tx, &entries).await?;
    }
    tx.commit().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (m, stored) in batch.iter().zip(stored) {
        if stored {
            outcomes.push(InsertOutcome::Stored);
            continue;
        }
        match by_nonce(pool, m.sender_id, &m.nonce).await? {
            Some(original) => outcomes.push(InsertOutcome::Duplicate(Box::new(original))),
            // Refused, yet no message with its nonce: the id itself collided.
            None => return Err(sqlx::Error::Protocol("message id collision".into())),
        }
    }
    Ok(outcomes)
}

/// Up to `limit` messages between `a` and `b` older than `before`, newest first.
///
/// MariaDB's optimiser picks a `ref` scan on (user_low, user_high) and filters
/// `id` row by row — O(depth) for old pages (0.7 s at 500k deep) — unless told
/// to use the full (user_low, user_high, id) range; SQLite plans it right.
pub async fn page(
    pool: &AnyPool,
    backend: Backend,
    a: UserId,
    b: UserId,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Vec<DirectMessage>, sqlx::Error> {
    let (low, high) = pair(a, b);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM direct_messages{hint} WHERE user_low = ? AND user_high = ? AND id < ? \
         ORDER BY id DESC LIMIT ?",
        hint = match backend {
            Backend::MySql => " FORCE INDEX (direct_messages_conversation)",
            Backend::Sqlite => "",
        }
    )))
    .bind(low)
    .bind(high)
    .bind(before.map_or(i64::MAX, |m| m.0))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(message).collect())
}

/// The newest message between `a` and `b`.
pub async fn newest_id(pool: &AnyPool, a: UserId, b: UserId) -> Result<Option<MessageId>, sqlx::Error> {
    let (low, high) = pair(a, b);
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM direct_messages WHERE user_low = ? AND user_high = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(low)
    .bind(high)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id,)| MessageId(id)))
}

/// Moves `user`'s read marker in the conversation with `peer` forward to `up_to`
/// (never backwards).
pub async fn mark_read(
    pool: &AnyPool,
    user: UserId,
    peer: UserId,
    up_to: MessageId,
) -> Result<(), sqlx::Error> {
    // UPDATE, else INSERT; a unique violation means another request inserted
    // first, so update once more. Portable where upsert syntax is not.
    for _ in 0..2 {
        let updated = sqlx::query(
            "UPDATE dm_read_state SET last_read_id = ? WHERE user_id = ? AND peer_id = ? AND last_read_id < ?",
        )
        .bind(up_to.0)
        .bind(user.0)
        .bind(peer.0)
        .bind(up_to.0)
        .execute(pool)
        .await?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let inserted =
            sqlx::query("INSERT INTO dm_read_state (user_id, peer_id, last_read_id) VALUES (?, ?, ?)")
                .bind(user.0)
                .bind(peer.0)
                .bind(up_to.0)
                .execute(pool)
                .await;
        match inserted {
            Ok(_) => return Ok(()),
            Err(e) if super::is_unique_violation(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Unread messages per friend for `user` (only friends with some unread).
pub async fn unread_counts(pool: &AnyPool, user: UserId) -> Result<Vec<UnreadCount>, sqlx::Error> {
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT m.sender_id, COUNT(*), r.last_read_id FROM direct_messages m \
         JOIN friendships f ON f.user_id = ? AND f.friend_id = m.sender_id \
         LEFT JOIN dm_read_state r ON r.user_id = ? AND r.peer_id = m.sender_id \
         WHERE m.recipient_id = ? AND m.id > COALESCE(r.last_read_id, 0) \
         GROUP BY m.sender_id, r.last_read_id ORDER BY m.sender_id",
    )
    .bind(user.0)
    .bind(user.0)
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(sender, count, last_read)| UnreadCount {
            user_id: UserId(sender),
            count: count.max(0) as u64,
            last_read_id: last_read.map(MessageId),
        })
        .collect())
}
