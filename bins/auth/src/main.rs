//! The auth service program: settings from the environment, then [`auth::run`].

use anyhow::Context;
use common::{config::Env, service::shutdown_signal, telemetry};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() {
    // One line, no backtrace: the message says what to fix.
    if let Err(error) = run().await {
        eprintln!("auth: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = match auth::AuthConfig::from_source(&Env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("auth: bad configuration: {error}");
            std::process::exit(64);
        }
    };
    telemetry::init(config.log_format);
    tracing::info!(settings = %config.describe(), "auth starting");
    let pool = config
        .pool_options()
        .connect(config.database_url.expose_secret())
        .await
        .context("cannot connect to Postgres (DATABASE_URL)")?;
    let client = config.nats.connect("auth").await?;
    auth::run(config, pool, client, shutdown_signal()).await
}
