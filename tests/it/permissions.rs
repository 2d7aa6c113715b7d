//! Least privilege on the bus: user by user, subject by subject.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{login, Stack};

/// A connection without the harness's event callback, so a denial made on
/// purpose here is not mistaken for a service's own.
async fn raw_connect(stack: &Stack, user: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(
        user.to_owned(),
        stack.nats.passwords[user].clone(),
    )
    .custom_inbox_prefix(format!("_INBOX_{user}"))
    .connect(&stack.nats.url)
    .await
    .expect("connect")
}

/// Whether `client` gets any answer (a body or a service error) from `subject`.
async fn answered(
    client: &async_nats::Client,
    subject: &str,
    body: &Value,
    wait: Duration,
) -> bool {
    let payload = bytes::Bytes::from(body.to_string());
    match common::nats::request(client, subject, async_nats::HeaderMap::new(), payload, wait).await
    {
        Ok(_) => true,
        Err(error) => error.status != 504 && error.status != 503,
    }
}

#[tokio::test]
async fn every_user_may_call_exactly_the_subjects_it_needs() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("matrix").await;
    let (_, token) = login(&stack.http, &partner).await;
    let number = partner.number;
    let subjects: Vec<(&str, Value)> = vec![
        ("sms.auth.register", json!({})),
        (
            "sms.auth.token",
            json!({"client_id": "1", "client_secret": "x"}),
        ),
        ("sms.jwt.issue", json!({"partnerNumber": number})),
        ("sms.jwt.validate", json!({"token": token["access_token"]})),
        ("sms.jwt.refresh", json!({"refresh_token": "x"})),
        ("sms.jwt.revoke", json!({"token": "x"})),
        ("sms.jwt.jwks", json!({})),
        ("sms.admin.partners.list", json!({})),
        ("sms.admin.keys.list", json!({})),
        ("$SRV.PING.jwt", json!({})),
    ];
    let allowed = |user: &str, subject: &str| match user {
        "gateway" => {
            subject.starts_with("sms.auth.")
                || (subject.starts_with("sms.jwt.") && subject != "sms.jwt.issue")
                || subject.starts_with("$SRV.")
        }
        "auth" => subject == "sms.jwt.issue",
        "admin" => subject.starts_with("sms.admin.") || subject.starts_with("$SRV."),
        _ => false,
    };
    let mut wrong = Vec::new();
    for user in ["gateway", "auth", "jwt", "admin"] {
        let client = raw_connect(&stack, user).await;
        let checks = subjects.iter().map(|(subject, body)| {
            let client = client.clone();
            let expected = allowed(user, subject);
            async move {
                let wait = if expected {
                    Duration::from_secs(5)
                } else {
                    Duration::from_millis(700)
                };
                (
                    subject,
                    expected,
                    answered(&client, subject, body, wait).await,
                )
            }
        });
        for (subject, expected, got) in futures::future::join_all(checks).await {
            if expected != got {
                wrong.push(format!(
                    "{user} → {subject}: expected {}, got {}",
                    if expected { "an answer" } else { "denial" },
                    if got { "an answer" } else { "nothing" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The denied sms.jwt.issue calls minted nothing: the one token is the login's.
    let tokens: i64 =
        sqlx::query_scalar("select count(*) from access_tokens where partner_number = $1")
            .bind(number as i32)
            .fetch_one(stack.pool())
            .await
            .unwrap();
    assert_eq!(tokens, 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_connection_without_or_with_wrong_credentials_is_refused() {
    let stack = Stack::start().await;
    assert!(
        async_nats::connect(&stack.nats.url).await.is_err(),
        "anonymous connection accepted"
    );
    let wrong = async_nats::ConnectOptions::with_user_and_password(
        "gateway".into(),
        "not-the-password".into(),
    )
    .connect(&stack.nats.url)
    .await;
    assert!(wrong.is_err(), "wrong password accepted");
    stack.stop().await;
}

#[tokio::test]
async fn the_gateway_user_can_neither_impersonate_jwt_nor_read_the_auth_services_replies() {
    use futures::StreamExt;
    let stack = Stack::start().await;
    let partner = stack.create_partner("snoop").await;
    let snoop = raw_connect(&stack, "gateway").await;
    let mut impersonated = snoop.subscribe("sms.jwt.issue").await.unwrap();
    let mut replies = snoop.subscribe("_INBOX_auth.>").await.unwrap();
    snoop.flush().await.unwrap();
    let (status, _) = login(&stack.http, &partner).await;
    assert_eq!(status, 200, "the real jwt service still answers auth");
    let heard = tokio::time::timeout(Duration::from_millis(500), async {
        tokio::select! {
            Some(message) = impersonated.next() => Some(message.subject.to_string()),
            Some(message) = replies.next() => Some(message.subject.to_string()),
            else => None,
        }
    })
    .await;
    assert!(
        !matches!(heard, Ok(Some(_))),
        "the gateway user heard {heard:?}"
    );
    stack.stop().await;
}
