//! Refresh with rotation and reuse detection, and revocation.

use serde_json::{json, Value};

use crate::harness::{login, Stack};

async fn post_form(stack: &Stack, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", stack.http))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn active(stack: &Stack, token: &Value) -> bool {
    let (_, answer) = post_form(
        stack,
        "/v1/auth/introspect",
        &[("token", token.as_str().unwrap())],
    )
    .await;
    answer["active"] == true
}

#[tokio::test]
async fn a_refresh_rotates_and_a_replayed_refresh_token_revokes_the_login() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("refresh").await;
    let (_, first) = login(&stack.http, &partner).await;
    let r0 = first["refresh_token"].as_str().unwrap();
    let (status, second) = post_form(
        &stack,
        "/v1/auth/refresh",
        &[("grant_type", "refresh_token"), ("refresh_token", r0)],
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let r1 = second["refresh_token"].as_str().unwrap();
    let (status, third) = post_form(&stack, "/v1/auth/refresh", &[("refresh_token", r1)]).await;
    assert_eq!(status, 200, "{third}");
    // The refreshed token is now the partner's current one.
    let (_, current) = login(&stack.http, &partner).await;
    assert_eq!(current["access_token"], third["access_token"]);
    // R0 again: refused, and everything from this login is revoked.
    let (status, replay) = post_form(&stack, "/v1/auth/refresh", &[("refresh_token", r0)]).await;
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");
    assert!(!active(&stack, &third["access_token"]).await);
    assert!(!active(&stack, &first["access_token"]).await);
    let (status, _) = post_form(
        &stack,
        "/v1/auth/refresh",
        &[("refresh_token", third["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        status, 400,
        "the newest refresh token of the chain is revoked too"
    );
    // A new login starts a new chain.
    let (status, fresh) = login(&stack.http, &partner).await;
    assert_eq!(status, 200);
    assert_ne!(fresh["access_token"], third["access_token"]);
    stack.stop().await;
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_give_one_success_and_one_invalid_grant() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("race").await;
    let (_, first) = login(&stack.http, &partner).await;
    let r0 = first["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", r0)];
    let (a, b) = tokio::join!(
        post_form(&stack, "/v1/auth/refresh", &form),
        post_form(&stack, "/v1/auth/refresh", &form)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let refused = if a.0 == 400 { &a.1 } else { &b.1 };
    assert_eq!(refused["error"], "invalid_grant");
    stack.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_inactive_everywhere_and_the_next_login_mints_a_new_one() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("revoke").await;
    let (_, first) = login(&stack.http, &partner).await;
    let access = first["access_token"].as_str().unwrap();
    let (status, body) = post_form(&stack, "/v1/auth/revoke", &[("token", access)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(!active(&stack, &first["access_token"]).await);
    let validated = reqwest::Client::new()
        .get(format!("{}/validate/token", stack.http))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(validated.status(), 401);
    let over_nats = stack
        .request(common::subjects::JWT_VALIDATE, json!({"token": access}))
        .await
        .unwrap();
    assert_eq!(over_nats["active"], false);
    let (_, second) = login(&stack.http, &partner).await;
    assert_ne!(second["access_token"], first["access_token"]);
    // Revoking an unknown token is not an error (RFC 7009 §2.2).
    let (status, _) = post_form(&stack, "/v1/auth/revoke", &[("token", "nonsense")]).await;
    assert_eq!(status, 200);
    stack.stop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_login() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("revoke-refresh").await;
    let (_, first) = login(&stack.http, &partner).await;
    let (status, _) = post_form(
        &stack,
        "/v1/auth/revoke",
        &[("token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert!(!active(&stack, &first["access_token"]).await);
    let (status, refused) = post_form(
        &stack,
        "/v1/auth/refresh",
        &[("refresh_token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    stack.stop().await;
}
