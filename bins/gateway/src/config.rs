//! The gateway's settings, from the environment.

use std::{net::SocketAddr, time::Duration};

use common::{
    config::{self, ConfigError, Source},
    nats::NatsConfig,
    telemetry::LogFormat,
};

#[derive(Clone)]
pub struct GatewayConfig {
    pub nats: NatsConfig,
    pub http_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// How long to wait for a service's reply before answering 504.
    pub request_timeout: Duration,
    /// How long one attempt of an idempotent request waits before it is sent again.
    pub attempt_timeout: Duration,
    /// Largest request body taken; well below NATS max_payload (1 MiB).
    pub body_limit: usize,
    /// Services `/readyz` requires to answer a PING.
    pub required_services: Vec<String>,
    pub log_format: LogFormat,
    /// Routes pinned to subjects (`STATIC_ROUTES`); they win over the registry.
    pub static_routes: Vec<crate::routes::discovered::Route>,
    /// How often the registry is read for routes.
    pub route_refresh: Duration,
    /// Origins browsers may call the public API from (`CORS_ALLOWED_ORIGINS`,
    /// comma-separated, `*` for any); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Requests per second from one client address (also the burst).
    pub rate_limit_per_address: std::num::NonZeroU32,
    /// Logins per second for one partner (also the burst).
    pub rate_limit_per_partner: std::num::NonZeroU32,
    /// Time a client has to send a request's headers; also the idle limit of
    /// a kept-alive connection (slowloris).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Time a write to a client may make no progress (a client that does
    /// not read its answers).
    pub write_timeout: Duration,
    /// Connections served at once on each listener.
    pub max_connections: usize,
    /// Connections from one IP address at once on each listener; 0 for no
    /// limit (behind a proxy every client shares its address).
    pub max_connections_per_address: usize,
}

impl GatewayConfig {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let body_limit = config::parsed(source, "BODY_LIMIT", 64 * 1024)?;
        if body_limit > 512 * 1024 {
            return Err(ConfigError {
                name: "BODY_LIMIT".into(),
                problem: "must stay below NATS max_payload: at most 524288 bytes".into(),
            });
        }
        // Client time-outs: 10 s unless set, between 100 ms and an hour.
        let http_timeout = |name: &str| {
            config::duration_between(
                source,
                name,
                Duration::from_secs(10),
                Duration::from_millis(100),
                Duration::from_secs(3600),
            )
        };
        Ok(Self {
            nats: NatsConfig::from_source(source)?,
            http_addr: config::parsed(source, "HTTP_ADDR", SocketAddr::from(([0, 0, 0, 0], 8080)))?,
            admin_addr: config::parsed(
                source,
                "ADMIN_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9091)),
            )?,
            // One second more than the services' own: their 504 comes first and names the culprit.
            request_timeout: config::duration(source, "REQUEST_TIMEOUT", Duration::from_secs(6))?,
            // Longer than auth's own attempt, so auth's retry of jwt fits in ours.
            attempt_timeout: config::duration(source, "ATTEMPT_TIMEOUT", Duration::from_secs(3))?,
            body_limit,
            required_services: config::string(source, "REQUIRED_SERVICES", "auth,jwt")
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            log_format: config::parsed(source, "LOG_FORMAT", LogFormat::Text)?,
            static_routes: crate::routes::discovered::parse_static(&config::string(
                source,
                "STATIC_ROUTES",
                "",
            ))
            .map_err(|problem| ConfigError {
                name: "STATIC_ROUTES".into(),
                problem,
            })?,
            route_refresh: config::duration(source, "ROUTE_REFRESH", Duration::from_secs(10))?,
            cors_allowed_origins: config::string(source, "CORS_ALLOWED_ORIGINS", "")
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect(),
            rate_limit_per_address: config::parsed(
                source,
                "RATE_LIMIT_PER_ADDRESS",
                std::num::NonZeroU32::new(100).expect("non-zero"),
            )?,
            rate_limit_per_partner: config::parsed(
                source,
                "RATE_LIMIT_PER_PARTNER",
                std::num::NonZeroU32::new(20).expect("non-zero"),
            )?,
            header_timeout: http_timeout("HTTP_HEADER_TIMEOUT")?,
            body_timeout: http_timeout("HTTP_BODY_TIMEOUT")?,
            write_timeout: http_timeout("HTTP_WRITE_TIMEOUT")?,
            max_connections: config::parsed(source, "MAX_CONNECTIONS", 1024)?,
            max_connections_per_address: config::parsed(source, "MAX_CONNECTIONS_PER_ADDRESS", 64)?,
        })
    }

    /// The effective settings, secrets masked, for the start-up log line.
    pub fn describe(&self) -> String {
        format!(
            "{} HTTP_ADDR={} ADMIN_ADDR={} REQUEST_TIMEOUT={}ms ATTEMPT_TIMEOUT={}ms BODY_LIMIT={} REQUIRED_SERVICES={} STATIC_ROUTES={} ROUTE_REFRESH={}s CORS_ALLOWED_ORIGINS={} RATE_LIMIT_PER_ADDRESS={}/s RATE_LIMIT_PER_PARTNER={}/s HTTP_HEADER_TIMEOUT={}ms HTTP_BODY_TIMEOUT={}ms HTTP_WRITE_TIMEOUT={}ms MAX_CONNECTIONS={} MAX_CONNECTIONS_PER_ADDRESS={} LOG_FORMAT={:?}",
            self.nats.describe(),
            self.http_addr,
            self.admin_addr,
            self.request_timeout.as_millis(),
            self.attempt_timeout.as_millis(),
            self.body_limit,
            self.required_services.join(","),
            self.static_routes.len(),
            self.route_refresh.as_secs(),
            self.cors_allowed_origins.join(","),
            self.rate_limit_per_address,
            self.rate_limit_per_partner,
            self.header_timeout.as_millis(),
            self.body_timeout.as_millis(),
            self.write_timeout.as_millis(),
            self.max_connections,
            self.max_connections_per_address,
            self.log_format
        )
    }
}
