//! The auth service: checks subscriber details and partner credentials,
//! then asks the jwt service for the partner's token. It also owns partner
//! administration on `sms.admin.partners.*`.

pub mod admin;
pub mod config;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod lockout;
pub mod partner_store;
pub mod register;
pub mod secrets;

use std::{future::Future, sync::Arc};

use sqlx::PgPool;

pub use config::AuthConfig;
pub use error::AuthError;

/// Runs the auth service on `client` until `shutdown` resolves.
pub async fn run(
    config: AuthConfig,
    pool: PgPool,
    client: async_nats::Client,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let grace = config.shutdown_grace;
    let handler = Arc::new(endpoints::AuthHandler::new(config, pool, client.clone()));
    common::service::serve(client, endpoints::spec(), handler, shutdown, grace).await
}
