//! Word search over message text, newest first, within the conversations
//! the searcher is in: SQLite's FTS5 ([`fts5`]: external-content tables kept
//! current by triggers) or, on MySQL/MariaDB, our own word index ([`words`]:
//! written with each message). Both are made at start-up by [`ensure_index`]
//! because the two engines share no syntax for them (the migrations are the
//! same files on both).

mod fts5;
pub mod words;

use concord_common::{MessageId, RoomId, UserId};
use sqlx::AnyPool;

use super::Backend;

/// Makes the search index if it is missing (and fills it from the messages
/// already there).
pub async fn ensure_index(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Sqlite => fts5::ensure_index(pool).await,
        Backend::MySql => words::ensure_index(pool).await,
    }
}

/// The words of a search (at most 16), each of letters, digits, `_` and `'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms(Vec<String>);

impl Terms {
    /// `None`: no word at all.
    pub fn parse(words: &str) -> Option<Terms> {
        let words: Vec<String> = words
            .split_whitespace()
            .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '_' || *c == '\'').collect::<String>())
            .filter(|w| !w.is_empty())
            .take(16)
            .collect();
        (!words.is_empty()).then_some(Terms(words))
    }
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

/// Whose search, where, by whom, and which page.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The searcher.
    pub me: UserId,
    /// Where to look.
    pub within: Within,
    /// Only messages this person wrote.
    pub from: Option<UserId>,
    /// Only messages older than this id.
    pub before: i64,
    /// At most this many hits.
    pub limit: u32,
}

/// Up to `limit` messages older than `before` holding every word of `terms`
/// (the last as a prefix) in the conversations `me` is in (or `within` one
/// of them), written by `from` if given; newest first.
#[allow(clippy::too_many_arguments)]
pub async fn search(
    pool: &AnyPool,
    backend: Backend,
    me: UserId,
    terms: &Terms,
    within: Within,
    from: Option<UserId>,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Vec<Hit>, sqlx::Error> {
    let query = Query { me, within, from, before: before.map_or(i64::MAX, |m| m.0), limit };
    let mut hits = match backend {
        Backend::Sqlite => fts5::search(pool, terms, &query).await?,
        Backend::MySql => words::search(pool, terms, &query).await?,
    };
    hits.sort_by_key(|h| std::cmp::Reverse(h.id));
    hits.truncate(limit as usize);
    Ok(hits)
}

/// The columns of a DM hit (the message table as `m`), read as a [`DmRow`].
const DM_COLUMNS: &str = "m.id, m.sender_id, m.recipient_id, m.content, m.created_at_ms, m.edited_at_ms";
/// The columns of a room hit (the message table as `m`), read as a [`RoomRow`].
const ROOM_COLUMNS: &str = "m.id, m.room_id, m.sender_id, m.content, m.created_at_ms, m.edited_at_ms";

type DmRow = (i64, i64, i64, String, i64, Option<i64>);
type RoomRow = (i64, i64, i64, String, i64, Option<i64>);

fn dm_hit(me: UserId, (id, sender, recipient, content, created_at_ms, edited_at_ms): DmRow) -> Hit {
    Hit {
        place: HitPlace::Dm(UserId(if sender == me.0 { recipient } else { sender })),
        id: MessageId(id),
        sender_id: UserId(sender),
        content,
        created_at_ms,
        edited_at_ms,
    }
}

fn room_hit((id, room, sender, content, created_at_ms, edited_at_ms): RoomRow) -> Hit {
    Hit {
        place: HitPlace::Room(RoomId(room)),
        id: MessageId(id),
        sender_id: UserId(sender),
        content,
        created_at_ms,
        edited_at_ms,
    }
}
