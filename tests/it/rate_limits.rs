//! Rate limits in the gateway: per client address and per partner.

use crate::harness::{login, Options, Stack};

#[tokio::test]
async fn too_many_requests_from_one_address_get_429_with_retry_after() {
    let stack = Stack::start_with(Options {
        rate_limit_per_address: "5",
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..8 {
        let response = http
            .get(format!("{}/.well-known/jwks.json", stack.http))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    let limited = last.unwrap();
    if limited.status() == 429 {
        let headers = limited.headers().clone();
        assert!(
            headers["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        let body: serde_json::Value = limited.json().await.unwrap();
        assert_eq!(body["error"], "too_many_requests");
    }
    // The probes stay reachable.
    assert_eq!(
        http.get(format!("{}/readyz", stack.http))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = http
        .get(format!("{}/.well-known/jwks.json", stack.http))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "the bucket refills");
    assert!(again.headers().contains_key("x-ratelimit-remaining"));
    stack.stop().await;
}

#[tokio::test]
async fn one_busy_partner_is_limited_without_limiting_another() {
    let stack = Stack::start_with(Options {
        rate_limit_per_partner: "3",
        ..Options::default()
    })
    .await;
    let busy = stack.create_partner("busy").await;
    let quiet = stack.create_partner("quiet").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(login(&stack.http, &busy).await.0);
    }
    assert_eq!(&statuses[..3], &[200; 3], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert_eq!(login(&stack.http, &quiet).await.0, 200);
    stack.stop().await;
}
