//! The registry view: every service instance seen on `$SRV.INFO` and
//! `$SRV.STATS` within a short window, grouped by service.

use std::{collections::BTreeMap, time::Duration};

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::AppState;

/// How long to listen for answers; a wedged instance cannot stall us longer.
const WINDOW: Duration = Duration::from_millis(500);

/// Every reply to `subject` within the window.
pub async fn gather(client: &async_nats::Client, subject: &str) -> Vec<Value> {
    common::nats::gather(client, subject, WINDOW).await
}

/// `GET /v1/services`: instances, version, endpoints and stats per service.
pub async fn services(State(state): State<AppState>) -> Json<Value> {
    let (infos, stats) = tokio::join!(
        gather(&state.client, "$SRV.INFO"),
        gather(&state.client, "$SRV.STATS")
    );
    let stats_by_id: BTreeMap<String, Value> = stats
        .into_iter()
        .filter_map(|stat| Some((stat.get("id")?.as_str()?.to_owned(), stat)))
        .collect();
    let mut services: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for info in infos {
        let Some(name) = info.get("name").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let id = info
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let stat = stats_by_id.get(&id).cloned().unwrap_or(Value::Null);
        services.entry(name).or_default().push(json!({
            "id": id,
            "version": info.get("version"),
            "description": info.get("description"),
            "endpoints": info.get("endpoints"),
            "started": stat.get("started"),
            "stats": stat.get("endpoints"),
        }));
    }
    let list: Vec<Value> = services
        .into_iter()
        .map(|(name, instances)| {
            let endpoints = instances
                .iter()
                .flat_map(|instance| instance["stats"].as_array().cloned().unwrap_or_default());
            let (mut requests, mut errors, mut nanos) = (0u64, 0u64, 0u64);
            for endpoint in endpoints {
                requests += endpoint["num_requests"].as_u64().unwrap_or(0);
                errors += endpoint["data"]["errors"].as_u64().unwrap_or(0);
                nanos += endpoint["processing_time"].as_u64().unwrap_or(0);
            }
            let average_ms = if requests == 0 { 0.0 } else { nanos as f64 / requests as f64 / 1e6 };
            json!({
                "name": name,
                "instances": instances.len(),
                "versions": instances.iter().filter_map(|i| i["version"].as_str()).collect::<std::collections::BTreeSet<_>>(),
                "requests": requests,
                "errors": errors,
                "average_processing_time_ms": average_ms,
                "members": instances,
            })
        })
        .collect();
    Json(json!({ "services": list }))
}

/// `GET /v1/routes`: the live route table (built-in, static, registry).
pub async fn routes(State(state): State<AppState>) -> Json<Value> {
    state
        .routes
        .refresh_if_older(&state.client, Duration::from_secs(1))
        .await;
    Json(json!({ "routes": state.routes.all() }))
}
