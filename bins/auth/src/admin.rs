//! Partner administration (`sms.admin.partners.*`): create, get, list,
//! rotate secret, disable, enable. A secret is shown once, when made.

use std::time::Duration;

use rand::Rng;
use secrecy::SecretBox;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use common::{
    domain::PartnerNumber,
    wire::{CreatePartner, PartnerCredentials, PartnerList, PartnerView},
};

use crate::{error::AuthError, partner_store, secrets};

const ACTOR: &str = "admin";

fn number(partner_number: u32) -> Result<i32, AuthError> {
    let checked = PartnerNumber::new(partner_number)?;
    i32::try_from(checked.get())
        .map_err(|_| AuthError::InvalidRequest("partnerNumber is out of range".into()))
}

fn credentials(row: &partner_store::PartnerRow, secret: String) -> PartnerCredentials {
    PartnerCredentials {
        partner_number: u32::try_from(row.partner_number).unwrap_or_default(),
        partner_uuid: row.partner_uuid.to_string(),
        partner_secret: secret,
        name: row.name.clone(),
        previous_secret_expires_at: row.view().previous_secret_expires_at,
    }
}

pub async fn create(
    pool: &PgPool,
    pepper: &SecretBox<Vec<u8>>,
    request: CreatePartner,
    request_id: &str,
) -> Result<PartnerCredentials, AuthError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest(
            "name must be 1 to 200 printable characters".into(),
        ));
    }
    let secret = secrets::generate();
    let hash = secrets::hash(pepper, &secret);
    let row = match request.partner_number {
        Some(requested) => {
            partner_store::insert(pool, number(requested)?, Uuid::new_v4(), name, &hash)
                .await?
                .ok_or_else(|| AuthError::Conflict(format!("partner {requested} already exists")))?
        }
        None => {
            let mut created = None;
            for _ in 0..20 {
                let candidate =
                    rand::thread_rng().gen_range(PartnerNumber::MIN..=PartnerNumber::MAX);
                created =
                    partner_store::insert(pool, number(candidate)?, Uuid::new_v4(), name, &hash)
                        .await?;
                if created.is_some() {
                    break;
                }
            }
            created.ok_or_else(|| AuthError::Internal("no free partner number found".into()))?
        }
    };
    tracing::info!(partner_number = row.partner_number, "partner created");
    partner_store::audit(
        pool,
        ACTOR,
        "partner.create",
        "created",
        Some(row.partner_number),
        request_id,
        json!({"name": row.name}),
    )
    .await;
    Ok(credentials(&row, secret))
}

pub async fn get(pool: &PgPool, partner_number: u32) -> Result<PartnerView, AuthError> {
    partner_store::find(pool, number(partner_number)?)
        .await?
        .map(|row| row.view())
        .ok_or_else(|| AuthError::NotFound(format!("partner {partner_number} does not exist")))
}

pub async fn list(pool: &PgPool) -> Result<PartnerList, AuthError> {
    let partners = partner_store::list(pool)
        .await?
        .iter()
        .map(|row| row.view())
        .collect();
    Ok(PartnerList { partners })
}

/// A new secret. Without an overlap the old one stops working and the
/// partner's tokens are void (a leak); with one, both work until it ends (a
/// planned roll-over).
pub async fn rotate_secret(
    pool: &PgPool,
    pepper: &SecretBox<Vec<u8>>,
    partner_number: u32,
    overlap: Duration,
    max_overlap: Duration,
    request_id: &str,
) -> Result<PartnerCredentials, AuthError> {
    if overlap > max_overlap {
        return Err(AuthError::InvalidRequest(format!(
            "overlapSeconds must be at most {} (SECRET_ROTATION_MAX_OVERLAP)",
            max_overlap.as_secs()
        )));
    }
    let secret = secrets::generate();
    let row = partner_store::rotate_secret(
        pool,
        number(partner_number)?,
        &secrets::hash(pepper, &secret),
        overlap.as_secs(),
    )
    .await?
    .ok_or_else(|| AuthError::NotFound(format!("partner {partner_number} does not exist")))?;
    tracing::info!(partner_number, "partner secret rotated");
    partner_store::audit(
        pool,
        ACTOR,
        "partner.rotate_secret",
        "rotated",
        Some(row.partner_number),
        request_id,
        json!({"overlap_seconds": overlap.as_secs()}),
    )
    .await;
    Ok(credentials(&row, secret))
}

/// Disables (voiding its tokens) or enables a partner.
pub async fn set_status(
    pool: &PgPool,
    partner_number: u32,
    active: bool,
    request_id: &str,
) -> Result<PartnerView, AuthError> {
    let row = partner_store::set_status(pool, number(partner_number)?, active)
        .await?
        .ok_or_else(|| AuthError::NotFound(format!("partner {partner_number} does not exist")))?;
    let action = if active {
        "partner.enable"
    } else {
        "partner.disable"
    };
    tracing::info!(partner_number, action, "partner status changed");
    partner_store::audit(
        pool,
        ACTOR,
        action,
        "done",
        Some(row.partner_number),
        request_id,
        json!({}),
    )
    .await;
    Ok(row.view())
}
