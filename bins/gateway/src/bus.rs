//! The gateway's side of NATS: one request with the request id and trace
//! context in its headers, and the route's time-out.

use bytes::Bytes;
use common::{
    nats::{request_with_retry, trace_headers, Idempotent},
    subjects, ServiceError,
};

use crate::{request_id::RequestContext, AppState};

/// Sends `payload` to a built-in route's `subject` and returns the reply
/// body or the service error.
pub async fn call(
    state: &AppState,
    context: &RequestContext,
    subject: &str,
    payload: Bytes,
) -> Result<Bytes, ServiceError> {
    // Refresh spends its token: it is never sent twice.
    let idempotent = if subject == subjects::JWT_REFRESH {
        Idempotent::No
    } else {
        Idempotent::Yes
    };
    call_within(
        state,
        context,
        subject,
        payload,
        state.config.request_timeout,
        idempotent,
    )
    .await
}

/// As [`call`], with the route's own time-out and idempotency.
pub async fn call_within(
    state: &AppState,
    context: &RequestContext,
    subject: &str,
    payload: Bytes,
    timeout: std::time::Duration,
    idempotent: Idempotent,
) -> Result<Bytes, ServiceError> {
    let started = std::time::Instant::now();
    let reply = request_with_retry(
        &state.client,
        subject,
        trace_headers(&context.request_id, context.traceparent.as_deref()),
        payload,
        timeout,
        state.config.attempt_timeout,
        idempotent,
    )
    .await;
    let outcome = match &reply {
        Ok(_) => "ok",
        Err(error) => error.error.as_str(),
    };
    crate::metrics::nats_request(subject, outcome, started.elapsed());
    reply
}
