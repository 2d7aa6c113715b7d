//! The HTTP routes. Public ones face partners; operator ones listen on
//! `ADMIN_ADDR` only.

pub mod discovered;
mod health;
mod jwks;
mod oauth;
mod register;
pub(crate) mod registry;
mod validate;

use axum::{
    http::{header, HeaderValue},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};

use crate::{
    error::{ApiError, Style},
    rate_limit,
    request_id::{self, RequestContext},
    AppState,
};

/// Routes for partners.
pub fn public(state: AppState) -> Router {
    Router::new()
        .route("/auth/register", post(register::register))
        .route("/v1/auth/token", post(oauth::token))
        .route("/v1/auth/refresh", post(oauth::refresh))
        .route("/v1/auth/introspect", post(oauth::introspect))
        .route("/v1/auth/revoke", post(oauth::revoke))
        .route("/validate/token", get(validate::validate))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(discovered::forward)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_address,
        ))
        .layer(middleware::from_fn(request_id::assign))
        .layer(cors(&state.config.cors_allowed_origins))
        .with_state(state)
}

/// CORS for the public API: only the configured origins, the methods and
/// headers the API uses, and the headers a browser client needs to read.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Routes for operators.
pub fn operator(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/services", get(registry::services))
        .route("/v1/routes", get(registry::routes))
        .route("/metrics", get(crate::metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// OAuth2 routes answer in the OAuth2 error shape, even for 404 and 405.
pub(crate) fn style_of(uri: &axum::http::Uri) -> Style {
    if uri.path().starts_with("/v1/auth/") {
        Style::OAuth
    } else {
        Style::Plain
    }
}

async fn not_found(context: RequestContext, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        style_of(&uri),
        &context.request_id,
        404,
        "not_found",
        "no such route",
    )
}

async fn method_not_allowed(context: RequestContext, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        style_of(&uri),
        &context.request_id,
        405,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// A successful JSON reply passed through as it came from the service.
fn json_reply(body: bytes::Bytes, no_store: bool) -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if no_store {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// A JSON value as a reply.
fn json_value(value: serde_json::Value) -> Response {
    Json(value).into_response()
}
