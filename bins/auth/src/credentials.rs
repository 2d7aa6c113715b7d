//! The credential check. Unknown partner, wrong UUID, wrong secret and
//! disabled partner all cost one query, one HMAC and two comparisons, and
//! give one answer. The second comparison is with the secret before the last
//! rotation, while its overlap lasts.

use secrecy::SecretBox;
use sqlx::PgConnection;
use subtle::{Choice, ConstantTimeEq};
use uuid::Uuid;

use common::domain::{PartnerNumber, PartnerSecret};

use crate::{error::AuthError, partner_store, secrets};

/// Checks a partner's credentials; `uuid` is `None` on the client-credentials
/// route, which authenticates with number and secret only.
pub async fn check(
    connection: &mut PgConnection,
    pepper: &SecretBox<Vec<u8>>,
    partner_number: PartnerNumber,
    uuid: Option<Uuid>,
    secret: &PartnerSecret,
) -> Result<(), AuthError> {
    let number = i32::try_from(partner_number.get()).map_err(|_| AuthError::InvalidCredentials)?;
    let partner = partner_store::find(connection, number).await?;
    // Hash even for an unknown partner so both cases cost the same.
    let presented = secrets::hash(pepper, secret.expose());
    const NONE: [u8; 32] = [0; 32];
    let (stored_hash, previous_hash, stored_uuid, active) = match &partner {
        Some(row) => (
            row.secret_hash.as_slice(),
            row.previous_secret_hash.as_deref().unwrap_or(&NONE),
            row.partner_uuid,
            row.status == "active",
        ),
        None => (&NONE[..], &NONE[..], Uuid::nil(), false),
    };
    let current_ok: Choice = presented.ct_eq(stored_hash);
    let previous_ok: Choice = presented.ct_eq(previous_hash);
    let secret_ok = current_ok | previous_ok;
    let uuid_ok: Choice = match uuid {
        Some(uuid) => uuid.as_bytes().ct_eq(stored_uuid.as_bytes()),
        None => Choice::from(1),
    };
    let known = Choice::from(u8::from(partner.is_some() && active));
    if bool::from(secret_ok & uuid_ok & known) {
        if !bool::from(current_ok) {
            // Operators watch for this line to end an overlap early.
            tracing::info!(
                partner_number = partner_number.get(),
                "login with the previous secret, within its rotation overlap"
            );
        }
        Ok(())
    } else {
        Err(AuthError::InvalidCredentials)
    }
}
