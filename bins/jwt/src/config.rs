//! The jwt service's settings, from the environment.

use std::time::Duration;

use base64::Engine;
use common::{
    config::{self, ConfigError, Source},
    nats::NatsConfig,
    telemetry::LogFormat,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};

#[derive(Clone)]
pub struct JwtConfig {
    pub nats: NatsConfig,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it is a 503.
    pub database_acquire_timeout: Duration,
    pub token_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A refresh token used again within this time, while its successor is
    /// unused, is a duplicate (refused alone), not a replay (login revoked).
    pub refresh_reuse_grace: Duration,
    pub token_min_remaining: Duration,
    pub leeway: Duration,
    pub issuer: String,
    pub audience: String,
    /// Seals the private halves of the signing keys in Postgres.
    pub signing_key_encryption_key: Arc<SecretBox<[u8; 32]>>,
    /// Derives refresh tokens from their ids (HMAC-SHA-256).
    pub refresh_token_key: Arc<SecretBox<Vec<u8>>>,
    pub log_format: LogFormat,
    pub shutdown_grace: Duration,
}

use std::sync::Arc;

/// Decodes a base64 key of at least `min` bytes.
pub fn key_bytes(source: &dyn Source, name: &str, min: usize) -> Result<Vec<u8>, ConfigError> {
    let raw = config::secret(source, name)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.expose_secret().trim())
        .map_err(|_| ConfigError {
            name: name.to_owned(),
            problem: "must be base64 (e.g. `head -c 32 /dev/urandom | base64`)".to_owned(),
        })?;
    if bytes.len() < min {
        return Err(ConfigError {
            name: name.to_owned(),
            problem: format!("must decode to at least {min} bytes, got {}", bytes.len()),
        });
    }
    Ok(bytes)
}

impl JwtConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let leeway = config::duration(source, "TOKEN_LEEWAY", Duration::from_secs(2))?;
        if leeway > Duration::from_secs(5) {
            return Err(ConfigError {
                name: "TOKEN_LEEWAY".into(),
                problem: "must be at most 5 seconds".into(),
            });
        }
        let token_ttl = config::duration(source, "TOKEN_TTL", Duration::from_secs(3600))?;
        if token_ttl.is_zero() {
            return Err(ConfigError {
                name: "TOKEN_TTL".into(),
                problem: "must be more than zero".into(),
            });
        }
        let refresh_ttl = config::duration(source, "REFRESH_TTL", Duration::from_secs(86_400))?;
        if refresh_ttl < token_ttl {
            return Err(ConfigError {
                name: "REFRESH_TTL".into(),
                problem: "must be at least TOKEN_TTL".into(),
            });
        }
        let encryption = key_bytes(source, "SIGNING_KEY_ENCRYPTION_KEY", 32)?;
        if encryption.len() != 32 {
            return Err(ConfigError {
                name: "SIGNING_KEY_ENCRYPTION_KEY".into(),
                problem: "must decode to exactly 32 bytes".into(),
            });
        }
        let mut encryption_key = [0u8; 32];
        encryption_key.copy_from_slice(&encryption);
        Ok(Self {
            nats: NatsConfig::from_source(source)?,
            database_url: config::secret_or(
                source,
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/sms",
            )?,
            database_max_connections: config::parsed(source, "DATABASE_MAX_CONNECTIONS", 10)?,
            database_acquire_timeout: config::duration(
                source,
                "DATABASE_ACQUIRE_TIMEOUT",
                Duration::from_secs(1),
            )?,
            token_ttl,
            refresh_ttl,
            refresh_reuse_grace: config::duration(
                source,
                "REFRESH_REUSE_GRACE",
                Duration::from_secs(2),
            )?,
            token_min_remaining: config::duration(
                source,
                "TOKEN_MIN_REMAINING",
                Duration::from_secs(60),
            )?,
            leeway,
            issuer: config::string(source, "TOKEN_ISSUER", "sms-jwt"),
            audience: config::string(source, "TOKEN_AUDIENCE", "sms-partners"),
            signing_key_encryption_key: Arc::new(SecretBox::new(Box::new(encryption_key))),
            refresh_token_key: Arc::new(SecretBox::new(Box::new(key_bytes(
                source,
                "REFRESH_TOKEN_KEY",
                32,
            )?))),
            log_format: config::parsed(source, "LOG_FORMAT", LogFormat::Text)?,
            shutdown_grace: config::duration(source, "SHUTDOWN_GRACE", Duration::from_secs(10))?,
        })
    }

    /// The pool settings, shared by the program and the tests.
    pub fn pool_options(&self) -> sqlx::postgres::PgPoolOptions {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(self.database_max_connections)
            .acquire_timeout(self.database_acquire_timeout)
    }

    /// The effective settings, secrets masked, for the start-up log line.
    pub fn describe(&self) -> String {
        format!(
            "{} DATABASE_URL={} TOKEN_TTL={}s REFRESH_TTL={}s REFRESH_REUSE_GRACE={}ms TOKEN_MIN_REMAINING={}s TOKEN_LEEWAY={}s \
             TOKEN_ISSUER={} TOKEN_AUDIENCE={} SIGNING_KEY_ENCRYPTION_KEY=**** REFRESH_TOKEN_KEY=**** LOG_FORMAT={:?}",
            self.nats.describe(),
            config::mask_url(self.database_url.expose_secret()),
            self.token_ttl.as_secs(),
            self.refresh_ttl.as_secs(),
            self.refresh_reuse_grace.as_millis(),
            self.token_min_remaining.as_secs(),
            self.leeway.as_secs(),
            self.issuer,
            self.audience,
            self.log_format,
        )
    }
}
