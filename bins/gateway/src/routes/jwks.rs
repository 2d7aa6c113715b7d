//! `GET /.well-known/jwks.json`: the public signing keys.

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::Response,
};
use bytes::Bytes;
use common::subjects;

use super::json_reply;
use crate::{
    bus,
    error::{ApiError, Style},
    request_id::RequestContext,
    AppState,
};

pub async fn jwks(
    State(state): State<AppState>,
    context: RequestContext,
) -> Result<Response, ApiError> {
    let reply = bus::call(
        &state,
        &context,
        subjects::JWT_JWKS,
        Bytes::from_static(b"{}"),
    )
    .await
    .map_err(|error| ApiError::from_service(Style::Plain, &context.request_id, error))?;
    let mut response = json_reply(reply, false);
    // Short, so a rotated key reaches verifiers before it signs much.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}
