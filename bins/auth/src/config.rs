//! The auth service's settings, from the environment.

use std::{sync::Arc, time::Duration};

use common::{
    config::{self, ConfigError, Source},
    nats::NatsConfig,
    telemetry::LogFormat,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};

#[derive(Clone)]
pub struct AuthConfig {
    pub nats: NatsConfig,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    /// Keys the partner-secret hashes (HMAC-SHA-256); kept out of the database.
    pub partner_secret_pepper: Arc<SecretBox<Vec<u8>>>,
    /// How long to wait for the jwt service.
    pub request_timeout: Duration,
    /// How long one attempt at the jwt service waits before it is sent again.
    pub attempt_timeout: Duration,
    /// How long a request waits for a database connection before it is a 503.
    pub database_acquire_timeout: Duration,
    pub log_format: LogFormat,
    pub shutdown_grace: Duration,
    /// Failed logins for one partner within `LOGIN_FAILURE_WINDOW` that lock it (429).
    pub lockout: crate::lockout::Policy,
    /// The longest overlap a secret rotation may ask for (0: none allowed).
    /// There is no default overlap: a rotation that names none is a leak
    /// response, whatever this instance's settings.
    pub max_secret_overlap: Duration,
}

impl AuthConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let pepper = config::secret(source, "PARTNER_SECRET_PEPPER")?;
        if pepper.expose_secret().len() < 32 {
            return Err(ConfigError {
                name: "PARTNER_SECRET_PEPPER".into(),
                problem: "must be at least 32 characters (e.g. `head -c 32 /dev/urandom | base64`)"
                    .into(),
            });
        }
        let max_secret_overlap = config::duration_between(
            source,
            "SECRET_ROTATION_MAX_OVERLAP",
            Duration::from_secs(30 * 24 * 3600),
            Duration::ZERO,
            config::MAX_DURATION,
        )?;
        Ok(Self {
            nats: NatsConfig::from_source(source)?,
            database_url: config::secret_or(
                source,
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/sms",
            )?,
            database_max_connections: config::parsed(source, "DATABASE_MAX_CONNECTIONS", 10)?,
            partner_secret_pepper: Arc::new(SecretBox::new(Box::new(
                pepper.expose_secret().as_bytes().to_vec(),
            ))),
            request_timeout: config::duration(source, "REQUEST_TIMEOUT", Duration::from_secs(5))?,
            attempt_timeout: config::duration(source, "ATTEMPT_TIMEOUT", Duration::from_secs(2))?,
            database_acquire_timeout: config::duration(
                source,
                "DATABASE_ACQUIRE_TIMEOUT",
                Duration::from_secs(1),
            )?,
            log_format: config::parsed(source, "LOG_FORMAT", LogFormat::Text)?,
            shutdown_grace: config::duration(source, "SHUTDOWN_GRACE", Duration::from_secs(10))?,
            lockout: crate::lockout::Policy {
                max_failures: config::parsed(source, "LOGIN_MAX_FAILURES", 5)?,
                window: config::duration(source, "LOGIN_FAILURE_WINDOW", Duration::from_secs(300))?,
            },
            max_secret_overlap,
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
            "{} DATABASE_URL={} PARTNER_SECRET_PEPPER=**** REQUEST_TIMEOUT={}ms ATTEMPT_TIMEOUT={}ms DATABASE_ACQUIRE_TIMEOUT={}ms LOGIN_MAX_FAILURES={} \
             LOGIN_FAILURE_WINDOW={}s SECRET_ROTATION_MAX_OVERLAP={}s LOG_FORMAT={:?}",
            self.nats.describe(),
            config::mask_url(self.database_url.expose_secret()),
            self.request_timeout.as_millis(),
            self.attempt_timeout.as_millis(),
            self.database_acquire_timeout.as_millis(),
            self.lockout.max_failures,
            self.lockout.window.as_secs(),
            self.max_secret_overlap.as_secs(),
            self.log_format,
        )
    }
}
