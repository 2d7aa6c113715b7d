//! Vocabulary shared by every SMS program: NATS subjects, wire types, the
//! error-code table, domain types parsed at the edge, configuration,
//! telemetry and the NATS service runner. No axum and no sqlx here: the
//! gateway never touches Postgres, and the services never speak HTTP.

pub mod config;
pub mod domain;
pub mod error;
pub mod headers;
pub mod nats;
pub mod service;
pub mod strict_json;
pub mod subjects;
pub mod telemetry;
pub mod wire;

pub use error::ServiceError;
