//! The existing-token rule: the same token while it has enough life left, a
//! new one otherwise, and never two current tokens under concurrency.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{login, Options, Stack};

fn claims(token: &Value) -> Value {
    use base64::Engine;
    let payload = token["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_same_token_comes_back_while_it_is_valid() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("same").await;
    let (status, first) = login(&stack.http, &partner).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = login(&stack.http, &partner).await;
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(claims(&first)["jti"], claims(&second)["jti"]);
    assert_eq!(claims(&first)["exp"], claims(&second)["exp"]);
    // expires_in is the true remaining lifetime, not the full TTL again.
    assert!(second["expires_in"].as_u64() <= first["expires_in"].as_u64());
    stack.stop().await;
}

#[tokio::test]
async fn a_new_token_is_minted_after_expiry() {
    let stack = Stack::start_with(Options {
        token_ttl: "2",
        token_min_remaining: "0",
        ..Options::default()
    })
    .await;
    let partner = stack.create_partner("expiry").await;
    let (_, first) = login(&stack.http, &partner).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, second) = login(&stack.http, &partner).await;
    assert_eq!(status, 200);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_ne!(claims(&first)["jti"], claims(&second)["jti"]);
    stack.stop().await;
}

#[tokio::test]
async fn a_new_token_is_minted_when_too_little_life_is_left() {
    // TTL 4 s, a token must keep more than 3 s: after 1.5 s the first one
    // has about 2.5 s left, so it is no longer handed out.
    let stack = Stack::start_with(Options {
        token_ttl: "4",
        token_min_remaining: "3",
        ..Options::default()
    })
    .await;
    let partner = stack.create_partner("remaining").await;
    let (_, first) = login(&stack.http, &partner).await;
    let (_, again) = login(&stack.http, &partner).await;
    assert_eq!(
        first["access_token"], again["access_token"],
        "still more than 3 s left"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, second) = login(&stack.http, &partner).await;
    assert_ne!(first["access_token"], second["access_token"]);
    stack.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_first_logins_yield_exactly_one_token() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("concurrent").await;
    let logins = (0..50).map(|_| login(&stack.http, &partner));
    let answers = futures::future::join_all(logins).await;
    let mut tokens: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_owned()
        })
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "{} different tokens", tokens.len());
    let rows: i64 =
        sqlx::query_scalar("select count(*) from access_tokens where partner_number = $1")
            .bind(partner.number as i32)
            .fetch_one(stack.pool())
            .await
            .unwrap();
    assert_eq!(rows, 1, "token records in the database");
    stack.stop().await;
}

#[tokio::test]
async fn register_and_client_credentials_share_the_current_token() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("both").await;
    let (_, token) = login(&stack.http, &partner).await;
    let (_, registered) = crate::harness::register(&stack.http, &partner).await;
    assert_eq!(registered["token"], token["access_token"]);
    assert_ne!(
        registered["refreshToken"], token["refresh_token"],
        "each login has its own refresh token"
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_token_is_issued_over_nats_as_over_http() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("nats").await;
    let reply = stack
        .request(common::subjects::AUTH_TOKEN, serde_json::json!({"client_id": partner.number.to_string(), "client_secret": partner.secret}))
        .await
        .expect("token over NATS");
    let (_, over_http) = login(&stack.http, &partner).await;
    assert_eq!(reply["access_token"], over_http["access_token"]);
    let error = stack
        .request(
            common::subjects::AUTH_TOKEN,
            serde_json::json!({"client_id": partner.number.to_string(), "client_secret": "Nope1"}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status, 401);
    assert_eq!(error.error, "invalid_client");
    stack.stop().await;
}
