//! One integration test binary: real NATS, real Postgres, the real services.

mod harness;

mod admin;
mod binaries;
mod brute_force;
mod discovery;
mod external;
mod issuing;
mod lifecycle;
mod operations;
mod permissions;
mod rate_limits;
mod restarts;
mod validation;
