//! SQL for token records. Each function is one step of a token's life; the
//! per-partner row in `current_tokens` is the lock that serialises issuing.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A token record with what is needed to sign it again and judge it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    pub jti: Uuid,
    pub family_id: Uuid,
    pub partner_number: i32,
    pub kid: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub family_expires_at: OffsetDateTime,
    pub family_revoked_at: Option<OffsetDateTime>,
    pub partner_active: bool,
    pub tokens_valid_after: OffsetDateTime,
}

impl TokenRecord {
    /// Not revoked by any route: itself, its family, or its partner.
    pub fn is_standing(&self) -> bool {
        self.revoked_at.is_none()
            && self.family_revoked_at.is_none()
            && self.partner_active
            && self.created_at > self.tokens_valid_after
    }
}

const SELECT_RECORD: &str = "
    select t.jti, t.family_id, t.partner_number, t.kid, t.issued_at, t.expires_at,
           t.revoked_at, t.created_at,
           f.absolute_expires_at as family_expires_at, f.revoked_at as family_revoked_at,
           p.status = 'active' as partner_active, p.tokens_valid_after
    from access_tokens t
    join token_families f on f.id = t.family_id
    join partners p on p.partner_number = t.partner_number";

/// Whether the partner exists and is active.
pub async fn partner_is_active(
    connection: &mut PgConnection,
    partner_number: i32,
) -> sqlx::Result<bool> {
    let active: Option<bool> =
        sqlx::query_scalar("select status = 'active' from partners where partner_number = $1")
            .bind(partner_number)
            .fetch_optional(connection)
            .await?;
    Ok(active.unwrap_or(false))
}

/// Locks the partner's current-token row (creating it) and returns the
/// current token's record, if any. Concurrent callers wait here.
pub async fn lock_current(
    connection: &mut PgConnection,
    partner_number: i32,
) -> sqlx::Result<Option<TokenRecord>> {
    sqlx::query("insert into current_tokens (partner_number) values ($1) on conflict do nothing")
        .bind(partner_number)
        .execute(&mut *connection)
        .await?;
    let jti: Option<Uuid> =
        sqlx::query_scalar("select jti from current_tokens where partner_number = $1 for update")
            .bind(partner_number)
            .fetch_one(&mut *connection)
            .await?;
    match jti {
        None => Ok(None),
        Some(jti) => find_by_jti(connection, jti).await,
    }
}

/// A token record by its `jti`.
pub async fn find_by_jti(
    connection: &mut PgConnection,
    jti: Uuid,
) -> sqlx::Result<Option<TokenRecord>> {
    sqlx::query_as(&format!("{SELECT_RECORD} where t.jti = $1"))
        .bind(jti)
        .fetch_optional(connection)
        .await
}

/// A refresh token with what is needed to judge it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRecord {
    pub id: Uuid,
    pub family_id: Uuid,
    pub partner_number: i32,
    pub used_at: Option<OffsetDateTime>,
    /// When the refresh token that replaced this one was used, if it was.
    pub successor_used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub family_expires_at: OffsetDateTime,
    pub family_revoked_at: Option<OffsetDateTime>,
    pub partner_active: bool,
    pub tokens_valid_after: OffsetDateTime,
}

impl RefreshRecord {
    /// Neither its login nor its partner revoked, and the login not over.
    pub fn is_standing(&self, at: OffsetDateTime) -> bool {
        self.family_revoked_at.is_none()
            && self.family_expires_at > at
            && self.partner_active
            && self.created_at > self.tokens_valid_after
    }
}

/// A refresh token by its id, locked for update (concurrent uses queue here).
pub async fn lock_refresh(
    connection: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<RefreshRecord>> {
    sqlx::query_as(
        "select r.id, r.family_id, f.partner_number, r.used_at, s.used_at as successor_used_at, r.created_at,
                f.absolute_expires_at as family_expires_at, f.revoked_at as family_revoked_at,
                p.status = 'active' as partner_active, p.tokens_valid_after
         from refresh_tokens r
         join token_families f on f.id = r.family_id
         join partners p on p.partner_number = f.partner_number
         left join refresh_tokens s on s.id = r.replaced_by
         where r.id = $1
         for update of r",
    )
    .bind(id)
    .fetch_optional(connection)
    .await
}

/// A new refresh token in `family_id`, issued with the access token `access_jti`.
pub async fn insert_refresh(
    connection: &mut PgConnection,
    family_id: Uuid,
    access_jti: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("insert into refresh_tokens (id, family_id, access_jti) values ($1, $2, $3)")
        .bind(id)
        .bind(family_id)
        .bind(access_jti)
        .execute(connection)
        .await?;
    Ok(id)
}

/// Spends a refresh token, recording the one that replaced it.
pub async fn spend_refresh(
    connection: &mut PgConnection,
    id: Uuid,
    replaced_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "update refresh_tokens set used_at = clock_timestamp(), replaced_by = $2, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(replaced_by)
    .execute(connection)
    .await?;
    Ok(())
}

/// A new login: a token family that ends at `absolute_expires_at`.
pub async fn insert_family(
    connection: &mut PgConnection,
    partner_number: i32,
    absolute_expires_at: OffsetDateTime,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into token_families (id, partner_number, absolute_expires_at) values ($1, $2, $3)",
    )
    .bind(id)
    .bind(partner_number)
    .bind(absolute_expires_at)
    .execute(connection)
    .await?;
    Ok(id)
}

/// Fields of a new access token.
pub struct NewToken {
    pub jti: Uuid,
    pub family_id: Uuid,
    pub partner_number: i32,
    pub kid: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Records a new access token and makes it the partner's current one.
pub async fn insert_current(connection: &mut PgConnection, token: &NewToken) -> sqlx::Result<()> {
    sqlx::query(
        "insert into access_tokens (jti, family_id, partner_number, kid, issued_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.jti)
    .bind(token.family_id)
    .bind(token.partner_number)
    .bind(&token.kid)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .execute(&mut *connection)
    .await?;
    sqlx::query("update current_tokens set jti = $2, updated_at = now() where partner_number = $1")
        .bind(token.partner_number)
        .bind(token.jti)
        .execute(connection)
        .await?;
    Ok(())
}

/// Revokes one access token (RFC 7009 lets its refresh tokens live on).
pub async fn revoke_token(connection: &mut PgConnection, jti: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update access_tokens set revoked_at = coalesce(revoked_at, clock_timestamp()), updated_at = now()
         where jti = $1",
    )
    .bind(jti)
    .execute(connection)
    .await?;
    Ok(())
}

/// Revokes a whole login: its refresh tokens, the access tokens it minted,
/// and the access tokens it was handed (the partner's current one).
pub async fn revoke_family(
    connection: &mut PgConnection,
    family_id: Uuid,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update token_families set revoked_at = coalesce(revoked_at, clock_timestamp()),
                revoked_reason = coalesce(revoked_reason, $2), updated_at = now()
         where id = $1",
    )
    .bind(family_id)
    .bind(reason)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "update access_tokens set revoked_at = coalesce(revoked_at, clock_timestamp()), updated_at = now()
         where family_id = $1 or jti in (select access_jti from refresh_tokens where family_id = $1)",
    )
    .bind(family_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// Writes one audit row. Never pass a secret or a token in `detail`.
pub async fn audit(
    pool: &PgPool,
    action: &str,
    outcome: &str,
    partner_number: Option<i32>,
    request_id: &str,
    detail: serde_json::Value,
) {
    let written = sqlx::query(
        "insert into audit_events (actor, action, outcome, partner_number, request_id, detail)
         values ('jwt', $1, $2, $3, $4, $5)",
    )
    .bind(action)
    .bind(outcome)
    .bind(partner_number)
    .bind(request_id)
    .bind(detail)
    .execute(pool)
    .await;
    if let Err(error) = written {
        tracing::warn!(%error, action, "could not write the audit row");
    }
}
