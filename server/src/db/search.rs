//! Word search over message text: SQLite's FTS5 (external-content tables
//! kept current by triggers) or MySQL/MariaDB's FULLTEXT indexes, made at
//! start-up by [`ensure_index`] because the two engines share no syntax for
//! them (the migrations are the same files on both). Every query here keeps
//! to the conversations the searcher is in.

use concord_common::{MessageId, RoomId, UserId};
use sqlx::AnyPool;

use super::Backend;

/// The tables searched.
const TABLES: [&str; 2] = ["direct_messages", "room_messages"];

/// Makes the search index of each message table if it is missing (and, for
/// SQLite, fills it from the messages already there).
pub async fn ensure_index(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    for table in TABLES {
        match backend {
            Backend::Sqlite => ensure_fts5(pool, table).await?,
            Backend::MySql => ensure_fulltext(pool, table).await?,
        }
    }
    Ok(())
}

async fn ensure_fts5(pool: &AnyPool, table: &str) -> Result<(), sqlx::Error> {
    let fts = format!("{table}_fts");
    let existing: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(&fts)
            .fetch_optional(pool)
            .await?;
    let mut tx = pool.begin().await?;
    let statements = [
        format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(content, content='{table}', content_rowid='id', \
             tokenize='unicode61 remove_diacritics 2')"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} BEGIN \
             INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN \
             INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF content ON {table} BEGIN \
             INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); \
             INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END"
        ),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await?;
    }
    if existing.is_none() {
        // Messages stored before search existed.
        sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {fts}({fts}) VALUES ('rebuild')")))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

async fn ensure_fulltext(pool: &AnyPool, table: &str) -> Result<(), sqlx::Error> {
    let index = format!("{table}_search");
    let existing: Option<(String,)> = sqlx::query_as(
        "SELECT index_name FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1",
    )
    .bind(table)
    .bind(&index)
    .fetch_optional(pool)
    .await?;
    if existing.is_none() {
        tracing::info!(table, "building the message search index (once; large histories take a while)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE FULLTEXT INDEX {index} ON {table} (content)")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The words of a search as the engine's query: every word must appear,
/// the last one as a prefix (what is being typed). `None`: no word at all.
pub fn match_expression(backend: Backend, words: &str) -> Option<String> {
    let words: Vec<String> = words
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '_' || *c == '\'').collect::<String>())
        .filter(|w| !w.is_empty())
        .take(16)
        .collect();
    let last = words.len().checked_sub(1)?;
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let prefix = if i == last { "*" } else { "" };
            match backend {
                // A quoted phrase of one word; quotes inside doubled.
                Backend::Sqlite => format!("\"{}\"{prefix}", word.replace('"', "\"\"")),
                // Required (+), apostrophes dropped (they split words in the index).
                Backend::MySql => format!("+{}{prefix}", word.replace('\'', "")),
            }
        })
        .collect();
    Some(terms.join(" "))
}

/// A message found: its place, id, author, text and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The other person of a DM (as the searcher sees it), or the room.
    pub place: HitPlace,
    /// The message.
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Its text.
    pub content: String,
    /// When it was stored.
    pub created_at_ms: i64,
    /// When it was last edited.
    pub edited_at_ms: Option<i64>,
}

/// Where a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitPlace {
    /// A DM with this person.
    Dm(UserId),
    /// A room's chat.
    Room(RoomId),
}

/// Where to search: everything `me` is in, or one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// Every DM and room of the searcher's.
    Everywhere,
    /// The DM with this person.
    Dm(UserId),
    /// This room's chat.
    Room(RoomId),
}

/// Up to `limit` messages older than `before` matching `expression` (from
/// [`match_expression`]) in the conversations `me` is in (or `within` one of
/// them), written by `from` if given; newest first.
#[allow(clippy::too_many_arguments)]
pub async fn search(
    pool: &AnyPool,
    backend: Backend,
    me: UserId,
    expression: &str,
    within: Within,
    from: Option<UserId>,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Vec<Hit>, sqlx::Error> {
    let before = before.map_or(i64::MAX, |m| m.0);
    let mut hits = Vec::new();
    if matches!(within, Within::Everywhere | Within::Dm(_)) {
        hits.extend(search_dms(pool, backend, me, expression, within, from, before, limit).await?);
    }
    if matches!(within, Within::Everywhere | Within::Room(_)) {
        hits.extend(search_rooms(pool, backend, me, expression, within, from, before, limit).await?);
    }
    hits.sort_by_key(|h| std::cmp::Reverse(h.id));
    hits.truncate(limit as usize);
    Ok(hits)
}

/// How a table's text is matched: the FTS5 table joined by rowid, or MATCH … AGAINST.
fn matching(backend: Backend, table: &str, alias: &str) -> (String, String) {
    match backend {
        Backend::Sqlite => {
            (format!(" JOIN {table}_fts f ON f.rowid = {alias}.id"), "f.content MATCH ?".into())
        }
        Backend::MySql => (String::new(), format!("MATCH({alias}.content) AGAINST (? IN BOOLEAN MODE)")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn search_dms(
    pool: &AnyPool,
    backend: Backend,
    me: UserId,
    expression: &str,
    within: Within,
    from: Option<UserId>,
    before: i64,
    limit: u32,
) -> Result<Vec<Hit>, sqlx::Error> {
    let (join, matches) = matching(backend, "direct_messages", "d");
    let (place, values): (&str, Vec<i64>) = match within {
        Within::Dm(peer) => ("d.user_low = ? AND d.user_high = ?", vec![me.0.min(peer.0), me.0.max(peer.0)]),
        // Conversations with friends only (history with former friends is closed too).
        _ => (
            "((d.sender_id = ? AND d.recipient_id IN (SELECT friend_id FROM friendships WHERE user_id = ?)) \
             OR (d.recipient_id = ? AND d.sender_id IN (SELECT friend_id FROM friendships WHERE user_id = ?)))",
            vec![me.0, me.0, me.0, me.0],
        ),
    };
    let author = if from.is_some() { " AND d.sender_id = ?" } else { "" };
    let sql = format!(
        "SELECT d.id, d.sender_id, d.recipient_id, d.content, d.created_at_ms, d.edited_at_ms \
         FROM direct_messages d{join} WHERE {matches} AND {place}{author} AND d.id < ? \
         ORDER BY d.id DESC LIMIT ?"
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(expression);
    for value in values {
        query = query.bind(value);
    }
    if let Some(from) = from {
        query = query.bind(from.0);
    }
    let rows: Vec<(i64, i64, i64, String, i64, Option<i64>)> =
        query.bind(before).bind(i64::from(limit)).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, sender, recipient, content, created_at_ms, edited_at_ms)| Hit {
            place: HitPlace::Dm(UserId(if sender == me.0 { recipient } else { sender })),
            id: MessageId(id),
            sender_id: UserId(sender),
            content,
            created_at_ms,
            edited_at_ms,
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn search_rooms(
    pool: &AnyPool,
    backend: Backend,
    me: UserId,
    expression: &str,
    within: Within,
    from: Option<UserId>,
    before: i64,
    limit: u32,
) -> Result<Vec<Hit>, sqlx::Error> {
    let (join, matches) = matching(backend, "room_messages", "r");
    let author = if from.is_some() { " AND r.sender_id = ?" } else { "" };
    let one_room = if matches!(within, Within::Room(_)) { " AND r.room_id = ?" } else { "" };
    let sql = format!(
        "SELECT r.id, r.room_id, r.sender_id, r.content, r.created_at_ms, r.edited_at_ms \
         FROM room_messages r{join} \
         WHERE {matches} AND r.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?){one_room}{author} \
         AND r.id < ? ORDER BY r.id DESC LIMIT ?"
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(expression).bind(me.0);
    if let Within::Room(room) = within {
        query = query.bind(room.0);
    }
    if let Some(from) = from {
        query = query.bind(from.0);
    }
    let rows: Vec<(i64, i64, i64, String, i64, Option<i64>)> =
        query.bind(before).bind(i64::from(limit)).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, room, sender, content, created_at_ms, edited_at_ms)| Hit {
            place: HitPlace::Room(RoomId(room)),
            id: MessageId(id),
            sender_id: UserId(sender),
            content,
            created_at_ms,
            edited_at_ms,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_a_query_each_engine_reads_safely() {
        assert_eq!(
            match_expression(Backend::Sqlite, "lunch  tomor").as_deref(),
            Some("\"lunch\" \"tomor\"*")
        );
        assert_eq!(match_expression(Backend::MySql, "lunch tomor").as_deref(), Some("+lunch +tomor*"));
        // Operators and quotes are not search syntax here.
        assert_eq!(match_expression(Backend::Sqlite, "a\" OR -b*").as_deref(), Some("\"a\" \"OR\" \"b\"*"));
        assert_eq!(match_expression(Backend::MySql, "+x -(y) don't").as_deref(), Some("+x +y +dont*"));
        assert_eq!(match_expression(Backend::Sqlite, "  ?! "), None);
        assert_eq!(match_expression(Backend::Sqlite, "café").as_deref(), Some("\"café\"*"));
    }
}
