//! The `attachments` table: uploaded files, the message each was sent in,
//! and the uploads that count towards a person's daily limit.

use concord_common::{AttachmentId, MessageId, RoomId, UserId};
use sqlx::{AnyConnection, AnyPool};

/// An attachment as stored (its links are made by the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// Its id (also its key in the file store).
    pub id: AttachmentId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// The file's name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The real type of a picture, the declared one of anything else.
    pub content_type: String,
    /// A picture's size as shown; `None` for other files.
    pub dimensions: Option<(u32, u32)>,
    /// When it was uploaded.
    pub created_at_ms: i64,
    /// The message it was sent in (`None`: not sent yet).
    pub message_id: Option<MessageId>,
}

type Row = (i64, i64, String, i64, String, Option<i64>, Option<i64>, i64, Option<i64>);
const COLUMNS: &str = "id, uploader_id, name, size, content_type, width, height, created_at_ms, message_id";

fn attachment(
    (id, uploader, name, size, content_type, width, height, created_at_ms, message): Row,
) -> AttachmentRow {
    AttachmentRow {
        id: AttachmentId(id),
        uploader_id: UserId(uploader),
        name,
        size: size.max(0) as u64,
        content_type,
        dimensions: width
            .zip(height)
            .map(|(w, h)| (w.clamp(0, u32::MAX.into()) as u32, h.clamp(0, u32::MAX.into()) as u32)),
        created_at_ms,
        message_id: message.map(MessageId),
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Stores a new upload (not yet in a message).
pub async fn insert(pool: &AnyPool, a: &AttachmentRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO attachments (id, uploader_id, name, size, content_type, width, height, created_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(a.id.0)
    .bind(a.uploader_id.0)
    .bind(&a.name)
    .bind(a.size as i64)
    .bind(&a.content_type)
    .bind(a.dimensions.map(|(w, _)| i64::from(w)))
    .bind(a.dimensions.map(|(_, h)| i64::from(h)))
    .bind(a.created_at_ms)
    .execute(pool)
    .await?;
    Ok(())
}

/// Bytes `user` uploaded since `since_ms` (discarded uploads included).
pub async fn uploaded_since(pool: &AnyPool, user: UserId, since_ms: i64) -> Result<u64, sqlx::Error> {
    let sizes: Vec<(i64,)> =
        sqlx::query_as("SELECT size FROM attachments WHERE uploader_id = ? AND created_at_ms >= ?")
            .bind(user.0)
            .bind(since_ms)
            .fetch_all(pool)
            .await?;
    Ok(sizes.into_iter().map(|(size,)| size.max(0) as u64).sum())
}

/// Those of `ids` that `uploader` uploaded since `since_ms` and has not sent
/// yet (in the order of `ids`).
pub async fn unsent(
    pool: &AnyPool,
    uploader: UserId,
    ids: &[AttachmentId],
    since_ms: i64,
) -> Result<Vec<AttachmentRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments WHERE id IN ({}) AND uploader_id = ? AND message_id IS NULL \
         AND discarded_at_ms IS NULL AND created_at_ms >= ?",
        placeholders(ids.len())
    );
    let query = ids.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.0));
    let rows: Vec<Row> = query.bind(uploader.0).bind(since_ms).fetch_all(pool).await?;
    let mut found: Vec<AttachmentRow> = rows.into_iter().map(attachment).collect();
    found.sort_by_key(|a| ids.iter().position(|id| *id == a.id));
    Ok(found)
}

/// Puts those of `ids` that `uploader` has not sent yet into `message`;
/// how many it took.
pub async fn claim(
    pool: &AnyPool,
    message: MessageId,
    uploader: UserId,
    ids: &[AttachmentId],
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE attachments SET message_id = ? WHERE id IN ({}) AND uploader_id = ? AND message_id IS NULL \
         AND discarded_at_ms IS NULL",
        placeholders(ids.len())
    );
    let query = ids.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(message.0), |q, id| q.bind(id.0));
    Ok(query.bind(uploader.0).execute(pool).await?.rows_affected())
}

/// The attachments of `messages`, oldest first.
pub async fn of_messages(pool: &AnyPool, messages: &[MessageId]) -> Result<Vec<AttachmentRow>, sqlx::Error> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments WHERE message_id IN ({}) AND discarded_at_ms IS NULL ORDER BY id",
        placeholders(messages.len())
    );
    let query = messages.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.0));
    let rows: Vec<Row> = query.fetch_all(pool).await?;
    Ok(rows.into_iter().map(attachment).collect())
}

/// Where an attachment was sent: who may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Not sent yet: only its uploader.
    Unsent,
    /// In a direct message between these two.
    Dm(UserId, UserId),
    /// In a room's chat: its members.
    Room(RoomId),
}

/// Attachment `id` (unless discarded) and where it was sent.
pub async fn located(
    pool: &AnyPool,
    id: AttachmentId,
) -> Result<Option<(AttachmentRow, Place)>, sqlx::Error> {
    let sql = format!(
        "SELECT a.{}, dm.sender_id, dm.recipient_id, rm.room_id FROM attachments a \
         LEFT JOIN direct_messages dm ON dm.id = a.message_id \
         LEFT JOIN room_messages rm ON rm.id = a.message_id \
         WHERE a.id = ? AND a.discarded_at_ms IS NULL",
        COLUMNS.replace(", ", ", a.")
    );
    type Located = (
        i64,
        i64,
        String,
        i64,
        String,
        Option<i64>,
        Option<i64>,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Located> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_optional(pool).await?;
    Ok(row.and_then(
        |(
            id,
            uploader,
            name,
            size,
            content_type,
            width,
            height,
            created,
            message,
            sender,
            recipient,
            room,
        )| {
            let row = attachment((id, uploader, name, size, content_type, width, height, created, message));
            let place = match (row.message_id, sender.zip(recipient), room) {
                (None, ..) => Place::Unsent,
                (Some(_), Some((a, b)), _) => Place::Dm(UserId(a), UserId(b)),
                (Some(_), None, Some(room)) => Place::Room(RoomId(room)),
                // Its message is gone (deleted while this row was being read).
                (Some(_), None, None) => return None,
            };
            Some((row, place))
        },
    ))
}

/// Marks the attachments of the messages `sql_messages` selects (a subquery
/// bound with `bind`) discarded; returns their ids, for their bytes to go.
pub(super) async fn discard_of(
    conn: &mut AnyConnection,
    messages_subquery: &str,
    bind: i64,
    now_ms: i64,
) -> Result<Vec<AttachmentId>, sqlx::Error> {
    let select = format!(
        "SELECT id FROM attachments WHERE message_id IN ({messages_subquery}) AND discarded_at_ms IS NULL"
    );
    let ids: Vec<(i64,)> =
        sqlx::query_as(sqlx::AssertSqlSafe(select)).bind(bind).fetch_all(&mut *conn).await?;
    let update = format!(
        "UPDATE attachments SET discarded_at_ms = ? WHERE message_id IN ({messages_subquery}) \
         AND discarded_at_ms IS NULL"
    );
    sqlx::query(sqlx::AssertSqlSafe(update)).bind(now_ms).bind(bind).execute(&mut *conn).await?;
    Ok(ids.into_iter().map(|(id,)| AttachmentId(id)).collect())
}

/// Marks uploads never sent and older than `before_ms` discarded; returns
/// their ids, for their bytes to go.
pub async fn discard_unsent(
    pool: &AnyPool,
    before_ms: i64,
    now_ms: i64,
) -> Result<Vec<AttachmentId>, sqlx::Error> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM attachments WHERE message_id IS NULL AND discarded_at_ms IS NULL AND created_at_ms < ?",
    )
    .bind(before_ms)
    .fetch_all(pool)
    .await?;
    let ids: Vec<AttachmentId> = ids.into_iter().map(|(id,)| AttachmentId(id)).collect();
    for chunk in ids.chunks(500) {
        let sql =
            format!("UPDATE attachments SET discarded_at_ms = ? WHERE id IN ({})", placeholders(chunk.len()));
        let query =
            chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms), |q, id| q.bind(id.0));
        query.execute(pool).await?;
    }
    Ok(ids)
}

/// Discarded uploads made before `before_ms` (no longer counted towards any
/// limit): their ids, for a last try at removing their bytes.
pub async fn expired_discards(pool: &AnyPool, before_ms: i64) -> Result<Vec<AttachmentId>, sqlx::Error> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM attachments WHERE discarded_at_ms IS NOT NULL AND created_at_ms < ? LIMIT 1000",
    )
    .bind(before_ms)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(|(id,)| AttachmentId(id)).collect())
}

/// Forgets discarded uploads `ids` for good.
pub async fn forget(pool: &AnyPool, ids: &[AttachmentId]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DELETE FROM attachments WHERE id IN ({}) AND discarded_at_ms IS NOT NULL",
        placeholders(ids.len())
    );
    ids.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.0)).execute(pool).await?;
    Ok(())
}
