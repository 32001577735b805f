//! SQLite's search index: an FTS5 external-content table per message table
//! (`direct_messages_fts`, `room_messages_fts`), kept current by triggers,
//! with the `unicode61 remove_diacritics 2` tokenizer.

use sqlx::AnyPool;

use super::{dm_hit, room_hit, DmRow, Hit, Query, RoomRow, Terms, Within, DM_COLUMNS, ROOM_COLUMNS};

/// Makes the FTS5 table and triggers of each message table if missing, and
/// fills a new table from the messages already there.
pub async fn ensure_index(pool: &AnyPool) -> Result<(), sqlx::Error> {
    for table in ["direct_messages", "room_messages"] {
        ensure_table(pool, table).await?;
    }
    Ok(())
}

async fn ensure_table(pool: &AnyPool, table: &str) -> Result<(), sqlx::Error> {
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

/// `terms` as an FTS5 query: every word a quoted phrase (quotes inside
/// doubled, so nothing typed is query syntax), the last one a prefix.
fn expression(terms: &Terms) -> String {
    let last = terms.0.len() - 1;
    let quoted: Vec<String> = terms
        .0
        .iter()
        .enumerate()
        .map(|(i, word)| format!("\"{}\"{}", word.replace('"', "\"\""), if i == last { "*" } else { "" }))
        .collect();
    quoted.join(" ")
}

/// The messages of `query.me`'s conversations that match `terms`.
pub async fn search(pool: &AnyPool, terms: &Terms, query: &Query) -> Result<Vec<Hit>, sqlx::Error> {
    let expression = expression(terms);
    let me = query.me.0;
    let mut hits = Vec::new();
    if matches!(query.within, Within::Everywhere | Within::Dm(_)) {
        let (place, values) = match query.within {
            Within::Dm(peer) => ("m.user_low = ? AND m.user_high = ?", vec![me.min(peer.0), me.max(peer.0)]),
            // Conversations with friends only (history with former friends is closed too).
            _ => (
                "((m.sender_id = ? AND m.recipient_id IN (SELECT friend_id FROM friendships WHERE user_id = ?)) \
                 OR (m.recipient_id = ? AND m.sender_id IN (SELECT friend_id FROM friendships WHERE user_id = ?)))",
                vec![me; 4],
            ),
        };
        let rows: Vec<DmRow> =
            matching(pool, "direct_messages", DM_COLUMNS, &expression, place, &values, query).await?;
        hits.extend(rows.into_iter().map(|row| dm_hit(query.me, row)));
    }
    if matches!(query.within, Within::Everywhere | Within::Room(_)) {
        let (place, values) = match query.within {
            Within::Room(room) => ("m.room_id = ?", vec![room.0]),
            _ => ("m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?)", vec![me]),
        };
        let rows: Vec<RoomRow> =
            matching(pool, "room_messages", ROOM_COLUMNS, &expression, place, &values, query).await?;
        hits.extend(rows.into_iter().map(room_hit));
    }
    Ok(hits)
}

/// The newest `query.limit` rows of `table` matching `expression` in the
/// conversations `place` picks (bound to `values`).
async fn matching<Row>(
    pool: &AnyPool,
    table: &str,
    columns: &str,
    expression: &str,
    place: &str,
    values: &[i64],
    query: &Query,
) -> Result<Vec<Row>, sqlx::Error>
where
    Row: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let author = if query.from.is_some() { " AND m.sender_id = ?" } else { "" };
    let sql = format!(
        "SELECT {columns} FROM {table} m JOIN {table}_fts f ON f.rowid = m.id \
         WHERE f.content MATCH ? AND {place}{author} AND m.id < ? ORDER BY m.id DESC LIMIT ?"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(expression);
    for value in values {
        q = q.bind(*value);
    }
    if let Some(from) = query.from {
        q = q.bind(from.0);
    }
    q.bind(query.before).bind(i64::from(query.limit)).fetch_all(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_a_query_fts5_reads_safely() {
        let expr = |s: &str| expression(&Terms::parse(s).expect("a word"));
        assert_eq!(expr("lunch  tomor"), "\"lunch\" \"tomor\"*");
        // Operators and quotes are not search syntax here.
        assert_eq!(expr("a\" OR -b*"), "\"a\" \"OR\" \"b\"*");
        assert_eq!(expr("café"), "\"café\"*");
        assert_eq!(Terms::parse("  ?! "), None);
    }
}
