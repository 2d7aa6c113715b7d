//! Partner administration over `sms.admin.partners.*`.

use serde_json::json;

use crate::harness::{login, register, Partner, Stack};
use common::subjects;

#[tokio::test]
async fn a_created_partner_gets_a_uuid_and_a_strong_secret_stored_only_as_a_hash() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("Acme Subscriptions").await;
    assert!((10_000_000..=99_999_999).contains(&partner.number));
    assert!(uuid::Uuid::parse_str(&partner.uuid).is_ok());
    assert!(
        partner.secret.len() >= 43,
        "44 base-62 characters carry more than 256 bits"
    );
    assert!(partner
        .secret
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric()));
    let stored: Vec<u8> =
        sqlx::query_scalar("select secret_hash from partners where partner_number = $1")
            .bind(partner.number as i32)
            .fetch_one(stack.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!stored.windows(8).any(|window| partner
        .secret
        .as_bytes()
        .windows(8)
        .any(|part| part == window)));
    let view = stack
        .request(
            subjects::ADMIN_PARTNERS_GET,
            json!({"partnerNumber": partner.number}),
        )
        .await
        .unwrap();
    assert_eq!(view["name"], "Acme Subscriptions");
    assert_eq!(view["status"], "active");
    assert!(view.get("partnerSecret").is_none() && !view.to_string().contains(&partner.secret));
    stack.stop().await;
}

#[tokio::test]
async fn a_partner_number_can_be_chosen_once() {
    let stack = Stack::start().await;
    let created = stack
        .request(
            subjects::ADMIN_PARTNERS_CREATE,
            json!({"name": "chosen", "partnerNumber": 55554444}),
        )
        .await
        .unwrap();
    assert_eq!(created["partnerNumber"], 55554444);
    let again = stack
        .request(
            subjects::ADMIN_PARTNERS_CREATE,
            json!({"name": "again", "partnerNumber": 55554444}),
        )
        .await
        .unwrap_err();
    assert_eq!(again.status, 409);
    let bad = stack
        .request(
            subjects::ADMIN_PARTNERS_CREATE,
            json!({"name": "bad", "partnerNumber": 123}),
        )
        .await
        .unwrap_err();
    assert_eq!(bad.status, 400);
    let unnamed = stack
        .request(subjects::ADMIN_PARTNERS_CREATE, json!({"name": "  "}))
        .await
        .unwrap_err();
    assert_eq!(unnamed.status, 400);
    stack.stop().await;
}

#[tokio::test]
async fn list_shows_every_partner_and_get_of_an_unknown_one_is_404() {
    let stack = Stack::start().await;
    let first = stack.create_partner("one").await;
    let second = stack.create_partner("two").await;
    let list = stack
        .request(subjects::ADMIN_PARTNERS_LIST, json!({}))
        .await
        .unwrap();
    let numbers: Vec<u64> = list["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partnerNumber"].as_u64().unwrap())
        .collect();
    assert!(
        numbers.contains(&u64::from(first.number)) && numbers.contains(&u64::from(second.number))
    );
    let missing = stack
        .request(
            subjects::ADMIN_PARTNERS_GET,
            json!({"partnerNumber": 99999998}),
        )
        .await
        .unwrap_err();
    assert_eq!(missing.status, 404);
    let malformed = stack
        .request(subjects::ADMIN_PARTNERS_GET, json!({"partner": 1}))
        .await
        .unwrap_err();
    assert_eq!(malformed.status, 400);
    stack.stop().await;
}

#[tokio::test]
async fn rotating_the_secret_retires_the_old_one_and_its_tokens() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("rotate").await;
    let (_, before) = login(&stack.http, &partner).await;
    let renewed = rotate(&stack, &partner, None).await.unwrap();
    assert_ne!(renewed.secret, partner.secret);
    assert_eq!(login(&stack.http, &partner).await.0, 401, "old secret");
    let (status, after) = login(&stack.http, &renewed).await;
    assert_eq!(status, 200);
    assert_ne!(
        before["access_token"], after["access_token"],
        "a new token after rotation"
    );
    assert!(!active(&stack, &before["access_token"]).await);
    stack.stop().await;
}

#[tokio::test]
async fn admin_actions_and_logins_are_audited_without_secrets() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("audited").await;
    let (_, token) = login(&stack.http, &partner).await;
    let wrong = Partner {
        secret: "Wrong1".into(),
        ..partner.clone()
    };
    login(&stack.http, &wrong).await;
    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "select action, outcome, detail from audit_events where partner_number = $1 order by id",
    )
    .bind(partner.number as i32)
    .fetch_all(stack.pool())
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|(action, outcome, _)| (action.as_str(), outcome.as_str()))
        .collect();
    assert!(
        actions.contains(&("partner.create", "created")),
        "{actions:?}"
    );
    assert!(actions.contains(&("login", "success")), "{actions:?}");
    assert!(actions.contains(&("login", "failure")), "{actions:?}");
    assert!(actions.contains(&("token.issue", "issued")), "{actions:?}");
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&partner.secret));
    assert!(!dump.contains(token["access_token"].as_str().unwrap()));
    assert!(!dump.contains(token["refresh_token"].as_str().unwrap()));
    stack.stop().await;
}

#[tokio::test]
async fn a_database_dump_after_logins_refreshes_and_revocations_holds_no_secret_or_token() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("dumped").await;
    let (_, first) = login(&stack.http, &partner).await;
    let (_, refreshed) = crate::harness::post_form(
        &stack.http,
        "/v1/auth/refresh",
        &[("refresh_token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    let revoke = [("token", refreshed["access_token"].as_str().unwrap())];
    crate::harness::post_form(&stack.http, "/v1/auth/revoke", &revoke).await;
    let (_, registered) = register(&stack.http, &partner).await;
    let dump = tokio::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&stack.database.url)
        .output()
        .await
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains(&partner.number.to_string()),
        "the dump has the data"
    );
    let signatures = |token: &serde_json::Value| {
        token
            .as_str()
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap()
            .to_owned()
    };
    for (what, needle) in [
        ("partner secret", partner.secret.clone()),
        ("access token signature", signatures(&first["access_token"])),
        (
            "refreshed token signature",
            signatures(&refreshed["access_token"]),
        ),
        (
            "registered token signature",
            signatures(&registered["token"]),
        ),
        (
            "refresh token",
            first["refresh_token"].as_str().unwrap().to_owned(),
        ),
        (
            "second refresh token",
            refreshed["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("card number", "4111111111111111".to_owned()),
        ("pepper", stack.env["PARTNER_SECRET_PEPPER"].clone()),
        (
            "key encryption key",
            stack.env["SIGNING_KEY_ENCRYPTION_KEY"].clone(),
        ),
    ] {
        assert!(!dump.contains(&needle), "the dump contains the {what}");
    }
    stack.stop().await;
}

/// Validates `token` over NATS; `true` when active.
async fn active(stack: &Stack, token: &serde_json::Value) -> bool {
    let reply = stack
        .request(subjects::JWT_VALIDATE, json!({"token": token}))
        .await
        .unwrap();
    reply["active"] == true
}

/// Rotates `partner`'s secret (with `overlapSeconds` when given): the
/// partner with its new secret.
async fn rotate(
    stack: &Stack,
    partner: &Partner,
    overlap_seconds: Option<i64>,
) -> Result<Partner, common::ServiceError> {
    let mut body = json!({"partnerNumber": partner.number});
    if let Some(seconds) = overlap_seconds {
        body["overlapSeconds"] = json!(seconds);
    }
    let rotated = stack
        .request(subjects::ADMIN_PARTNERS_ROTATE_SECRET, body)
        .await?;
    Ok(Partner {
        secret: rotated["partnerSecret"].as_str().unwrap().to_owned(),
        ..partner.clone()
    })
}

/// The end of `partner`'s previous secret's overlap, as the admin API shows it.
async fn overlap_end(stack: &Stack, partner: &Partner) -> Option<String> {
    let shown = stack
        .request(
            subjects::ADMIN_PARTNERS_GET,
            json!({"partnerNumber": partner.number}),
        )
        .await
        .unwrap();
    shown["previousSecretExpiresAt"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_rotation_with_an_overlap_keeps_the_old_secret_and_tokens_until_it_ends() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("roll-over").await;
    let (_, before) = login(&stack.http, &partner).await;
    let renewed = rotate(&stack, &partner, Some(3)).await.unwrap();
    assert_ne!(renewed.secret, partner.secret);
    assert!(overlap_end(&stack, &partner).await.is_some());
    // Both secrets work, on both routes, and the token is kept.
    let (old_status, with_old) = login(&stack.http, &partner).await;
    let (new_status, with_new) = login(&stack.http, &renewed).await;
    assert_eq!((old_status, new_status), (200, 200));
    assert_eq!(with_old["access_token"], before["access_token"]);
    assert_eq!(with_new["access_token"], before["access_token"]);
    assert_eq!(register(&stack.http, &partner).await.0, 200);
    assert!(active(&stack, &before["access_token"]).await);
    // Once the overlap is over the old secret fails like any wrong one.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let (status, body) = login(&stack.http, &partner).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(register(&stack.http, &partner).await.0, 401);
    assert_eq!(login(&stack.http, &renewed).await.0, 200);
    assert!(active(&stack, &before["access_token"]).await);
    assert_eq!(overlap_end(&stack, &partner).await, None);
    stack.stop().await;
}

#[tokio::test]
async fn a_second_rotation_ends_the_first_secret_and_an_overlap_is_bounded() {
    let stack = Stack::start_with(crate::harness::Options {
        extra_env: &[("SECRET_ROTATION_MAX_OVERLAP", "2h")],
        ..Default::default()
    })
    .await;
    let first = stack.create_partner("twice").await;
    let second = rotate(&stack, &first, Some(3600)).await.unwrap();
    let third = rotate(&stack, &first, Some(3600)).await.unwrap();
    assert_eq!(login(&stack.http, &first).await.0, 401, "two rotations ago");
    assert_eq!(login(&stack.http, &second).await.0, 200, "the previous");
    assert_eq!(login(&stack.http, &third).await.0, 200, "the current");
    // No overlap named is a leak response: the old secret dies at once.
    let fourth = rotate(&stack, &first, None).await.unwrap();
    assert_eq!(login(&stack.http, &third).await.0, 401);
    assert_eq!(login(&stack.http, &fourth).await.0, 200);
    // Past SECRET_ROTATION_MAX_OVERLAP, or not a count of seconds: refused.
    for bad in [7201, -1] {
        let refused = rotate(&stack, &first, Some(bad)).await.unwrap_err();
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
    }
    assert_eq!(login(&stack.http, &fourth).await.0, 200, "unchanged");
    stack.stop().await;
}
