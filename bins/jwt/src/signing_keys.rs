//! Ed25519 signing keys shared by every jwt instance through Postgres. The
//! private half is sealed with ChaCha20-Poly1305 under a key from the
//! environment; the first instance to start creates the first key.

use std::{collections::HashMap, sync::Arc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    AeadCore, ChaCha20Poly1305,
};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::RwLock;

use crate::{config::JwtConfig, error::JwtError};

pub const ALGORITHM: &str = "EdDSA";

/// One key, ready to sign (when its private half is at hand) and verify.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    /// The public key, base64url (the JWK `x`).
    pub public_x: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub active: bool,
    /// When it stopped signing new tokens.
    pub retired_at: Option<time::OffsetDateTime>,
}

/// The RFC 7638 thumbprint of an Ed25519 public key: our `kid`.
pub fn thumbprint(public_x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn cipher(encryption_key: &SecretBox<[u8; 32]>) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(encryption_key.expose_secret().into())
}

/// Seals a private key's seed: nonce (12 bytes) then ciphertext, bound to the kid.
fn seal(
    seed: &[u8; 32],
    kid: &str,
    encryption_key: &SecretBox<[u8; 32]>,
) -> Result<Vec<u8>, JwtError> {
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher(encryption_key)
        .encrypt(
            &nonce,
            Payload {
                msg: seed,
                aad: kid.as_bytes(),
            },
        )
        .map_err(|_| JwtError::Internal("cannot seal a signing key".into()))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

fn unseal(
    sealed: &[u8],
    kid: &str,
    encryption_key: &SecretBox<[u8; 32]>,
) -> Result<[u8; 32], JwtError> {
    if sealed.len() < 12 {
        return Err(JwtError::Internal(format!("sealed key {kid} is truncated")));
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let seed = cipher(encryption_key)
        .decrypt(nonce.into(), Payload { msg: ciphertext, aad: kid.as_bytes() })
        .map_err(|_| {
            JwtError::Internal(format!(
                "cannot unseal signing key {kid}: this database was set up with another SIGNING_KEY_ENCRYPTION_KEY \
                 (restore the key that sealed it, or point DATABASE_URL at a new database)"
            ))
        })?;
    seed.try_into()
        .map_err(|_| JwtError::Internal(format!("signing key {kid} has a bad length")))
}

fn build(
    seed: [u8; 32],
    active: bool,
    retired_at: Option<time::OffsetDateTime>,
) -> Result<SigningKey, JwtError> {
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public_x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let pkcs8 = signing
        .to_pkcs8_der()
        .map_err(|error| JwtError::Internal(format!("cannot encode a signing key: {error}")))?;
    let decoding = DecodingKey::from_ed_components(&public_x)
        .map_err(|error| JwtError::Internal(format!("cannot build a verifying key: {error}")))?;
    Ok(SigningKey {
        kid: thumbprint(&public_x),
        public_x,
        encoding: EncodingKey::from_ed_der(pkcs8.as_bytes()),
        decoding,
        active,
        retired_at,
    })
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    private_key_sealed: Vec<u8>,
    status: String,
    retired_at: Option<time::OffsetDateTime>,
}

/// A key as operators see it (`smsctl keys list`).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<time::OffsetDateTime>,
}

/// The keys this instance knows, refreshed from Postgres when a `kid` is
/// missing or the active key changed.
#[derive(Clone)]
pub struct KeyRing {
    pool: PgPool,
    encryption_key: Arc<SecretBox<[u8; 32]>>,
    keys: Arc<RwLock<HashMap<String, SigningKey>>>,
    /// When the cache was last read from Postgres: a token naming an unknown
    /// `kid` may cause a reload at most once per [`RELOAD_INTERVAL`].
    reloaded_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// The shortest time between reloads caused by what clients send.
const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl KeyRing {
    /// Loads every key, creating the first one when there is none.
    pub async fn load_or_create(pool: PgPool, config: &JwtConfig) -> Result<Self, JwtError> {
        let ring = Self {
            pool,
            encryption_key: config.signing_key_encryption_key.clone(),
            keys: Arc::default(),
            reloaded_at: Arc::default(),
        };
        if !ring.reload().await?.values().any(|key| key.active) {
            ring.create_active_if_none().await?;
            ring.reload().await?;
        }
        Ok(ring)
    }

    /// Inserts a new active key unless another instance got there first.
    async fn create_active_if_none(&self) -> Result<(), JwtError> {
        let seed = ed25519_dalek::SigningKey::generate(&mut OsRng).to_bytes();
        let key = build(seed, true, None)?;
        let sealed = seal(&seed, &key.kid, &self.encryption_key)?;
        let inserted = sqlx::query(
            "insert into signing_keys (kid, algorithm, public_key, private_key_sealed, status)
             values ($1, $2, $3, $4, 'active')
             on conflict do nothing",
        )
        .bind(&key.kid)
        .bind(ALGORITHM)
        .bind(URL_SAFE_NO_PAD.decode(&key.public_x).unwrap_or_default())
        .bind(sealed)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            tracing::info!(kid = %key.kid, "created the first signing key");
        }
        Ok(())
    }

    /// Reads every key from Postgres into the cache.
    pub async fn reload(&self) -> Result<HashMap<String, SigningKey>, JwtError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "select kid, private_key_sealed, status, retired_at from signing_keys where algorithm = $1",
        )
        .bind(ALGORITHM)
        .fetch_all(&self.pool)
        .await?;
        let mut keys = HashMap::new();
        for row in rows {
            let seed = unseal(&row.private_key_sealed, &row.kid, &self.encryption_key)?;
            let key = build(seed, row.status == "active", row.retired_at)?;
            if key.kid != row.kid {
                return Err(JwtError::Internal(format!(
                    "signing key {} does not match its kid",
                    row.kid
                )));
            }
            keys.insert(key.kid.clone(), key);
        }
        *self.keys.write().await = keys.clone();
        if let Ok(mut reloaded_at) = self.reloaded_at.lock() {
            *reloaded_at = Some(std::time::Instant::now());
        }
        Ok(keys)
    }

    /// The key that signs new tokens, as the database says now: after a
    /// rotation every instance signs with the new key from its next token on.
    pub async fn active(
        &self,
        connection: &mut sqlx::PgConnection,
    ) -> Result<SigningKey, JwtError> {
        let kid: Option<String> = sqlx::query_scalar(
            "select kid from signing_keys where status = 'active' and algorithm = $1",
        )
        .bind(ALGORITHM)
        .fetch_optional(connection)
        .await?;
        let kid = kid.ok_or_else(|| JwtError::Internal("no active signing key".into()))?;
        self.find(&kid)
            .await?
            .ok_or_else(|| JwtError::Internal(format!("active signing key {kid} cannot be loaded")))
    }

    /// Makes a new key the active one and retires the old, in one transaction.
    pub async fn rotate(&self) -> Result<String, JwtError> {
        let seed = ed25519_dalek::SigningKey::generate(&mut OsRng).to_bytes();
        let key = build(seed, true, None)?;
        let sealed = seal(&seed, &key.kid, &self.encryption_key)?;
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "update signing_keys set status = 'retired', retired_at = clock_timestamp(), updated_at = now()
             where status = 'active'",
        )
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "insert into signing_keys (kid, algorithm, public_key, private_key_sealed, status)
             values ($1, $2, $3, $4, 'active')",
        )
        .bind(&key.kid)
        .bind(ALGORITHM)
        .bind(URL_SAFE_NO_PAD.decode(&key.public_x).unwrap_or_default())
        .bind(sealed)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        self.reload().await?;
        tracing::info!(kid = %key.kid, "signing key rotated");
        Ok(key.kid)
    }

    /// Every key, newest first, for operators.
    pub async fn list(&self) -> Result<Vec<KeyView>, JwtError> {
        Ok(sqlx::query_as(
            "select kid, algorithm, status, created_at, retired_at from signing_keys order by created_at desc",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The key with `kid`, looking in Postgres when this instance has not seen it.
    pub async fn find(&self, kid: &str) -> Result<Option<SigningKey>, JwtError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(Some(key.clone()));
        }
        Ok(self.reload().await?.get(kid).cloned())
    }

    /// The key a presented token names: looked up in Postgres on a miss only
    /// when the cache is older than a second, so made-up `kid`s cost nothing.
    pub async fn find_presented(&self, kid: &str) -> Result<Option<SigningKey>, JwtError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(Some(key.clone()));
        }
        if !self.stale() {
            return Ok(None);
        }
        Ok(self.reload().await?.get(kid).cloned())
    }

    fn stale(&self) -> bool {
        self.reloaded_at
            .lock()
            .map(|at| at.is_none_or(|at| at.elapsed() >= RELOAD_INTERVAL))
            .unwrap_or(true)
    }

    /// The public halves of the keys that may have signed a token still
    /// valid: the active key, and retired keys for `still_needed` after
    /// retirement (the longest a token lives, plus leeway).
    pub async fn published(
        &self,
        still_needed: std::time::Duration,
    ) -> Result<Vec<SigningKey>, JwtError> {
        let now = time::OffsetDateTime::now_utc();
        let window = time::Duration::try_from(still_needed).unwrap_or(time::Duration::MAX);
        let cached = if self.stale() {
            self.reload().await?
        } else {
            self.keys.read().await.clone()
        };
        let mut keys: Vec<SigningKey> = cached
            .into_values()
            .filter(|key| {
                key.active || key.retired_at.is_some_and(|retired| retired + window > now)
            })
            .collect();
        keys.sort_by(|left, right| {
            right
                .active
                .cmp(&left.active)
                .then(right.retired_at.cmp(&left.retired_at))
        });
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption_key() -> SecretBox<[u8; 32]> {
        SecretBox::new(Box::new([7u8; 32]))
    }

    #[test]
    fn a_sealed_key_unseals_to_the_same_seed() {
        let seed = [42u8; 32];
        let sealed = seal(&seed, "kid-1", &encryption_key()).unwrap();
        assert!(!sealed.windows(32).any(|window| window == seed));
        assert_eq!(unseal(&sealed, "kid-1", &encryption_key()).unwrap(), seed);
    }

    #[test]
    fn a_sealed_key_does_not_unseal_under_another_kid_or_key() {
        let sealed = seal(&[42u8; 32], "kid-1", &encryption_key()).unwrap();
        assert!(unseal(&sealed, "kid-2", &encryption_key()).is_err());
        assert!(unseal(&sealed, "kid-1", &SecretBox::new(Box::new([8u8; 32]))).is_err());
    }

    #[test]
    fn the_kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3: thumbprint of the example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
