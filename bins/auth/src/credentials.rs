//! The credential check. Unknown partner, wrong UUID, wrong secret and
//! disabled partner all cost one query and one HMAC, and give one answer.

use secrecy::SecretBox;
use sqlx::PgPool;
use subtle::{Choice, ConstantTimeEq};
use uuid::Uuid;

use common::domain::{PartnerNumber, PartnerSecret};

use crate::{error::AuthError, partner_store, secrets};

/// Checks a partner's credentials; `uuid` is `None` on the client-credentials
/// route, which authenticates with number and secret only.
pub async fn check(
    pool: &PgPool,
    pepper: &SecretBox<Vec<u8>>,
    partner_number: PartnerNumber,
    uuid: Option<Uuid>,
    secret: &PartnerSecret,
) -> Result<(), AuthError> {
    let number = i32::try_from(partner_number.get()).map_err(|_| AuthError::InvalidCredentials)?;
    let partner = partner_store::find(pool, number).await?;
    // Hash even for an unknown partner so both cases cost the same.
    let presented = secrets::hash(pepper, secret.expose());
    let (stored_hash, stored_uuid, active) = match &partner {
        Some(row) => (
            row.secret_hash.as_slice(),
            row.partner_uuid,
            row.status == "active",
        ),
        None => (&[0u8; 32][..], Uuid::nil(), false),
    };
    let secret_ok: Choice = presented.ct_eq(stored_hash);
    let uuid_ok: Choice = match uuid {
        Some(uuid) => uuid.as_bytes().ct_eq(stored_uuid.as_bytes()),
        None => Choice::from(1),
    };
    let known = Choice::from(u8::from(partner.is_some() && active));
    if bool::from(secret_ok & uuid_ok & known) {
        Ok(())
    } else {
        Err(AuthError::InvalidCredentials)
    }
}
