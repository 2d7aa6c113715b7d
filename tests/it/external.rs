//! HTTP-level tests. They run against the in-process shared stack, or
//! against an already running stack (e.g. `docker compose up`) when
//! `SMS_GATEWAY_URL` is set: `make test-compose`. The partner is then taken
//! from `SMS_PARTNER_JSON` (as `smsctl partner create --json` prints it) or
//! created over the admin subject on `NATS_URL` as `NATS_USER` (admin).

use std::sync::OnceLock;

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use crate::harness::{self, registration, Partner};

/// Where the tests send requests, and the partner they log in as.
pub struct Target {
    pub http: String,
    pub partner: Partner,
}

fn partner_from_json(text: &str) -> Partner {
    let value: Value = serde_json::from_str(text).expect("SMS_PARTNER_JSON is JSON");
    Partner {
        number: value["partnerNumber"].as_u64().expect("partnerNumber") as u32,
        uuid: value["partnerUuid"]
            .as_str()
            .expect("partnerUuid")
            .to_owned(),
        secret: value["partnerSecret"]
            .as_str()
            .expect("partnerSecret")
            .to_owned(),
    }
}

pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| match std::env::var("SMS_GATEWAY_URL") {
        Ok(http) => {
            let partner = match std::env::var("SMS_PARTNER_JSON") {
                Ok(text) => partner_from_json(&text),
                Err(_) => std::thread::spawn(|| {
                    let runtime = tokio::runtime::Runtime::new().expect("runtime");
                    runtime.block_on(async {
                        // NATS_URL, NATS_USER and NATS_PASSWORD of the stack's admin user.
                        let client = common::nats::NatsConfig::from_source(&common::config::Env)
                            .expect("NATS settings")
                            .connect("external-tests")
                            .await
                            .expect("NATS_URL (as the admin user) for partner creation");
                        harness::create_partner(&client, "external-tests").await
                    })
                })
                .join()
                .expect("partner creation"),
            };
            Target {
                http: http.trim_end_matches('/').to_owned(),
                partner,
            }
        }
        Err(_) => {
            let shared = harness::shared();
            Target {
                http: shared.http.clone(),
                partner: shared.partner.clone(),
            }
        }
    })
}

fn fill(template: &str, partner: &Partner) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    template
        .replace("{{partner_number}}", &partner.number.to_string())
        .replace("{{partner_uuid}}", &partner.uuid)
        .replace("{{partner_secret}}", &partner.secret)
        .replace(
            "{{future_date}}",
            &(today + time::Duration::days(365)).to_string(),
        )
        .replace(
            "{{past_date}}",
            &(today - time::Duration::days(1)).to_string(),
        )
}

/// Sends one request; status, headers and body (JSON or null).
async fn send(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let target = target();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", target.http))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn register(body: &Value) -> (u16, Value) {
    let (status, _, body) = send(
        "POST",
        "/auth/register",
        Some("application/json"),
        body.to_string().into_bytes(),
        &[],
    )
    .await;
    (status, body)
}

/// Every case of the shared bad-input file gets its answer, with a JSON
/// error body and never a 5xx; the partner still logs in afterwards.
#[tokio::test]
async fn every_bad_input_case_gets_its_answer_and_login_still_works() {
    let target = target();
    let cases = include_str!("../fixtures/http-bad-input.jsonl");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in cases.lines().filter(|line| !line.trim().is_empty()) {
        count += 1;
        let case: Value = serde_json::from_str(line).expect("case is JSON");
        let name = case["name"].as_str().unwrap_or("?");
        let body = match &case["body_repeat"] {
            Value::Object(repeat) => {
                let count = repeat["count"].as_u64().unwrap_or(0) as usize;
                format!(
                    "{}{}{}",
                    repeat["prefix"].as_str().unwrap_or(""),
                    repeat["char"].as_str().unwrap_or("a").repeat(count),
                    repeat["suffix"].as_str().unwrap_or("")
                )
            }
            _ => fill(case["body"].as_str().unwrap_or(""), &target.partner),
        };
        let headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(key, value)| {
                        (
                            key.clone(),
                            fill(value.as_str().unwrap_or(""), &target.partner),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let path = fill(case["path"].as_str().unwrap_or("/"), &target.partner);
        let (status, response_headers, json) = send(
            case["method"].as_str().unwrap_or("GET"),
            &path,
            case["content_type"].as_str(),
            body.into_bytes(),
            &headers,
        )
        .await;
        let expected: Vec<u64> = case["expect_status"]
            .as_array()
            .expect("expect_status")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        if !expected.contains(&u64::from(status)) {
            failures.push(format!(
                "{name}: status {status}, expected {expected:?}, body {json}"
            ));
            continue;
        }
        if status >= 500 {
            failures.push(format!("{name}: a 5xx"));
        }
        if !json.is_object() {
            failures.push(format!("{name}: body is not a JSON object"));
            continue;
        }
        if status >= 400 && json.get("error").is_none() && json.get("message").is_none() {
            failures.push(format!("{name}: error body says nothing: {json}"));
        }
        if let Some(error) = case["expect_error"].as_str() {
            if json["error"] != error {
                failures.push(format!("{name}: error {}, expected {error}", json["error"]));
            }
        }
        if let Some(fields) = case["expect_body"].as_object() {
            for (key, value) in fields {
                if &json[key] != value {
                    failures.push(format!("{name}: {key} = {}, expected {value}", json[key]));
                }
            }
        }
        if response_headers.get("x-request-id").is_none() {
            failures.push(format!("{name}: no X-Request-Id"));
        }
    }
    assert!(count >= 40, "only {count} cases in the fixture");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let (status, body) = harness::login(&target.http, &target.partner).await;
    assert_eq!(status, 200, "login after the bad inputs: {body}");
}

/// Sends a registration with `edit` applied; asserts 400 naming `field`.
async fn refused(field: &str, edit: impl FnOnce(&mut Value)) {
    let body = registration(&target().partner, edit);
    let (status, json) = register(&body).await;
    assert_eq!(status, 400, "{field}: {json}");
    assert_eq!(json["code"], 400);
    let message = json["message"].as_str().unwrap_or("");
    assert!(
        message.to_lowercase().contains(&field.to_lowercase()),
        "message {message:?} does not name {field}"
    );
    assert!(json["request_id"].is_string());
}

fn subscriber(body: &mut Value) -> &mut Value {
    &mut body["enrollmentDetail"]["subscriberData"]
}

fn card(body: &mut Value) -> &mut Value {
    &mut body["enrollmentDetail"]["subscriberData"]["billingDetail"]["cardDetail"]
}

#[tokio::test]
async fn register_returns_the_token_its_expiry_and_a_refresh_token() {
    let (status, json) = register(&registration(&target().partner, |_| {})).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["token"].as_str().unwrap_or("").split('.').count(), 3);
    let expiry = json["expiry"].as_str().expect("expiry");
    let expiry =
        time::OffsetDateTime::parse(expiry, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
    assert!(expiry > time::OffsetDateTime::now_utc());
    assert!(
        json["expiry"].as_str().unwrap().ends_with('Z'),
        "expiry is UTC"
    );
    assert!(json["refreshToken"].as_str().unwrap_or("").len() >= 43);
}

#[tokio::test]
async fn register_refuses_a_first_name_with_a_digit() {
    refused("firstName", |body| {
        subscriber(body)["firstName"] = json!("J0hn")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_missing_first_name() {
    refused("firstName", |body| {
        subscriber(body)
            .as_object_mut()
            .unwrap()
            .remove("firstName");
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_last_name_with_punctuation() {
    refused("lastName", |body| {
        subscriber(body)["lastName"] = json!("Rao!")
    })
    .await;
}

#[tokio::test]
async fn register_takes_names_in_any_script() {
    let body = registration(&target().partner, |body| {
        subscriber(body)["firstName"] = json!("Zoë");
        subscriber(body)["lastName"] = json!("Ивановa");
    });
    let (status, json) = register(&body).await;
    assert_eq!(status, 200, "{json}");
}

#[tokio::test]
async fn register_refuses_a_phone_number_of_nine_digits() {
    refused("phoneNumber", |body| {
        subscriber(body)["phoneNumber"] = json!(987654321)
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_phone_number_with_letters() {
    refused("phoneNumber", |body| {
        subscriber(body)["phoneNumber"] = json!("98765abcde")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_malformed_email() {
    refused("email", |body| {
        subscriber(body)["email"] = json!("asha.example.com")
    })
    .await;
}

#[tokio::test]
async fn register_takes_a_missing_email() {
    let body = registration(&target().partner, |body| {
        subscriber(body).as_object_mut().unwrap().remove("email");
    });
    let (status, json) = register(&body).await;
    assert_eq!(status, 200, "{json}");
}

#[tokio::test]
async fn register_refuses_a_blank_address() {
    refused("address", |body| {
        subscriber(body)["billingDetail"]["address"] = json!("   ")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_card_number_with_fifteen_digits() {
    refused("cardNumber", |body| {
        card(body)["cardNumber"] = json!("411111111111111")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_card_number_with_separators() {
    refused("cardNumber", |body| {
        card(body)["cardNumber"] = json!("4111 1111 1111 1111")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_missing_card_type() {
    refused("cardType", |body| {
        card(body).as_object_mut().unwrap().remove("cardType");
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_missing_card_holder() {
    refused("cardHolder", |body| card(body)["cardHolder"] = json!("")).await;
}

#[tokio::test]
async fn register_refuses_an_expired_card() {
    let yesterday = (time::OffsetDateTime::now_utc().date() - time::Duration::days(1)).to_string();
    let body = registration(&target().partner, |body| {
        card(body)["cardExpiry"] = json!(yesterday)
    });
    let (status, json) = register(&body).await;
    assert_eq!(status, 400);
    assert_eq!(json["message"], "Card has expired");
}

#[tokio::test]
async fn register_takes_a_card_expiring_today() {
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (status, json) = register(&registration(&target().partner, |body| {
        card(body)["cardExpiry"] = json!(today)
    }))
    .await;
    assert_eq!(status, 200, "{json}");
}

#[tokio::test]
async fn register_refuses_an_expiry_that_is_not_an_iso_date() {
    refused("cardExpiry", |body| {
        card(body)["cardExpiry"] = json!("12/2030")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_partner_number_of_seven_digits() {
    let (status, json) = register(&registration(&target().partner, |body| {
        body["enrollmentDetail"]["partnerNumber"] = json!(1234567)
    }))
    .await;
    assert_eq!(status, 400);
    assert_eq!(json["message"], "Partner Number should be 8 digit");
}

#[tokio::test]
async fn register_takes_the_partner_number_as_a_string() {
    let partner = &target().partner;
    let body = registration(partner, |body| {
        body["enrollmentDetail"]["partnerNumber"] = json!(partner.number.to_string())
    });
    let (status, json) = register(&body).await;
    assert_eq!(status, 200, "{json}");
}

#[tokio::test]
async fn register_takes_the_uuid_without_hyphens() {
    let partner = &target().partner;
    let body = registration(partner, |body| {
        body["partnerCredential"]["partnerUuid"] = json!(partner.uuid.replace('-', ""))
    });
    let (status, json) = register(&body).await;
    assert_eq!(status, 200, "{json}");
}

#[tokio::test]
async fn register_refuses_a_malformed_uuid() {
    refused("partnerUuid", |body| {
        body["partnerCredential"]["partnerUuid"] = json!("1234")
    })
    .await;
}

#[tokio::test]
async fn register_refuses_a_secret_with_symbols() {
    refused("partnerSecret", |body| {
        body["partnerCredential"]["partnerSecret"] = json!("abc&$$def")
    })
    .await;
}

#[tokio::test]
async fn register_answers_wrong_uuid_wrong_secret_and_unknown_partner_alike() {
    let partner = &target().partner;
    let wrong_secret = registration(partner, |body| {
        body["partnerCredential"]["partnerSecret"] = json!("Wrong1")
    });
    let wrong_uuid = registration(partner, |body| {
        body["partnerCredential"]["partnerUuid"] = json!(uuid::Uuid::new_v4().to_string())
    });
    let unknown = registration(partner, |body| {
        body["enrollmentDetail"]["partnerNumber"] = json!(99990002)
    });
    let mut answers = Vec::new();
    for body in [wrong_secret, wrong_uuid, unknown] {
        let (status, mut json) = register(&body).await;
        assert_eq!(status, 401);
        json.as_object_mut().unwrap().remove("request_id");
        answers.push(json);
    }
    assert_eq!(
        answers[0],
        json!({"code": 401, "error": "invalid_client", "message": "Invalid partner credentials"})
    );
    assert!(
        answers.iter().all(|answer| answer == &answers[0]),
        "{answers:?}"
    );
}

#[tokio::test]
async fn token_takes_basic_form_and_json_credentials_alike() {
    let partner = &target().partner;
    let (status, basic) = harness::login(&target().http, partner).await;
    assert_eq!(status, 200, "{basic}");
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        partner.number, partner.secret
    );
    let (status, headers, in_body) = send(
        "POST",
        "/v1/auth/token",
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{in_body}");
    assert_eq!(
        headers
            .get("cache-control")
            .and_then(|value| value.to_str().ok()),
        Some("no-store")
    );
    let json_body = json!({"grant_type": "client_credentials", "client_id": partner.number.to_string(), "client_secret": partner.secret});
    let (status, _, as_json) = send(
        "POST",
        "/v1/auth/token",
        Some("application/json"),
        json_body.to_string().into_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{as_json}");
    assert_eq!(basic["token_type"], "Bearer");
    let expires_in = basic["expires_in"].as_u64().unwrap();
    assert!(expires_in > 0 && expires_in <= 3600);
    // The existing-token rule: one current token whichever way the partner asks.
    assert_eq!(basic["access_token"], in_body["access_token"]);
    assert_eq!(basic["access_token"], as_json["access_token"]);
}

#[tokio::test]
async fn token_with_wrong_basic_secret_gets_a_challenge() {
    let partner = &target().partner;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", target().http))
        .basic_auth(partner.number, Some("WrongSecret1"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"], "invalid_client");
}

#[tokio::test]
async fn token_with_credentials_in_both_header_and_body_is_refused() {
    let partner = &target().partner;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", target().http))
        .basic_auth(partner.number, Some(&partner.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &partner.number.to_string()),
            ("client_secret", &partner.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn token_with_a_repeated_parameter_is_refused() {
    let partner = &target().partner;
    let form = format!(
        "grant_type=client_credentials&grant_type=client_credentials&client_id={}&client_secret={}",
        partner.number, partner.secret
    );
    let (status, _, json) = send(
        "POST",
        "/v1/auth/token",
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "invalid_request");
}

#[tokio::test]
async fn validate_returns_the_claims_of_a_good_token() {
    let (_, token) = harness::login(&target().http, &target().partner).await;
    let access = token["access_token"].as_str().unwrap();
    let bearer = vec![("Authorization".to_owned(), format!("Bearer {access}"))];
    let (status, _, claims) = send("GET", "/validate/token", None, Vec::new(), &bearer).await;
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["sub"], target().partner.number.to_string());
    assert_eq!(claims["partnerNumber"], target().partner.number);
    for claim in ["iss", "aud", "iat", "nbf", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "{claim} missing from {claims}");
    }
}

#[tokio::test]
async fn a_request_id_is_kept_when_sane_and_replaced_when_not() {
    let kept = vec![("X-Request-Id".to_owned(), "test-id-123".to_owned())];
    let (_, headers, _) = send("GET", "/healthz", None, Vec::new(), &kept).await;
    assert_eq!(headers["x-request-id"], "test-id-123");
    let hostile = vec![("X-Request-Id".to_owned(), "a b\tc".to_owned())];
    let (_, headers, _) = send("GET", "/healthz", None, Vec::new(), &hostile).await;
    let replaced = headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[tokio::test]
async fn jwks_lists_an_ed25519_signing_key() {
    let (status, _, jwks) = send("GET", "/.well-known/jwks.json", None, Vec::new(), &[]).await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].is_string());
    assert!(
        jwks.to_string().find("\"d\"").is_none(),
        "private part published: {jwks}"
    );
}

#[tokio::test]
async fn cors_answers_the_configured_origin_only() {
    if std::env::var("SMS_GATEWAY_URL").is_ok() {
        return; // the origin list is the harness's; a stack of its own has its own
    }
    let preflight = |origin: &'static str| async move {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/auth/token", target().http),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap()
    };
    let allowed = preflight("https://partners.example").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://partners.example"
    );
    assert!(allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let refused = preflight("https://evil.example").await;
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
