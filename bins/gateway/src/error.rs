//! The one place where errors become HTTP: a status, headers, and a JSON
//! body in the shape the route's clients expect.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use common::{error::code, ServiceError};
use serde_json::json;

/// How a route's clients read errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The original's `{"code", "message", "request_id"}`.
    Plain,
    /// OAuth2's `{"error", "error_description", "request_id"}`.
    OAuth,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub error: String,
    pub message: String,
    pub retry_after: Option<u64>,
    pub style: Style,
    pub request_id: String,
    /// A `WWW-Authenticate` challenge, for 401s.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        style: Style,
        request_id: &str,
        status: u16,
        error: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.to_owned(),
            message: message.into(),
            retry_after: None,
            style,
            request_id: request_id.to_owned(),
            challenge: None,
        }
    }

    /// A service's error, as it came over NATS.
    pub fn from_service(style: Style, request_id: &str, error: ServiceError) -> Self {
        Self {
            retry_after: error.retry_after,
            ..Self::new(style, request_id, error.status, &error.error, error.message)
        }
    }

    pub fn bad_request(style: Style, request_id: &str, message: impl Into<String>) -> Self {
        Self::new(style, request_id, 400, code::INVALID_REQUEST, message)
    }

    pub fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match self.style {
            Style::Plain => json!({
                "code": self.status, "error": self.error, "message": self.message, "request_id": self.request_id,
            }),
            Style::OAuth => json!({
                "error": self.error, "error_description": self.message, "request_id": self.request_id,
            }),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
