//! `X-Request-Id`: kept from the request when sane, otherwise made up; put
//! on every response and carried into NATS headers.

use axum::{
    extract::{FromRequestParts, Request},
    http::{request::Parts, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use common::headers::{is_sane_request_id, REQUEST_ID, TRACEPARENT};

/// The request's id and W3C trace context, as handlers see them.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub traceparent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext {
                request_id: uuid::Uuid::new_v4().to_string(),
                traceparent: None,
            }))
    }
}

/// Middleware: assigns the id, logs the request in a span, echoes the id.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let context = context_of(request.headers());
    let request_id = context.request_id.clone();
    request.extensions_mut().insert(context);
    let method = request.method().clone();
    // The route, not the raw path: a path can carry a token, and any length.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |matched| matched.as_str())
        .to_owned();
    let span = tracing::info_span!("http", %method, %route, request_id = %request_id);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    crate::metrics::http_request(method.as_str(), &route, status, started.elapsed());
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn context_of(headers: &HeaderMap) -> RequestContext {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    RequestContext {
        request_id: header(REQUEST_ID)
            .filter(|id| is_sane_request_id(id))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        traceparent: header(TRACEPARENT)
            .filter(|value| is_sane_request_id(value) && value.len() == 55),
    }
}
