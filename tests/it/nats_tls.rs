//! NATS over TLS, as configured by `NATS_TLS_CA_FILE`: the whole stack works
//! on a server that takes only TLS, and a client that does not trust its CA,
//! or does not speak TLS, is refused.

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{login, Options, Stack};

#[tokio::test]
async fn the_stack_runs_on_a_tls_only_nats_server() {
    let stack = Stack::start_with(Options {
        nats_tls: true,
        ..Default::default()
    })
    .await;
    assert!(stack.nats.tls_ca_file.is_some());
    // A login crosses gateway → auth → jwt → auth → gateway, all over TLS.
    let partner = stack.create_partner("tls").await;
    let (status, body) = login(&stack.http, &partner).await;
    assert_eq!(status, 200, "{body}");

    // Without the CA the server's certificate is not trusted.
    let mut untrusting: HashMap<String, String> = stack.nats.user_env("gateway");
    untrusting.remove("NATS_TLS_CA_FILE");
    let config = common::nats::NatsConfig::from_source(&untrusting).unwrap();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        config.connect("untrusting"),
    )
    .await
    .expect("refused, not hung");
    assert!(refused.is_err(), "connected without trusting the CA");

    // A plain-text client gets no further than the server's INFO: its
    // CONNECT (credentials in clear) is never accepted.
    let address = stack.nats.url.trim_start_matches("nats://").to_owned();
    let mut plain = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut info = vec![0u8; 4096];
    let read = plain.read(&mut info).await.unwrap();
    let info = String::from_utf8_lossy(&info[..read]).into_owned();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let _ = plain
        .write_all(b"CONNECT {\"user\":\"gateway\",\"pass\":\"x\",\"verbose\":true}\r\nPING\r\n")
        .await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut reply),
    )
    .await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(!reply.contains("+OK") && !reply.contains("PONG"), "{reply}");
    stack.stop().await;
}
