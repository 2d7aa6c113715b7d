//! The HTTP transport below the routes: requests hyper cannot parse get a
//! JSON error too, and slow or idle clients cannot hold connections.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::{shared, Options, Stack};

fn address(http: &str) -> String {
    http.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Reads until the server closes (or `limit` passes); the status and body.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> (u16, String, Value) {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn exchange(http: &str, request: &[u8]) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(address(http)).await.unwrap();
    // The server may answer and close before all of a huge request is sent.
    let _ = stream.write_all(request).await;
    read_answer(&mut stream, Duration::from_secs(10)).await
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_a_json_error() {
    let http = &shared().http;
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(128 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "control byte in a header name",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "NUL in a header value",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "two different Content-Lengths",
            b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
                .to_vec(),
            &[400],
        ),
        (
            "a TLS hello on the plain port",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            &[400],
        ),
        ("a 1 MiB header", huge.into_bytes(), &[431]),
        ("a 128 KiB request target", long_target.into_bytes(), &[414, 431]),
        (
            "an unknown HTTP version",
            b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n".to_vec(),
            &[400, 505],
        ),
    ];
    for (name, request, statuses) in cases {
        let (status, head, body) = exchange(http, &request).await;
        assert!(
            statuses.contains(&status),
            "{name}: status {status}\n{head}"
        );
        assert!(
            head.contains("content-type: application/json"),
            "{name}: {head}"
        );
        assert_eq!(body["code"], status, "{name}: {body}");
        assert_eq!(body["error"], "invalid_request", "{name}: {body}");
        assert!(body["error_description"].is_string(), "{name}: {body}");
        assert!(body["request_id"].is_string(), "{name}: {body}");
    }
    // The gateway is still there, and its own errors are unchanged.
    let (status, _, body) = exchange(
        http,
        b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"], "unsupported_media_type");
}

#[tokio::test]
async fn slow_headers_slow_bodies_and_idle_connections_are_cut_off() {
    let stack = Stack::start_with(Options {
        extra_env: &[("HTTP_HEADER_TIMEOUT", "1"), ("HTTP_BODY_TIMEOUT", "1")],
        ..Default::default()
    })
    .await;
    let target = address(&stack.http);

    // Slowloris: a header byte every 200 ms never completes a request.
    let mut slow = TcpStream::connect(&target).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(6) {
        if slow.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "a trickled head held the connection for 6 s");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // An idle kept-alive connection is closed too.
    let mut idle = TcpStream::connect(&target).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let asked = Instant::now();
    let (status, _, _) = read_answer(&mut idle, Duration::from_secs(6)).await;
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "idle for {:?}",
        asked.elapsed()
    );

    // A body trickled slower than HTTP_BODY_TIMEOUT gets a 408 with JSON.
    let mut trickle = TcpStream::connect(&target).await.unwrap();
    trickle
        .write_all(
            b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
    let (status, _, body) = read_answer(&mut trickle, Duration::from_secs(5)).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"].as_str().unwrap().contains("body"),
        "{body}"
    );

    // Meanwhile ordinary requests are served.
    let (status, _) = crate::harness::login(&stack.http, &stack.create_partner("fast").await).await;
    assert_eq!(status, 200);
    stack.stop().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_their_turn() {
    let stack = Stack::start_with(Options {
        extra_env: &[("MAX_CONNECTIONS", "2"), ("HTTP_HEADER_TIMEOUT", "2")],
        ..Default::default()
    })
    .await;
    let target = address(&stack.http);
    // Two connections that send nothing take both places…
    let _first = TcpStream::connect(&target).await.unwrap();
    let _second = TcpStream::connect(&target).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // …so a third is served only when the header time-out frees one.
    let started = Instant::now();
    let (status, _, _) = exchange(
        &stack.http,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(6),
        "served after {waited:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let stack = Stack::start_with(Options {
        // Only the write time-out can end this connection: it never idles.
        extra_env: &[("HTTP_WRITE_TIMEOUT", "1"), ("HTTP_HEADER_TIMEOUT", "60")],
        ..Default::default()
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(address(&stack.http).parse().unwrap())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Pipelined requests, sent for as long as the server takes them.
    let flood = tokio::spawn(async move {
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
        while writer.write_all(&request).await.is_ok() {}
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Cut off: draining what was sent reaches the end. Still served: reading
    // lets the server go on answering the flood, and no end comes.
    let mut answers = Vec::new();
    let ended =
        tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answers)).await;
    assert!(ended.is_ok(), "the connection was still open after 25 s");
    let served = answers
        .windows(12)
        .filter(|window| window == b"HTTP/1.1 200")
        .count();
    assert!(served > 0, "some answers were written before the stall");
    flood.abort();
    stack.stop().await;
}

/// Reads one answer off a kept-alive connection: status, head and body.
async fn read_one(stream: &mut TcpStream) -> (u16, String, Value) {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => bytes.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|length| length.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = stream.read_exact(&mut body).await;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn connections_beyond_the_per_address_limit_get_429() {
    let stack = Stack::start_with(Options {
        extra_env: &[("MAX_CONNECTIONS_PER_ADDRESS", "2")],
        ..Default::default()
    })
    .await;
    let target = address(&stack.http);
    // Connections that each got an answer are counted for certain (the
    // harness's own pooled connection may or may not still be open).
    let mut held = Vec::new();
    let (status, head, body) = loop {
        let mut stream = TcpStream::connect(&target).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_one(&mut stream).await;
        if answer.0 != 200 || held.len() == 3 {
            break answer;
        }
        held.push(stream);
    };
    assert_eq!(status, 429, "{head}");
    assert!(!held.is_empty() && held.len() <= 2, "{} served", held.len());
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(body["code"], 429);
    assert_eq!(body["error"], "too_many_requests");
    // A place given back is a place for the next connection.
    held.clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) = exchange(
        &stack.http,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    stack.stop().await;
}

#[tokio::test]
async fn chunked_bodies_that_break_off_or_run_over_are_4xx_with_json() {
    let http = &shared().http;
    let (status, _, body) = exchange(
        http,
        b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "a malformed chunk: {body}");
    assert_eq!(body["error"], "invalid_request");
    let mut oversize =
        b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    let chunk = format!("4000\r\n{}\r\n", "a".repeat(0x4000));
    for _ in 0..5 {
        oversize.extend_from_slice(chunk.as_bytes());
    }
    oversize.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = exchange(http, &oversize).await;
    assert_eq!(status, 413, "80 KiB in chunks: {body}");
    // After a kept-alive HTTP/1.0 request, a bad one still gets JSON.
    let mut stream = TcpStream::connect(address(http)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")
        .await
        .unwrap();
    let mut both = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut both)).await;
    let both = String::from_utf8_lossy(&both);
    let second = &both[both.rfind("HTTP/1.").unwrap()..];
    assert!(
        second.starts_with("HTTP/1.0 400") || second.starts_with("HTTP/1.1 400"),
        "{both}"
    );
    assert!(second.contains("\"error\":\"invalid_request\""), "{both}");
}
