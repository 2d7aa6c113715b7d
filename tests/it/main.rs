//! One integration test binary: real NATS, real Postgres, the real services.

mod harness;

mod admin;
mod binaries;
mod brute_force;
mod discovery;
mod external;
mod http_transport;
mod issuing;
mod lifecycle;
mod nats_config;
mod nats_tls;
mod operations;
mod permissions;
mod rate_limits;
mod restarts;
mod validation;
