//! The `friendships` table (two rows per friendship, one each way).

use concord_common::{User, UserId};
use sqlx::AnyPool;

use super::invites::InviteKey;

/// Turns a pending invite into a friendship, atomically: the invite (and any
/// invite the other way) disappears and both friendship rows appear.
/// `Ok(false)` if the invite was no longer pending.
pub async fn accept_invite(pool: &AnyPool, invite: InviteKey, now_ms: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // A write first, so SQLite takes the write lock at once instead of
    // upgrading a read lock later (which fails under contention).
    let deleted =
        sqlx::query("DELETE FROM friend_invites WHERE id = ?").bind(invite.id.0).execute(&mut *tx).await?;
    if deleted.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM friend_invites WHERE sender_id = ? AND receiver_id = ?")
        .bind(invite.receiver.0)
        .bind(invite.sender.0)
        .execute(&mut *tx)
        .await?;
    for (a, b) in [(invite.sender, invite.receiver), (invite.receiver, invite.sender)] {
        let inserted =
            sqlx::query("INSERT INTO friendships (user_id, friend_id, created_at_ms) VALUES (?, ?, ?)")
                .bind(a.0)
                .bind(b.0)
                .bind(now_ms)
                .execute(&mut *tx)
                .await;
        match inserted {
            Err(e) if !super::is_unique_violation(&e) => return Err(e),
            _ => {}
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Ends a friendship; `Ok(false)` if there was none.
pub async fn remove(pool: &AnyPool, a: UserId, b: UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM friendships WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
    )
    .bind(a.0)
    .bind(b.0)
    .bind(b.0)
    .bind(a.0)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether `a` and `b` are friends.
pub async fn are_friends(pool: &AnyPool, a: UserId, b: UserId) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT friend_id FROM friendships WHERE user_id = ? AND friend_id = ?")
            .bind(a.0)
            .bind(b.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

/// When `a` and `b` became friends, if they are.
pub async fn since(pool: &AnyPool, a: UserId, b: UserId) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT created_at_ms FROM friendships WHERE user_id = ? AND friend_id = ?")
            .bind(a.0)
            .bind(b.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(t,)| t))
}

/// `user`'s friends with the time each friendship began, by name.
pub async fn list(pool: &AnyPool, user: UserId) -> Result<Vec<(User, i64)>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.username, u.email, f.created_at_ms FROM friendships f \
         JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? ORDER BY u.username, u.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, username, email, since)| (User { id: UserId(id), username, email }, since))
        .collect())
}

/// The ids of `user`'s friends.
pub async fn ids(pool: &AnyPool, user: UserId) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT friend_id FROM friendships WHERE user_id = ?")
        .bind(user.0)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
}
