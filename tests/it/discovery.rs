//! The services as NATS Service API (ADR-32) citizens.

use std::time::Duration;

use serde_json::Value;

use crate::harness::Stack;

async fn gather(client: &async_nats::Client, subject: &str) -> Vec<Value> {
    common::nats::gather(client, subject, Duration::from_millis(500)).await
}

#[tokio::test]
async fn auth_and_jwt_answer_ping_info_and_stats() {
    let stack = Stack::start().await;
    let pings = gather(&stack.client, "$SRV.PING").await;
    let mut names: Vec<&str> = pings
        .iter()
        .filter_map(|ping| ping["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["auth", "jwt"]);
    for ping in &pings {
        assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
        assert_eq!(ping["version"], env!("CARGO_PKG_VERSION"));
    }
    let infos = gather(&stack.client, "$SRV.INFO.jwt").await;
    assert_eq!(infos.len(), 1);
    let subjects: Vec<&str> = infos[0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    for subject in [
        "sms.jwt.issue",
        "sms.jwt.validate",
        "sms.jwt.refresh",
        "sms.jwt.revoke",
        "sms.jwt.jwks",
    ] {
        assert!(
            subjects.contains(&subject),
            "{subject} missing from {subjects:?}"
        );
    }
    for endpoint in infos[0]["endpoints"].as_array().unwrap() {
        let name = endpoint["name"].as_str().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name}"
        );
        assert_eq!(endpoint["queue_group"], "q");
    }
    // A refused request shows up as an error in the stats.
    let _ = stack
        .request(
            common::subjects::AUTH_TOKEN,
            serde_json::json!({"client_id": "1", "client_secret": "x"}),
        )
        .await;
    let stats = gather(&stack.client, "$SRV.STATS.auth").await;
    assert_eq!(stats[0]["type"], "io.nats.micro.v1.stats_response");
    let token = stats[0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "token")
        .unwrap();
    assert_eq!(token["num_requests"], 1);
    assert_eq!(token["data"]["errors"], 1);
    stack.stop().await;
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = crate::harness::workspace()
        .join("tests/fixtures/nats-micro-v1")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[tokio::test]
async fn every_discovery_reply_is_valid_against_the_nats_micro_schemas() {
    let stack = Stack::start().await;
    // Some traffic first, so the stats carry numbers and a last error.
    let _ = stack
        .request(
            common::subjects::AUTH_TOKEN,
            serde_json::json!({"client_id": "1", "client_secret": "x"}),
        )
        .await;
    for (verb, schema) in [
        ("PING", "ping_response.json"),
        ("INFO", "info_response.json"),
        ("STATS", "stats_response.json"),
    ] {
        let validator = validator(schema);
        let replies = gather(&stack.client, &format!("$SRV.{verb}")).await;
        assert_eq!(
            replies.len(),
            2,
            "{verb}: one reply from auth and one from jwt"
        );
        for reply in &replies {
            let errors: Vec<String> = validator
                .iter_errors(reply)
                .map(|error| error.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{verb} reply of {} is invalid: {errors:?}\n{reply}",
                reply["name"]
            );
        }
    }
    stack.stop().await;
}
