//! Routes found in the registry, like Spring Cloud Gateway's discovery
//! locator: an endpoint whose metadata says `"http": "POST /v1/thing"`
//! becomes reachable at that route without a gateway change. Built-in
//! routes and the static table (`STATIC_ROUTES`) always win; only subjects
//! under `sms.` are routed, never admin or internal ones. The table is
//! refreshed periodically and, at most once a second, on a miss.

use std::{
    collections::BTreeMap,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::Method,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;

use super::json_reply;
use crate::{
    bus,
    error::{ApiError, Style},
    forms::{self, MediaType},
    request_id::RequestContext,
    AppState,
};

/// The routes the gateway serves itself: method, path, subject.
pub const BUILT_IN: &[(&str, &str, &str)] = &[
    ("POST", "/auth/register", common::subjects::AUTH_REGISTER),
    ("POST", "/v1/auth/token", common::subjects::AUTH_TOKEN),
    ("POST", "/v1/auth/refresh", common::subjects::JWT_REFRESH),
    (
        "POST",
        "/v1/auth/introspect",
        common::subjects::JWT_VALIDATE,
    ),
    ("POST", "/v1/auth/revoke", common::subjects::JWT_REVOKE),
    ("GET", "/validate/token", common::subjects::JWT_VALIDATE),
    ("GET", "/.well-known/jwks.json", common::subjects::JWT_JWKS),
];

/// One route of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub subject: String,
    /// `built-in`, `static` or `registry`.
    pub source: &'static str,
    /// The service that announced it (registry routes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The live route table.
pub struct RouteTable {
    fixed: Vec<Route>,
    discovered: RwLock<BTreeMap<(String, String), Route>>,
    refreshed_at: Mutex<Option<Instant>>,
}

/// A subject the gateway may route to.
fn routable(subject: &str) -> bool {
    subject.starts_with("sms.")
        && !subject.starts_with("sms.admin.")
        && subject != common::subjects::JWT_ISSUE
}

/// `METHOD /path`, well formed.
fn parse_route(text: &str) -> Option<(String, String)> {
    let (method, path) = text.trim().split_once(' ')?;
    let method = method.trim().to_ascii_uppercase();
    let path = path.trim();
    let method_ok = matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE");
    let path_ok = path.starts_with('/')
        && path.len() <= 200
        && path
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte));
    (method_ok && path_ok).then(|| (method, path.to_owned()))
}

/// `STATIC_ROUTES`: `POST /v1/thing=sms.ext.thing; GET /v1/other=sms.ext.other`.
pub fn parse_static(text: &str) -> Result<Vec<Route>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (route, subject) = entry
                .split_once('=')
                .ok_or(format!("{entry:?} is not ROUTE=SUBJECT"))?;
            let (method, path) =
                parse_route(route).ok_or(format!("{route:?} is not METHOD /path"))?;
            let subject = subject.trim();
            if !routable(subject) {
                return Err(format!(
                    "{subject:?} is not a routable subject (sms.…, not admin)"
                ));
            }
            Ok(Route {
                method,
                path,
                subject: subject.to_owned(),
                source: "static",
                service: None,
                timeout_ms: None,
            })
        })
        .collect()
}

/// The routes one `$SRV.INFO` reply announces.
fn announced(info: &Value) -> Vec<Route> {
    let service = info["name"].as_str().unwrap_or("?").to_owned();
    let mut routes = Vec::new();
    for endpoint in info["endpoints"].as_array().into_iter().flatten() {
        let metadata = &endpoint["metadata"];
        let subject = endpoint["subject"].as_str().unwrap_or("");
        if metadata["admin"] == "true" || metadata["internal"] == "true" || !routable(subject) {
            continue;
        }
        let timeout_ms = metadata["timeout_ms"]
            .as_str()
            .and_then(|text| text.parse().ok());
        for text in metadata["http"].as_str().unwrap_or("").split(',') {
            if let Some((method, path)) = parse_route(text) {
                routes.push(Route {
                    method,
                    path,
                    subject: subject.to_owned(),
                    source: "registry",
                    service: Some(service.clone()),
                    timeout_ms,
                });
            }
        }
    }
    routes
}

impl RouteTable {
    pub fn new(static_routes: Vec<Route>) -> Self {
        let mut fixed: Vec<Route> = BUILT_IN
            .iter()
            .map(|(method, path, subject)| Route {
                method: method.to_string(),
                path: path.to_string(),
                subject: subject.to_string(),
                source: "built-in",
                service: None,
                timeout_ms: None,
            })
            .collect();
        for route in static_routes {
            if !fixed
                .iter()
                .any(|known| known.method == route.method && known.path == route.path)
            {
                fixed.push(route);
            }
        }
        Self {
            fixed,
            discovered: RwLock::default(),
            refreshed_at: Mutex::default(),
        }
    }

    /// Reads every instance's INFO and rebuilds the discovered routes.
    pub async fn refresh(&self, client: &async_nats::Client) {
        let infos = super::registry::gather(client, "$SRV.INFO").await;
        let mut discovered = BTreeMap::new();
        for route in infos.iter().flat_map(announced) {
            if self
                .fixed
                .iter()
                .any(|fixed| fixed.method == route.method && fixed.path == route.path)
            {
                continue; // built-in and static routes win
            }
            discovered
                .entry((route.method.clone(), route.path.clone()))
                .or_insert(route);
        }
        if let Ok(mut table) = self.discovered.write() {
            *table = discovered;
        }
        if let Ok(mut at) = self.refreshed_at.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Refreshes unless that happened within `min_age`.
    pub async fn refresh_if_older(&self, client: &async_nats::Client, min_age: Duration) {
        let stale = self
            .refreshed_at
            .lock()
            .map(|at| at.is_none_or(|at| at.elapsed() >= min_age))
            .unwrap_or(true);
        if stale {
            self.refresh(client).await;
        }
    }

    fn find(&self, method: &str, path: &str) -> Option<Route> {
        if let Some(route) = self
            .fixed
            .iter()
            .find(|route| route.source == "static" && route.method == method && route.path == path)
        {
            return Some(route.clone());
        }
        self.discovered
            .read()
            .ok()?
            .get(&(method.to_owned(), path.to_owned()))
            .cloned()
    }

    fn path_known(&self, path: &str) -> bool {
        self.fixed
            .iter()
            .any(|route| route.source == "static" && route.path == path)
            || self
                .discovered
                .read()
                .map(|table| table.keys().any(|(_, known)| known == path))
                .unwrap_or(false)
    }

    /// Every route, fixed ones first.
    pub fn all(&self) -> Vec<Route> {
        let mut routes = self.fixed.clone();
        if let Ok(table) = self.discovered.read() {
            routes.extend(table.values().cloned());
        }
        routes
    }
}

/// The public fallback: a static or discovered route, else 404 (or 405).
pub async fn forward(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let mut route = state.routes.find(&method, &path);
    if route.is_none() {
        state
            .routes
            .refresh_if_older(&state.client, Duration::from_secs(1))
            .await;
        route = state.routes.find(&method, &path);
    }
    let Some(route) = route else {
        let (status, code, message) = if state.routes.path_known(&path) {
            (
                405,
                "method_not_allowed",
                "method not allowed on this route",
            )
        } else {
            (404, "not_found", "no such route")
        };
        return ApiError::new(
            super::style_of(request.uri()),
            &context.request_id,
            status,
            code,
            message,
        )
        .into_response();
    };
    // Only reads are sent twice: nothing says a discovered POST is idempotent.
    let idempotent = if request.method() == Method::GET {
        common::nats::Idempotent::Yes
    } else {
        common::nats::Idempotent::No
    };
    let body = if request.method() == Method::GET {
        bytes::Bytes::from_static(b"{}")
    } else {
        match forms::read(request, &state, &[MediaType::Json], Style::Plain, &context).await {
            Ok((_, body)) => body,
            Err(error) => return error.into_response(),
        }
    };
    let timeout = route
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(state.config.request_timeout);
    match bus::call_within(&state, &context, &route.subject, body, timeout, idempotent).await {
        Ok(reply) => json_reply(reply, true),
        Err(error) => {
            ApiError::from_service(Style::Plain, &context.request_id, error).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_sms_subjects_that_are_not_admin_or_internal_are_routed() {
        let info = json!({"name": "x", "endpoints": [
            {"subject": "sms.ext.echo", "metadata": {"http": "POST /v1/echo, GET /v1/echo/status"}},
            {"subject": "other.echo", "metadata": {"http": "POST /v1/other"}},
            {"subject": "sms.admin.partners.list", "metadata": {"http": "GET /v1/partners"}},
            {"subject": "sms.jwt.issue", "metadata": {"http": "POST /v1/mint"}},
            {"subject": "sms.ext.secret", "metadata": {"http": "POST /v1/secret", "internal": "true"}},
            {"subject": "sms.ext.bad", "metadata": {"http": "POST v1/no-slash"}},
        ]});
        let routes: Vec<(String, String)> = announced(&info)
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            routes,
            [
                ("POST".to_owned(), "/v1/echo".to_owned()),
                ("GET".to_owned(), "/v1/echo/status".to_owned())
            ]
        );
    }

    #[test]
    fn the_static_table_takes_route_equals_subject_pairs() {
        let routes = parse_static("POST /v1/a=sms.ext.a; GET /v1/b=sms.ext.b").unwrap();
        assert_eq!(routes.len(), 2);
        assert!(parse_static("POST /v1/a=sms.admin.keys.rotate").is_err());
        assert!(parse_static("POST /v1/a").is_err());
    }
}
