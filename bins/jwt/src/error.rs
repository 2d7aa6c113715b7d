//! The jwt service's outcomes, mapped once onto the shared error table.

use common::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("partner unknown or disabled")]
    PartnerNotActive,
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for JwtError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::DatabaseUnavailable(error),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<JwtError> for ServiceError {
    fn from(error: JwtError) -> Self {
        match error {
            JwtError::InvalidRequest(message) => ServiceError::bad_request(message),
            JwtError::PartnerNotActive => ServiceError::invalid_client(),
            JwtError::InvalidGrant(message) => ServiceError::invalid_grant(message),
            JwtError::NotFound(message) => ServiceError::not_found(message),
            JwtError::DatabaseUnavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                ServiceError::unavailable("token store temporarily unavailable")
            }
            JwtError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ServiceError::internal()
            }
        }
    }
}
