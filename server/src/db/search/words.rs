//! MariaDB's search index: one row per distinct word of each message in
//! `dm_words` / `room_words`, keyed by (conversation, word, message id) and
//! written with the message in the same transaction. Its words are what
//! [`words`] makes of a text: split at every character that is not a letter
//! or digit, accents removed, lower case — as SQLite's FTS5 `unicode61
//! remove_diacritics 2` tokenizer does.
//!
//! InnoDB's own FULLTEXT index was measured first and dropped: it returns
//! every hit of a word unordered (about six page reads per hit) before the
//! conversation filter and the newest-first sort, so a first page cost
//! O(hits in the whole database). Here a search reads only the searcher's
//! conversations' entries for its words, in key order.

use std::collections::BTreeSet;

use concord_common::{MessageId, RoomId, UserId};
use sqlx::{AnyConnection, AnyPool};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::{dm_hit, room_hit, DmRow, Hit, Query, RoomRow, Terms, Within, DM_COLUMNS, ROOM_COLUMNS};
use crate::db::chat::Scope;

/// Longest word kept, in characters (longer ones are cut, in texts and searches alike).
pub const WORD_MAX_CHARS: usize = 64;

/// Rows per INSERT (four values each: well under MariaDB's 65,535 placeholders).
const ROWS_PER_INSERT: usize = 1000;

/// The distinct words of `text`, as the index keeps them.
pub fn words(text: &str) -> BTreeSet<String> {
    split(text).collect()
}

fn split(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).map(fold).filter(|w| !w.is_empty())
}

/// `word` without accents, in lower case, at most [`WORD_MAX_CHARS`] long.
fn fold(word: &str) -> String {
    word.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).take(WORD_MAX_CHARS).collect()
}

/// What a search looks for: whole words, and the last word typed as a
/// prefix (unless a whole word already starts with it).
#[derive(Debug, PartialEq, Eq)]
struct Wanted {
    whole: Vec<String>,
    prefix: Option<String>,
}

impl Wanted {
    fn from_terms(terms: &Terms) -> Option<Wanted> {
        let mut all: Vec<String> = split(&terms.0.join(" ")).collect();
        let prefix = all.pop()?;
        let whole: Vec<String> = all.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let implied = whole.iter().any(|w| w.starts_with(&prefix));
        Some(Wanted { whole, prefix: (!implied).then_some(prefix) })
    }

    /// Terms a message must match, each at least once.
    fn count(&self) -> usize {
        self.whole.len() + usize::from(self.prefix.is_some())
    }

    /// `(w.word IN (…) OR w.word LIKE ?)`, then the HAVING that requires every term.
    fn clauses(&self) -> (String, String) {
        let marks = vec!["?"; self.whole.len()].join(", ");
        let mut any = Vec::new();
        if !self.whole.is_empty() {
            any.push(format!("w.word IN ({marks})"));
        }
        if self.prefix.is_some() {
            any.push("w.word LIKE ?".to_owned());
        }
        let having = match (self.whole.is_empty(), self.prefix.is_some()) {
            (_, false) => format!(" HAVING COUNT(DISTINCT w.word) = {}", self.count()),
            (true, true) => String::new(),
            // Every prefix word counts as one term ('').
            (false, true) => format!(
                " HAVING COUNT(DISTINCT CASE WHEN w.word IN ({marks}) THEN w.word ELSE '' END) = {}",
                self.count()
            ),
        };
        (format!("({})", any.join(" OR ")), having)
    }

    fn like_pattern(&self) -> Option<String> {
        self.prefix.as_ref().map(|p| {
            let escaped: String = p
                .chars()
                .flat_map(|c| if matches!(c, '\\' | '%' | '_') { vec!['\\', c] } else { vec![c] })
                .collect();
            format!("{escaped}%")
        })
    }
}

/// Makes the word tables if they are missing, filling them from the messages
/// already stored (once; a large history takes a while), and drops the
/// FULLTEXT indexes an earlier version made.
pub async fn ensure_index(pool: &AnyPool) -> Result<(), sqlx::Error> {
    for table in ["direct_messages", "room_messages"] {
        let fulltext: Option<(String,)> = sqlx::query_as(
            "SELECT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1",
        )
        .bind(table)
        .bind(format!("{table}_search"))
        .fetch_optional(pool)
        .await?;
        if fulltext.is_some() {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {table}_search ON {table}")))
                .execute(pool)
                .await?;
        }
    }
    for (words_table, key, source, place) in [
        (
            "dm_words",
            "user_low BIGINT NOT NULL, user_high BIGINT NOT NULL",
            "direct_messages",
            "user_low, user_high",
        ),
        ("room_words", "room_id BIGINT NOT NULL", "room_messages", "room_id"),
    ] {
        let existing: Option<(String,)> = sqlx::query_as(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(words_table)
        .fetch_optional(pool)
        .await?;
        if existing.is_some() {
            continue;
        }
        // Built under another name and renamed when full, so that a start
        // cut short builds it again instead of leaving it half full.
        let building = format!("{words_table}_building");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {building}"))).execute(pool).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {building} ({key}, \
             word VARCHAR({WORD_MAX_CHARS}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
             message_id BIGINT NOT NULL, PRIMARY KEY ({place}, word, message_id))"
        )))
        .execute(pool)
        .await?;
        tracing::info!(
            table = source,
            "building the message search index (once; large histories take a while)"
        );
        fill(pool, source, &building).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("RENAME TABLE {building} TO {words_table}")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Indexes every message of `source` into `target`, a few thousand at a time.
async fn fill(pool: &AnyPool, source: &str, target: &str) -> Result<(), sqlx::Error> {
    let dms = source == "direct_messages";
    let place = if dms { "user_low, user_high" } else { "room_id, 0" };
    let sql = format!("SELECT id, {place}, content FROM {source} WHERE id > ? ORDER BY id LIMIT 2000");
    let mut after = i64::MIN;
    loop {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(after).fetch_all(pool).await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.0;
        let messages: Vec<(Scope, MessageId, &str)> = rows
            .iter()
            .map(|(id, a, b, content)| {
                let scope = if dms { Scope::Dm(UserId(*a), UserId(*b)) } else { Scope::Room(RoomId(*a)) };
                (scope, MessageId(*id), content.as_str())
            })
            .collect();
        let mut tx = pool.begin().await?;
        insert(&mut tx, &messages, Some(target)).await?;
        tx.commit().await?;
    }
}

/// Adds the words of newly stored messages (in the transaction that stores them).
pub async fn add(conn: &mut AnyConnection, messages: &[(Scope, MessageId, &str)]) -> Result<(), sqlx::Error> {
    insert(conn, messages, None).await
}

async fn insert(
    conn: &mut AnyConnection,
    messages: &[(Scope, MessageId, &str)],
    table: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut dm_rows: Vec<(i64, i64, String, i64)> = Vec::new();
    let mut room_rows: Vec<(i64, i64, String, i64)> = Vec::new();
    for (scope, id, content) in messages {
        for word in words(content) {
            match *scope {
                Scope::Dm(a, b) => dm_rows.push((a.0.min(b.0), a.0.max(b.0), word, id.0)),
                Scope::Room(room) => room_rows.push((room.0, 0, word, id.0)),
            }
        }
    }
    for chunk in dm_rows.chunks(ROWS_PER_INSERT) {
        let table = table.unwrap_or("dm_words");
        let sql = format!(
            "INSERT INTO {table} (user_low, user_high, word, message_id) VALUES {}",
            vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let query = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, (low, high, word, id)| {
            q.bind(*low).bind(*high).bind(word.as_str()).bind(*id)
        });
        query.execute(&mut *conn).await?;
    }
    for chunk in room_rows.chunks(ROWS_PER_INSERT) {
        let table = table.unwrap_or("room_words");
        let sql = format!(
            "INSERT INTO {table} (room_id, word, message_id) VALUES {}",
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        let query = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, (room, _, word, id)| {
            q.bind(*room).bind(word.as_str()).bind(*id)
        });
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes the words of message `id`, whose text was `content` (before an edit, or a delete).
pub async fn remove(
    conn: &mut AnyConnection,
    scope: Scope,
    id: MessageId,
    content: &str,
) -> Result<(), sqlx::Error> {
    let words: Vec<String> = words(content).into_iter().collect();
    for chunk in words.chunks(ROWS_PER_INSERT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let (table, place) = match scope {
            Scope::Dm(..) => ("dm_words", "user_low = ? AND user_high = ?"),
            Scope::Room(_) => ("room_words", "room_id = ?"),
        };
        let sql = format!("DELETE FROM {table} WHERE {place} AND word IN ({marks}) AND message_id = ?");
        let query = scope.values().into_iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, v| q.bind(v));
        let query = chunk.iter().fold(query, |q, w| q.bind(w.as_str()));
        query.bind(id.0).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes the words of every message of `room` (the room is being deleted).
pub async fn remove_room(conn: &mut AnyConnection, room: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM room_words WHERE room_id = ?").bind(room.0).execute(conn).await.map(|_| ())
}

/// The messages of `query.me`'s conversations that hold every word of `terms`.
pub async fn search(pool: &AnyPool, terms: &Terms, query: &Query) -> Result<Vec<Hit>, sqlx::Error> {
    let Some(wanted) = Wanted::from_terms(terms) else { return Ok(Vec::new()) };
    let me = query.me;
    let mut hits = Vec::new();
    let peers: Vec<i64> = match query.within {
        Within::Dm(peer) => vec![peer.0],
        // Conversations with friends only (history with former friends is closed too).
        Within::Everywhere => ids(pool, "SELECT friend_id FROM friendships WHERE user_id = ?", me).await?,
        Within::Room(_) => Vec::new(),
    };
    if !peers.is_empty() {
        let pairs: Vec<i64> = peers.iter().flat_map(|&p| [me.0.min(p), me.0.max(p)]).collect();
        let place = format!("(w.user_low, w.user_high) IN ({})", vec!["(?, ?)"; peers.len()].join(", "));
        let rows: Vec<DmRow> =
            found(pool, &wanted, query, "dm_words", "direct_messages", DM_COLUMNS, &place, &pairs).await?;
        hits.extend(rows.into_iter().map(|row| dm_hit(me, row)));
    }
    let rooms: Vec<i64> = match query.within {
        Within::Room(room) => vec![room.0],
        Within::Everywhere => ids(pool, "SELECT room_id FROM room_members WHERE user_id = ?", me).await?,
        Within::Dm(_) => Vec::new(),
    };
    if !rooms.is_empty() {
        let place = format!("w.room_id IN ({})", vec!["?"; rooms.len()].join(", "));
        let rows: Vec<RoomRow> =
            found(pool, &wanted, query, "room_words", "room_messages", ROOM_COLUMNS, &place, &rooms).await?;
        hits.extend(rows.into_iter().map(room_hit));
    }
    Ok(hits)
}

/// The ids `sql` lists for `me` (my friends, my rooms).
async fn ids(pool: &AnyPool, sql: &'static str, me: UserId) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(sql).bind(me.0).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The newest `query.limit` messages of `messages` in the conversations
/// `place` picks (bound to `place_values`) that hold every wanted word.
#[allow(clippy::too_many_arguments)]
async fn found<Row>(
    pool: &AnyPool,
    wanted: &Wanted,
    query: &Query,
    words_table: &str,
    messages: &str,
    columns: &str,
    place: &str,
    place_values: &[i64],
) -> Result<Vec<Row>, sqlx::Error>
where
    Row: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let (any_term, having) = wanted.clauses();
    let (author_join, author) = match query.from {
        Some(_) => (format!(" JOIN {messages} a ON a.id = w.message_id"), " AND a.sender_id = ?"),
        None => (String::new(), ""),
    };
    // The hits' ids first (the index alone), then their rows.
    let sql = format!(
        "SELECT {columns} FROM (SELECT w.message_id FROM {words_table} w{author_join} \
         WHERE {place} AND {any_term} AND w.message_id < ?{author} \
         GROUP BY w.message_id{having} ORDER BY w.message_id DESC LIMIT ?) hits \
         JOIN {messages} m ON m.id = hits.message_id ORDER BY m.id DESC"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for value in place_values {
        q = q.bind(*value);
    }
    for word in &wanted.whole {
        q = q.bind(word.as_str());
    }
    if let Some(pattern) = wanted.like_pattern() {
        q = q.bind(pattern);
    }
    q = q.bind(query.before);
    if let Some(from) = query.from {
        q = q.bind(from.0);
    }
    if wanted.prefix.is_some() {
        for word in &wanted.whole {
            q = q.bind(word.as_str());
        }
    }
    q.bind(i64::from(query.limit)).fetch_all(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_folded_and_distinct() {
        let found: Vec<String> =
            words("Café, CAFE! naïve—déjà-vu <@42> l'été x_y 😀 東京").into_iter().collect();
        assert_eq!(found, ["42", "cafe", "deja", "ete", "l", "naive", "vu", "x", "y", "東京"]);
        assert_eq!(words(&"a".repeat(100)).into_iter().next().unwrap().chars().count(), WORD_MAX_CHARS);
        assert!(words(" ?! ").is_empty());
    }

    #[test]
    fn the_last_word_is_a_prefix_unless_a_whole_word_covers_it() {
        let terms = |s: &str| Terms::parse(s).expect("a word");
        assert_eq!(
            Wanted::from_terms(&terms("Lunch tomor")),
            Some(Wanted { whole: vec!["lunch".into()], prefix: Some("tomor".into()) })
        );
        assert_eq!(
            Wanted::from_terms(&terms("kalomi kal")),
            Some(Wanted { whole: vec!["kalomi".into()], prefix: None })
        );
        // Apostrophes split words, as in the index.
        assert_eq!(
            Wanted::from_terms(&terms("don't")),
            Some(Wanted { whole: vec!["don".into()], prefix: Some("t".into()) })
        );
        assert_eq!(Wanted::from_terms(&terms("_")), None);
        let wanted = Wanted::from_terms(&terms("b a c")).unwrap();
        assert_eq!(wanted.whole, ["a", "b"]);
        assert_eq!(wanted.clauses().0, "(w.word IN (?, ?) OR w.word LIKE ?)");
        assert_eq!(wanted.like_pattern().as_deref(), Some("c%"));
    }
}
