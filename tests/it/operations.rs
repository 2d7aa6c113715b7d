//! What operators see: the registry view and the metrics, on ADMIN_ADDR.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{self, login, Partner, Stack};

async fn services(stack: &Stack) -> (Value, Duration) {
    let started = Instant::now();
    let body: Value = crate::harness::get_json(&format!("{}/v1/services", stack.admin)).await;
    (body, started.elapsed())
}

fn service<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|service| service["name"] == name)
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn the_registry_lists_every_instance_and_a_wedged_one_does_not_stall_it() {
    let mut stack = Stack::start().await;
    stack.start_auth_named("auth-2").await;
    // A second jwt instance as its own process, so it can be frozen.
    let jwt = harness::binary("jwt");
    let frozen = harness::spawn_guarded(
        &jwt.display().to_string(),
        &[],
        &harness::program_env(&stack.env, "jwt"),
        None,
    );
    let partner = stack.create_partner("registry").await;
    login(&stack.http, &partner).await;
    let mut listed = 0;
    for _ in 0..50 {
        let (body, _) = services(&stack).await;
        listed = service(&body, "jwt")["instances"].as_u64().unwrap_or(0);
        if listed == 2 {
            break;
        }
    }
    assert_eq!(listed, 2, "both jwt instances");
    let (body, _) = services(&stack).await;
    let auth = service(&body, "auth");
    assert_eq!(auth["instances"], 2);
    assert_eq!(
        auth["versions"],
        serde_json::json!([env!("CARGO_PKG_VERSION")])
    );
    assert!(auth["requests"].as_u64().unwrap() >= 1, "{auth}");
    assert!(auth["average_processing_time_ms"].as_f64().unwrap() > 0.0);
    let endpoints = auth["members"][0]["endpoints"].as_array().unwrap();
    assert!(endpoints
        .iter()
        .any(|endpoint| endpoint["metadata"]["http"] == "POST /v1/auth/token"));

    // SIGSTOP: the frozen instance never answers; the view still comes back
    // within its window and lists the others.
    let pid = frozen.child.id().unwrap();
    let child_pid = String::from_utf8(
        tokio::process::Command::new("pgrep")
            .args(["-x", "-P", &pid.to_string(), "jwt"])
            .output()
            .await
            .unwrap()
            .stdout,
    )
    .unwrap();
    let jwt_pid = child_pid
        .lines()
        .find(|line| !line.trim().is_empty())
        .expect("jwt's pid")
        .trim()
        .to_owned();
    tokio::process::Command::new("kill")
        .args(["-STOP", &jwt_pid])
        .status()
        .await
        .unwrap();
    let (body, elapsed) = services(&stack).await;
    tokio::process::Command::new("kill")
        .args(["-CONT", &jwt_pid])
        .status()
        .await
        .unwrap();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(service(&body, "jwt")["instances"], 1, "{body}");
    assert_eq!(service(&body, "auth")["instances"], 2);
    drop(frozen); // its guard stops the jwt process
    stack.stop().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_routes_statuses_and_service_counters() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("metrics").await;
    assert_eq!(login(&stack.http, &partner).await.0, 200);
    let wrong = Partner {
        secret: "Wrong1".into(),
        ..partner.clone()
    };
    assert_eq!(login(&stack.http, &wrong).await.0, 401);
    let response = reqwest::get(format!("{}/metrics", stack.admin))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("Prometheus text");
    let sample = |name: &str, labels: &[(&str, &str)]| {
        scrape.samples.iter().any(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
    };
    assert!(
        sample(
            "http_requests_total",
            &[("route", "/v1/auth/token"), ("status", "200")]
        ),
        "{text}"
    );
    assert!(sample(
        "http_requests_total",
        &[("route", "/v1/auth/token"), ("status", "401")]
    ));
    assert!(
        sample(
            "http_request_duration_seconds_bucket",
            &[("route", "/v1/auth/token")]
        ) || sample(
            "http_request_duration_seconds",
            &[("route", "/v1/auth/token")]
        )
    );
    assert!(sample(
        "nats_requests_total",
        &[("subject", "sms.auth.token"), ("outcome", "ok")]
    ));
    assert!(sample(
        "nats_requests_total",
        &[("subject", "sms.auth.token"), ("outcome", "invalid_client")]
    ));
    assert!(sample(
        "sms_service_requests_total",
        &[("service", "auth"), ("endpoint", "token")]
    ));
    assert!(sample(
        "sms_service_errors_total",
        &[("service", "auth"), ("endpoint", "token")]
    ));
    stack.stop().await;
}

/// Runs the compiled smsctl as the admin user of `stack`.
async fn smsctl(stack: &Stack, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(harness::binary("smsctl"))
        .args(args)
        .env_clear()
        .envs(harness::program_env(&stack.env, "admin"))
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("smsctl runs (cargo build --bins first)");
    // Standard output; standard error too when it failed.
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    (output.status.success(), text)
}

#[tokio::test]
async fn smsctl_manages_partners_and_shows_the_services() {
    let stack = Stack::start().await;
    let (ok, created) = smsctl(&stack, &["partner", "create", "--name", "Acme", "--json"]).await;
    assert!(ok, "{created}");
    let created: Value = serde_json::from_str(created.trim()).expect("one JSON object");
    let partner = Partner {
        number: created["partnerNumber"].as_u64().unwrap() as u32,
        uuid: created["partnerUuid"].as_str().unwrap().to_owned(),
        secret: created["partnerSecret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(login(&stack.http, &partner).await.0, 200);
    let (ok, listed) = smsctl(&stack, &["partner", "list"]).await;
    assert!(
        ok && listed.contains(&partner.number.to_string()) && listed.contains("Acme"),
        "{listed}"
    );
    let number = partner.number.to_string();
    // A roll-over: both secrets work, and `get` shows until when.
    let (ok, rotated) = smsctl(
        &stack,
        &[
            "partner",
            "rotate-secret",
            &number,
            "--overlap",
            "90m",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{rotated}");
    let rotated: Value = serde_json::from_str(rotated.trim()).expect("one JSON object");
    let renewed = Partner {
        secret: rotated["partnerSecret"].as_str().unwrap().to_owned(),
        ..partner.clone()
    };
    assert_eq!(login(&stack.http, &partner).await.0, 200, "old, in overlap");
    assert_eq!(login(&stack.http, &renewed).await.0, 200, "new");
    let (ok, shown) = smsctl(&stack, &["partner", "get", &number]).await;
    assert!(
        ok && shown.contains("previous secret valid until"),
        "{shown}"
    );
    let (ok, refused) = smsctl(
        &stack,
        &["partner", "rotate-secret", &number, "--overlap", "soon"],
    )
    .await;
    assert!(!ok && refused.contains("not a duration"), "{refused}");
    // Under a second would silently be no overlap: refused.
    let (ok, refused) = smsctl(
        &stack,
        &["partner", "rotate-secret", &number, "--overlap", "500ms"],
    )
    .await;
    assert!(!ok && refused.contains("whole seconds"), "{refused}");
    assert_eq!(
        login(&stack.http, &partner).await.0,
        200,
        "still in overlap"
    );
    let (ok, _) = smsctl(&stack, &["partner", "disable", &number]).await;
    assert!(ok);
    assert_eq!(login(&stack.http, &partner).await.0, 401);
    assert_eq!(login(&stack.http, &renewed).await.0, 401);
    let (ok, ls) = smsctl(&stack, &["services", "ls"]).await;
    assert!(ok && ls.contains("auth") && ls.contains("jwt"), "{ls}");
    let (ok, stats) = smsctl(&stack, &["services", "stats", "auth", "--json"]).await;
    assert!(ok);
    let stats: Value = serde_json::from_str(stats.trim()).unwrap();
    let token = stats[0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "token")
        .unwrap();
    assert!(token["num_requests"].as_u64().unwrap() >= 2);
    let (ok, info) = smsctl(&stack, &["services", "info", "jwt"]).await;
    assert!(
        ok && info.contains("sms.jwt.validate") && info.contains("POST /v1/auth/introspect"),
        "{info}"
    );
    let (ok, keys) = smsctl(&stack, &["keys", "list", "--json"]).await;
    assert!(ok && keys.contains("\"status\":\"active\""), "{keys}");
    stack.stop().await;
}

/// Runs `handler` as a new service of the `extension` NATS user; cancel the
/// token to stop it.
async fn start_extension<H: common::service::Handler>(
    stack: &Stack,
    spec: common::service::ServiceSpec,
    handler: H,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let client = stack.nats.connect("extension").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let service = tokio::spawn(common::service::serve(
        client,
        spec,
        std::sync::Arc::new(handler),
        async move { token.cancelled().await },
        Duration::from_secs(3),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    (stop, service)
}

/// A new service, unknown to the gateway: it echoes what it gets.
struct Echo;

impl common::service::Handler for Echo {
    async fn handle(
        &self,
        request: common::service::Incoming,
    ) -> Result<bytes::Bytes, common::ServiceError> {
        let body: Value = common::service::decode(&request.payload)?;
        common::service::encode(
            &serde_json::json!({"echo": body, "request_id": request.request_id}),
        )
    }
}

#[tokio::test]
async fn a_route_announced_by_a_new_service_appears_in_the_table_and_serves_traffic() {
    let stack = Stack::start().await;
    let spec = common::service::ServiceSpec {
        name: "echo",
        version: "1.0.0",
        description: "Echoes its request",
        endpoints: vec![common::service::EndpointSpec {
            name: "echo",
            subject: "sms.ext.echo",
            // It also claims a built-in route: built-in routes win.
            metadata: &[
                ("http", "POST /v1/echo, POST /v1/auth/token"),
                ("timeout_ms", "2000"),
            ],
        }],
    };
    let (stop, service) = start_extension(&stack, spec, Echo).await;

    let response = reqwest::Client::new()
        .post(format!("{}/v1/echo", stack.http))
        .header("X-Request-Id", "echo-1")
        .json(&serde_json::json!({"hello": "world"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"echo": {"hello": "world"}, "request_id": "echo-1"})
    );

    let routes: Value = crate::harness::get_json(&format!("{}/v1/routes", stack.admin)).await;
    let routes = routes["routes"].as_array().unwrap();
    let echo = routes
        .iter()
        .find(|route| route["path"] == "/v1/echo")
        .expect("the echo route");
    assert_eq!(echo["source"], "registry");
    assert_eq!(echo["subject"], "sms.ext.echo");
    assert_eq!(echo["service"], "echo");
    let token_routes: Vec<&Value> = routes
        .iter()
        .filter(|route| route["path"] == "/v1/auth/token")
        .collect();
    assert_eq!(token_routes.len(), 1);
    assert_eq!(token_routes[0]["source"], "built-in");
    assert!(routes
        .iter()
        .all(|route| route["subject"].as_str().unwrap().starts_with("sms.")));

    // A wrong method on a discovered route is 405; an unknown one 404.
    let get = reqwest::get(format!("{}/v1/echo", stack.http))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    stop.cancel();
    service.await.unwrap().unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn unknown_routes_under_the_oauth_prefix_answer_in_the_oauth_shape() {
    let stack = Stack::start().await;
    let missing: Value = reqwest::Client::new()
        .post(format!("{}/v1/auth/nope", stack.http))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["error"], "not_found");
    assert!(missing["error_description"].is_string());
    let wrong_method = reqwest::get(format!("{}/v1/auth/token", stack.http))
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    stack.stop().await;
}

/// A service that answers after `delay`.
struct Slow(Duration);

impl common::service::Handler for Slow {
    async fn handle(
        &self,
        _request: common::service::Incoming,
    ) -> Result<bytes::Bytes, common::ServiceError> {
        tokio::time::sleep(self.0).await;
        Ok(bytes::Bytes::from_static(b"{}"))
    }
}

#[tokio::test]
async fn a_route_past_its_time_out_is_504_and_a_missing_service_makes_readyz_503() {
    let mut stack = Stack::start().await;
    let spec = common::service::ServiceSpec {
        name: "slow",
        version: "1.0.0",
        description: "Answers late",
        endpoints: vec![common::service::EndpointSpec {
            name: "slow",
            subject: "sms.ext.slow",
            metadata: &[("http", "POST /v1/slow"), ("timeout_ms", "300")],
        }],
    };
    let (stop, service) = start_extension(&stack, spec, Slow(Duration::from_millis(1500))).await;
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/slow", stack.http))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the route's own time-out: {:?}",
        started.elapsed()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "timeout");
    stop.cancel();
    service.await.unwrap().unwrap();

    stack.stop_program("jwt").await;
    let ready = reqwest::get(format!("{}/readyz", stack.http))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["missing"], serde_json::json!(["jwt"]));
    let alive = reqwest::get(format!("{}/healthz", stack.http))
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "the process itself is fine");
    stack.stop().await;
}
