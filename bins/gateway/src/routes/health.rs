//! `/healthz` (the process is up) and `/readyz` (NATS is connected and every
//! required service answers a PING).

use std::time::Duration;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use common::subjects;
use serde_json::json;

use crate::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut missing = Vec::new();
    if state.client.connection_state() != async_nats::connection::State::Connected {
        missing.push("nats".to_owned());
    } else {
        let pings = state.config.required_services.iter().map(|service| {
            let client = state.client.clone();
            let subject = subjects::discovery("PING", service);
            async move {
                let request = async_nats::Request::new()
                    .payload(Bytes::new())
                    .timeout(Some(Duration::from_secs(1)));
                let answered = client.send_request(subject, request).await.is_ok();
                (service.clone(), answered)
            }
        });
        for (service, answered) in futures::future::join_all(pings).await {
            if !answered {
                missing.push(service);
            }
        }
    }
    if missing.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "2")],
            Json(json!({"status": "not ready", "missing": missing,
                        "message": format!("not answering: {}", missing.join(", "))})),
        )
            .into_response()
    }
}
