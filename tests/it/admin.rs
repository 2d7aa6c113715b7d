//! Partner administration over `sms.admin.partners.*`.

use serde_json::json;

use crate::harness::{login, Stack};
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
    let rotated = stack
        .request(
            subjects::ADMIN_PARTNERS_ROTATE_SECRET,
            json!({"partnerNumber": partner.number}),
        )
        .await
        .unwrap();
    let new_secret = rotated["partnerSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, partner.secret);
    assert_eq!(login(&stack.http, &partner).await.0, 401, "old secret");
    let renewed = crate::harness::Partner {
        secret: new_secret,
        ..partner.clone()
    };
    let (status, after) = login(&stack.http, &renewed).await;
    assert_eq!(status, 200);
    assert_ne!(
        before["access_token"], after["access_token"],
        "a new token after rotation"
    );
    let old = stack
        .request(
            subjects::JWT_VALIDATE,
            json!({"token": before["access_token"]}),
        )
        .await
        .unwrap();
    assert_eq!(old["active"], false);
    stack.stop().await;
}

#[tokio::test]
async fn admin_actions_and_logins_are_audited_without_secrets() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("audited").await;
    let (_, token) = login(&stack.http, &partner).await;
    let wrong = crate::harness::Partner {
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
    let (_, registered) = crate::harness::register(&stack.http, &partner).await;
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
