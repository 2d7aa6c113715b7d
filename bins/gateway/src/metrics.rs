//! `/metrics` in Prometheus text: HTTP requests per route and status (count
//! and latency histogram), NATS request outcomes, and the services' own
//! counters gathered from `$SRV.STATS` at scrape time.

use std::{fmt::Write, sync::OnceLock, time::Duration};

use axum::{extract::State, http::header, response::IntoResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::Value;

use crate::{routes::registry::gather, AppState};

/// The process-wide recorder (the `metrics` macros write to one global).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".to_owned()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; then ours stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Records one HTTP answer.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// Records one NATS request's outcome (`ok` or the error code).
pub fn nats_request(subject: &str, outcome: &str, elapsed: Duration) {
    let labels = [
        ("subject", subject.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("nats_requests_total", &labels).increment(1);
    metrics::histogram!("nats_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The services' counters, one sample per instance and endpoint.
fn service_counters(stats: &[Value]) -> String {
    let mut text = String::new();
    for (name, help, field) in [
        (
            "sms_service_requests_total",
            "Requests an endpoint answered.",
            "num_requests",
        ),
        (
            "sms_service_errors_total",
            "Error replies of an endpoint.",
            "errors",
        ),
    ] {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
        for instance in stats {
            let service = instance["name"].as_str().unwrap_or("?");
            let id = instance["id"].as_str().unwrap_or("?");
            for endpoint in instance["endpoints"].as_array().into_iter().flatten() {
                let value = match field {
                    "errors" => endpoint["data"]["errors"].as_u64().unwrap_or(0),
                    _ => endpoint[field].as_u64().unwrap_or(0),
                };
                let _ = writeln!(
                    text,
                    "{name}{{service=\"{}\",instance=\"{}\",endpoint=\"{}\"}} {value}",
                    label(service),
                    label(id),
                    label(endpoint["name"].as_str().unwrap_or("?"))
                );
            }
        }
    }
    text
}

/// `GET /metrics` (operator address).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = gather(&state.client, "$SRV.STATS").await;
    let body = format!("{}{}", handle().render(), service_counters(&stats));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
