//! The gateway program: settings from the environment, then [`gateway::serve`].

use anyhow::Context;
use common::{config::Env, service::shutdown_signal, telemetry};

#[tokio::main]
async fn main() {
    // One line, no backtrace: the message says what to fix.
    if let Err(error) = run().await {
        eprintln!("gateway: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = match gateway::GatewayConfig::from_source(&Env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("gateway: bad configuration: {error}");
            std::process::exit(64);
        }
    };
    telemetry::init(config.log_format);
    tracing::info!(settings = %config.describe(), "gateway starting");
    let public = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on HTTP_ADDR {}", config.http_addr))?;
    let operator = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("cannot listen on ADMIN_ADDR {}", config.admin_addr))?;
    let client = config.nats.connect("gateway").await?;
    gateway::serve(config, client, public, operator, shutdown_signal()).await
}
