//! Brute force: a partner number is locked after repeated failures, for a
//! window, and the right secret works again once it has passed. Unknown and
//! known numbers cost the same and answer the same.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{login, Options, Partner, Stack};

#[tokio::test]
async fn repeated_failures_lock_the_partner_until_the_window_passes() {
    let stack = Stack::start_with(Options {
        login_max_failures: "3",
        login_failure_window: "2",
        ..Options::default()
    })
    .await;
    let partner = stack.create_partner("locked").await;
    let wrong = Partner {
        secret: "WrongSecret1".into(),
        ..partner.clone()
    };
    for attempt in 1..=3 {
        assert_eq!(login(&stack.http, &wrong).await.0, 401, "attempt {attempt}");
    }
    let response = crate::harness::login_response(&stack.http, &partner).await;
    assert_eq!(response.status(), 429, "even the right secret waits");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string());
    // The register route is locked too.
    let (register, _) = crate::harness::register(&stack.http, &partner).await;
    assert_eq!(register, 429);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        login(&stack.http, &partner).await.0,
        200,
        "the window has passed"
    );
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where partner_number = $1 and action = 'login' and outcome = 'refused'",
    )
    .bind(partner.number as i32)
    .fetch_one(stack.pool())
    .await
    .unwrap();
    assert_eq!(audited, 2, "both locked-out attempts are audited");
    stack.stop().await;
}

/// The failing input: twenty simultaneous wrong guesses all read "no
/// failures yet" before any was counted, so all twenty were judged (401)
/// where three were allowed.
#[tokio::test]
async fn simultaneous_guesses_are_counted_one_by_one() {
    let stack = Stack::start_with(Options {
        login_max_failures: "3",
        login_failure_window: "60",
        ..Options::default()
    })
    .await;
    let partner = stack.create_partner("burst").await;
    let guesses = (0..20).map(|guess| {
        stack.request(
            common::subjects::AUTH_TOKEN,
            json!({"client_id": partner.number.to_string(), "client_secret": format!("WrongSecret{guess}")}),
        )
    });
    let answers = futures::future::join_all(guesses).await;
    let status = |wanted: u16| {
        answers
            .iter()
            .filter(|answer| matches!(answer, Err(error) if error.status == wanted))
            .count()
    };
    assert_eq!(status(401), 3, "judged guesses: {answers:?}");
    assert_eq!(status(429), 17, "refused guesses: {answers:?}");
    let failures: i32 =
        sqlx::query_scalar("select failures from login_failures where partner_number = $1")
            .bind(partner.number as i32)
            .fetch_one(stack.pool())
            .await
            .unwrap();
    assert_eq!(failures, 3);
    assert_eq!(
        login(&stack.http, &partner).await.0,
        429,
        "locked for the window"
    );
    stack.stop().await;
}

/// Simultaneous logins with the right secret wait their turn, and none is
/// refused: only failures count.
#[tokio::test]
async fn simultaneous_right_logins_are_never_locked_out() {
    let stack = Stack::start_with(Options {
        login_max_failures: "2",
        login_failure_window: "60",
        ..Options::default()
    })
    .await;
    let partner = stack.create_partner("busy").await;
    let wrong = Partner {
        secret: "WrongSecret1".into(),
        ..partner.clone()
    };
    assert_eq!(login(&stack.http, &wrong).await.0, 401);
    let logins = (0..30).map(|_| {
        stack.request(
            common::subjects::AUTH_TOKEN,
            json!({"client_id": partner.number.to_string(), "client_secret": partner.secret}),
        )
    });
    let answers = futures::future::join_all(logins).await;
    let tokens: std::collections::HashSet<String> = answers
        .iter()
        .map(|answer| match answer {
            Ok(token) => token["access_token"].as_str().unwrap().to_owned(),
            Err(error) => panic!("a right login was refused: {error:?}"),
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one current token");
    // The success cleared the earlier failure: two more are allowed.
    assert_eq!(login(&stack.http, &wrong).await.0, 401);
    assert_eq!(login(&stack.http, &wrong).await.0, 401);
    assert_eq!(login(&stack.http, &wrong).await.0, 429);
    stack.stop().await;
}

#[tokio::test]
async fn an_unknown_partner_number_is_locked_like_a_known_one() {
    let stack = Stack::start_with(Options {
        login_max_failures: "2",
        login_failure_window: "60",
        ..Options::default()
    })
    .await;
    let ghost = Partner {
        number: 99990003,
        uuid: uuid::Uuid::new_v4().to_string(),
        secret: "Whatever1".into(),
    };
    assert_eq!(login(&stack.http, &ghost).await.0, 401);
    assert_eq!(login(&stack.http, &ghost).await.0, 401);
    assert_eq!(login(&stack.http, &ghost).await.0, 429);
    stack.stop().await;
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn an_unknown_partner_and_a_wrong_secret_take_the_same_time() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("timing").await;
    let attempt = |client_id: String| {
        let stack = &stack;
        async move {
            let started = Instant::now();
            let error = stack
                .request(
                    common::subjects::AUTH_TOKEN,
                    json!({"client_id": client_id, "client_secret": "WrongSecret1"}),
                )
                .await
                .unwrap_err();
            assert_eq!(error.status, 401);
            started.elapsed()
        }
    };
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    // Interleaved, so load on the machine falls on both alike.
    for round in 0..300 {
        unknown.push(attempt(format!("{}", 90_000_000 + round)).await);
        wrong.push(attempt(partner.number.to_string()).await);
    }
    let (unknown, wrong) = (median(unknown), median(wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    println!("median unknown partner {unknown:?}, wrong secret {wrong:?}, ratio {ratio:.2}");
    assert!(
        (0.67..1.5).contains(&ratio),
        "unknown {unknown:?} vs wrong secret {wrong:?}"
    );
    stack.stop().await;
}
