//! The `friend_invites` table: pending invites only.

use concord_common::{Invite, InviteId, InviteList, User, UserId};
use sqlx::AnyPool;

/// The ids of a pending invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteKey {
    /// The invite.
    pub id: InviteId,
    /// Who sent it.
    pub sender: UserId,
    /// Who it is for.
    pub receiver: UserId,
}

/// Stores a pending invite. `Ok(false)` if one from `sender` to `receiver` exists.
pub async fn insert(pool: &AnyPool, key: InviteKey, now_ms: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO friend_invites (id, sender_id, receiver_id, created_at_ms) VALUES (?, ?, ?, ?)",
    )
    .bind(key.id.0)
    .bind(key.sender.0)
    .bind(key.receiver.0)
    .bind(now_ms)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The pending invite from `sender` to `receiver`, if any.
pub async fn between(
    pool: &AnyPool,
    sender: UserId,
    receiver: UserId,
) -> Result<Option<InviteKey>, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM friend_invites WHERE sender_id = ? AND receiver_id = ?")
            .bind(sender.0)
            .bind(receiver.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id,)| InviteKey { id: InviteId(id), sender, receiver }))
}

/// A pending invite by id.
pub async fn by_id(pool: &AnyPool, id: InviteId) -> Result<Option<InviteKey>, sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT sender_id, receiver_id FROM friend_invites WHERE id = ?")
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(s, r)| InviteKey { id, sender: UserId(s), receiver: UserId(r) }))
}

/// Deletes a pending invite; `Ok(false)` if it was already gone.
pub async fn delete(pool: &AnyPool, id: InviteId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM friend_invites WHERE id = ?").bind(id.0).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

const SELECT_FULL: &str =
    "SELECT i.id, i.created_at_ms, s.id, s.username, s.email, r.id, r.username, r.email \
     FROM friend_invites i \
     JOIN users s ON s.id = i.sender_id \
     JOIN users r ON r.id = i.receiver_id";

type FullRow = (i64, i64, i64, String, String, i64, String, String);

fn invite(row: FullRow) -> Invite {
    let (id, created_at_ms, sid, sname, semail, rid, rname, remail) = row;
    Invite {
        id: InviteId(id),
        from: User { id: UserId(sid), username: sname, email: semail },
        to: User { id: UserId(rid), username: rname, email: remail },
        created_at_ms,
    }
}

/// One pending invite with both users, for events.
pub async fn full(pool: &AnyPool, id: InviteId) -> Result<Option<Invite>, sqlx::Error> {
    let row: Option<FullRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_FULL} WHERE i.id = ?")))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(invite))
}

/// Everything pending to or from `user`, oldest first.
pub async fn list(pool: &AnyPool, user: UserId) -> Result<InviteList, sqlx::Error> {
    let rows: Vec<FullRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_FULL} WHERE i.receiver_id = ? UNION ALL {SELECT_FULL} WHERE i.sender_id = ? ORDER BY 1"
    )))
    .bind(user.0)
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    let mut list = InviteList::default();
    for invite in rows.into_iter().map(invite) {
        if invite.to.id == user {
            list.incoming.push(invite);
        } else {
            list.outgoing.push(invite);
        }
    }
    Ok(list)
}
