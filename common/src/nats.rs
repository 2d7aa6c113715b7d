//! Connecting to NATS from the environment, and request helpers that carry
//! the request id and map NATS failures onto the shared error table.

use std::time::Duration;

use async_nats::{client::RequestErrorKind, Client, ConnectOptions, HeaderMap};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{self, ConfigError, Source},
    error::{code, ServiceError},
    headers,
};

/// How a program reaches NATS: `NATS_URL`, `NATS_USER`/`NATS_PASSWORD` (or
/// `NATS_PASSWORD_FILE`),
/// `NATS_INBOX_PREFIX` (default `_INBOX_<user>`: a private prefix per user,
/// so no one else can read the replies), `NATS_TLS_CA_FILE` (trust this CA;
/// also makes TLS required).
#[derive(Clone)]
pub struct NatsConfig {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub inbox_prefix: String,
    pub tls_ca_file: Option<String>,
}

impl NatsConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let url = match (source.get("NATS_URL"), source.get("NATS_PORT")) {
            (Some(url), _) => url,
            (None, Some(port)) => {
                let port: u16 = port.parse().map_err(|_| ConfigError {
                    name: "NATS_PORT".into(),
                    problem: format!("{port:?} is not a port number"),
                })?;
                format!("nats://127.0.0.1:{port}")
            }
            (None, None) => "nats://127.0.0.1:4222".to_owned(),
        };
        let user = source.get("NATS_USER");
        let password = config::optional_secret(source, "NATS_PASSWORD")?;
        if user.is_some() != password.is_some() {
            return Err(ConfigError {
                name: "NATS_USER".into(),
                problem: "NATS_USER and NATS_PASSWORD (or NATS_PASSWORD_FILE) go together: set both or neither".into(),
            });
        }
        let default_prefix = match &user {
            Some(user) => format!("_INBOX_{user}"),
            None => "_INBOX".to_owned(),
        };
        Ok(Self {
            url,
            inbox_prefix: config::string(source, "NATS_INBOX_PREFIX", &default_prefix),
            user,
            password,
            tls_ca_file: source.get("NATS_TLS_CA_FILE"),
        })
    }

    /// The settings line printed at start (password masked).
    pub fn describe(&self) -> String {
        format!(
            "NATS_URL={} NATS_USER={} NATS_PASSWORD={} NATS_INBOX_PREFIX={}",
            self.url,
            self.user.as_deref().unwrap_or("(none)"),
            if self.password.is_some() {
                "****"
            } else {
                "(none)"
            },
            self.inbox_prefix
        )
    }

    /// Connects, naming the connection after the program.
    pub async fn connect(&self, name: &str) -> anyhow::Result<Client> {
        let mut options = ConnectOptions::new()
            .name(name)
            .custom_inbox_prefix(&self.inbox_prefix)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("nats connected"),
                    async_nats::Event::Disconnected => tracing::warn!("nats disconnected"),
                    async_nats::Event::ServerError(error) if error.to_string().contains("Permissions Violation") => {
                        tracing::error!(%error, "NATS refused an operation: check this program's NATS user");
                        if let Ok(mut denials) = DENIALS.lock() {
                            denials.push(error.to_string());
                        }
                    }
                    async_nats::Event::Draining | async_nats::Event::Closed => {
                        tracing::info!(event = %event, "nats connection closing")
                    }
                    other => tracing::warn!(event = %other, "nats event"),
                }
            });
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.expose_secret().to_owned());
        }
        if let Some(ca_file) = &self.tls_ca_file {
            options = options
                .add_root_certificates(ca_file.into())
                .require_tls(true);
        }
        let client = options
            .connect(&self.url)
            .await
            .map_err(|error| anyhow::anyhow!("cannot connect to NATS at {}: {error}", self.url))?;
        Ok(client)
    }
}

/// Permission violations the server reported to this process's connections.
static DENIALS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Subscription denials reported so far that name one of `subjects` (the
/// server reports them asynchronously, after the subscribe call returned;
/// the subject keeps one service's denials from failing another's start).
pub fn subscription_denials(subjects: &[String]) -> Vec<String> {
    DENIALS
        .lock()
        .map(|denials| {
            denials
                .iter()
                .filter(|denial| denial.contains("Subscription"))
                .filter(|denial| {
                    subjects
                        .iter()
                        .any(|subject| denial.contains(&format!("\"{subject}")))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Headers for a request that continues `request_id`'s trace.
pub fn trace_headers(request_id: &str, traceparent: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(headers::REQUEST_ID, request_id);
    if let Some(traceparent) = traceparent {
        map.insert(headers::TRACEPARENT, traceparent);
    }
    map
}

/// A reply as the caller sees it: the body, or the service's error.
pub type Reply = Result<Bytes, ServiceError>;

/// Sends a request and reads an ADR-32 reply: a body, or error headers with
/// a JSON error body. No responders become 503, a time-out 504.
pub async fn request(
    client: &Client,
    subject: &str,
    headers: HeaderMap,
    payload: Bytes,
    timeout: Duration,
) -> Reply {
    let request = async_nats::Request::new()
        .headers(headers)
        .payload(payload)
        .timeout(Some(timeout));
    let message = client
        .send_request(subject.to_owned(), request)
        .await
        .map_err(|error| request_failure(subject, &error))?;
    decode_reply(subject, message)
}

/// Whether this caller's own request went unanswered: nobody listening, or
/// no reply in time (and not a service's reply that says so).
fn unanswered(error: &async_nats::RequestError) -> bool {
    matches!(
        error.kind(),
        RequestErrorKind::NoResponders | RequestErrorKind::TimedOut
    )
}

/// A failed request as the shared error table words it.
fn request_failure(subject: &str, error: &async_nats::RequestError) -> ServiceError {
    match error.kind() {
        RequestErrorKind::NoResponders => {
            ServiceError::unavailable(format!("no instance of {subject} is answering"))
        }
        RequestErrorKind::TimedOut => ServiceError::new(
            504,
            code::TIMEOUT,
            format!("{subject} did not answer in time"),
        ),
        RequestErrorKind::MaxPayloadExceeded => {
            ServiceError::new(413, code::INVALID_REQUEST, "request body is too large")
        }
        RequestErrorKind::InvalidSubject => ServiceError::internal(),
        _ => ServiceError::unavailable(format!("cannot reach {subject}: {error}")),
    }
}

/// Whether a request may be sent again: the subject's handler gives the same
/// outcome however often it runs (refresh, which spends a token, may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotent {
    Yes,
    No,
}

/// Like [`request`], within `total`: each attempt waits at most `attempt`,
/// and an idempotent request is sent again, with a growing pause, after no
/// responders (every instance restarting) or a time-out (an instance that
/// stopped just as the request reached it). Other outcomes come back as they are.
pub async fn request_with_retry(
    client: &Client,
    subject: &str,
    headers: HeaderMap,
    payload: Bytes,
    total: Duration,
    attempt: Duration,
    idempotent: Idempotent,
) -> Reply {
    let deadline = tokio::time::Instant::now() + total;
    let mut pause = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let this_attempt = if idempotent == Idempotent::Yes {
            attempt.min(left)
        } else {
            left
        };
        let request = async_nats::Request::new()
            .headers(headers.clone())
            .payload(payload.clone())
            .timeout(Some(this_attempt));
        let error = match client.send_request(subject.to_owned(), request).await {
            Ok(message) => return decode_reply(subject, message),
            Err(error) => error,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if idempotent == Idempotent::No || !unanswered(&error) || left <= pause {
            return Err(request_failure(subject, &error));
        }
        tracing::warn!(subject, "no answer; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(800));
    }
}

/// Splits a reply into its body or its service error.
pub fn decode_reply(subject: &str, message: async_nats::Message) -> Reply {
    let status = message
        .headers
        .as_ref()
        .and_then(|map| map.get(async_nats::service::NATS_SERVICE_ERROR_CODE))
        .and_then(|value| value.as_str().parse::<u16>().ok());
    let Some(status) = status else {
        return Ok(message.payload);
    };
    let short_code = message
        .headers
        .as_ref()
        .and_then(|map| map.get(async_nats::service::NATS_SERVICE_ERROR))
        .map(|value| value.as_str().to_owned())
        .unwrap_or_else(|| code::INTERNAL.to_owned());
    let mut error = serde_json::from_slice::<ServiceError>(&message.payload).unwrap_or_else(|_| {
        ServiceError::new(
            status,
            &short_code,
            format!("{subject} failed: {short_code}"),
        )
    });
    error.status = status;
    Err(error)
}

/// Publishes `subject` (an ADR-32 discovery subject such as `$SRV.INFO`) and
/// gathers every JSON reply that arrives within `window`: a scatter-gather
/// that one wedged instance cannot stall.
pub async fn gather(client: &Client, subject: &str, window: Duration) -> Vec<serde_json::Value> {
    use futures::StreamExt;
    let inbox = client.new_inbox();
    let Ok(mut replies) = client.subscribe(inbox.clone()).await else {
        return Vec::new();
    };
    if client
        .publish_with_reply(subject.to_owned(), inbox, Bytes::new())
        .await
        .is_err()
    {
        return Vec::new();
    }
    let mut answers = Vec::new();
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            reply = replies.next() => match reply {
                Some(message) => {
                    if let Ok(value) = serde_json::from_slice(&message.payload) {
                        answers.push(value);
                    }
                }
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    answers
}
