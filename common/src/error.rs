//! The error-code table shared by services and gateway. A service turns its
//! own error enum into a [`ServiceError`] once, at its NATS edge; the gateway
//! turns the reply back into an HTTP status and body, once, at its HTTP edge.

use serde::{Deserialize, Serialize};

/// Short codes sent in the `Nats-Service-Error` header and the body's `error`
/// field. Where OAuth2 has a word for the case we use it.
pub mod code {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const INVALID_CLIENT: &str = "invalid_client";
    pub const INVALID_GRANT: &str = "invalid_grant";
    pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    pub const FORBIDDEN: &str = "forbidden";
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    pub const UNAVAILABLE: &str = "temporarily_unavailable";
    pub const TIMEOUT: &str = "timeout";
    pub const INTERNAL: &str = "server_error";
}

/// An error as it travels on the wire: the HTTP status it maps to, a short
/// machine code and a message safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {error}: {message}")]
pub struct ServiceError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    pub message: String,
    /// Seconds a client should wait before trying again (429, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ServiceError {
    pub fn new(status: u16, error: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: error.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, code::INVALID_REQUEST, message)
    }

    pub fn invalid_client() -> Self {
        Self::new(401, code::INVALID_CLIENT, "Invalid partner credentials")
    }

    pub fn invalid_grant(message: impl Into<String>) -> Self {
        Self::new(400, code::INVALID_GRANT, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, code::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, code::CONFLICT, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, code::FORBIDDEN, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(2),
            ..Self::new(503, code::UNAVAILABLE, message)
        }
    }

    pub fn internal() -> Self {
        Self::new(500, code::INTERNAL, "internal error")
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}
