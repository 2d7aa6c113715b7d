//! Runs a NATS Service API (ADR-32) service: registers its endpoints, hands
//! each request to a handler in its own task inside a span that carries the
//! request id, answers with a body or with ADR-32 error headers plus a JSON
//! error body, and shuts down without losing a request in flight.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::{
    service::{ServiceExt, NATS_SERVICE_ERROR, NATS_SERVICE_ERROR_CODE},
    Client, HeaderMap,
};
use bytes::Bytes;
use futures::StreamExt;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::{error::ServiceError, headers};

/// One endpoint: its ADR-32 name, its subject, and the HTTP route the
/// gateway serves it on (endpoint metadata, so the registry shows it).
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub name: &'static str,
    pub subject: &'static str,
    pub metadata: &'static [(&'static str, &'static str)],
}

/// A service as registered: name, semver version, description, endpoints.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub endpoints: Vec<EndpointSpec>,
}

/// A request as a handler sees it.
#[derive(Debug)]
pub struct Incoming {
    pub endpoint: &'static str,
    pub payload: Bytes,
    pub request_id: String,
    pub traceparent: Option<String>,
}

/// What a service does with a request.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Incoming)
        -> impl Future<Output = Result<Bytes, ServiceError>> + Send;
}

/// Errors answered per endpoint, reported in `$SRV.STATS` `data`: replies
/// carry a JSON body with the error headers, so the library's own error
/// counter (which only counts body-less errors) stays at zero.
type ErrorCounters = Arc<Mutex<HashMap<String, u64>>>;

/// Serves `spec` with `handler` until `shutdown` resolves; then stops taking
/// requests, finishes those in flight (up to `grace`) and drains the client.
pub async fn serve<H: Handler>(
    client: Client,
    spec: ServiceSpec,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    let errors: ErrorCounters = Arc::default();
    let stats_errors = errors.clone();
    let service = client
        .service_builder()
        .description(spec.description)
        .stats_handler(move |endpoint, _stats| {
            let errors = stats_errors
                .lock()
                .map(|counts| counts.get(&endpoint).copied().unwrap_or(0))
                .unwrap_or(0);
            serde_json::json!({ "errors": errors })
        })
        .start(spec.name, spec.version)
        .await
        .map_err(|error| anyhow::anyhow!("cannot register service {}: {error}", spec.name))?;

    let mut streams = Vec::new();
    for endpoint in &spec.endpoints {
        let metadata = endpoint
            .metadata
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        let stream = service
            .endpoint_builder()
            .name(endpoint.name)
            .metadata(metadata)
            .add(endpoint.subject)
            .await
            .map_err(|error| {
                anyhow::anyhow!("cannot add endpoint {}: {error}", endpoint.subject)
            })?;
        let name = endpoint.name;
        streams.push(stream.map(move |request| (name, request)).boxed());
    }
    // Make sure the server has every subscription before we say we are up;
    // a denied subscription is reported before the flush's PONG.
    client.flush().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ours: Vec<String> = spec
        .endpoints
        .iter()
        .map(|endpoint| endpoint.subject.to_owned())
        .collect();
    for verb in ["PING", "INFO", "STATS"] {
        ours.push(format!("$SRV.{verb}.{}", spec.name));
        ours.push(format!("$SRV.{verb}\"")); // the bare verb, exactly
    }
    let denials = crate::nats::subscription_denials(&ours);
    if !denials.is_empty() {
        anyhow::bail!(
            "NATS refused this service's subscriptions ({}): its NATS user lacks the permissions in nats/nats-server.conf",
            denials.join("; ")
        );
    }
    tracing::info!(
        service = spec.name,
        version = spec.version,
        "service started"
    );

    let tracker = TaskTracker::new();
    let mut requests = futures::stream::select_all(streams);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            next = requests.next() => {
                let Some((endpoint, request)) = next else { break };
                let handler = handler.clone();
                let errors = errors.clone();
                tracker.spawn(handle_one(handler, endpoint, request, errors));
            }
            () = &mut shutdown => break,
        }
    }

    tracing::info!(
        service = spec.name,
        "stopping: no new requests, finishing those in flight"
    );
    service
        .stop()
        .await
        .map_err(|error| anyhow::anyhow!("cannot stop service: {error}"))?;
    // Requests the server delivered before the unsubscribe took effect are
    // still in the buffers: answer them too.
    let leftovers = async {
        while let Some((endpoint, request)) = requests.next().await {
            tracker.spawn(handle_one(
                handler.clone(),
                endpoint,
                request,
                errors.clone(),
            ));
        }
    };
    let _ = tokio::time::timeout(grace, leftovers).await;
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!("some requests were still running after the grace period");
    }
    client.drain().await.ok();
    tracing::info!(service = spec.name, "stopped");
    Ok(())
}

async fn handle_one<H: Handler>(
    handler: Arc<H>,
    endpoint: &'static str,
    request: async_nats::service::Request,
    errors: ErrorCounters,
) {
    let header = |name: &str| {
        request
            .message
            .headers
            .as_ref()
            .and_then(|map| map.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let request_id = header(headers::REQUEST_ID)
        .filter(|id| headers::is_sane_request_id(id))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let traceparent =
        header(headers::TRACEPARENT).filter(|value| headers::is_sane_request_id(value));
    let span = tracing::info_span!("request", endpoint, request_id = %request_id,
        traceparent = traceparent.as_deref().unwrap_or(""));
    async move {
        let started = std::time::Instant::now();
        let incoming = Incoming {
            endpoint,
            payload: request.message.payload.clone(),
            request_id,
            traceparent,
        };
        let outcome = handler.handle(incoming).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let sent = match outcome {
            Ok(body) => {
                tracing::info!(elapsed_ms, "ok");
                request.respond(Ok(body)).await
            }
            Err(error) => {
                if error.status >= 500 {
                    tracing::warn!(status = error.status, code = %error.error, elapsed_ms, "failed");
                } else {
                    tracing::info!(status = error.status, code = %error.error, elapsed_ms, "refused");
                }
                if let Ok(mut counts) = errors.lock() {
                    *counts.entry(endpoint.to_owned()).or_default() += 1;
                }
                let mut reply_headers = HeaderMap::new();
                reply_headers.insert(NATS_SERVICE_ERROR, error.error.as_str());
                reply_headers.insert(NATS_SERVICE_ERROR_CODE, error.status.to_string().as_str());
                let body = serde_json::to_vec(&error).unwrap_or_default();
                request.respond_with_headers(Ok(body.into()), reply_headers).await
            }
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "could not send the reply");
        }
    }
    .instrument(span)
    .await
}

/// Decodes a JSON request body, naming what is wrong when it cannot.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ServiceError> {
    if payload.is_empty() {
        return Err(ServiceError::bad_request("request body is empty"));
    }
    serde_json::from_slice(payload)
        .map_err(|error| ServiceError::bad_request(format!("invalid JSON body: {error}")))
}

/// Encodes a reply body.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Bytes, ServiceError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|_| ServiceError::internal())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
