//! Scale and restarts: two instances of each service share the queue group;
//! restarting every instance in turn, under a steady stream of logins,
//! loses no request.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::harness::{login, Stack};

/// How many instances of `service` answer a PING now.
async fn instances(stack: &Stack, service: &str) -> usize {
    common::nats::gather(
        &stack.client,
        &format!("$SRV.PING.{service}"),
        Duration::from_millis(300),
    )
    .await
    .len()
}

async fn wait_for_instances(stack: &Stack, service: &str, expected: usize) {
    for _ in 0..50 {
        if instances(stack, service).await == expected {
            return;
        }
    }
    panic!("{service} never had {expected} instances");
}

/// async-nats forgets a subscription the moment it unsubscribes, so a request
/// the server routed to a stopping instance just before its UNSUB arrived is
/// dropped. The caller's retry of idempotent requests after an attempt
/// time-out (`ATTEMPT_TIMEOUT`) is what keeps it from being lost.
#[tokio::test]
async fn a_rolling_restart_of_every_service_instance_under_load_loses_no_request() {
    let mut stack = Stack::start().await;
    stack.start_jwt_named("jwt-2").await;
    stack.start_auth_named("auth-2").await;
    wait_for_instances(&stack, "jwt", 2).await;
    wait_for_instances(&stack, "auth", 2).await;
    let partner = stack.create_partner("rolling").await;

    let running = Arc::new(AtomicBool::new(true));
    let (succeeded, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, partner, running) = (stack.http.clone(), partner.clone(), running.clone());
        let (succeeded, failed) = (succeeded.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let (status, body) = login(&http, &partner).await;
                if status == 200 {
                    succeeded.fetch_add(1, Ordering::Relaxed);
                } else {
                    eprintln!("failed during the restart: {status} {body}");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Each old instance in turn: a replacement joins, then the old one stops
    // (as on SIGTERM: no new requests, finish those in flight, drain).
    for (old, new, service) in [
        ("jwt", "jwt-3", "jwt"),
        ("jwt-2", "jwt-4", "jwt"),
        ("auth", "auth-3", "auth"),
        ("auth-2", "auth-4", "auth"),
    ] {
        if service == "jwt" {
            stack.start_jwt_named(new).await;
        } else {
            stack.start_auth_named(new).await;
        }
        wait_for_instances(&stack, service, 3).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stack.stop_program(old).await;
        wait_for_instances(&stack, service, 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (succeeded, failed) = (
        succeeded.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    println!("rolling restart: {succeeded} logins succeeded, {failed} failed");
    assert!(
        succeeded > 50,
        "the load was too light to show anything: {succeeded}"
    );
    assert_eq!(failed, 0, "requests lost during the rolling restart");
    stack.stop().await;
}
