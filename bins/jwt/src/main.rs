//! The jwt service program: settings from the environment, then [`jwt::run`].

use anyhow::Context;
use common::{config::Env, service::shutdown_signal, telemetry};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() {
    // One line, no backtrace: the message says what to fix.
    if let Err(error) = run().await {
        eprintln!("jwt: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = match jwt::JwtConfig::from_source(&Env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("jwt: bad configuration: {error}");
            std::process::exit(64);
        }
    };
    telemetry::init(config.log_format);
    tracing::info!(settings = %config.describe(), "jwt starting");
    let pool = config
        .pool_options()
        .connect(config.database_url.expose_secret())
        .await
        .context("cannot connect to Postgres (DATABASE_URL)")?;
    let client = config.nats.connect("jwt").await?;
    jwt::run(config, pool, client, shutdown_signal()).await
}
