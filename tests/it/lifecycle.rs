//! Refresh with rotation and reuse detection, and revocation.

use serde_json::{json, Value};

use crate::harness::{login, Stack};

fn assert_invalid_grant(status: u16, body: &Value) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

/// Trades `refresh_token` at `/v1/auth/refresh`.
async fn refresh(stack: &Stack, refresh_token: &str) -> (u16, Value) {
    post_form(
        stack,
        "/v1/auth/refresh",
        &[("refresh_token", refresh_token)],
    )
    .await
}

async fn post_form(stack: &Stack, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    crate::harness::post_form(&stack.http, path, form).await
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
    let (status, third) = refresh(&stack, r1).await;
    assert_eq!(status, 200, "{third}");
    // The refreshed token is now the partner's current one.
    let (_, current) = login(&stack.http, &partner).await;
    assert_eq!(current["access_token"], third["access_token"]);
    // R0 again: refused, and everything from this login is revoked.
    let (status, replay) = refresh(&stack, r0).await;
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");
    assert!(!active(&stack, &third["access_token"]).await);
    assert!(!active(&stack, &first["access_token"]).await);
    let (status, _) = refresh(&stack, third["refresh_token"].as_str().unwrap()).await;
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
    let (refused, winner) = if a.0 == 400 {
        (&a.1, &b.1)
    } else {
        (&b.1, &a.1)
    };
    assert_eq!(refused["error"], "invalid_grant");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("just used"),
        "{refused}"
    );
    // A duplicate moments after the first use is refused alone: the winner's
    // tokens live on.
    assert!(
        active(&stack, &winner["access_token"]).await,
        "the winner's token was revoked"
    );
    let (status, next) = refresh(&stack, winner["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{next}");
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
    let (status, refused) = refresh(&stack, first["refresh_token"].as_str().unwrap()).await;
    assert_invalid_grant(status, &refused);
    stack.stop().await;
}

#[tokio::test]
async fn a_replayed_refresh_token_is_caught_across_a_restart_of_the_jwt_service() {
    let mut stack = Stack::start().await;
    let partner = stack.create_partner("restart").await;
    let (_, first) = login(&stack.http, &partner).await;
    let r0 = first["refresh_token"].as_str().unwrap().to_owned();
    let (_, second) = refresh(&stack, &r0).await;
    let r1 = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, third) = refresh(&stack, &r1).await;
    assert_eq!(status, 200, "R0 → R1 → R2 within a second");
    stack.restart_jwt().await;
    let (status, replay) = refresh(&stack, &r0).await;
    assert_invalid_grant(status, &replay);
    assert!(
        replay["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{replay}"
    );
    let (status, _) = refresh(&stack, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "R2 died with its chain");
    assert!(!active(&stack, &third["access_token"]).await);
    stack.stop().await;
}

#[tokio::test]
async fn refreshing_never_outlives_the_absolute_lifetime_of_the_login() {
    let stack = Stack::start_with(crate::harness::Options {
        token_ttl: "2",
        token_min_remaining: "0",
        refresh_ttl: "3",
        ..Default::default()
    })
    .await;
    let partner = stack.create_partner("absolute").await;
    let (_, first) = login(&stack.http, &partner).await;
    assert!(first["refresh_expires_in"].as_u64().unwrap() <= 3);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, second) = refresh(&stack, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        second["expires_in"].as_u64().unwrap() <= 2,
        "the new token ends with the login: {second}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let (status, late) = refresh(&stack, second["refresh_token"].as_str().unwrap()).await;
    assert_invalid_grant(status, &late);
    stack.stop().await;
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_spends_no_refresh_token() {
    let stack = Stack::start_with(crate::harness::Options {
        database_proxy: true,
        ..Default::default()
    })
    .await;
    let partner = stack.create_partner("outage").await;
    let (_, first) = login(&stack.http, &partner).await;
    let refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
    let proxy = stack.database_proxy.as_ref().unwrap();
    proxy.cut().await;

    let http = reqwest::Client::new();
    let token = crate::harness::login_response(&stack.http, &partner).await;
    assert_eq!(token.status(), 503, "login during the outage");
    assert!(token.headers().get("retry-after").is_some());
    let (register, _) = crate::harness::register(&stack.http, &partner).await;
    assert_eq!(register, 503, "register during the outage");
    let (status, introspection) = post_form(
        &stack,
        "/v1/auth/introspect",
        &[("token", first["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        status, 503,
        "introspection must not say inactive: {introspection}"
    );
    let validate = http
        .get(format!("{}/validate/token", stack.http))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(validate.status(), 503, "not 401 while the database is down");
    let (status, refused) = refresh(&stack, &refresh_token).await;
    assert_eq!(status, 503, "{refused}");

    proxy.restore().await;
    let (status, refreshed) = refresh(&stack, &refresh_token).await;
    assert_eq!(
        status, 200,
        "the failed refresh did not spend the token: {refreshed}"
    );
    stack.stop().await;
}

/// The partner's token verified by another JWT implementation, given only
/// the JWKS document.
async fn verify_with_jwks_only(stack: &Stack, token: &str) -> Result<Value, String> {
    use base64::Engine;
    use jwt_simple::prelude::*;
    let jwks: Value =
        crate::harness::get_json(&format!("{}/.well-known/jwks.json", stack.http)).await;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .ok_or("kid not in JWKS")?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap();
    let public = Ed25519PublicKey::from_bytes(&raw).map_err(|error| error.to_string())?;
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&["sms-jwt"])),
        allowed_audiences: Some(HashSet::from_strings(&["sms-partners"])),
        ..Default::default()
    };
    let claims = public
        .verify_token::<Value>(token, Some(options))
        .map_err(|error| error.to_string())?;
    Ok(claims.custom)
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_publishes_both_keys_until_the_old_ones_expire() {
    let stack = Stack::start_with(crate::harness::Options {
        token_ttl: "3",
        token_min_remaining: "0",
        leeway: "1",
        ..Default::default()
    })
    .await;
    let early = stack.create_partner("early").await;
    let late = stack.create_partner("late").await;
    let (_, old_token) = login(&stack.http, &early).await;
    let old = old_token["access_token"].as_str().unwrap().to_owned();
    let rotated = stack
        .request(common::subjects::ADMIN_KEYS_ROTATE, json!({}))
        .await
        .unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let (_, new_token) = login(&stack.http, &late).await;
    let new = new_token["access_token"].as_str().unwrap().to_owned();
    assert_ne!(
        old.split('.').next(),
        new.split('.').next(),
        "signed under different kids"
    );

    for token in [&old, &new] {
        assert!(active(&stack, &json!(token)).await);
        let claims = verify_with_jwks_only(&stack, token)
            .await
            .expect("verifies from JWKS alone");
        assert!(claims["partnerNumber"].is_u64());
    }
    let keys = stack
        .request(common::subjects::ADMIN_KEYS_LIST, json!({}))
        .await
        .unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert_eq!(keys["keys"][0]["kid"], new_kid.as_str());
    assert_eq!(keys["keys"][0]["status"], "active");
    assert_eq!(keys["keys"][1]["published"], true);

    // After TOKEN_TTL + leeway, no token of the old key can be valid: it leaves JWKS.
    tokio::time::sleep(std::time::Duration::from_millis(4300)).await;
    let jwks: Value =
        crate::harness::get_json(&format!("{}/.well-known/jwks.json", stack.http)).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|key| key["kid"].as_str())
        .collect();
    assert_eq!(kids, [new_kid.as_str()]);
    let audited: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'key.rotate'")
            .fetch_one(stack.pool())
            .await
            .unwrap();
    assert_eq!(audited, 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_tampered_token_fails_the_independent_check_too() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("independent").await;
    let (_, token) = login(&stack.http, &partner).await;
    let access = token["access_token"].as_str().unwrap();
    assert!(verify_with_jwks_only(&stack, access).await.is_ok());
    let mut pieces: Vec<String> = access.split('.').map(str::to_owned).collect();
    pieces[2] = pieces[2].chars().rev().collect();
    assert!(verify_with_jwks_only(&stack, &pieces.join("."))
        .await
        .is_err());
    stack.stop().await;
}

#[tokio::test]
async fn two_clients_of_one_partner_share_the_access_token_but_refresh_independently() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("two-clients").await;
    let (_, a) = login(&stack.http, &partner).await;
    let (_, b) = login(&stack.http, &partner).await;
    assert_eq!(
        a["access_token"], b["access_token"],
        "the existing-token rule"
    );
    assert_ne!(
        a["refresh_token"], b["refresh_token"],
        "each login its own refresh token"
    );
    let (status, a2) = refresh(&stack, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{a2}");
    let (status, b2) = refresh(&stack, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "B's refresh is not a replay of A's: {b2}");
    assert!(active(&stack, &a2["access_token"]).await);
    assert!(active(&stack, &b2["access_token"]).await);
    stack.stop().await;
}

#[tokio::test]
async fn a_spent_refresh_token_used_again_after_the_grace_revokes_the_login() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("late-replay").await;
    let (_, first) = login(&stack.http, &partner).await;
    let r0 = first["refresh_token"].as_str().unwrap().to_owned();
    let (_, second) = refresh(&stack, &r0).await;
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let (status, replay) = refresh(&stack, &r0).await;
    assert_invalid_grant(status, &replay);
    assert!(
        !active(&stack, &second["access_token"]).await,
        "the login is revoked"
    );
    let (status, _) = refresh(&stack, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    stack.stop().await;
}
