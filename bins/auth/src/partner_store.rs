//! SQL for partners and the audit trail. The auth service owns `partners`;
//! the jwt service only reads a partner's status and `tokens_valid_after`.

use serde_json::Value;
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

use common::wire::PartnerView;

/// A partner row as the credential check needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerRow {
    pub partner_number: i32,
    pub partner_uuid: Uuid,
    pub name: String,
    pub secret_hash: Vec<u8>,
    /// The secret before the last rotation, while its overlap lasts.
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub status: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl PartnerRow {
    pub fn view(&self) -> PartnerView {
        let format = |at: OffsetDateTime| at.format(&Rfc3339).unwrap_or_default();
        PartnerView {
            partner_number: u32::try_from(self.partner_number).unwrap_or_default(),
            partner_uuid: self.partner_uuid.to_string(),
            name: self.name.clone(),
            status: self.status.clone(),
            created_at: format(self.created_at),
            updated_at: format(self.updated_at),
            previous_secret_expires_at: self.previous_secret_expires_at.map(format),
        }
    }
}

/// A previous secret past its overlap reads as none, by the database's clock.
const COLUMNS: &str = "partner_number, partner_uuid, name, secret_hash, \
     case when previous_secret_expires_at > clock_timestamp() then previous_secret_hash end as previous_secret_hash, \
     case when previous_secret_expires_at > clock_timestamp() then previous_secret_expires_at end as previous_secret_expires_at, \
     status, created_at, updated_at";

pub async fn find(
    executor: impl sqlx::PgExecutor<'_>,
    partner_number: i32,
) -> sqlx::Result<Option<PartnerRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from partners where partner_number = $1"
    ))
    .bind(partner_number)
    .fetch_optional(executor)
    .await
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<PartnerRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from partners order by partner_number"
    ))
    .fetch_all(pool)
    .await
}

/// Inserts a partner; `None` when the number is taken.
pub async fn insert(
    pool: &PgPool,
    partner_number: i32,
    partner_uuid: Uuid,
    name: &str,
    secret_hash: &[u8],
) -> sqlx::Result<Option<PartnerRow>> {
    sqlx::query_as(&format!(
        "insert into partners (partner_number, partner_uuid, name, secret_hash)
         values ($1, $2, $3, $4)
         on conflict (partner_number) do nothing
         returning {COLUMNS}"
    ))
    .bind(partner_number)
    .bind(partner_uuid)
    .bind(name)
    .bind(secret_hash)
    .fetch_optional(pool)
    .await
}

/// Replaces the secret. With an overlap (seconds) the old one stays valid
/// that long and tokens are kept; without one, every token issued before
/// now is void.
pub async fn rotate_secret(
    pool: &PgPool,
    partner_number: i32,
    secret_hash: &[u8],
    overlap_seconds: u64,
) -> sqlx::Result<Option<PartnerRow>> {
    // Right-hand sides read the row as it was: the old secret_hash moves over.
    sqlx::query_as(&format!(
        "update partners set
             previous_secret_hash = case when $3 > 0 then secret_hash end,
             previous_secret_expires_at = case when $3 > 0 then clock_timestamp() + make_interval(secs => $3) end,
             secret_hash = $2,
             tokens_valid_after = case when $3 > 0 then tokens_valid_after else clock_timestamp() end,
             updated_at = now()
         where partner_number = $1 returning {COLUMNS}"
    ))
    .bind(partner_number)
    .bind(secret_hash)
    // Whole seconds, at most 30 days: exact as a double.
    .bind(overlap_seconds as f64)
    .fetch_optional(pool)
    .await
}

/// Disables (voiding every token) or enables a partner.
pub async fn set_status(
    pool: &PgPool,
    partner_number: i32,
    active: bool,
) -> sqlx::Result<Option<PartnerRow>> {
    let sql = if active {
        format!("update partners set status = 'active', updated_at = now() where partner_number = $1 returning {COLUMNS}")
    } else {
        format!(
            "update partners set status = 'disabled', tokens_valid_after = clock_timestamp(), updated_at = now()
             where partner_number = $1 returning {COLUMNS}"
        )
    };
    sqlx::query_as(&sql)
        .bind(partner_number)
        .fetch_optional(pool)
        .await
}

/// Writes one audit row. Never pass a secret, token or card data in `detail`.
pub async fn audit(
    pool: &PgPool,
    actor: &str,
    action: &str,
    outcome: &str,
    partner_number: Option<i32>,
    request_id: &str,
    detail: Value,
) {
    let written = sqlx::query(
        "insert into audit_events (actor, action, outcome, partner_number, request_id, detail)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor)
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
