//! The token rules: issue (the same token while it has enough life left),
//! validate, refresh with rotation and reuse detection, revoke, JWKS.

use std::time::Duration;

use common::wire::{Introspection, TokenResponse};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::json;
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

use crate::{
    claims::Claims,
    config::JwtConfig,
    error::JwtError,
    refresh_tokens,
    signing_keys::{KeyRing, SigningKey},
    token_store::{self, NewToken, TokenRecord},
};

/// Tokens longer than this are not ours; refuse before parsing.
const MAX_TOKEN_LENGTH: usize = 4096;

#[derive(Clone)]
pub struct Tokens {
    config: JwtConfig,
    pool: PgPool,
    keys: KeyRing,
}

fn now() -> OffsetDateTime {
    // JWT times are whole seconds; keep the records in step with the claims.
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn seconds_f(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

fn seconds(duration: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2))
}

impl Tokens {
    pub fn new(config: JwtConfig, pool: PgPool, keys: KeyRing) -> Self {
        Self { config, pool, keys }
    }

    fn claims_of(&self, record: &TokenRecord) -> Claims {
        Claims {
            iss: self.config.issuer.clone(),
            sub: record.partner_number.to_string(),
            aud: self.config.audience.clone(),
            iat: record.issued_at.unix_timestamp(),
            nbf: record.issued_at.unix_timestamp(),
            exp: record.expires_at.unix_timestamp(),
            jti: record.jti.to_string(),
            partner_number: u32::try_from(record.partner_number).unwrap_or_default(),
        }
    }

    /// Signs the token a record stands for; the same record gives the same string.
    async fn sign(&self, record: &TokenRecord) -> Result<String, JwtError> {
        let key = self
            .keys
            .find(&record.kid)
            .await?
            .ok_or_else(|| JwtError::Internal(format!("signing key {} is gone", record.kid)))?;
        sign_claims(&self.claims_of(record), &key)
    }

    /// The token response for an access token and the login's refresh token.
    async fn response(
        &self,
        access: &TokenRecord,
        refresh: &Uuid,
        login_ends: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<TokenResponse, JwtError> {
        let remaining =
            |until: OffsetDateTime| u64::try_from((until - at).whole_seconds()).unwrap_or(0);
        Ok(TokenResponse {
            access_token: self.sign(access).await?,
            token_type: "Bearer".to_owned(),
            expires_in: remaining(access.expires_at),
            refresh_token: refresh_tokens::encode(&self.config.refresh_token_key, refresh),
            refresh_expires_in: remaining(login_ends),
            expires_at: access
                .expires_at
                .format(&Rfc3339)
                .map_err(|error| JwtError::Internal(error.to_string()))?,
        })
    }

    /// The partner's token: the current one while it stands and has more
    /// than `TOKEN_MIN_REMAINING` left, otherwise a new one. Every call is a
    /// new login with a refresh token of its own, so two clients of one
    /// partner never share a refresh token.
    pub async fn issue(
        &self,
        partner_number: u32,
        request_id: &str,
    ) -> Result<TokenResponse, JwtError> {
        let partner = i32::try_from(partner_number)
            .map_err(|_| JwtError::InvalidRequest("partnerNumber is out of range".into()))?;
        let mut transaction = self.pool.begin().await?;
        if !token_store::partner_is_active(&mut transaction, partner).await? {
            return Err(JwtError::PartnerNotActive);
        }
        let current = token_store::lock_current(&mut transaction, partner).await?;
        let at = now();
        let login_ends = at + seconds(self.config.refresh_ttl);
        let family_id = token_store::insert_family(&mut transaction, partner, login_ends).await?;
        let reusable = current.filter(|record| {
            record.is_standing()
                && record.expires_at > at + seconds(self.config.token_min_remaining)
        });
        let (access, minted) = match reusable {
            Some(record) => (record, false),
            None => (
                self.mint(&mut transaction, partner, (family_id, login_ends), at)
                    .await?,
                true,
            ),
        };
        let refresh = token_store::insert_refresh(&mut transaction, family_id, access.jti).await?;
        transaction.commit().await?;
        if minted {
            tracing::info!(partner_number, jti = %access.jti, "issued a new token");
            token_store::audit(
                &self.pool,
                "token.issue",
                "issued",
                Some(partner),
                request_id,
                json!({"jti": access.jti, "login": family_id}),
            )
            .await;
        } else {
            tracing::info!(partner_number, jti = %access.jti, "returned the current token");
        }
        self.response(&access, &refresh, login_ends, at).await
    }

    /// Records a new token in the login `(family_id, login_ends)`, signed by
    /// the active key, as current; it never outlives its login.
    async fn mint(
        &self,
        connection: &mut sqlx::PgConnection,
        partner: i32,
        (family_id, login_ends): (Uuid, OffsetDateTime),
        at: OffsetDateTime,
    ) -> Result<TokenRecord, JwtError> {
        let key = self.keys.active(&mut *connection).await?;
        let new = NewToken {
            jti: Uuid::new_v4(),
            family_id,
            partner_number: partner,
            kid: key.kid.clone(),
            issued_at: at,
            expires_at: (at + seconds(self.config.token_ttl)).min(login_ends),
        };
        token_store::insert_current(connection, &new).await?;
        token_store::find_by_jti(connection, new.jti)
            .await?
            .ok_or_else(|| JwtError::Internal("a new token vanished".into()))
    }

    /// Checks signature, algorithm, `kid`, every required claim and its
    /// type, expiry with a small leeway, and that nothing revoked it.
    pub async fn validate(&self, token: &str) -> Result<Introspection, JwtError> {
        let Some(claims) = self.verify(token).await? else {
            return Ok(Introspection {
                active: false,
                claims: None,
            });
        };
        let Ok(jti) = Uuid::parse_str(&claims.jti) else {
            return Ok(Introspection {
                active: false,
                claims: None,
            });
        };
        let mut connection = self.pool.acquire().await?;
        let standing = token_store::find_by_jti(&mut connection, jti)
            .await?
            .filter(|record| {
                record.is_standing()
                    && i64::from(record.partner_number) == i64::from(claims.partner_number)
                    && record.expires_at.unix_timestamp() == claims.exp
            })
            .is_some();
        Ok(if standing {
            Introspection {
                active: true,
                claims: Some(claims.introspected()),
            }
        } else {
            Introspection {
                active: false,
                claims: None,
            }
        })
    }

    /// The token's claims if its signature and claims are good (no database).
    pub async fn verify(&self, token: &str) -> Result<Option<Claims>, JwtError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LENGTH {
            return Ok(None);
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        if header.alg != Algorithm::EdDSA {
            return Ok(None);
        }
        let Some(kid) = header.kid.filter(|kid| kid.len() <= 128) else {
            return Ok(None);
        };
        let Some(key) = self.keys.find_presented(&kid).await? else {
            return Ok(None);
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) else {
            return Ok(None);
        };
        let claims = data.claims;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(0);
        let consistent = claims.exp > now - leeway
            && claims.iat <= now + leeway
            && claims.nbf <= now + leeway
            && claims.iat < claims.exp
            && claims.sub == claims.partner_number.to_string();
        Ok(consistent.then_some(claims))
    }

    /// Trades a refresh token for a new access and refresh token in the same
    /// login. A spent refresh token revokes the whole login, unless it is a
    /// duplicate of a use moments ago whose successor is still unused (two
    /// concurrent requests, a client's retry): that one is refused alone.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        request_id: &str,
    ) -> Result<TokenResponse, JwtError> {
        let Some(id) = refresh_tokens::decode(&self.config.refresh_token_key, refresh_token) else {
            return Err(JwtError::InvalidGrant("refresh token is invalid"));
        };
        let mut transaction = self.pool.begin().await?;
        let Some(record) = token_store::lock_refresh(&mut transaction, id).await? else {
            return Err(JwtError::InvalidGrant("refresh token is invalid"));
        };
        let at = now();
        if let Some(used_at) = record.used_at {
            let duplicate = record.successor_used_at.is_none()
                && OffsetDateTime::now_utc() - used_at < seconds_f(self.config.refresh_reuse_grace);
            if duplicate {
                return Err(JwtError::InvalidGrant(
                    "refresh token was just used; use the refresh token that came with it",
                ));
            }
            token_store::revoke_family(&mut transaction, record.family_id, "refresh token reused")
                .await?;
            transaction.commit().await?;
            tracing::warn!(partner_number = record.partner_number, login = %record.family_id,
                "refresh token reused: login revoked");
            token_store::audit(
                &self.pool,
                "token.refresh",
                "reuse_detected",
                Some(record.partner_number),
                request_id,
                json!({"login": record.family_id}),
            )
            .await;
            return Err(JwtError::InvalidGrant(
                "refresh token was already used: every token of this login is revoked",
            ));
        }
        if !record.is_standing(at) {
            return Err(JwtError::InvalidGrant(
                "refresh token is expired or revoked",
            ));
        }
        token_store::lock_current(&mut transaction, record.partner_number).await?;
        let fresh = self
            .mint(
                &mut transaction,
                record.partner_number,
                (record.family_id, record.family_expires_at),
                at,
            )
            .await?;
        let successor =
            token_store::insert_refresh(&mut transaction, record.family_id, fresh.jti).await?;
        token_store::spend_refresh(&mut transaction, id, successor).await?;
        transaction.commit().await?;
        token_store::audit(
            &self.pool,
            "token.refresh",
            "refreshed",
            Some(record.partner_number),
            request_id,
            json!({"login": record.family_id, "jti": fresh.jti}),
        )
        .await;
        self.response(&fresh, &successor, record.family_expires_at, at)
            .await
    }

    /// Revokes an access token or a refresh token (RFC 7009: unknown tokens
    /// are not an error). A refresh token revokes its whole login.
    pub async fn revoke(&self, token: &str, request_id: &str) -> Result<(), JwtError> {
        let mut transaction = self.pool.begin().await?;
        if let Some(id) = refresh_tokens::decode(&self.config.refresh_token_key, token) {
            if let Some(record) = token_store::lock_refresh(&mut transaction, id).await? {
                token_store::revoke_family(&mut transaction, record.family_id, "revoked").await?;
                transaction.commit().await?;
                token_store::audit(
                    &self.pool,
                    "token.revoke",
                    "revoked_login",
                    Some(record.partner_number),
                    request_id,
                    json!({"login": record.family_id}),
                )
                .await;
            }
            return Ok(());
        }
        // An access token, even an expired one, as long as it is ours.
        let Some(jti) = self.jti_of_our_token(token).await? else {
            return Ok(());
        };
        if let Some(record) = token_store::find_by_jti(&mut transaction, jti).await? {
            token_store::revoke_token(&mut transaction, jti).await?;
            transaction.commit().await?;
            token_store::audit(
                &self.pool,
                "token.revoke",
                "revoked",
                Some(record.partner_number),
                request_id,
                json!({"jti": jti}),
            )
            .await;
        }
        Ok(())
    }

    /// The `jti` of a token we signed, whatever its expiry.
    async fn jti_of_our_token(&self, token: &str) -> Result<Option<Uuid>, JwtError> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Ok(None);
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let (Algorithm::EdDSA, Some(kid)) = (header.alg, header.kid) else {
            return Ok(None);
        };
        let Some(key) = self.keys.find_presented(&kid).await? else {
            return Ok(None);
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Ok(
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
                .ok()
                .and_then(|data| Uuid::parse_str(&data.claims.jti).ok()),
        )
    }

    /// The JWKS document: every key that may have signed a token still valid.
    pub async fn jwks(&self) -> Result<serde_json::Value, JwtError> {
        let keys: Vec<serde_json::Value> = self
            .keys
            .published(self.config.token_ttl + self.config.leeway)
            .await?
            .into_iter()
            .map(|key| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": key.public_x, "kid": key.kid,
                       "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// Rotates the signing key (audited).
    pub async fn rotate_key(&self, request_id: &str) -> Result<serde_json::Value, JwtError> {
        let kid = self.keys.rotate().await?;
        token_store::audit(
            &self.pool,
            "key.rotate",
            "rotated",
            None,
            request_id,
            json!({"kid": kid}),
        )
        .await;
        Ok(json!({"kid": kid}))
    }

    /// Every signing key, for operators.
    pub async fn list_keys(&self) -> Result<serde_json::Value, JwtError> {
        let published: Vec<String> = self
            .keys
            .published(self.config.token_ttl + self.config.leeway)
            .await?
            .into_iter()
            .map(|key| key.kid)
            .collect();
        let keys: Vec<serde_json::Value> = self
            .keys
            .list()
            .await?
            .into_iter()
            .map(|key| {
                let mut value = serde_json::to_value(&key).unwrap_or_default();
                value["published"] = json!(published.contains(&key.kid));
                value
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }
}

/// Signs `claims` with `key`, naming the key in the header.
pub fn sign_claims(claims: &Claims, key: &SigningKey) -> Result<String, JwtError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|error| JwtError::Internal(format!("cannot sign a token: {error}")))
}
