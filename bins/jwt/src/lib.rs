//! The jwt service: issues each partner's access token (the same one while
//! it is valid), validates tokens, refreshes and revokes them, and publishes
//! the public signing keys. It answers only on NATS.

pub mod claims;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod refresh_tokens;
pub mod signing_keys;
pub mod token_store;
pub mod tokens;

use std::{future::Future, sync::Arc};

use sqlx::PgPool;

pub use config::JwtConfig;
pub use error::JwtError;

/// Runs the jwt service on `client` until `shutdown` resolves.
pub async fn run(
    config: JwtConfig,
    pool: PgPool,
    client: async_nats::Client,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let keys = signing_keys::KeyRing::load_or_create(pool.clone(), &config).await?;
    let grace = config.shutdown_grace;
    let tokens = tokens::Tokens::new(config, pool, keys);
    let handler = Arc::new(endpoints::JwtHandler::new(tokens));
    common::service::serve(client, endpoints::spec(), handler, shutdown, grace).await
}
