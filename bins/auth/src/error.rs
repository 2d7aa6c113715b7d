//! The auth service's outcomes, mapped once onto the shared error table.

use common::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Unknown number, wrong UUID or secret, disabled partner: one answer for all.
    #[error("invalid partner credentials")]
    InvalidCredentials,
    /// Too many failed logins for this partner number; retry after this many seconds.
    #[error("locked out for {0} s")]
    LockedOut(u64),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A downstream service answered with an error; pass it on as it is.
    #[error("downstream: {0}")]
    Downstream(ServiceError),
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for AuthError {
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

impl From<common::domain::Invalid> for AuthError {
    fn from(invalid: common::domain::Invalid) -> Self {
        Self::InvalidRequest(invalid.0)
    }
}

impl From<AuthError> for ServiceError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidRequest(message) => ServiceError::bad_request(message),
            AuthError::InvalidCredentials => ServiceError::invalid_client(),
            AuthError::LockedOut(seconds) => ServiceError::new(
                429,
                common::error::code::TOO_MANY_REQUESTS,
                "too many failed logins for this partner; try again later",
            )
            .with_retry_after(seconds),
            AuthError::NotFound(message) => ServiceError::not_found(message),
            AuthError::Conflict(message) => ServiceError::conflict(message),
            AuthError::Downstream(error) => error,
            AuthError::DatabaseUnavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                ServiceError::unavailable("partner store temporarily unavailable")
            }
            AuthError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ServiceError::internal()
            }
        }
    }
}
