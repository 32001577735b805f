//! The `users` table.

use concord_common::{User, UserId};
use sqlx::AnyPool;

/// A user row including the password hash (never sent to clients).
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

type Row = (i64, String, String, String);

fn record((id, email, username, password_hash): Row) -> UserRecord {
    UserRecord { user: User { id: UserId(id), username, email }, password_hash }
}

/// Inserts a new account. `Ok(false)` when the email is taken.
pub async fn insert(pool: &AnyPool, record: &UserRecord, now_ms: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO users (id, email, username, password_hash, created_at_ms) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(record.user.id.0)
    .bind(&record.user.email)
    .bind(&record.user.username)
    .bind(&record.password_hash)
    .bind(now_ms)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Looks an account up by its normalised email.
pub async fn by_email(pool: &AnyPool, email: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as("SELECT id, email, username, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(record))
}

/// Looks an account up by id.
pub async fn by_id(pool: &AnyPool, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as("SELECT id, email, username, password_hash FROM users WHERE id = ?")
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| record(r).user))
}
