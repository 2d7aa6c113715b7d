//! `GET /validate/token`: the original follow-up check, 200 with the claims
//! or 401.

use axum::{extract::State, http::HeaderMap, response::Response};
use bytes::Bytes;
use common::{
    subjects,
    wire::{Introspection, TokenRequest},
};

use super::json_value;
use crate::{
    bus,
    error::{ApiError, Style},
    forms,
    request_id::RequestContext,
    AppState,
};

pub async fn validate(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let unauthorized = |message: &str| {
        ApiError::new(
            Style::Plain,
            &context.request_id,
            401,
            "invalid_token",
            message,
        )
        .with_challenge("Bearer error=\"invalid_token\"")
    };
    let Some(token) = forms::bearer_token(&headers) else {
        return Err(unauthorized("an Authorization: Bearer token is required"));
    };
    let payload = serde_json::to_vec(&TokenRequest { token })
        .map(Bytes::from)
        .unwrap_or_default();
    let reply = bus::call(&state, &context, subjects::JWT_VALIDATE, payload)
        .await
        .map_err(|error| ApiError::from_service(Style::Plain, &context.request_id, error))?;
    let introspection: Introspection = serde_json::from_slice(&reply).map_err(|_| {
        ApiError::new(
            Style::Plain,
            &context.request_id,
            502,
            "bad_gateway",
            "bad reply from the jwt service",
        )
    })?;
    match introspection.claims.filter(|_| introspection.active) {
        Some(claims) => {
            let mut response = json_value(serde_json::to_value(claims).unwrap_or_default());
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        None => Err(unauthorized("token is invalid, expired or revoked")),
    }
}
